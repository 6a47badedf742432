//! `moltbot-zoom doctor`: checks a configuration end to end, one line per
//! check, and says how to fix what fails.
//!
//! Each check is printed as soon as it completes; `--json` prints one JSON
//! document (an array of every check) at the end instead.
//!
//! Where the configuration comes from: `--config FILE` / `MOLTBOT_ZOOM_CONFIG`
//! and the environment as for `run`; plus, when `--host-config FILE` is given or
//! neither `--config` nor `MOLTBOT_ZOOM_CONFIG` is, `channels.zoom` (and
//! `accounts.<id>`) from the gateway's config file (see [`host_config`]), in the
//! place of the JSON the extension would hand the sidecar.
//!
//! Checks, in order: configuration; OAuth token; scopes; transport (one
//! WebSocket `build_connection`, or the webhook listener); sender and default
//! target (read-only lookups; `--send-test` posts for real); Moltbot gateway,
//! extension installed and loaded; SQLite store writable; outbox. A check
//! whose prerequisite failed is skipped. Every network call is bounded by
//! [`NET_TIMEOUT`]; secrets are never printed.
//!
//! Scope policy: a missing send scope fails. Read scopes are checked per event
//! family (meetings, recordings, users, Team Chat): families the user names in
//! `include` must be covered (else the check fails); with no `include` the
//! subscription's event list is unknown here, so uncovered families are only
//! noted in the detail.

use std::{
    collections::BTreeSet,
    ffi::OsString,
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use bluebubbles_shim::{Store, redact_url};
use moltbot_channel::{Channel, OutboundMessage};
use serde::Serialize;
use serde_json::{Map, Value};
use zoom::{AccessToken, SessionConfig, TokenProvider, ZoomApi, ZoomError};
use zoom_channel::{FEED_ID, Target, ZoomChannel, parse_target};

mod checks;
mod host_config;
mod load;
mod scopes;

use self::{checks::*, load::*, scopes::*};
use crate::{
    config::{CONFIG_FILE_ENV, Config, ENV_KEYS, GrantKind, SendAsKind, Sources, Transport},
    host::{self, HOSTS, Host},
    sidecar::{channel_config, open_store, zoom_clients},
    stdout::StdoutClosed,
};

/// Bound on every network call doctor makes.
pub(crate) const NET_TIMEOUT: Duration = Duration::from_secs(5);
/// What `--send-test` posts.
pub(crate) const TEST_MESSAGE: &str = "moltbot-zoom doctor test message";

/// Names of the checks after `configuration`, skipped when it cannot load.
const LATER_CHECKS: [&str; 11] = [
    "oauth token",
    "scopes",
    "transport",
    "sender",
    "default target",
    "send test",
    "gateway",
    "extension installed",
    "extension loaded",
    "store",
    "outbox",
];

/// `moltbot-zoom doctor` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct DoctorArgs {
    /// TOML config file (default: $MOLTBOT_ZOOM_CONFIG).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Also post "moltbot-zoom doctor test message" to `defaultTo` (a real message).
    #[arg(long)]
    send_test: bool,
    /// Print the results as one JSON document at the end: an array of
    /// {name, status, detail, fix}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    gateway: GatewayConfigArgs,
}

/// Where `channels.zoom` is read from besides the TOML file and the environment: the
/// gateway's own config file (`doctor`, `status`, `outbox`; see [`sources_for`]).
#[derive(Debug, Default, Clone, clap::Args)]
pub(crate) struct GatewayConfigArgs {
    /// The gateway config file (JSON5) whose `channels.zoom` to read.
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) host_config: Option<PathBuf>,
    /// The gateway whose config file to read (default: as `install` chooses).
    #[arg(long, value_enum, global = true)]
    pub(crate) host: Option<Host>,
    /// The account under `channels.zoom.accounts` (default: as the extension chooses).
    #[arg(long, global = true)]
    pub(crate) account: Option<String>,
}

/// The checks so far; each one is handed to `on_check` as it is added.
pub(crate) struct Checks<'a> {
    list: Vec<Check>,
    on_check: Box<dyn FnMut(&Check) + 'a>,
}

impl<'a> Checks<'a> {
    /// An empty list reporting each check to `on_check`.
    pub(crate) fn new(on_check: impl FnMut(&Check) + 'a) -> Self {
        Self {
            list: Vec::new(),
            on_check: Box::new(on_check),
        }
    }

    /// Adds (and reports) one check.
    pub(crate) fn push(&mut self, check: Check) {
        (self.on_check)(&check);
        self.list.push(check);
    }

    /// Adds (and reports) several.
    pub(crate) fn extend(&mut self, checks: impl IntoIterator<Item = Check>) {
        for check in checks {
            self.push(check);
        }
    }

    /// Every check so far.
    pub(crate) fn into_vec(self) -> Vec<Check> {
        self.list
    }
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Fail,
    Skip,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) status: Status,
    pub(crate) detail: String,
    pub(crate) fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn skip(name: &'static str, why: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Skip,
            detail: why.into(),
            fix: None,
        }
    }

    fn passed(&self) -> bool {
        self.status == Status::Ok
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Status::Ok => write!(f, "✓ {}: {}", self.name, self.detail),
            Status::Skip => write!(f, "- {}: skipped ({})", self.name, self.detail),
            Status::Fail => {
                write!(f, "✗ {}: {}", self.name, self.detail)?;
                match &self.fix {
                    Some(fix) => write!(f, "\n    fix: {fix}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Options beyond the configuration.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// Post a real test message to `defaultTo`.
    pub(crate) send_test: bool,
    /// The gateway whose state dir holds the extension (`--host`).
    pub(crate) host: Option<Host>,
}

/// `moltbot-zoom doctor`: prints the checks; fails when any check fails.
pub(crate) async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let options = Options {
        send_test: args.send_test,
        host: args.gateway.host,
    };
    let json = args.json;
    let closed = std::rc::Rc::new(tokio::sync::Notify::new());
    let signal = closed.clone();
    let mut checks = Checks::new(move |check: &Check| {
        if !json && crate::stdout::outln!("{check}").is_err() {
            signal.notify_one();
        }
    });
    let work = async {
        match sources_for(args.config.clone(), &args.gateway) {
            Ok(sources) => run_checks(&sources, options, &mut checks).await,
            Err(check) => {
                checks.push(check);
                checks.extend(skip_later(options, "the configuration cannot be loaded"));
            }
        }
    };
    tokio::select! {
        () = work => {}
        () = closed.notified() => return Err(StdoutClosed.into()),
    }
    let checks = checks.into_vec();
    if json {
        crate::stdout::outln!("{}", serde_json::to_string_pretty(&checks)?)?;
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} checks failed", checks.len());
    }
    Ok(())
}

/// The configuration sources of `status` and `outbox`: as [`sources_for`], a refusal
/// as an error that says the fix.
pub(crate) fn sources(
    config: Option<PathBuf>,
    gateway: &GatewayConfigArgs,
) -> anyhow::Result<Sources> {
    sources_for(config, gateway).map_err(|check| match check.fix {
        Some(fix) => anyhow::anyhow!("{}\n  fix: {fix}", check.detail),
        None => anyhow::anyhow!("{}", check.detail),
    })
}

/// The configuration from `sources` for a command that needs only `keys` (`status`,
/// `outbox`): loaded as for doctor's checks, so a problem with another key (a
/// credential missing, a secret whose variable only the gateway has) does not stop it.
///
/// # Errors
/// The problems (one line each) when the input cannot be loaded at all, or when one of
/// `keys` is missing or invalid.
pub(crate) fn config_for(sources: &Sources, keys: &[&str]) -> Result<Config, Vec<String>> {
    let (checks, loaded) = load(sources);
    let fatal = loaded.is_none();
    match loaded {
        Some(loaded) if loaded.missing(keys).is_none() => Ok(loaded.config),
        _ => Err(checks
            .into_iter()
            .filter(|c| c.status == Status::Fail)
            .filter(|c| fatal || problem_key(&c.detail).is_some_and(|k| keys.contains(&k)))
            .map(|c| c.detail)
            .collect()),
    }
}

/// The process's sources (`--config FILE` / `MOLTBOT_ZOOM_CONFIG` and the environment)
/// plus, where it applies (module docs), the gateway config chosen by `args`.
pub(crate) fn sources_for(
    config: Option<PathBuf>,
    args: &GatewayConfigArgs,
) -> Result<Sources, Check> {
    let standalone_file = config.is_some();
    let mut sources = Sources::from_process(config).map_err(|e| {
        Check::fail(
            "configuration",
            format!("{e:#}"),
            "pass an existing file with --config FILE (or set MOLTBOT_ZOOM_CONFIG)",
        )
    })?;
    let standalone = standalone_file || sources.env.contains_key(CONFIG_FILE_ENV);
    if args.host_config.is_none() && standalone {
        return Ok(sources);
    }
    let env = sources.env.clone();
    let var = move |name: &str| env.get(name).map(OsString::from);
    let chosen = match host::choose(args.host, &var) {
        Ok(chosen) => Some(chosen),
        Err(e) if args.host_config.is_none() && args.host.is_none() => {
            if HOSTS
                .iter()
                .any(|h| h.state_dir(&var).is_some_and(|d| d.is_dir()))
            {
                // One line: the list, without install's own advice.
                let text = format!("{e:#}");
                let detail: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.starts_with("pass "))
                    .collect();
                return Err(Check::fail(
                    "configuration",
                    detail.join(" "),
                    "pass --host, or the gateway config with --host-config FILE",
                ));
            }
            None // no gateway here: the file / environment only
        }
        Err(_) => None,
    };
    let path = match (&args.host_config, &chosen) {
        (Some(path), _) => path.clone(),
        (None, Some(chosen)) => chosen.config_path(&var),
        (None, None) => return Ok(sources),
    };
    if args.host_config.is_none() && !path.is_file() {
        return Ok(sources);
    }
    let Some(found) = host_config::read(&path, args.account.as_deref(), &sources.env)? else {
        return Ok(sources);
    };
    let mut account = found.account;
    if let Some(chosen) = &chosen {
        account
            .entry("stateDir")
            .or_insert_with(|| Value::String(chosen.state_dir.display().to_string()));
    }
    // A running extension's JSON (when set) is what the sidecar would get: it wins.
    if let Some(Ok(Value::Object(ext))) = sources
        .account_json
        .as_deref()
        .map(serde_json::from_str::<Value>)
    {
        account.extend(ext);
    }
    sources.account_json = Some(Value::Object(account).to_string());
    sources.host_config = Some(found.path);
    Ok(sources)
}

fn skip_later(options: Options, why: &str) -> Vec<Check> {
    LATER_CHECKS
        .iter()
        .filter(|name| options.send_test || **name != "send test")
        .map(|name| Check::skip(name, why))
        .collect()
}

/// Runs every check against the configuration from `sources`.
pub(crate) async fn run_checks(sources: &Sources, options: Options, checks: &mut Checks<'_>) {
    let (first, loaded) = load(sources);
    checks.extend(first);
    let Some(loaded) = loaded else {
        checks.extend(skip_later(options, "the configuration cannot be loaded"));
        return;
    };
    let state_dir = loaded.config.state_dir.clone().or_else(|| {
        host::choose(options.host, &|name| {
            sources.env.get(name).map(OsString::from)
        })
        .ok()
        .map(|h| h.state_dir)
    });
    let doctor = Doctor::new(loaded);
    let token = doctor.oauth(checks).await;
    checks.push(doctor.scopes(token.as_ref()));
    checks.push(doctor.transport(token.as_ref()).await);
    checks.push(doctor.sender(token.as_ref()).await);
    let target = doctor.default_target(token.as_ref(), checks).await;
    if options.send_test {
        checks.push(doctor.send_test(token.as_ref(), target.as_ref()).await);
    }
    doctor.gateway(state_dir.as_deref(), checks).await;
    let store = doctor.store(checks).await;
    checks.push(outbox(store.as_ref()));
    checks.extend(doctor.running_sidecar().await);
}

// ----- configuration ----------------------------------------------------------

/// Runs `fut` for at most [`NET_TIMEOUT`].
async fn bounded<T>(
    what: &str,
    fut: impl Future<Output = Result<T, ZoomError>>,
) -> Result<T, ZoomError> {
    tokio::time::timeout(NET_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| {
            Err(ZoomError::Timeout(format!(
                "{what}: no answer within {NET_TIMEOUT:?}"
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(file: &str) -> Sources {
        Sources {
            file: Some((PathBuf::from("t.toml"), file.to_owned())),
            env: Default::default(),
            account_json: None,
            host_config: None,
        }
    }

    #[test]
    fn check_lines_render_as_documented() {
        assert_eq!(Check::ok("store", "fine").to_string(), "✓ store: fine");
        assert_eq!(
            Check::fail("store", "broken", "mend it").to_string(),
            "✗ store: broken\n    fix: mend it"
        );
        assert_eq!(
            Check::skip("outbox", "no store").to_string(),
            "- outbox: skipped (no store)"
        );
        let json = serde_json::to_value(Check::skip("outbox", "no store")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "outbox", "status": "skip", "detail": "no store", "fix": null})
        );
    }

    #[test]
    fn missing_keys_are_listed_and_the_rest_still_loads() {
        let (checks, loaded) = load(&sources(
            "clientId = \"id\"\nzoomAccountId = \"acc\"\nsubscriptionId = \"s\"\n\
             sender = \"me@example.com\"\nwebhookUrl = \"http://127.0.0.1:1/zoom-webhook\"",
        ));
        let loaded = loaded.expect("partial config");
        let text: Vec<String> = checks.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("`clientSecret`") && t.contains("ZOOM_CLIENT_SECRET")),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.contains("`password`")), "{text:?}");
        assert!(loaded.config.client_secret.is_none());
        assert!(loaded.config.password.is_none());
        assert_eq!(loaded.config.sender.as_deref(), Some("me@example.com"));
        assert!(loaded.missing(&["clientSecret"]).is_some());
        assert!(loaded.missing(&["sender"]).is_none());
    }

    #[test]
    fn invalid_values_fall_back_and_unknown_keys_are_fatal() {
        let base = "clientId = \"id\"\nclientSecret = \"s\"\nzoomAccountId = \"a\"\n\
                    subscriptionId = \"s\"\nsender = \"me@example.com\"\npassword = \"p\"\n";
        let (checks, loaded) = load(&sources(&format!("{base}listen = \"nowhere\"")));
        assert_eq!(checks.len(), 1, "{checks:?}");
        let loaded = loaded.expect("listen falls back");
        assert_eq!(loaded.config.listen, "127.0.0.1:18790");
        assert!(loaded.missing(&["listen"]).is_some());

        let (checks, loaded) = load(&sources(&format!("{base}clientSecrett = \"x\"")));
        assert!(loaded.is_none());
        assert!(checks[0].detail.contains("clientSecrett"), "{checks:?}");
    }

    #[test]
    fn scope_matching_and_family_patterns() {
        let scopes = vec![
            "meeting:read:meeting:admin".to_owned(),
            "chat:read".to_owned(),
        ];
        assert!(has_scope(&scopes, "meeting:read"));
        assert!(has_scope(&scopes, "chat:read"));
        assert!(!has_scope(&scopes, "chat_message:read"));
        assert!(!has_scope(&scopes, "meeting:rea"));
        let meetings = &FAMILIES[0];
        let chat = &FAMILIES[3];
        assert!(pattern_covers("meeting.*", meetings));
        assert!(pattern_covers("meeting.started", meetings));
        assert!(pattern_covers("*", meetings));
        assert!(!pattern_covers("meeting.*", chat));
        assert!(pattern_covers("team_chat.*", chat));
        assert!(family_excluded(&["meeting.*".into()], meetings));
        assert!(!family_excluded(&["meeting.started".into()], meetings));
        assert!(!family_excluded(&["team_chat.*".into()], chat));
    }
}
