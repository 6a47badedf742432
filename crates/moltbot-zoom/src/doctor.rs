//! `moltbot-zoom doctor`: checks a configuration end to end, one line per
//! check, and says how to fix what fails.
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

use crate::{
    config::{Config, ENV_KEYS, GrantKind, SendAsKind, Sources, Transport},
    extension::resolve_state_dir,
    sidecar::{channel_config, open_store, zoom_clients},
};

/// Bound on every network call doctor makes.
pub(crate) const NET_TIMEOUT: Duration = Duration::from_secs(5);
/// What `--send-test` posts.
pub(crate) const TEST_MESSAGE: &str = "moltbot-zoom doctor test message";

/// Scopes that allow posting to Team Chat as a user.
const USER_SEND_SCOPES: [&str; 4] = [
    "chat_message:write",
    "chat_message:write:admin",
    "team_chat:write:user_message",
    "team_chat:write:user_message:admin",
];
/// The scope that allows posting as a chatbot.
const CHATBOT_SCOPE: &str = "imchat:bot";

/// An event family: its event name prefixes and the scope prefixes that let
/// the app read it (zoom-protocol.md §3).
struct Family {
    name: &'static str,
    events: &'static [&'static str],
    scopes: &'static [&'static str],
    suggest: &'static str,
}

const FAMILIES: [Family; 4] = [
    Family {
        name: "meetings",
        events: &["meeting."],
        scopes: &["meeting:read"],
        suggest: "meeting:read:admin",
    },
    Family {
        name: "recordings",
        events: &["recording."],
        scopes: &["cloud_recording:read", "recording:read"],
        suggest: "cloud_recording:read:recording:admin",
    },
    Family {
        name: "users",
        events: &["user."],
        scopes: &["user:read"],
        suggest: "user:read:admin",
    },
    Family {
        name: "Team Chat",
        events: &["chat_message.", "chat_channel.", "team_chat."],
        scopes: &[
            "chat_message:read",
            "team_chat:read",
            "chat:read",
            "chat_channel:read",
        ],
        suggest: "chat_message:read:admin",
    },
];

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
    /// Also post "moltbot-zoom doctor test message" to `defaultTarget` (a real message).
    #[arg(long)]
    send_test: bool,
    /// Print the results as a JSON array of {name, status, detail, fix}.
    #[arg(long)]
    json: bool,
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
    /// Post a real test message to `defaultTarget`.
    pub(crate) send_test: bool,
}

/// `moltbot-zoom doctor`: prints the checks; fails when any check fails.
pub(crate) async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let options = Options {
        send_test: args.send_test,
    };
    let checks = match Sources::from_process(args.config) {
        Ok(sources) => run_checks(&sources, options).await,
        Err(e) => {
            let mut checks = vec![Check::fail(
                "configuration",
                format!("{e:#}"),
                "pass an existing file with --config FILE (or set MOLTBOT_ZOOM_CONFIG)",
            )];
            checks.extend(skip_later(options, "the configuration cannot be loaded"));
            checks
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for check in &checks {
            println!("{check}");
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} checks failed", checks.len());
    }
    Ok(())
}

fn skip_later(options: Options, why: &str) -> Vec<Check> {
    LATER_CHECKS
        .iter()
        .filter(|name| options.send_test || **name != "send test")
        .map(|name| Check::skip(name, why))
        .collect()
}

/// Runs every check against the configuration from `sources`.
pub(crate) async fn run_checks(sources: &Sources, options: Options) -> Vec<Check> {
    let (mut checks, loaded) = load(sources);
    let Some(loaded) = loaded else {
        checks.extend(skip_later(options, "the configuration cannot be loaded"));
        return checks;
    };
    let state_dir = loaded
        .config
        .state_dir
        .clone()
        .or_else(|| resolve_state_dir(|name| sources.env.get(name).map(OsString::from)));
    let doctor = Doctor::new(loaded);
    let token = doctor.oauth(&mut checks).await;
    checks.push(doctor.scopes(token.as_ref()));
    checks.push(doctor.transport(token.as_ref()).await);
    checks.push(doctor.sender(token.as_ref()).await);
    let target = doctor.default_target(token.as_ref(), &mut checks).await;
    if options.send_test {
        checks.push(doctor.send_test(token.as_ref(), target.as_ref()).await);
    }
    doctor.gateway(state_dir.as_deref(), &mut checks).await;
    let store = doctor.store(&mut checks).await;
    checks.push(outbox(store.as_ref()));
    checks
}

// ----- configuration ----------------------------------------------------------

/// A configuration good enough to run checks with, and the keys that are
/// missing or invalid (their checks are skipped).
struct Loaded {
    config: Config,
    unusable: BTreeSet<String>,
}

impl Loaded {
    /// Why a check needing `keys` cannot run, if it cannot.
    fn missing(&self, keys: &[&str]) -> Option<String> {
        let bad: Vec<String> = keys
            .iter()
            .filter(|k| self.unusable.contains(**k))
            .map(|k| format!("`{k}`"))
            .collect();
        (!bad.is_empty()).then(|| format!("{} not set or invalid", bad.join(", ")))
    }
}

/// Stands in for a missing or invalid key so the rest of the configuration
/// loads; the key's checks are skipped and Option fields are cleared again.
const PLACEHOLDER: &str = "http://placeholder.invalid/";

/// The configuration checks and, when possible, a configuration to continue
/// with: problems that name a key are listed and the key is replaced by its
/// default (or a placeholder) so the checks that do not need it still run.
fn load(sources: &Sources) -> (Vec<Check>, Option<Loaded>) {
    let errors = match Config::merge(sources) {
        Ok(config) if config.problems().is_empty() => {
            let check = Check::ok("configuration", describe(sources, &config));
            let loaded = Loaded {
                config,
                unusable: BTreeSet::new(),
            };
            return (vec![check], Some(loaded));
        }
        Ok(config) => config.problems().iter().map(ToString::to_string).collect(),
        Err(errors) => errors,
    };
    load_around(sources, &errors)
}

/// Reports `errors` (missing, invalid or mistyped values, each naming its key),
/// then loads again with those keys at their defaults so the checks that do
/// not need them still run.
fn load_around(sources: &Sources, errors: &[String]) -> (Vec<Check>, Option<Loaded>) {
    let mut checks = Vec::new();
    let mut unusable = BTreeSet::new();
    for error in errors {
        match problem_key(error) {
            Some(key) => {
                checks.push(Check::fail("configuration", error, key_fix(key)));
                unusable.insert(key.to_owned());
            }
            None => {
                // Unparsable input or an unknown key: nothing else can be trusted.
                checks.push(Check::fail(
                    "configuration",
                    error,
                    "fix the file; docs/configuration.md lists every key",
                ));
                return (checks, None);
            }
        }
    }
    let defaults = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
    let mut overrides = match sources
        .account_json
        .as_deref()
        .map(serde_json::from_str::<Value>)
    {
        Some(Ok(Value::Object(map))) => map,
        _ => Map::new(),
    };
    for key in &unusable {
        let value = match defaults.get(key) {
            Some(v) if !v.is_null() => v.clone(),
            _ => Value::String(PLACEHOLDER.into()),
        };
        overrides.insert(key.clone(), value);
    }
    let lenient = Sources {
        file: sources.file.clone(),
        env: sources.env.clone(),
        account_json: Some(Value::Object(overrides).to_string()),
    };
    match Config::merge(&lenient) {
        Ok(mut config) => {
            for key in &unusable {
                clear(&mut config, key);
            }
            for p in config.problems() {
                if unusable.insert(p.key.to_owned()) {
                    checks.push(Check::fail("configuration", p.to_string(), key_fix(p.key)));
                }
            }
            (checks, Some(Loaded { config, unusable }))
        }
        Err(_) => (checks, None),
    }
}

/// The key a configuration problem names: messages that start with `` `key` ``.
fn problem_key(error: &str) -> Option<&str> {
    let rest = error.strip_prefix('`')?;
    rest.split_once('`').map(|(key, _)| key)
}

fn env_of(key: &str) -> Option<&'static str> {
    ENV_KEYS.iter().find(|(_, k)| *k == key).map(|(e, _)| *e)
}

/// `` `key` (env VAR) ``.
fn key_ref(key: &str) -> String {
    match env_of(key) {
        Some(env) => format!("`{key}` (env {env})"),
        None => format!("`{key}`"),
    }
}

fn key_fix(key: &str) -> String {
    format!(
        "set {} in the config file or in channels.zoom; see docs/configuration.md",
        key_ref(key)
    )
}

/// Clears an optional key that held a placeholder.
fn clear(config: &mut Config, key: &str) {
    match key {
        "zoomAccountId" => config.zoom_account_id = None,
        "clientId" => config.client_id = None,
        "clientSecret" => config.client_secret = None,
        "subscriptionId" => config.subscription_id = None,
        "webhookSecretToken" => config.webhook_secret_token = None,
        "sender" => config.sender = None,
        "robotJid" => config.robot_jid = None,
        "defaultTarget" => config.default_target = None,
        "password" => config.password = None,
        "webhookUrl" => config.webhook_url = None,
        "database" => config.database = None,
        "stateDir" => config.state_dir = None,
        _ => {}
    }
}

fn describe(sources: &Sources, config: &Config) -> String {
    let mut from = Vec::new();
    if let Some((path, _)) = &sources.file {
        from.push(path.display().to_string());
    }
    if ENV_KEYS.iter().any(|(e, _)| sources.env.contains_key(*e)) {
        from.push("environment".into());
    }
    if sources.account_json.is_some() {
        from.push(crate::config::ACCOUNT_JSON_ENV.into());
    }
    if from.is_empty() {
        from.push("defaults only".into());
    }
    format!(
        "account `{}` from {}; transport {}, send as {}",
        config.account_id,
        from.join(" + "),
        match config.transport {
            Transport::Websocket => "websocket",
            Transport::Webhook => "webhook",
        },
        match config.send_as {
            SendAsKind::User => "user",
            SendAsKind::Chatbot => "chatbot",
        },
    )
}

// ----- Zoom -------------------------------------------------------------------

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

fn has_scope(scopes: &[String], wanted: &str) -> bool {
    scopes
        .iter()
        .any(|s| s == wanted || s.strip_prefix(wanted).is_some_and(|r| r.starts_with(':')))
}

/// Whether an `include` pattern can match events of `family`.
fn pattern_covers(pattern: &str, family: &Family) -> bool {
    let head = pattern.split('*').next().unwrap_or_default();
    family
        .events
        .iter()
        .any(|prefix| prefix.starts_with(head) || head.starts_with(prefix))
}

/// Whether `exclude` drops the whole family.
fn family_excluded(exclude: &[String], family: &Family) -> bool {
    family.events.iter().all(|prefix| {
        exclude
            .iter()
            .any(|p| p == "*" || p.strip_suffix('*') == Some(*prefix))
    })
}

struct Doctor {
    loaded: Loaded,
    tokens: TokenProvider,
    api: ZoomApi,
}

impl Doctor {
    fn new(loaded: Loaded) -> Self {
        let (tokens, api) = zoom_clients(&loaded.config);
        Self {
            loaded,
            tokens,
            api,
        }
    }

    fn config(&self) -> &Config {
        &self.loaded.config
    }

    async fn oauth(&self, checks: &mut Vec<Check>) -> Option<AccessToken> {
        const NAME: &str = "oauth token";
        let config = self.config();
        let mut keys = vec!["clientId", "clientSecret", "oauthUrl", "grant"];
        if config.grant == GrantKind::Account {
            keys.push("zoomAccountId");
        }
        if let Some(why) = self.loaded.missing(&keys) {
            checks.push(Check::skip(NAME, why));
            return None;
        }
        match bounded("OAuth", self.tokens.token()).await {
            Ok(token) => {
                let secs = token
                    .expires_at
                    .saturating_duration_since(tokio::time::Instant::now())
                    .as_secs();
                checks.push(Check::ok(
                    NAME,
                    format!(
                        "issued by {} ({} grant), valid for {} min",
                        config.oauth_url,
                        match config.grant {
                            GrantKind::Account => "account_credentials",
                            GrantKind::Client => "client_credentials",
                        },
                        secs / 60
                    ),
                ));
                Some(token)
            }
            Err(ZoomError::OAuth {
                status,
                reason,
                error,
            }) => {
                checks.push(Check::fail(
                    NAME,
                    format!("Zoom refused the token request (HTTP {status}): {reason} [{error}]"),
                    format!(
                        "check {}, {} and {} against the app's App Credentials page, \
                         and that the app is activated",
                        key_ref("clientId"),
                        key_ref("clientSecret"),
                        key_ref("zoomAccountId")
                    ),
                ));
                None
            }
            Err(e) => {
                checks.push(Check::fail(
                    NAME,
                    format!("cannot get a token from {}: {e}", config.oauth_url),
                    format!(
                        "check {} and the network (proxy, firewall)",
                        key_ref("oauthUrl")
                    ),
                ));
                None
            }
        }
    }

    fn scopes(&self, token: Option<&AccessToken>) -> Check {
        const NAME: &str = "scopes";
        let Some(token) = token else {
            return Check::skip(NAME, "no OAuth token");
        };
        if token.scopes.is_empty() {
            return Check::ok(NAME, "scopes not reported by Zoom; cannot verify them");
        }
        let config = self.config();
        let scopes = &token.scopes;
        let mut problems = Vec::new();
        let mut fixes = Vec::new();
        let mut notes = Vec::new();
        let candidates: &[&str] = match config.send_as {
            SendAsKind::User => &USER_SEND_SCOPES,
            SendAsKind::Chatbot => &[CHATBOT_SCOPE],
        };
        let send = candidates.iter().find(|s| scopes.iter().any(|g| g == *s));
        match (send, config.send_as) {
            (Some(s), _) => notes.push(format!("send: {s}")),
            (None, SendAsKind::User) => {
                problems.push(format!(
                    "no scope to post as a user: one of {} is needed",
                    USER_SEND_SCOPES.join(", ")
                ));
                fixes.push(
                    "add `team_chat:write:user_message:admin` (or `chat_message:write:admin`)",
                );
            }
            (None, SendAsKind::Chatbot) => {
                problems.push(format!(
                    "no scope to post as a chatbot: {CHATBOT_SCOPE} is needed"
                ));
                fixes.push("add `imchat:bot` (Chatbot feature)");
            }
        }
        let explicit = !config.include.is_empty();
        let mut covered = Vec::new();
        let mut uncovered = Vec::new();
        for family in &FAMILIES {
            let wanted = if explicit {
                config.include.iter().any(|p| pattern_covers(p, family))
            } else {
                true
            };
            if !wanted || family_excluded(&config.exclude, family) {
                continue;
            }
            if family.scopes.iter().any(|s| has_scope(scopes, s)) {
                covered.push(family.name);
            } else {
                uncovered.push(family);
            }
        }
        if !covered.is_empty() {
            notes.push(format!("events: {}", covered.join(", ")));
        }
        if !uncovered.is_empty() {
            let list = uncovered
                .iter()
                .map(|f| format!("{} ({})", f.name, f.suggest))
                .collect::<Vec<_>>()
                .join(", ");
            if explicit {
                problems.push(format!("no read scope for included events: {list}"));
                fixes.push("add the read scopes named above");
            } else {
                notes.push(format!(
                    "note: no read scope for {list}; such events will not arrive if the \
                     subscription lists them"
                ));
            }
        }
        if problems.is_empty() {
            Check::ok(NAME, notes.join("; "))
        } else {
            Check::fail(
                NAME,
                problems.join("; "),
                format!(
                    "{} to the app on marketplace.zoom.us (Scopes), then re-activate it",
                    fixes.join(" and ")
                ),
            )
        }
    }

    async fn transport(&self, token: Option<&AccessToken>) -> Check {
        const NAME: &str = "transport";
        let config = self.config();
        match config.transport {
            Transport::Websocket => {
                if let Some(why) = self.loaded.missing(&["subscriptionId", "wsUrl"]) {
                    return Check::skip(NAME, why);
                }
                let Some(token) = token else {
                    return Check::skip(NAME, "no OAuth token");
                };
                let subscription = config.subscription_id.as_deref().unwrap_or_default();
                match zoom::probe_websocket(&config.ws_url, subscription, token, NET_TIMEOUT).await
                {
                    Ok(probe) => Check::ok(
                        NAME,
                        format!(
                            "websocket: build_connection succeeded (x-zm-trackingid {})",
                            probe.tracking_id.as_deref().unwrap_or("-")
                        ),
                    ),
                    Err(ZoomError::BuildConnection(text) | ZoomError::TokenRejected(text)) => {
                        Check::fail(
                            NAME,
                            format!("websocket: Zoom refused the subscription: {text}"),
                            format!(
                                "check {}: copy the id from the endpoint URL of the app's \
                                 WebSocket event subscription (…/ws?subscriptionId=<id>); it \
                                 must belong to the same app as `clientId`",
                                key_ref("subscriptionId")
                            ),
                        )
                    }
                    Err(e) => Check::fail(
                        NAME,
                        format!("websocket: cannot connect to {}: {e}", config.ws_url),
                        format!(
                            "check {} and that outbound WebSocket connections are allowed",
                            key_ref("wsUrl")
                        ),
                    ),
                }
            }
            Transport::Webhook => {
                if let Some(why) = self
                    .loaded
                    .missing(&["webhookSecretToken", "webhookListen"])
                {
                    return Check::skip(NAME, why);
                }
                webhook_listener(&config.webhook_listen).await
            }
        }
    }

    async fn sender(&self, token: Option<&AccessToken>) -> Check {
        const NAME: &str = "sender";
        let config = self.config();
        match config.send_as {
            SendAsKind::Chatbot => match self.loaded.missing(&["robotJid"]) {
                Some(why) => Check::skip(NAME, why),
                None => Check::ok(
                    NAME,
                    format!(
                        "chatbot {}; Zoom offers no dry run for chatbot sends (use --send-test)",
                        config.robot_jid.as_deref().unwrap_or_default()
                    ),
                ),
            },
            SendAsKind::User => {
                if let Some(why) = self.loaded.missing(&["sender"]) {
                    return Check::skip(NAME, why);
                }
                if token.is_none() {
                    return Check::skip(NAME, "no OAuth token");
                }
                let sender = config.sender.as_deref().unwrap_or_default();
                match self.lookup_user(sender).await {
                    Ok(desc) => Check::ok(
                        NAME,
                        format!("posting as {desc}; nothing posted (use --send-test)"),
                    ),
                    Err(Lookup::Missing) => Check::fail(
                        NAME,
                        format!("sender `{sender}` does not exist in this Zoom account"),
                        format!(
                            "set {} to the email or user id of a user of the account",
                            key_ref("sender")
                        ),
                    ),
                    Err(Lookup::Failed(e)) => Check::fail(
                        NAME,
                        format!("cannot look up sender `{sender}`: {e}"),
                        "the app needs `user:read:admin` (or `user:read:user:admin`) to look users up",
                    ),
                }
            }
        }
    }

    async fn lookup_user(&self, user: &str) -> Result<String, Lookup> {
        match bounded("user lookup", self.api.get_user(user)).await {
            Ok(v) => {
                let id = v.get("id").and_then(Value::as_str).unwrap_or("?");
                Ok(format!("{user} (user id {id})"))
            }
            Err(ZoomError::Api { status: 404, .. }) => Err(Lookup::Missing),
            Err(e) => Err(Lookup::Failed(e)),
        }
    }

    async fn default_target(
        &self,
        token: Option<&AccessToken>,
        checks: &mut Vec<Check>,
    ) -> Option<Target> {
        const NAME: &str = "default target";
        let config = self.config();
        if let Some(why) = self.loaded.missing(&["defaultTarget"]) {
            checks.push(Check::skip(NAME, why));
            return None;
        }
        let Some(raw) = config
            .default_target
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        else {
            checks.push(Check::ok(
                NAME,
                "not set: replies in meeting / feed conversations have nowhere to go \
                 (set `defaultTarget` to choose)",
            ));
            return None;
        };
        let target = match parse_target(FEED_ID, Some(raw)) {
            Ok(t) => t,
            Err(e) => {
                checks.push(Check::fail(
                    NAME,
                    e.to_string(),
                    format!(
                        "set {} to an email, `zoom;-;<email or user id>` or \
                         `zoom;+;channel:<channel id>`",
                        key_ref("defaultTarget")
                    ),
                ));
                return None;
            }
        };
        let check = match (&target, config.send_as) {
            (Target::Channel(id), _) => Check::ok(
                NAME,
                format!("channel {id} (membership is not checked without posting)"),
            ),
            (Target::Contact(jid), SendAsKind::Chatbot) => {
                Check::ok(NAME, format!("contact {jid} (not checked for chatbots)"))
            }
            (Target::Contact(contact), SendAsKind::User) if token.is_some() => {
                match self.lookup_user(contact).await {
                    Ok(desc) => Check::ok(NAME, format!("contact {desc}")),
                    Err(Lookup::Missing) => Check::fail(
                        NAME,
                        format!("contact `{contact}` does not exist in this Zoom account"),
                        format!("set {} to an existing user", key_ref("defaultTarget")),
                    ),
                    Err(Lookup::Failed(e)) => Check::fail(
                        NAME,
                        format!("cannot look up contact `{contact}`: {e}"),
                        "the app needs `user:read:admin` (or `user:read:user:admin`) to look users up",
                    ),
                }
            }
            (Target::Contact(contact), SendAsKind::User) => Check::skip(
                NAME,
                format!("contact {contact}: no OAuth token to look it up"),
            ),
        };
        let usable = check.passed();
        checks.push(check);
        usable.then_some(target)
    }

    async fn send_test(&self, token: Option<&AccessToken>, target: Option<&Target>) -> Check {
        const NAME: &str = "send test";
        if token.is_none() {
            return Check::skip(NAME, "no OAuth token");
        }
        if target.is_none() {
            return Check::skip(NAME, "no usable `defaultTarget`");
        }
        let sender_key = match self.config().send_as {
            SendAsKind::User => "sender",
            SendAsKind::Chatbot => "robotJid",
        };
        if let Some(why) = self.loaded.missing(&[sender_key]) {
            return Check::skip(NAME, why);
        }
        let config = self.config();
        let channel = ZoomChannel::new(
            channel_config(config),
            SessionConfig::new(
                config.ws_url.clone(),
                config.subscription_id.clone().unwrap_or_default(),
            ),
            self.tokens.clone(),
            self.api.clone(),
        );
        let message = OutboundMessage {
            conversation_id: FEED_ID.into(),
            text: TEST_MESSAGE.into(),
            reply_to_id: None,
        };
        let raw = config.default_target.as_deref().unwrap_or_default();
        match tokio::time::timeout(NET_TIMEOUT, channel.send_text(message)).await {
            Ok(Ok(sent)) => Check::ok(
                NAME,
                format!(
                    "posted \"{TEST_MESSAGE}\" to {raw} (message id {})",
                    sent.message_id
                ),
            ),
            Ok(Err(e)) => Check::fail(
                NAME,
                format!("posting to {raw} failed: {e}"),
                "see the sender, scopes and default target checks above",
            ),
            Err(_) => Check::fail(
                NAME,
                format!("posting to {raw}: no answer within {NET_TIMEOUT:?}"),
                "check the network and `apiUrl`",
            ),
        }
    }

    // ----- Moltbot ------------------------------------------------------------

    async fn gateway(&self, state_dir: Option<&Path>, checks: &mut Vec<Check>) {
        let config = self.config();
        let http = match reqwest::Client::builder().timeout(NET_TIMEOUT).build() {
            Ok(c) => c,
            Err(e) => {
                checks.push(Check::fail(
                    "gateway",
                    format!("cannot build an HTTP client: {e}"),
                    "check the system's TLS setup",
                ));
                return;
            }
        };
        let webhook = config
            .webhook_url
            .as_deref()
            .filter(|u| !u.trim().is_empty());
        let parsed = webhook.map(url::Url::parse);
        let stock = webhook.is_some_and(|u| u.contains("bluebubbles-webhook"));
        // Reachability.
        let reachable = match (&parsed, self.loaded.missing(&["webhookUrl"])) {
            (_, Some(why)) => {
                checks.push(Check::skip("gateway", why));
                false
            }
            (None, None) => {
                checks.push(Check::fail(
                    "gateway",
                    "`webhookUrl` is not set: inbound messages have nowhere to go",
                    format!(
                        "set {} to the extension route, e.g. \
                         http://127.0.0.1:18789/zoom-webhook (the extension sets it itself \
                         when it spawns the sidecar)",
                        key_ref("webhookUrl")
                    ),
                ));
                false
            }
            (Some(Err(e)), None) => {
                checks.push(Check::fail(
                    "gateway",
                    format!("`webhookUrl` is not a URL: {e}"),
                    key_fix("webhookUrl"),
                ));
                false
            }
            (Some(Ok(url)), None) => {
                let mut root = url.clone();
                root.set_path("/");
                root.set_query(None);
                root.set_fragment(None);
                let _ = root.set_username("");
                let _ = root.set_password(None);
                match http.get(root.clone()).send().await {
                    Ok(resp) => {
                        checks.push(Check::ok(
                            "gateway",
                            format!("{root} answered HTTP {}", resp.status().as_u16()),
                        ));
                        true
                    }
                    Err(e) => {
                        checks.push(Check::fail(
                            "gateway",
                            format!("unreachable: {root}: {}", http_error(e)),
                            format!(
                                "start the Moltbot gateway, or fix {}",
                                key_ref("webhookUrl")
                            ),
                        ));
                        false
                    }
                }
            }
        };
        // Installed.
        checks.push(if stock {
            Check::skip(
                "extension installed",
                "`webhookUrl` targets the stock BlueBubbles channel",
            )
        } else {
            match state_dir {
                None => Check::skip(
                    "extension installed",
                    "cannot find the Moltbot state dir: set HOME, MOLTBOT_STATE_DIR or `stateDir`",
                ),
                Some(dir) => extension_installed(dir),
            }
        });
        // Loaded.
        const LOADED: &str = "extension loaded";
        let check = match (
            parsed.as_ref(),
            reachable,
            self.loaded.missing(&["password"]),
        ) {
            (_, _, Some(why)) => Check::skip(LOADED, why),
            (Some(Ok(url)), true, None) => {
                let password = config.password.clone().unwrap_or_default();
                let shown = redact_url(url.as_str());
                let response = http
                    .post(url.clone())
                    .bearer_auth(password.expose())
                    .json(&serde_json::json!({ "type": "doctor-ping" }))
                    .send()
                    .await;
                let setting = if stock {
                    "channels.bluebubbles.password"
                } else {
                    "channels.zoom.password"
                };
                match response.map(|r| r.status().as_u16()) {
                    Ok(status) if (200..300).contains(&status) => Check::ok(
                        LOADED,
                        format!("{shown} accepted the password (HTTP {status})"),
                    ),
                    Ok(status @ (401 | 403)) => Check::fail(
                        LOADED,
                        format!("the extension rejected the password (HTTP {status} from {shown})"),
                        format!(
                            "{setting} must equal the sidecar's password {}",
                            key_ref("password")
                        ),
                    ),
                    Ok(status @ (404 | 405)) => Check::fail(
                        LOADED,
                        format!("route not found (HTTP {status} from {shown})"),
                        "is the zoom extension enabled (plugins.entries.zoom.enabled: true) \
                         and the gateway restarted?",
                    ),
                    Ok(status) => Check::fail(
                        LOADED,
                        format!("{shown} answered HTTP {status}"),
                        "check the gateway's log",
                    ),
                    Err(e) => Check::fail(
                        LOADED,
                        format!("{shown}: {}", http_error(e)),
                        "check the gateway's log",
                    ),
                }
            }
            _ => Check::skip(LOADED, "gateway not reachable"),
        };
        checks.push(check);
    }

    // ----- storage ------------------------------------------------------------

    async fn store(&self, checks: &mut Vec<Check>) -> Option<Store> {
        const NAME: &str = "store";
        if let Some(why) = self.loaded.missing(&["database", "stateDir"]) {
            checks.push(Check::skip(NAME, why));
            return None;
        }
        let path = self.config().database_path();
        let shown = path.display().to_string();
        let opened = tokio::task::spawn_blocking(move || {
            let store = open_store(&path)?;
            write_check(&path)?;
            Ok::<_, anyhow::Error>(store)
        })
        .await;
        match opened {
            Ok(Ok(store)) => {
                checks.push(Check::ok(NAME, format!("{shown} is writable")));
                Some(store)
            }
            Ok(Err(e)) => {
                checks.push(Check::fail(
                    NAME,
                    format!("{e:#}"),
                    format!(
                        "make the folder writable, or set {} to a writable path",
                        key_ref("database")
                    ),
                ));
                None
            }
            Err(e) => {
                checks.push(Check::fail(
                    NAME,
                    format!("the store check panicked: {e}"),
                    "report a bug",
                ));
                None
            }
        }
    }
}

/// A reqwest error without its URL (which may carry a password), with its causes.
fn http_error(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

/// Why a user lookup did not succeed.
enum Lookup {
    Missing,
    Failed(ZoomError),
}

/// Takes the write lock and writes one row, then rolls back.
fn write_check(path: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(NET_TIMEOUT)?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .with_context(|| format!("cannot write to {}", path.display()))?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('doctor', 1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [],
    )
    .with_context(|| format!("cannot write to {}", path.display()))?;
    tx.rollback()?;
    Ok(())
}

fn extension_installed(state_dir: &Path) -> Check {
    const NAME: &str = "extension installed";
    let manifest = state_dir
        .join("extensions")
        .join("zoom")
        .join("package.json");
    let fix = "run `moltbot-zoom install`, then restart the gateway";
    let text = match std::fs::read_to_string(&manifest) {
        Ok(t) => t,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("not installed: cannot read {}: {e}", manifest.display()),
                fix,
            );
        }
    };
    let name = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_owned));
    match name.as_deref() {
        Some("zoom") => Check::ok(NAME, manifest.display().to_string()),
        other => Check::fail(
            NAME,
            format!(
                "{} belongs to package {}",
                manifest.display(),
                other.map_or_else(|| "(unreadable)".to_owned(), |n| format!("`{n}`"))
            ),
            fix,
        ),
    }
}

fn outbox(store: Option<&Store>) -> Check {
    const NAME: &str = "outbox";
    let Some(store) = store else {
        return Check::skip(NAME, "store not available");
    };
    match store.outbox_stats() {
        Ok(stats) if stats.dead_letters == 0 => {
            Check::ok(NAME, format!("{} pending, 0 dead letters", stats.pending))
        }
        Ok(stats) => Check::fail(
            NAME,
            format!(
                "{} pending, {} dead letters (messages that could not be delivered to Moltbot)",
                stats.pending, stats.dead_letters
            ),
            "inspect them with `moltbot-zoom outbox list`; once the gateway is reachable, \
             redeliver with `moltbot-zoom outbox retry --all`",
        ),
        Err(e) => Check::fail(
            NAME,
            format!("cannot read the outbox: {e}"),
            "see the store check",
        ),
    }
}

/// Whether the webhook listen address is free, or already served by a running
/// sidecar (an unsigned POST is refused with 401).
async fn webhook_listener(listen: &str) -> Check {
    const NAME: &str = "transport";
    match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => {
            drop(listener);
            Check::ok(
                NAME,
                format!("webhook: {listen} is free for the Zoom webhook endpoint"),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let answer = reqwest::Client::new()
                .post(format!("http://{listen}/"))
                .timeout(NET_TIMEOUT)
                .body("{}")
                .send()
                .await
                .map(|r| r.status().as_u16());
            match answer {
                Ok(401) => Check::ok(
                    NAME,
                    format!("webhook: a running sidecar serves {listen} (unsigned POST refused)"),
                ),
                _ => Check::fail(
                    NAME,
                    format!("webhook: {listen} is in use by another program"),
                    format!(
                        "stop that program or choose another {}",
                        key_ref("webhookListen")
                    ),
                ),
            }
        }
        Err(e) => Check::fail(
            NAME,
            format!("webhook: cannot listen on {listen}: {e}"),
            format!("choose another {}", key_ref("webhookListen")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(file: &str) -> Sources {
        Sources {
            file: Some((PathBuf::from("t.toml"), file.to_owned())),
            env: Default::default(),
            account_json: None,
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
