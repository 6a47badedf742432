//! Shared helpers of the binary's integration tests: the `moltbot-zoom`
//! process, a webhook receiver, temporary folders and Zoom events.
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use fake_zoom::{FakeConfig, FakeZoom};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Upper bound of every wait in these tests.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// Secrets given to the sidecar; none may show up in its output.
pub(crate) const CLIENT_SECRET: &str = "cs-Zq8vN3kLm0";
pub(crate) const PASSWORD: &str = "pw-Hx4Rt7Yu2e";
pub(crate) const WEBHOOK_SECRET_TOKEN: &str = "wst-Pq5Jd8Ks1c";
/// Sent in the webhook URL's query string, as Moltbot's BlueBubbles receiver expects.
pub(crate) const HOOK_QUERY_PASSWORD: &str = "hq-Bn6Vc9Xz3a";

/// Where replies to meeting conversations go.
pub(crate) const DEFAULT_TARGET: &str = "alice@example.com";

/// A temporary folder removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "moltbot-zoom-it-{tag}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn db(&self) -> PathBuf {
        self.0.join("sidecar.sqlite")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fake Zoom whose client secret is [`CLIENT_SECRET`].
pub(crate) async fn fake_zoom() -> FakeZoom {
    FakeZoom::start(FakeConfig {
        client_secret: CLIENT_SECRET.into(),
        ..FakeConfig::default()
    })
    .await
    .unwrap()
}

/// A fake Zoom, a [`Receiver`] answering 200 and a `moltbot-zoom run` (at
/// `rust_log`, with `extra` appended to its config) in a [`TempDir`] named
/// after `tag`, started and connected to the fake. Fields drop in order: the
/// sidecar is killed before its folder is removed.
pub(crate) struct Connected {
    pub(crate) sidecar: SidecarProcess,
    pub(crate) config: PathBuf,
    pub(crate) dir: TempDir,
    pub(crate) receiver: Receiver,
    pub(crate) fake: FakeZoom,
}

pub(crate) async fn start_connected(tag: &str, rust_log: &str, extra: &str) -> Connected {
    let fake = fake_zoom().await;
    let receiver = Receiver::start(0, StatusCode::OK).await;
    let dir = TempDir::new(tag);
    let webhook = webhook_url(receiver.addr.port());
    let config = write_config(&dir, &fake, "127.0.0.1:0", &webhook, extra);
    let sidecar = SidecarProcess::start(&config, rust_log);
    assert!(
        fake.wait_for_open_connections(1, WAIT).await,
        "{}",
        sidecar.output()
    );
    Connected {
        sidecar,
        config,
        dir,
        receiver,
        fake,
    }
}

/// A port nothing listens on (bound and released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The webhook URL on `port`, with the query password.
pub(crate) fn webhook_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/zoom-webhook?password={HOOK_QUERY_PASSWORD}")
}

/// Writes a sidecar config file for `fake` into `dir` and returns its path.
/// The shim listens on `listen`; `extra` is appended as TOML.
pub(crate) fn write_config(
    dir: &TempDir,
    fake: &FakeZoom,
    listen: &str,
    webhook: &str,
    extra: &str,
) -> PathBuf {
    let fc = fake.config();
    let text = format!(
        r#"clientId = "{client_id}"
clientSecret = "{CLIENT_SECRET}"
zoomAccountId = "{account}"
subscriptionId = "{subscription}"
oauthUrl = "{base}"
apiUrl = "{base}"
wsUrl = "{ws}"
webhookSecretToken = "{WEBHOOK_SECRET_TOKEN}"
sender = "me@example.com"
defaultTarget = "{DEFAULT_TARGET}"
password = "{PASSWORD}"
listen = "{listen}"
webhookUrl = "{webhook}"
database = "{db}"
{extra}
"#,
        client_id = fc.client_id,
        account = fc.account_id,
        subscription = fc.subscription_id,
        base = fake.base_url(),
        ws = fake.ws_url(),
        db = dir.db().display(),
    );
    let path = dir.path().join("sidecar.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The `moltbot-zoom` binary with a clean environment.
pub(crate) fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moltbot-zoom"));
    cmd.env_clear();
    cmd
}

/// A running `moltbot-zoom run`, with its output captured. Killed on drop.
pub(crate) struct SidecarProcess {
    child: Child,
    /// The shim's base URL, from the "listening on" line.
    pub(crate) url: String,
    output: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl SidecarProcess {
    /// Starts `moltbot-zoom run --config <config>` and waits for its
    /// "listening on" line.
    pub(crate) fn start(config: &Path, rust_log: &str) -> Self {
        Self::start_with_env(config, rust_log, &[])
    }

    /// As [`SidecarProcess::start`], with extra environment variables.
    pub(crate) fn start_with_env(config: &Path, rust_log: &str, env: &[(&str, &str)]) -> Self {
        let mut cmd = binary();
        cmd.arg("run").arg("--config").arg(config);
        cmd.envs(env.iter().copied());
        Self::spawn(cmd, rust_log)
    }

    /// As [`start`](Self::start), with the open-file limit (`RLIMIT_NOFILE`)
    /// of the process set to `nofile` by `sh -c 'ulimit -n …; exec …'`.
    pub(crate) fn start_with_nofile(config: &Path, rust_log: &str, nofile: u32) -> Self {
        let mut cmd = Command::new("/bin/sh");
        cmd.env_clear()
            .arg("-c")
            .arg(format!(
                "ulimit -n {nofile} && exec \"$0\" run --config \"$1\""
            ))
            .arg(env!("CARGO_BIN_EXE_moltbot-zoom"))
            .arg(config);
        Self::spawn(cmd, rust_log)
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn spawn(mut cmd: Command, rust_log: &str) -> Self {
        let mut child = cmd
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let out = output.clone();
        let stdout_reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap_or(0) > 0 {
                out.lock().unwrap().extend_from_slice(line.as_bytes());
                if let Some(url) = line.trim().strip_prefix("moltbot-zoom listening on ") {
                    let _ = url_tx.send(url.to_owned());
                }
                line.clear();
            }
        });
        let out = output.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut stderr = stderr;
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let url = match url_rx.recv_timeout(WAIT) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the sidecar printed no listening line within {WAIT:?}; output:\n{}",
                    String::from_utf8_lossy(&output.lock().unwrap())
                );
            }
        };
        Self {
            child,
            url,
            output,
            readers: vec![stdout_reader, stderr_reader],
        }
    }

    /// Everything the process wrote so far (stdout and stderr).
    pub(crate) fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits (bounded by `timeout`) for the process to exit by itself; its
    /// exit status and output, or `None` if it is still running.
    pub(crate) fn wait_exit(
        &mut self,
        timeout: Duration,
    ) -> Option<(std::process::ExitStatus, String)> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                return Some((status, self.output()));
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL (on Unix), then waits for the process and its output.
    pub(crate) fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.output()
    }

    /// `GET /status` with the password.
    pub(crate) async fn status(&self) -> Value {
        let res = reqwest::Client::new()
            .get(format!("{}/status", self.url))
            .bearer_auth(PASSWORD)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// The Prometheus text of `/metrics`.
    pub(crate) async fn metrics(&self) -> String {
        reqwest::Client::new()
            .get(format!("{}/metrics", self.url))
            .bearer_auth(PASSWORD)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Polls `/status` (bounded) until `pred` holds; returns the last status.
    pub(crate) async fn wait_status(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let status = self.status().await;
            if pred(&status) {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; last status: {status:#}\noutput:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SidecarProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One webhook POST as received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) authorization: Option<String>,
    pub(crate) query: Option<String>,
    pub(crate) body: Value,
}

/// A stand-in for the Moltbot gateway's webhook route: records every POST
/// and answers with the current status (see [`Receiver::set_status`]).
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) received: Arc<Mutex<Vec<Received>>>,
    notify: Arc<Notify>,
    status: Arc<AtomicU16>,
    pub(crate) addr: SocketAddr,
}

async fn receive(
    State(rx): State<Receiver>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    rx.received.lock().unwrap().push(Received {
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        query,
        body,
    });
    rx.notify.notify_waiters();
    StatusCode::from_u16(rx.status.load(Ordering::SeqCst)).unwrap()
}

impl Receiver {
    /// Listens on `127.0.0.1:port` (0 = any) and answers every POST with `status`.
    pub(crate) async fn start(port: u16, status: StatusCode) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let rx = Self {
            received: Arc::default(),
            notify: Arc::default(),
            status: Arc::new(AtomicU16::new(status.as_u16())),
            addr: listener.local_addr().unwrap(),
        };
        let app = axum::Router::new()
            .route("/zoom-webhook", axum::routing::post(receive))
            .with_state(rx.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        rx
    }

    /// Answers later POSTs with `status`.
    pub(crate) fn set_status(&self, status: StatusCode) {
        self.status.store(status.as_u16(), Ordering::SeqCst);
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (bounded by `timeout`) until `pred` holds for what was received.
    pub(crate) async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            let now = self.received();
            if pred(&now) {
                return now;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.received();
            }
        }
    }
}

/// The webhooks that are not the feed's gap notice (which a restart brings).
pub(crate) fn without_gap_notices(received: &[Received]) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.body["data"]["zoom"]["eventType"] != "zoom.gap")
        .cloned()
        .collect()
}

/// A `meeting.started` event of meeting `meeting` whose topic carries `seq`.
pub(crate) fn meeting_started(meeting: u64, seq: u32, event_ts: i64) -> Value {
    json!({
        "event": "meeting.started",
        "event_ts": event_ts,
        "payload": {
            "account_id": "fake-account",
            "object": {
                "id": meeting.to_string(),
                "uuid": format!("uuid-{meeting}=="),
                "host_id": "host-1",
                "topic": format!("m{meeting} #{seq:04}"),
                "type": 2,
                "start_time": "2025-01-06T09:00:00Z",
                "timezone": "Europe/Berlin",
                "duration": 30
            }
        }
    })
}

/// The `#NNNN` sequence number in a rendered message text.
pub(crate) fn seq_of(text: &str) -> Option<u32> {
    let at = text.find('#')?;
    text[at + 1..].get(..4)?.parse().ok()
}

/// What a finished CLI run printed.
#[derive(Debug)]
pub(crate) struct CliOutput {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `moltbot-zoom <args>` with `env` (on a clean environment), bounded by [`WAIT`].
pub(crate) async fn cli(args: &[&str], env: &[(&str, &str)]) -> CliOutput {
    let mut cmd = tokio::process::Command::from(binary());
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("`moltbot-zoom {}` did not finish", args.join(" ")))
        .unwrap();
    CliOutput {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `moltbot-zoom <args>` with its stdout a real pipe that the reader closes
/// after `keep_lines` lines (0: before the command writes anything), like
/// `moltbot-zoom … | head -N`. Bounded by [`WAIT`]; the lines read are in `stdout`.
pub(crate) async fn cli_with_closed_stdout(
    args: &[&str],
    env: &[(&str, &str)],
    keep_lines: usize,
) -> CliOutput {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut cmd = tokio::process::Command::from(binary());
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut read = String::new();
    if keep_lines > 0 {
        let mut lines = tokio::io::BufReader::new(stdout);
        for _ in 0..keep_lines {
            let mut line = String::new();
            let n = tokio::time::timeout(WAIT, lines.read_line(&mut line))
                .await
                .expect("a line within WAIT")
                .unwrap();
            assert!(n > 0, "stdout ended after {read:?}");
            read.push_str(&line);
        }
        drop(lines);
    } else {
        drop(stdout);
    }
    let mut err = String::new();
    let (status, _) = tokio::time::timeout(WAIT, async {
        tokio::join!(child.wait(), stderr.read_to_string(&mut err))
    })
    .await
    .unwrap_or_else(|_| panic!("`moltbot-zoom {}` did not finish", args.join(" ")));
    CliOutput {
        code: status.unwrap().code(),
        stdout: read,
        stderr: err,
    }
}
