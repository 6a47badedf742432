//! `moltbot-zoom status` and `moltbot-zoom outbox …` as subprocesses against
//! a running sidecar and its database: output and exit codes.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_a_running_sidecar_and_explains_failures() {
    let fake = fake_zoom().await;
    let receiver = Receiver::start(0, StatusCode::OK).await;
    let dir = TempDir::new("status");
    let listen = format!("127.0.0.1:{}", free_port());
    let config = write_config(&dir, &fake, &listen, &webhook_url(receiver.addr.port()), "");
    let sidecar = SidecarProcess::start(&config, "info");
    assert_eq!(sidecar.url, format!("http://{listen}"));
    sidecar
        .wait_status("the Zoom connection", |s| s["zoom"]["connected"] == true)
        .await;
    fake.push_event(meeting_started(42, 1, 1_736_150_400_000));
    receiver.wait_for(WAIT, |r| !r.is_empty()).await;
    sidecar
        .wait_status("a delivery", |s| s["outbox"]["delivered"] == 1)
        .await;

    // Address and password from the config file.
    let config_arg = config.to_str().unwrap();
    let out = cli(&["status", "--config", config_arg], &[]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    for needle in [
        &format!("moltbot-zoom sidecar at http://{listen} (version "),
        "  connection          connected\n",
        "  events received     1\n",
        "  messages emitted    1\n",
        "  depth               0\n",
        "  delivered           1\n",
        &format!("  http://{}/zoom-webhook\n", receiver.addr),
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?} in\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout.contains("  last event          20"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(HOOK_QUERY_PASSWORD), "{}", out.stdout);

    // --json with the URL as a flag and the password from the environment.
    let url = sidecar.url.as_str();
    let out = cli(
        &["status", "--url", url, "--json"],
        &[("MOLTBOT_ZOOM_PASSWORD", PASSWORD)],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["zoom"]["connected"], true);
    assert_eq!(json["outbox"]["delivered"], 1);

    // A wrong password.
    let out = cli(&["status", "--url", url, "--password", "nope-pw"], &[]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("rejected the password (HTTP 401)"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("nope-pw"), "{}", out.stderr);

    // Nothing listening.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = cli(&["status", "--url", &dead, "--password", "x"], &[]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains(&format!(
            "sidecar not reachable at {dead}; is `moltbot-zoom run` running?"
        )),
        "{}",
        out.stderr
    );
}

/// Ids and conversations of the dead letters in `outbox list` output.
fn listed(stdout: &str) -> Vec<(i64, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut cells = line.split_whitespace();
            let id = cells.next()?.parse().ok()?;
            Some((id, cells.next()?.to_owned()))
        })
        .collect()
}

/// The message guid in `outbox show` output.
fn shown_guid(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("message"))
        .map(|g| g.trim().to_owned())
        .unwrap_or_else(|| panic!("no message line in\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_lists_shows_retries_and_drops_dead_letters_while_the_sidecar_runs() {
    let fake = fake_zoom().await;
    let receiver = Receiver::start(0, StatusCode::INTERNAL_SERVER_ERROR).await;
    let dir = TempDir::new("outbox");
    let config = write_config(
        &dir,
        &fake,
        "127.0.0.1:0",
        &webhook_url(receiver.addr.port()),
        "maxAttempts = 1",
    );
    let sidecar = SidecarProcess::start(&config, "info");
    assert!(fake.wait_for_open_connections(1, WAIT).await);
    let ts = 1_736_150_400_000_i64;
    fake.push_event(meeting_started(7, 1, ts));
    fake.push_event(meeting_started(7, 2, ts + 1));
    fake.push_event(meeting_started(8, 1, ts + 2));
    sidecar
        .wait_status("three dead letters", |s| s["outbox"]["deadLetters"] == 3)
        .await;
    let db = dir.db();
    let db = db.to_str().unwrap();
    let config = config.to_str().unwrap();

    // list
    let out = cli(&["outbox", "list", "--database", db], &[]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .starts_with("outbox: 3 undelivered, 0 pending deliveries, 3 dead letters\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("LAST ERROR"), "{}", out.stdout);
    assert!(
        out.stdout.contains("webhook answered HTTP 500"),
        "{}",
        out.stdout
    );
    let rows = listed(&out.stdout);
    let conversations: Vec<&str> = rows.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        conversations,
        ["zoom;+;meeting:7", "zoom;+;meeting:7", "zoom;+;meeting:8"],
        "{}",
        out.stdout
    );
    let ids: Vec<String> = rows.iter().map(|(id, _)| id.to_string()).collect();

    // show
    let out = cli(&["outbox", "show", &ids[1], "--database", db], &[]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("\"type\": \"new-message\""),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("#0002"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("http://{}/zoom-webhook (id ", receiver.addr)),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(HOOK_QUERY_PASSWORD), "{}", out.stdout);
    let second_guid = shown_guid(&out.stdout);
    let out = cli(&["outbox", "show", &ids[2], "--database", db], &[]).await;
    let third_guid = shown_guid(&out.stdout);

    // --json: one document each, the webhook URL redacted.
    let out = cli(&["outbox", "list", "--json", "--database", db], &[]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let doc: Value = serde_json::from_str(&out.stdout).expect("list --json is JSON");
    assert_eq!(doc["outbox"]["deadLetters"], 3, "{doc:#}");
    let letters = doc["deadLetters"].as_array().unwrap();
    let json_ids: Vec<String> = letters.iter().map(|d| d["id"].to_string()).collect();
    assert_eq!(json_ids, ids, "{doc:#}");
    assert_eq!(letters[1]["messageGuid"], second_guid.as_str());
    assert_eq!(letters[1]["chatGuid"], "zoom;+;meeting:7");
    assert!(!out.stdout.contains(HOOK_QUERY_PASSWORD), "{}", out.stdout);
    let out = cli(
        &["outbox", "show", &ids[1], "--json", "--database", db],
        &[],
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let shown: Value = serde_json::from_str(&out.stdout).expect("show --json is JSON");
    assert_eq!(shown, letters[1], "show --json is the list entry");
    assert_eq!(shown["payload"]["type"], "new-message");
    assert!(!out.stdout.contains(HOOK_QUERY_PASSWORD), "{}", out.stdout);

    // A reader that goes away (`| head -1`) ends the command quietly, no panic.
    for args in [
        &["outbox", "list", "--database", db][..],
        &["outbox", "list", "--json", "--database", db][..],
        &["outbox", "show", &ids[1], "--database", db][..],
    ] {
        let out = cli_with_closed_stdout(args, &[], 0).await;
        assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    }

    // Unknown ids fail and say so.
    for verb in ["show", "retry", "drop"] {
        let out = cli(&["outbox", verb, "999999", "--database", db], &[]).await;
        assert_ne!(out.code, Some(0), "{verb}: {out:?}");
        assert!(
            out.stderr.contains("no dead letter with id 999999"),
            "{verb}: {}",
            out.stderr
        );
    }

    // retry one (database from the config file): the running sidecar delivers it.
    receiver.set_status(StatusCode::OK);
    let before = receiver.received().len();
    let out = cli(&["outbox", "retry", &ids[1], "--config", config], &[]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.starts_with(&format!(
            "requeued dead letter {} (message {second_guid}, conversation zoom;+;meeting:7",
            ids[1]
        )),
        "{}",
        out.stdout
    );
    let got = receiver.wait_for(WAIT, |r| r.len() > before).await;
    assert_eq!(got.len(), before + 1);
    assert_eq!(got[before].body["data"]["guid"], second_guid.as_str());
    sidecar
        .wait_status("two dead letters", |s| s["outbox"]["deadLetters"] == 2)
        .await;

    // drop one: gone for good.
    let out = cli(&["outbox", "drop", &ids[0], "--database", db], &[]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .starts_with(&format!("dropped dead letter {} (message ", ids[0])),
        "{}",
        out.stdout
    );
    let out = cli(&["outbox", "retry", &ids[0], "--database", db], &[]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    let out = cli(&["outbox", "list", "--database", db], &[]).await;
    assert_eq!(
        listed(&out.stdout),
        [(rows[2].0, "zoom;+;meeting:8".to_owned())],
        "{}",
        out.stdout
    );

    // retry --all: the last one goes out; the dropped one never does.
    let out = cli(&["outbox", "retry", "--all", "--database", db], &[]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.starts_with("requeued 1 dead letter;"),
        "{}",
        out.stdout
    );
    let got = receiver.wait_for(WAIT, |r| r.len() > before + 1).await;
    assert_eq!(got[before + 1].body["data"]["guid"], third_guid.as_str());
    let status = sidecar
        .wait_status("an empty outbox", |s| s["outbox"]["depth"] == 0)
        .await;
    assert_eq!(status["outbox"]["deadLetters"], 0, "{status:#}");
    assert_eq!(receiver.received().len(), before + 2);

    // A missing database is an error, not a new empty file.
    let missing = dir.path().join("missing.sqlite");
    let out = cli(
        &["outbox", "list", "--database", missing.to_str().unwrap()],
        &[],
    )
    .await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("no database at"), "{}", out.stderr);
    assert!(!missing.exists());
}

/// `status` and `outbox` read `channels.zoom` from the gateway's JSON5 config, as
/// `doctor` does: `--host-config FILE`, or `--host` (its state dir and config file),
/// with `--account` choosing under `accounts`; `${VAR}` values resolve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_outbox_read_the_gateway_config() {
    let fake = fake_zoom().await;
    let receiver = Receiver::start(0, StatusCode::INTERNAL_SERVER_ERROR).await;
    let dir = TempDir::new("gateway-config");
    let listen = format!("127.0.0.1:{}", free_port());
    let toml = write_config(
        &dir,
        &fake,
        &listen,
        &webhook_url(receiver.addr.port()),
        "maxAttempts = 1",
    );
    let sidecar = SidecarProcess::start(&toml, "info");
    assert!(fake.wait_for_open_connections(1, WAIT).await);
    fake.push_event(meeting_started(5, 1, 1_736_150_400_000));
    sidecar
        .wait_status("one dead letter", |s| s["outbox"]["deadLetters"] == 1)
        .await;

    // The gateway's config: JSON5, the shim password as an env reference.
    let state = dir.path().join("openclaw-state");
    std::fs::create_dir_all(&state).unwrap();
    let gateway = state.join("openclaw.json");
    std::fs::write(
        &gateway,
        format!(
            "// written by the gateway\n{{\n  channels: {{\n    zoom: {{\n      \
             listen: \"{listen}\",\n      password: \"${{ZOOM_SHIM_PASSWORD}}\",\n      \
             accounts: {{\n        work: {{ database: {db:?}, }},\n        \
             lab: {{ database: \"/nonexistent/lab.sqlite\" }},\n      }},\n    }},\n  }},\n}}\n",
            db = dir.db().display().to_string(),
        ),
    )
    .unwrap();
    let file = gateway.to_str().unwrap();
    let env = [("ZOOM_SHIM_PASSWORD", PASSWORD)];

    let out = cli(
        &["status", "--host-config", file, "--account", "work"],
        &env,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains(&format!(
            "moltbot-zoom sidecar at http://{listen} (version "
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  dead letters        1 (see"),
        "{}",
        out.stdout
    );

    // --host finds the same file through the host's state dir.
    let state_env = [("OPENCLAW_STATE_DIR", state.to_str().unwrap())];
    let out = cli(
        &[
            "outbox",
            "list",
            "--json",
            "--host",
            "openclaw",
            "--account",
            "work",
        ],
        &state_env,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["outbox"]["deadLetters"], 1, "{doc:#}");
    assert_eq!(
        doc["deadLetters"][0]["chatGuid"], "zoom;+;meeting:5",
        "{doc:#}"
    );

    // Two accounts and none chosen: refused with the list and the fix, nothing opened.
    let out = cli(&["outbox", "list", "--host-config", file], &[]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("lab") && out.stderr.contains("work"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("fix: "), "{}", out.stderr);
    // The other account's database does not exist: said, not created.
    let out = cli(
        &["outbox", "list", "--host-config", file, "--account", "lab"],
        &[],
    )
    .await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr
            .contains("no database at /nonexistent/lab.sqlite"),
        "{}",
        out.stderr
    );
    // Without the variable the password is missing, and no secret is printed.
    let out = cli(&["status", "--host-config", file, "--account", "work"], &[]).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("ZOOM_SHIM_PASSWORD"), "{}", out.stderr);
    assert!(!out.stderr.contains(PASSWORD), "{}", out.stderr);
}
