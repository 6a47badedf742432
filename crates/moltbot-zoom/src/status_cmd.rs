//! `moltbot-zoom status`: reads a running sidecar's `GET /status` and prints
//! it as a table, or as the raw JSON with `--json`.

use std::{fmt::Write as _, path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use moltbot_channel::{AccountStatus, ConnectionState, Secret};
use serde::Deserialize;
use serde_json::Value;

/// How long to wait for the sidecar's answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Options of `moltbot-zoom status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// The sidecar's base URL (default: http://<`listen`> from the configuration).
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// The shim password (default: `password` from the configuration).
    #[arg(long, env = "MOLTBOT_ZOOM_PASSWORD", hide_env_values = true)]
    pub(crate) password: Option<String>,
    /// Print the raw `/status` JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// TOML config file (default: $MOLTBOT_ZOOM_CONFIG, else `channels.zoom` in the
    /// gateway's config file, as for `doctor`).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) gateway: crate::doctor::GatewayConfigArgs,
}

/// `/status` as the shim serves it; every part optional so an older or newer
/// sidecar still prints.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct StatusView {
    zoom: AccountStatus,
    outbox: OutboxView,
    webhooks: Vec<String>,
    version: Option<String>,
    uptime_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OutboxView {
    depth: u64,
    pending: u64,
    dead_letters: u64,
    delivered: u64,
    failed: u64,
    last_error: Option<String>,
    last_delivered_at_ms: Option<i64>,
}

/// Runs `moltbot-zoom status`.
///
/// # Errors
/// No URL or password could be found, the sidecar is not reachable, it
/// rejected the password, or it answered something else than its status.
pub(crate) async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let (url, password) = target(&args)?;
    let status = fetch(&url, &password).await?;
    if args.json {
        crate::stdout::outln!("{}", serde_json::to_string_pretty(&status)?)
    } else {
        let text = render(&url, &status, now_ms());
        crate::stdout::outln!("{}", text.trim_end_matches('\n'))
    }
}

/// The base URL and password: flags first, then the configuration.
fn target(args: &StatusArgs) -> anyhow::Result<(String, Secret)> {
    if let (Some(url), Some(password)) = (&args.url, &args.password) {
        return Ok((url.clone(), Secret::new(password.as_str())));
    }
    let sources = crate::doctor::sources(args.config.clone(), &args.gateway)?;
    let needed: &[&str] = match (&args.url, &args.password) {
        (Some(_), _) => &["password"],
        (None, Some(_)) => &["listen"],
        (None, None) => &["listen", "password"],
    };
    let config = crate::doctor::config_for(&sources, needed).map_err(|problems| {
        anyhow::anyhow!(
            "cannot read the sidecar's address and password from the configuration:\n{}\n\
             Pass --url and --password (or MOLTBOT_ZOOM_PASSWORD), or fix the configuration.",
            problems
                .iter()
                .map(|p| format!("  - {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let url = match &args.url {
        Some(u) => u.clone(),
        None => url_of_listen(&config.listen)?,
    };
    let password = match (&args.password, config.password) {
        (Some(p), _) => Secret::new(p.as_str()),
        (None, Some(p)) => p,
        (None, None) => bail!("no password: pass --password or set MOLTBOT_ZOOM_PASSWORD"),
    };
    Ok((url, password))
}

/// `http://<listen>`, with a wildcard address replaced by loopback.
pub(crate) fn url_of_listen(listen: &str) -> anyhow::Result<String> {
    let mut addr: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("`listen` = `{listen}` is not an address"))?;
    if addr.port() == 0 {
        bail!("`listen` uses port 0, so the sidecar's port is unknown; pass --url");
    }
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    Ok(format!("http://{addr}"))
}

/// `GET <url>/status` with the password as a Bearer token (never in the URL).
pub(crate) async fn fetch(base: &str, password: &Secret) -> anyhow::Result<Value> {
    let shown = shown(base);
    let endpoint = url::Url::parse(base)
        .and_then(|u| u.join("/status"))
        .with_context(|| format!("`{shown}` is not a URL"))?;
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .context("cannot create an HTTP client")?;
    let res = match client
        .get(endpoint)
        .bearer_auth(password.expose())
        .send()
        .await
    {
        Ok(res) => res,
        Err(e) if e.is_connect() => {
            bail!("sidecar not reachable at {shown}; is `moltbot-zoom run` running?")
        }
        Err(e) if e.is_timeout() => bail!("sidecar at {shown} did not answer within {TIMEOUT:?}"),
        Err(e) => bail!("cannot reach the sidecar at {shown}: {}", e.without_url()),
    };
    let code = res.status();
    if code == reqwest::StatusCode::UNAUTHORIZED {
        bail!(
            "the sidecar at {shown} rejected the password (HTTP 401); check `password` / \
             MOLTBOT_ZOOM_PASSWORD / --password"
        );
    }
    if !code.is_success() {
        bail!("the sidecar at {shown} answered HTTP {}", code.as_u16());
    }
    res.json::<Value>().await.with_context(|| {
        format!("the answer of {shown}/status is not JSON; is this a moltbot-zoom sidecar?")
    })
}

/// The human-readable table.
fn render(url: &str, raw: &Value, now_ms: i64) -> String {
    let s: StatusView = serde_json::from_value(raw.clone()).unwrap_or_default();
    let z = &s.zoom;
    let o = &s.outbox;
    let mut out = String::new();
    let _ = write!(out, "moltbot-zoom sidecar at {}", shown(url));
    if let Some(v) = &s.version {
        let _ = write!(out, " (version {v}");
        if let Some(up) = s.uptime_secs {
            let _ = write!(out, ", up {}", duration(up.saturating_mul(1000)));
        }
        out.push(')');
    }
    out.push('\n');
    let mut row = |key: &str, value: String| {
        let _ = writeln!(out, "  {key:<20}{value}");
    };
    let none = || "–".to_owned();
    row("account", z.account_id.clone());
    row("connection", connection(&z.connection));
    row(
        "connected since",
        z.connected_since_ms.map_or_else(none, |t| when(t, now_ms)),
    );
    row(
        "last event",
        z.last_event_at_ms.map_or_else(none, |t| {
            let mut text = when(t, now_ms);
            if let Some(lag) = z.last_event_lag_ms {
                let _ = write!(text, ", lag {lag} ms");
            }
            text
        }),
    );
    row("last error", z.last_error.clone().unwrap_or_else(none));
    if let Some(at) = z.next_retry_at_ms {
        row("next attempt", when(at, now_ms));
    }
    let q = &z.queue;
    if q.capacity > 0 {
        let mut text = format!(
            "{} of {} (high water {})",
            q.depth, q.capacity, q.high_water
        );
        if q.reading_paused {
            text.push_str(", full: reading from Zoom paused");
        }
        row("event queue", text);
    }
    let c = &z.counters;
    for (key, n) in [
        ("events received", c.events_received),
        ("messages emitted", c.messages_emitted),
        ("duplicates dropped", c.duplicates_dropped),
        ("filtered", c.filtered),
        ("malformed", c.malformed),
        ("connects", c.connects),
        ("sent", c.sent),
        ("send failures", c.send_failures),
        ("events failed", c.events_failed),
        ("gaps", c.gaps),
        ("recovered", c.messages_recovered),
    ] {
        row(key, n.to_string());
    }
    out.push_str("outbox\n");
    let mut row = |key: &str, value: String| {
        let _ = writeln!(out, "  {key:<20}{value}");
    };
    row("depth", o.depth.to_string());
    row("pending", o.pending.to_string());
    row(
        "dead letters",
        if o.dead_letters > 0 {
            format!("{} (see `moltbot-zoom outbox list`)", o.dead_letters)
        } else {
            "0".into()
        },
    );
    row("delivered", o.delivered.to_string());
    row("failed attempts", o.failed.to_string());
    row(
        "last delivered",
        o.last_delivered_at_ms
            .map_or_else(none, |t| when(t, now_ms)),
    );
    row("last error", o.last_error.clone().unwrap_or_else(none));
    out.push_str("webhooks\n");
    if s.webhooks.is_empty() {
        out.push_str("  (none: inbound messages wait in the outbox)\n");
    }
    for w in &s.webhooks {
        let _ = writeln!(out, "  {}", bluebubbles_shim::redact_url(w));
    }
    out
}

/// A URL safe to print: no user info, query or fragment, no trailing slash.
fn shown(url: &str) -> String {
    bluebubbles_shim::redact_url(url)
        .trim_end_matches('/')
        .to_owned()
}

/// The connection state in words.
pub(crate) fn connection(state: &ConnectionState) -> String {
    match state {
        ConnectionState::Idle => "idle".into(),
        ConnectionState::Connecting => "connecting".into(),
        ConnectionState::Connected => "connected".into(),
        ConnectionState::Reconnecting { attempt } => format!("reconnecting (attempt {attempt})"),
        ConnectionState::Stopped => "stopped".into(),
        ConnectionState::Failed { reason } => format!("failed: {reason}"),
    }
}

/// `2025-01-06 09:00:00 UTC (3m 12s ago)`.
pub(crate) fn when(at_ms: i64, now_ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    let stamp = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("{at_ms} ms"));
    let ago = now_ms.saturating_sub(at_ms);
    if ago >= 0 {
        format!("{stamp} ({} ago)", duration(ago.unsigned_abs()))
    } else {
        format!("{stamp} (in {})", duration(ago.unsigned_abs()))
    }
}

/// A short duration: `850ms`, `42s`, `3m 12s`, `2h 5m`, `4d 3h`.
pub(crate) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Now, in ms since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_are_short_and_human() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(42_000), "42s");
        assert_eq!(duration(192_000), "3m 12s");
        assert_eq!(duration(7_500_000), "2h 5m");
        assert_eq!(duration(4 * 86_400_000 + 3 * 3_600_000), "4d 3h");
        assert_eq!(
            when(1_736_154_000_000, 1_736_154_012_000),
            "2025-01-06 09:00:00 UTC (12s ago)"
        );
    }

    #[test]
    fn listen_address_becomes_a_loopback_url() {
        assert_eq!(
            url_of_listen("127.0.0.1:18790").unwrap(),
            "http://127.0.0.1:18790"
        );
        assert_eq!(url_of_listen("0.0.0.0:9").unwrap(), "http://127.0.0.1:9");
        assert_eq!(url_of_listen("[::]:9").unwrap(), "http://[::1]:9");
        assert!(url_of_listen("127.0.0.1:0").is_err());
    }

    #[test]
    fn table_shows_connection_outbox_and_redacted_webhooks() {
        let now = 1_736_154_060_000;
        let raw = json!({
            "zoom": {"account_id": "work", "connection": {"state": "reconnecting", "attempt": 3},
                     "connected": false, "connected_since_ms": null,
                     "last_event_at_ms": now - 60_000, "last_event_lag_ms": 340,
                     "last_error": "WebSocket closed (1006)",
                     "counters": {"events_received": 12, "messages_emitted": 10,
                                  "duplicates_dropped": 1, "filtered": 1, "malformed": 0,
                                  "connects": 2, "sent": 3, "send_failures": 0}},
            "outbox": {"depth": 4, "pending": 3, "deadLetters": 1, "delivered": 9,
                       "failed": 5, "lastError": "webhook answered HTTP 500",
                       "lastDeliveredAtMs": now - 5_000},
            "webhooks": ["http://127.0.0.1:18789/bluebubbles-webhook?password=hunter2"],
            "version": "0.1.0", "uptimeSecs": 125,
            "someFutureField": true
        });
        let text = render("http://127.0.0.1:18790", &raw, now);
        for needle in [
            "moltbot-zoom sidecar at http://127.0.0.1:18790 (version 0.1.0, up 2m 5s)",
            "  connection          reconnecting (attempt 3)",
            "  connected since     –",
            "  last event          2025-01-06 09:00:00 UTC (1m 0s ago), lag 340 ms",
            "  last error          WebSocket closed (1006)",
            "  events received     12",
            "  send failures       0",
            "  depth               4",
            "  pending             3",
            "  dead letters        1 (see `moltbot-zoom outbox list`)",
            "  delivered           9",
            "  failed attempts     5",
            "  last error          webhook answered HTTP 500",
            "  http://127.0.0.1:18789/bluebubbles-webhook\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn an_unexpected_body_still_renders() {
        let text = render("http://127.0.0.1:1", &json!({"zoom": "?"}), 0);
        assert!(text.contains("connection          idle"), "{text}");
        assert!(text.contains("(none: inbound messages wait"), "{text}");
    }

    #[tokio::test]
    async fn refused_connection_and_wrong_password_are_explained() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let err = fetch(&url, &Secret::new("pw"))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("sidecar not reachable at {url}"))
                && err.contains("is `moltbot-zoom run` running?"),
            "{err}"
        );

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/status",
            axum::routing::get(|headers: axum::http::HeaderMap| async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok())
                    == Some("Bearer right")
                {
                    (axum::http::StatusCode::OK, r#"{"outbox":{"depth":7}}"#)
                } else {
                    (axum::http::StatusCode::UNAUTHORIZED, "{}")
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let url = format!("http://{addr}");
        let err = fetch(&url, &Secret::new("wrong"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("rejected the password (HTTP 401)"), "{err}");
        assert!(!err.contains("wrong"), "{err}");
        let ok = fetch(&url, &Secret::new("right")).await.unwrap();
        assert_eq!(ok["outbox"]["depth"], 7);
    }
}
