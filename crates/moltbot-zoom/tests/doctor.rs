//! `moltbot-zoom doctor` end to end: the real binary against an in-process
//! fake Zoom and a fake Moltbot gateway, one healthy setup and one broken
//! setup per failure it must explain.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use axum::{
    Router,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use fake_zoom::{FakeConfig, FakeZoom};

const GATEWAY_PASSWORD: &str = "gw-password-secret";
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// A fake Moltbot gateway: `/` answers 200, `/zoom-webhook` 200 for the
/// right Bearer password and 401 otherwise.
async fn gateway() -> SocketAddr {
    let app = Router::new().route("/", get(|| async { "moltbot" })).route(
        "/zoom-webhook",
        post(|headers: HeaderMap| async move {
            let expected = format!("Bearer {GATEWAY_PASSWORD}");
            match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                Some(auth) if auth == expected => (StatusCode::OK, "ignored"),
                _ => (StatusCode::UNAUTHORIZED, "unauthorized"),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A port nothing listens on.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "moltbot-zoom-doctor-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A working setup; tests change one thing each.
struct Setup {
    fake: FakeZoom,
    dir: PathBuf,
    keys: Vec<(&'static str, String)>,
}

impl Setup {
    async fn new(fake_config: FakeConfig) -> Self {
        let fake = FakeZoom::start(fake_config).await.unwrap();
        let gateway = gateway().await;
        let dir = temp_dir();
        let state = dir.join("state");
        let package = state.join("extensions/zoom");
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(package.join("package.json"), r#"{"name":"zoom"}"#).unwrap();
        let keys = vec![
            ("clientId", "fake-client-id".to_owned()),
            ("clientSecret", "fake-client-secret".to_owned()),
            ("zoomAccountId", "fake-account".to_owned()),
            ("subscriptionId", "fake-subscription".to_owned()),
            ("oauthUrl", fake.base_url()),
            ("apiUrl", fake.base_url()),
            ("wsUrl", fake.ws_url()),
            ("sender", "me@example.com".to_owned()),
            ("defaultTarget", "alice@example.com".to_owned()),
            ("password", GATEWAY_PASSWORD.to_owned()),
            ("webhookUrl", format!("http://{gateway}/zoom-webhook")),
            ("database", path_str(&dir.join("db/zoom.sqlite"))),
            ("stateDir", path_str(&state)),
        ];
        Self { fake, dir, keys }
    }

    async fn healthy() -> Self {
        Self::new(FakeConfig::default()).await
    }

    fn set(&mut self, key: &'static str, value: impl Into<String>) {
        self.remove(key);
        self.keys.push((key, value.into()));
    }

    fn remove(&mut self, key: &str) {
        self.keys.retain(|(k, _)| *k != key);
    }

    /// Runs `moltbot-zoom doctor --config <file> <extra>`.
    async fn doctor(&self, extra: &[&str]) -> Outcome {
        let file = self.write_toml("moltbot-zoom.toml");
        let mut args = vec!["doctor", "--config", &file];
        args.extend(extra);
        self.run(&args, &[]).await
    }

    /// Writes the keys as TOML to `name` in the setup dir; its path.
    fn write_toml(&self, name: &str) -> String {
        let toml: String = self
            .keys
            .iter()
            .map(|(k, v)| format!("{k} = {}\n", toml_string(v)))
            .collect();
        let file = self.dir.join(name);
        std::fs::write(&file, toml).unwrap();
        path_str(&file)
    }

    /// The command `moltbot-zoom <args>` with HOME = the setup dir and `env`.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_moltbot-zoom"));
        cmd.args(args)
            .env_clear()
            .env("HOME", &self.dir)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `moltbot-zoom <args>` to completion.
    async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        let child = self.command(args, env).output();
        let output = tokio::time::timeout(RUN_LIMIT, child)
            .await
            .expect("doctor did not finish in time")
            .unwrap();
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Writes the keys as `channels.zoom` of `~/.openclaw/openclaw.json` (JSON5:
    /// comments, bare keys, trailing commas), with `replace` values written as
    /// given (raw JSON5) and `stateDir` left to the host; installs the package
    /// marker there. Returns the file.
    fn write_openclaw_config(&self, replace: &[(&str, &str)], accounts: &str) -> PathBuf {
        let state = self.dir.join(".openclaw");
        let package = state.join("extensions/zoom");
        std::fs::create_dir_all(&package).unwrap();
        std::fs::write(package.join("package.json"), r#"{"name":"zoom"}"#).unwrap();
        let mut body = String::new();
        for (k, v) in &self.keys {
            if *k == "stateDir" {
                continue;
            }
            match replace.iter().find(|(r, _)| r == k) {
                Some((_, raw)) => body.push_str(&format!("      {k}: {raw},\n")),
                None => body.push_str(&format!("      {k}: {},\n", serde_json::json!(v))),
            }
        }
        let text = format!(
            "// written by the doctor test\n{{\n  gateway: {{ port: 18789 }},\n  channels: {{\n    zoom: {{\n{body}      accounts: {accounts},\n    }},\n  }},\n}}\n"
        );
        let file = state.join("openclaw.json");
        std::fs::write(&file, text).unwrap();
        file
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_str(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    /// The line of check `name` (and its fix line, if any).
    fn check(&self, name: &str) -> String {
        let lines: Vec<&str> = self.stdout.lines().collect();
        let Some(i) = lines.iter().position(|l| {
            l.split_once(' ')
                .is_some_and(|(_, rest)| rest.starts_with(&format!("{name}:")))
        }) else {
            panic!("no `{name}` line in:\n{}", self.stdout);
        };
        match lines.get(i + 1).filter(|l| l.starts_with("    fix: ")) {
            Some(fix) => format!("{}\n{fix}", lines[i]),
            None => lines[i].to_owned(),
        }
    }

    fn assert_failed(&self, name: &str, needles: &[&str]) {
        assert_eq!(
            self.code,
            Some(1),
            "exit code\n{}{}",
            self.stdout,
            self.stderr
        );
        let line = self.check(name);
        assert!(
            line.starts_with('✗'),
            "`{name}` should fail:\n{}",
            self.stdout
        );
        assert!(
            line.contains("\n    fix: "),
            "no fix for `{name}`:\n{}",
            self.stdout
        );
        for needle in needles {
            assert!(line.contains(needle), "`{needle}` missing from:\n{line}");
        }
        self.assert_no_secrets();
    }

    fn assert_no_secrets(&self) {
        for secret in ["fake-client-secret", GATEWAY_PASSWORD] {
            assert!(
                !self.stdout.contains(secret) && !self.stderr.contains(secret),
                "secret printed:\n{}{}",
                self.stdout,
                self.stderr
            );
        }
    }
}

#[tokio::test]
async fn healthy_setup_passes_every_check_without_posting() {
    let setup = Setup::healthy().await;
    let out = setup.doctor(&[]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 11, "{}", out.stdout);
    for line in &lines {
        assert!(line.starts_with("✓ "), "not ok: {line}\n{}", out.stdout);
    }
    assert!(
        out.check("transport")
            .contains("websocket: build_connection succeeded (x-zm-trackingid "),
        "{}",
        out.stdout
    );
    assert!(
        out.check("sender").contains("me@example.com"),
        "{}",
        out.stdout
    );
    assert!(out.check("outbox").contains("0 pending, 0 dead letters"));
    assert!(setup.fake.team_chat_messages().is_empty(), "doctor posted");
    assert!(
        setup
            .fake
            .wait_for_at_most_connections(0, Duration::from_secs(5))
            .await,
        "the probe left its WebSocket open"
    );
    out.assert_no_secrets();
}

#[tokio::test]
async fn json_output_lists_every_check() {
    let setup = Setup::healthy().await;
    let out = setup.doctor(&["--json"]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let checks: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "configuration",
            "oauth token",
            "scopes",
            "transport",
            "sender",
            "default target",
            "gateway",
            "extension installed",
            "extension loaded",
            "store",
            "outbox"
        ]
    );
    for c in &checks {
        assert_eq!(c["status"], "ok", "{c}");
        assert!(c["fix"].is_null(), "{c}");
    }
}

#[tokio::test]
async fn send_test_posts_one_labelled_message_to_the_default_target() {
    let setup = Setup::healthy().await;
    let out = setup.doctor(&["--send-test"]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(out.check("send test").starts_with("✓ "), "{}", out.stdout);
    let sent = setup.fake.team_chat_messages();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].body.message, "moltbot-zoom doctor test message");
    assert_eq!(
        sent[0].body.to_contact.as_deref(),
        Some("alice@example.com")
    );
}

#[tokio::test]
async fn bad_client_secret_fails_oauth_and_skips_what_needs_a_token() {
    let mut setup = Setup::healthy().await;
    setup.set("clientSecret", "not-the-secret");
    let out = setup.doctor(&[]).await;
    out.assert_failed(
        "oauth token",
        &[
            "Invalid client_id or client_secret",
            "`clientSecret`",
            "activated",
        ],
    );
    assert!(out.check("scopes").starts_with("- "), "{}", out.stdout);
    assert!(out.check("transport").starts_with("- "), "{}", out.stdout);
    // What does not need Zoom still runs.
    assert!(
        out.check("extension loaded").starts_with("✓ "),
        "{}",
        out.stdout
    );
    assert!(out.check("store").starts_with("✓ "), "{}", out.stdout);
    assert!(!out.stdout.contains("not-the-secret"), "{}", out.stdout);
}

#[tokio::test]
async fn wrong_subscription_id_is_refused_by_build_connection() {
    let mut setup = Setup::healthy().await;
    setup.set("subscriptionId", "no-such-subscription");
    let out = setup.doctor(&[]).await;
    out.assert_failed(
        "transport",
        &["Zoom refused the subscription", "check `subscriptionId`"],
    );
}

#[tokio::test]
async fn unreachable_moltbot_is_reported() {
    let mut setup = Setup::healthy().await;
    setup.set(
        "webhookUrl",
        format!("http://{}/zoom-webhook", closed_port()),
    );
    let out = setup.doctor(&[]).await;
    out.assert_failed("gateway", &["unreachable", "`webhookUrl`"]);
    assert!(
        out.check("extension loaded")
            .starts_with("- extension loaded: skipped"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn missing_send_scope_fails_the_scope_check() {
    let scopes = "meeting:read:admin user:read:admin chat_message:read:admin";
    let setup = Setup::new(FakeConfig {
        scopes: scopes.into(),
        ..FakeConfig::default()
    })
    .await;
    let out = setup.doctor(&[]).await;
    out.assert_failed(
        "scopes",
        &[
            "no scope to post as a user",
            "team_chat:write:user_message:admin",
        ],
    );
}

#[tokio::test]
async fn unwritable_store_is_reported() {
    let mut setup = Setup::healthy().await;
    // Tests may run as root, where permission bits do not stop writes: put the
    // database under a regular file instead.
    let blocker = setup.dir.join("not-a-folder");
    std::fs::write(&blocker, "x").unwrap();
    setup.set("database", path_str(&blocker.join("zoom.sqlite")));
    let out = setup.doctor(&[]).await;
    out.assert_failed("store", &["not-a-folder", "`database`"]);
    assert!(out.check("outbox").starts_with("- "), "{}", out.stdout);
}

#[tokio::test]
async fn wrong_gateway_password_is_rejected_by_the_extension() {
    let mut setup = Setup::healthy().await;
    setup.set("password", "some-other-password");
    let out = setup.doctor(&[]).await;
    out.assert_failed(
        "extension loaded",
        &["rejected the password", "channels.zoom.password"],
    );
    assert!(
        !out.stdout.contains("some-other-password"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn missing_required_key_is_named_and_other_checks_still_run() {
    let mut setup = Setup::healthy().await;
    setup.remove("sender");
    let out = setup.doctor(&[]).await;
    out.assert_failed("configuration", &["`sender`", "ZOOM_SENDER"]);
    assert!(
        out.check("sender").starts_with("- sender: skipped"),
        "{}",
        out.stdout
    );
    assert!(out.check("oauth token").starts_with("✓ "), "{}", out.stdout);
    assert!(out.check("transport").starts_with("✓ "), "{}", out.stdout);
}

#[tokio::test]
async fn unknown_sender_does_not_exist() {
    let mut setup = Setup::healthy().await;
    setup.set("sender", "ghost@example.com");
    let out = setup.doctor(&[]).await;
    out.assert_failed(
        "sender",
        &["`ghost@example.com` does not exist", "`sender`"],
    );
}

#[tokio::test]
async fn dead_letters_fail_the_outbox_check() {
    let setup = Setup::healthy().await;
    let db = setup.dir.join("db/zoom.sqlite");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    drop(bluebubbles_shim::Store::open(&db).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "INSERT INTO webhooks (url, events, created_ms, source) VALUES ('http://127.0.0.1:9/x', '[\"*\"]', 0, 'config');
         INSERT INTO queue (guid, chat_guid, webhook_id, payload, created_ms, state, attempts)
             VALUES ('m1', 'zoom;+;feed', 1, '{}', 0, 'dead', 12);",
    )
    .unwrap();
    drop(conn);
    let out = setup.doctor(&[]).await;
    out.assert_failed(
        "outbox",
        &["1 dead letters", "outbox list", "outbox retry --all"],
    );
}

#[tokio::test]
async fn webhook_transport_checks_the_listen_address() {
    let mut setup = Setup::healthy().await;
    setup.set("transport", "webhook");
    setup.set("webhookSecretToken", "whsec-secret");
    setup.set("webhookListen", closed_port().to_string());
    let out = setup.doctor(&[]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(out.check("transport").contains("is free"), "{}", out.stdout);

    // Something that is not a sidecar (it does not answer an unsigned POST with 401).
    let other = gateway().await;
    setup.set("webhookListen", other.to_string());
    let out = setup.doctor(&[]).await;
    out.assert_failed(
        "transport",
        &["in use by another program", "`webhookListen`"],
    );
    assert!(!out.stdout.contains("whsec-secret"), "{}", out.stdout);

    // A running sidecar's webhook endpoint refuses the unsigned probe with 401.
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let router = zoom::webhook_router(
        zoom::WebhookConfig::new(moltbot_channel::Secret::new("whsec-secret")),
        tx,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    setup.set("webhookListen", listener.local_addr().unwrap().to_string());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let out = setup.doctor(&[]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.check("transport").contains("a running sidecar serves"),
        "{}",
        out.stdout
    );
}

/// The gateway's own config (no --config): JSON5, `${VAR}`, an env SecretRef, and
/// an account that overrides the top level, as the extension merges it.
#[tokio::test]
async fn reads_channels_zoom_from_the_gateway_config() {
    let setup = Setup::healthy().await;
    let file = setup.write_openclaw_config(
        &[
            ("clientSecret", "\"${ZOOM_TEST_SECRET}\""),
            (
                "password",
                "{ source: \"env\", provider: \"default\", id: \"GW_PASSWORD\" }",
            ),
            ("sender", "\"ghost@example.com\""),
        ],
        "{ default: { sender: \"me@example.com\" } }",
    );
    let env = [
        ("ZOOM_TEST_SECRET", "fake-client-secret"),
        ("GW_PASSWORD", GATEWAY_PASSWORD),
    ];
    let out = setup.run(&["doctor"], &env).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 11, "{}", out.stdout);
    assert!(lines.iter().all(|l| l.starts_with("✓ ")), "{}", out.stdout);
    assert!(
        out.check("configuration")
            .contains(&format!("channels.zoom in {}", file.display())),
        "{}",
        out.stdout
    );
    assert!(
        out.check("sender").contains("me@example.com"),
        "{}",
        out.stdout
    );
    out.assert_no_secrets();

    // The same file named explicitly, as JSON.
    let out = setup
        .run(
            &["doctor", "--host-config", &path_str(&file), "--json"],
            &env,
        )
        .await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    let checks: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(checks.len(), 11);

    // A reference to a variable that is not set: named, no value shown.
    let out = setup.run(&["doctor"], &env[1..]).await;
    out.assert_failed(
        "configuration",
        &["`clientSecret`", "ZOOM_TEST_SECRET", "not set"],
    );
    assert!(out.check("oauth token").starts_with("- "), "{}", out.stdout);
    assert!(out.check("store").starts_with("✓ "), "{}", out.stdout);
}

#[tokio::test]
async fn several_gateway_state_dirs_ask_for_host() {
    let setup = Setup::healthy().await;
    setup.write_openclaw_config(&[], "{}");
    std::fs::create_dir_all(setup.dir.join(".clawdbot")).unwrap();
    let out = setup.run(&["doctor"], &[]).await;
    out.assert_failed("configuration", &["several gateway state dirs", "--host"]);
    let out = setup.run(&["doctor", "--host", "openclaw"], &[]).await;
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
}

/// The first line is out while a later check still waits on the network.
#[tokio::test]
async fn checks_are_printed_as_they_complete() {
    use tokio::io::AsyncBufReadExt;
    let mut setup = Setup::healthy().await;
    // An OAuth server that accepts and never answers: the token check waits.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            conns.push(c);
        }
    });
    setup.set("oauthUrl", format!("http://{addr}"));
    let file = setup.write_toml("slow.toml");
    let mut child = setup
        .command(&["doctor", "--config", &file], &[])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(RUN_LIMIT, lines.next_line())
        .await
        .expect("a first line")
        .unwrap()
        .unwrap();
    assert!(first.starts_with("✓ configuration: "), "{first}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "doctor finished before the OAuth check could"
    );
    child.kill().await.unwrap();
    held.abort();
}

/// `doctor | head -1`, the reader gone before anything is written: no panic.
#[tokio::test]
async fn a_closed_stdout_ends_doctor_quietly() {
    let setup = Setup::healthy().await;
    let file = setup.write_toml("pipe.toml");
    for json in [false, true] {
        let mut args = vec!["doctor", "--config", &file];
        if json {
            args.push("--json");
        }
        let mut child = setup
            .command(&args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
            .await
            .expect("doctor ends")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "json={json}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "json={json}: {stderr}");
    }
}
