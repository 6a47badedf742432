//! The sidecar under test: the release `moltbot-zoom run` binary as a black
//! box, configured through its documented keys (a TOML file) to take OAuth and
//! REST from fake Zoom, events from the bench's WebSocket endpoint, and to
//! deliver to the bench's receiver. Its database lives in a fresh folder.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The shim password the bench configures (a bench-only value).
pub(crate) const PASSWORD: &str = "bench-password";

/// How the sidecar is built: as shipped, without the `demo` feature's
/// embedded fake Zoom (docs/operations.md), so its memory is the shipped one.
const BUILD_ARGS: [&str; 5] = [
    "build",
    "--release",
    "-p",
    "moltbot-zoom",
    "--no-default-features",
];

/// Where the sidecar's endpoints are.
pub(crate) struct Endpoints<'a> {
    /// fake Zoom's base URL (OAuth and REST).
    pub(crate) zoom_base: &'a str,
    /// The event WebSocket URL.
    pub(crate) ws_url: &'a str,
    /// The webhook receiver URL.
    pub(crate) webhook_url: &'a str,
}

/// A running `moltbot-zoom run`.
pub(crate) struct Sidecar {
    child: Child,
    /// The shim's base URL.
    pub(crate) url: String,
    pid: u32,
    http: reqwest::Client,
}

/// Resident set sizes of a process, in kB, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rss {
    /// `VmRSS`: now.
    pub(crate) now_kb: u64,
    /// `VmHWM`: the peak since start.
    pub(crate) peak_kb: u64,
}

impl Sidecar {
    /// Writes a config into `dir` (database `dir/sidecar.sqlite`) and starts
    /// `binary run`, waiting (bounded) for its "listening on" line.
    pub(crate) async fn start(
        binary: &Path,
        dir: &Path,
        endpoints: &Endpoints<'_>,
        extra: &str,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let config = config_text(dir, endpoints, extra);
        let config_path = dir.join("sidecar.toml");
        std::fs::write(&config_path, config)?;
        let log = std::fs::File::create(dir.join("sidecar.log"))?;
        let mut child = Command::new(binary)
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .env_clear()
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id().context("the sidecar exited at once")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.trim().strip_prefix("moltbot-zoom listening on ") {
                    return Some(url.to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .with_context(|| {
            format!(
                "the sidecar printed no listening line within 20 s; see {}",
                dir.join("sidecar.log").display()
            )
        })?;
        // Keep draining stdout so the process never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            url,
            pid,
            http: reqwest::Client::new(),
        })
    }

    /// `VmRSS` and `VmHWM` now.
    pub(crate) fn rss(&self) -> Rss {
        rss_of(self.pid)
    }

    /// `GET /status` (with the password); `None` when it does not answer.
    pub(crate) async fn status(&self) -> Option<serde_json::Value> {
        let res = self
            .http
            .get(format!("{}/status", self.url))
            .bearer_auth(PASSWORD)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        res.json().await.ok()
    }

    /// The outbox depth reported by `/status` (`outbox.depth`).
    pub(crate) async fn outbox_depth(&self) -> Option<u64> {
        self.status().await?.get("outbox")?.get("depth")?.as_u64()
    }

    /// SIGKILLs the process and waits for it.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn config_text(dir: &Path, e: &Endpoints<'_>, extra: &str) -> String {
    format!(
        r#"# Written by moltbot-zoom-bench.
clientId = "fake-client-id"
clientSecret = "fake-client-secret"
zoomAccountId = "fake-account"
subscriptionId = "fake-subscription"
oauthUrl = "{zoom}"
apiUrl = "{zoom}"
wsUrl = "{ws}"
sender = "me@example.com"
defaultTo = "alice@example.com"
password = "{PASSWORD}"
listen = "127.0.0.1:0"
webhookUrl = "{hook}"
database = "{db}"
# A backlog run keeps failing deliveries for minutes; none may turn dead.
maxAttempts = 100000
{extra}
"#,
        zoom = e.zoom_base,
        ws = e.ws_url,
        hook = e.webhook_url,
        db = dir.join("sidecar.sqlite").display(),
    )
}

/// `VmRSS` and `VmHWM` of `pid` (zeros when unreadable).
pub(crate) fn rss_of(pid: u32) -> Rss {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Rss {
        now_kb: field("VmRSS:"),
        peak_kb: field("VmHWM:"),
    }
}

/// The release `moltbot-zoom` next to this executable (both live in
/// `target/release`), after building it with the cargo that runs the bench
/// (`$CARGO`) unless `no_build`.
pub(crate) fn locate_binary(explicit: Option<PathBuf>, no_build: bool) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        anyhow::ensure!(path.is_file(), "no sidecar binary at {}", path.display());
        return Ok(path);
    }
    if !no_build {
        if let Some(cargo) = std::env::var_os("CARGO") {
            eprintln!("building the sidecar: cargo {}", BUILD_ARGS.join(" "));
            // Without the variables `cargo run` set for the bench itself: build
            // scripts that watch them would rebuild their crates every time.
            let mut build = std::process::Command::new(cargo);
            for (key, _) in std::env::vars_os() {
                let key = key.to_string_lossy().into_owned();
                if [
                    "CARGO_PKG_",
                    "CARGO_MANIFEST_",
                    "CARGO_BIN_",
                    "CARGO_CRATE_",
                    "CARGO_PRIMARY_",
                ]
                .iter()
                .any(|p| key.starts_with(p))
                {
                    build.env_remove(key);
                }
            }
            let status = build
                .args(BUILD_ARGS)
                .status()
                .context("cannot run cargo")?;
            anyhow::ensure!(status.success(), "cargo {} failed", BUILD_ARGS.join(" "));
        }
    }
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .context("the bench executable has no folder")?
        .join("moltbot-zoom");
    anyhow::ensure!(
        path.is_file(),
        "no sidecar binary at {}; run `cargo {}` or pass --sidecar",
        path.display(),
        BUILD_ARGS.join(" ")
    );
    Ok(path)
}
