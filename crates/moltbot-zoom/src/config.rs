//! Sidecar configuration: one key space (camelCase) for the TOML file, the
//! environment, and Moltbot's `channels.zoom` account object passed as JSON by
//! the extension. Precedence: JSON > environment > file > defaults.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, time::Duration};

use bluebubbles_shim::{AuthFailureLimit, ListenerLimits};
use moltbot_channel::{DeliveryMode, Secret};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Environment variable holding the account JSON the Moltbot extension passes.
pub(crate) const ACCOUNT_JSON_ENV: &str = "MOLTBOT_ZOOM_ACCOUNT_JSON";
/// Environment variable naming the TOML file when `--config` is not given.
pub(crate) const CONFIG_FILE_ENV: &str = "MOLTBOT_ZOOM_CONFIG";

/// Environment variables and the keys they set. Listed once so loading,
/// error messages and the docs test agree.
pub(crate) const ENV_KEYS: &[(&str, &str)] = &[
    ("ZOOM_ACCOUNT_ID", "zoomAccountId"),
    ("ZOOM_CLIENT_ID", "clientId"),
    ("ZOOM_CLIENT_SECRET", "clientSecret"),
    ("ZOOM_SUBSCRIPTION_ID", "subscriptionId"),
    ("ZOOM_GRANT", "grant"),
    ("ZOOM_OAUTH_URL", "oauthUrl"),
    ("ZOOM_API_URL", "apiUrl"),
    ("ZOOM_WS_URL", "wsUrl"),
    ("ZOOM_TRANSPORT", "transport"),
    ("ZOOM_WEBHOOK_SECRET_TOKEN", "webhookSecretToken"),
    ("ZOOM_SEND_AS", "sendAs"),
    ("ZOOM_SENDER", "sender"),
    ("ZOOM_ROBOT_JID", "robotJid"),
    ("ZOOM_DEFAULT_TO", "defaultTo"),
    ("ZOOM_DEFAULT_TARGET", "defaultTarget"),
    ("MOLTBOT_ZOOM_PASSWORD", "password"),
    ("MOLTBOT_ZOOM_LISTEN", "listen"),
    ("MOLTBOT_ZOOM_WEBHOOK_URL", "webhookUrl"),
    ("MOLTBOT_ZOOM_DATABASE", "database"),
    ("RUST_LOG", "logLevel"),
];

/// Keys renamed to the host's vocabulary: `(old, new)`. The old name is still
/// read, with a deprecation warning; the new one wins when both are set.
pub(crate) const DEPRECATED_KEYS: &[(&str, &str)] = &[
    ("defaultTarget", "defaultTo"),
    ("inboundPath", "webhookPath"),
];

/// Which OAuth grant to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum GrantKind {
    /// `account_credentials` (Server-to-Server app).
    #[default]
    Account,
    /// `client_credentials`.
    Client,
}

/// How Zoom events arrive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Transport {
    /// Zoom's WebSocket event subscription.
    #[default]
    Websocket,
    /// Signed HTTP webhooks.
    Webhook,
}

/// Which API sends replies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SendAsKind {
    /// Team Chat user API, as `sender`.
    #[default]
    User,
    /// Chatbot API, as `robotJid`.
    Chatbot,
}

/// Conversation routing for meeting events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RoutingKind {
    /// One conversation per meeting.
    #[default]
    Meeting,
    /// Everything in `zoom;+;feed`.
    Feed,
}

/// The whole configuration. Field names are the documented keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Config {
    pub(crate) enabled: bool,
    pub(crate) name: Option<String>,
    pub(crate) account_id: String,
    pub(crate) zoom_account_id: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<Secret>,
    pub(crate) subscription_id: Option<String>,
    pub(crate) grant: GrantKind,
    pub(crate) oauth_url: String,
    pub(crate) api_url: String,
    pub(crate) ws_url: String,
    pub(crate) transport: Transport,
    pub(crate) webhook_secret_token: Option<Secret>,
    pub(crate) webhook_listen: String,
    pub(crate) send_as: SendAsKind,
    pub(crate) sender: Option<String>,
    pub(crate) robot_jid: Option<String>,
    /// `defaultTo` (formerly `defaultTarget`).
    #[serde(rename = "defaultTo")]
    pub(crate) default_target: Option<String>,
    pub(crate) routing: RoutingKind,
    pub(crate) include: Vec<String>,
    pub(crate) exclude: Vec<String>,
    pub(crate) delivery_modes: BTreeMap<String, DeliveryMode>,
    pub(crate) dm_policy: Option<String>,
    pub(crate) allow_from: Vec<String>,
    /// Extension side: who may start a turn in a Team Chat channel.
    pub(crate) group_policy: Option<String>,
    pub(crate) group_allow_from: Vec<String>,
    /// Extension side: per-channel overrides (`requireMention`, `enabled`, `allowFrom`).
    pub(crate) groups: Map<String, Value>,
    pub(crate) self_ids: Vec<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) listen: String,
    pub(crate) sidecar_url: Option<String>,
    pub(crate) sidecar_path: Option<String>,
    pub(crate) webhook_url: Option<String>,
    pub(crate) webhook_urls: Vec<String>,
    /// `webhookPath` (formerly `inboundPath`).
    #[serde(rename = "webhookPath")]
    pub(crate) inbound_path: Option<String>,
    pub(crate) database: Option<PathBuf>,
    pub(crate) state_dir: Option<PathBuf>,
    pub(crate) max_attempts: u32,
    pub(crate) media_max_mb: u32,
    pub(crate) event_queue_capacity: usize,
    pub(crate) transcript_max_bytes: u64,
    pub(crate) transcript_excerpt_lines: u32,
    pub(crate) catchup_max_per_conversation: u32,
    pub(crate) catchup_max_total: u32,
    pub(crate) auth_failure_limit: u32,
    pub(crate) auth_failure_limit_total: u32,
    pub(crate) max_connections: u32,
    pub(crate) header_read_timeout_secs: u64,
    pub(crate) idle_timeout_secs: u64,
    pub(crate) log_level: Option<String>,
    /// Per-account overrides (extension side; the extension resolves them).
    pub(crate) accounts: Map<String, Value>,
    /// Deprecated key names that were read, as warnings to log once logging is up.
    #[serde(skip)]
    pub(crate) deprecations: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            name: None,
            account_id: "default".into(),
            zoom_account_id: None,
            client_id: None,
            client_secret: None,
            subscription_id: None,
            grant: GrantKind::Account,
            oauth_url: "https://zoom.us".into(),
            api_url: "https://api.zoom.us".into(),
            ws_url: "wss://ws.zoom.us/ws".into(),
            transport: Transport::Websocket,
            webhook_secret_token: None,
            webhook_listen: "127.0.0.1:18792".into(),
            send_as: SendAsKind::User,
            sender: None,
            robot_jid: None,
            default_target: None,
            routing: RoutingKind::Meeting,
            include: Vec::new(),
            exclude: Vec::new(),
            delivery_modes: BTreeMap::new(),
            dm_policy: None,
            allow_from: Vec::new(),
            group_policy: None,
            group_allow_from: Vec::new(),
            groups: Map::new(),
            self_ids: Vec::new(),
            password: None,
            listen: "127.0.0.1:18790".into(),
            sidecar_url: None,
            sidecar_path: None,
            webhook_url: None,
            webhook_urls: Vec::new(),
            inbound_path: None,
            database: None,
            state_dir: None,
            max_attempts: 12,
            event_queue_capacity: 1_000,
            transcript_max_bytes: 5 * 1024 * 1024,
            transcript_excerpt_lines: 40,
            catchup_max_per_conversation: 50,
            catchup_max_total: 200,
            media_max_mb: 8,
            auth_failure_limit: 30,
            auth_failure_limit_total: 300,
            max_connections: 256,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 120,
            log_level: None,
            accounts: Map::new(),
            deprecations: Vec::new(),
        }
    }
}

/// Upper bound of `eventQueueCapacity`: the queue lives in memory.
const MAX_EVENT_QUEUE: usize = 1_000_000;

/// A configuration problem, naming the key (and its environment variable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigProblem {
    pub(crate) key: &'static str,
    pub(crate) message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", key_label(self.key), self.message)
    }
}

/// A key as messages name it: `` `key` (env VAR) ``.
fn key_label(key: &str) -> String {
    let env = ENV_KEYS
        .iter()
        .find(|(_, k)| *k == key)
        .map(|(e, _)| format!(" (env {e})"))
        .unwrap_or_default();
    format!("`{key}`{env}")
}

/// Keys whose values are secrets: those marked `sensitive` in plugin.toml.
/// Their values never appear in an error message.
pub(crate) fn is_secret_key(key: &str) -> bool {
    static SECRET_KEYS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SECRET_KEYS
        .get_or_init(|| {
            let manifest: toml::Table =
                toml::from_str(include_str!("../../../plugin.toml")).unwrap_or_default();
            manifest
                .get("config")
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
                .filter(|e| e.get("sensitive").and_then(toml::Value::as_bool) == Some(true))
                .filter_map(|e| {
                    e.get("key")
                        .and_then(toml::Value::as_str)
                        .map(str::to_owned)
                })
                .collect()
        })
        .iter()
        .any(|k| k == key)
}

/// A TOML syntax error as `FILE: invalid TOML at line L, column C: what`,
/// naming the key whose assignment holds the error. Never the offending
/// line (toml's own message quotes it, and it may hold a secret).
fn toml_syntax_error(path: &std::path::Path, text: &str, e: &toml::de::Error) -> String {
    let at = e.span().map_or(text.len(), |s| s.start);
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let mut out = format!(
        "{}: invalid TOML at line {line}, column {column}: {}",
        path.display(),
        e.message()
    );
    if let Some(key) = assignment_key(text, line) {
        out.push_str(&format!(" (in the value of {}", key_label(&key)));
        if is_secret_key(&key) {
            out.push_str("; the line is not shown because it holds a secret");
        }
        out.push(')');
    }
    out
}

/// The key of the last `key = …` assignment that starts at or above `line`
/// (1-based) outside a multi-line string, within the same table.
fn assignment_key(text: &str, line: usize) -> Option<String> {
    let mut key = None;
    let mut open: Option<&str> = None; // delimiter of an open multi-line string
    for l in text.lines().take(line) {
        if let Some(delim) = open {
            if l.matches(delim).count() % 2 == 1 {
                open = None;
            }
            continue;
        }
        let t = l.trim_start();
        if t.starts_with('[') {
            key = None;
            continue;
        }
        let Some((k, rest)) = t.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_matches(|c| c == '"' || c == '\'');
        if k.is_empty()
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            continue;
        }
        key = Some(k.to_owned());
        open = ["\"\"\"", "'''"]
            .into_iter()
            .find(|d| rest.matches(d).count() % 2 == 1);
    }
    key
}

/// A SecretRef (`{source, provider?, id}`, the hosts' credential reference) in
/// place of a string: `None` when `value` is not one; an `env` ref resolves from
/// `env`; the others cannot be resolved here (the gateway resolves them before it
/// hands the account over). Messages name the variable, never a value.
pub(crate) fn resolve_secret_ref(
    value: &Value,
    env: &BTreeMap<String, String>,
) -> Option<Result<String, String>> {
    let obj = value.as_object()?;
    let (Some(source), Some(id)) = (
        obj.get("source").and_then(Value::as_str),
        obj.get("id").and_then(Value::as_str),
    ) else {
        return None;
    };
    Some(match source {
        "env" => match env.get(id).filter(|v| !v.is_empty()) {
            Some(v) => Ok(v.clone()),
            None => Err(format!(
                "refers to the environment variable {id} (SecretRef or ${{{id}}}), which is not set"
            )),
        },
        other => Err(format!(
            "is a SecretRef with source `{other}` (id `{id}`), which only the gateway resolves; \
             use an env SecretRef or a plain value for this command"
        )),
    })
}

/// Where configuration comes from.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    /// TOML file text and its path (for messages).
    pub(crate) file: Option<(PathBuf, String)>,
    /// Environment variables (name → value).
    pub(crate) env: BTreeMap<String, String>,
    /// Account JSON from the Moltbot extension.
    pub(crate) account_json: Option<String>,
    /// The gateway config file the account JSON was read from (`doctor`), for messages.
    pub(crate) host_config: Option<PathBuf>,
}

impl Sources {
    /// Reads the process environment and the file named by `path` or
    /// `MOLTBOT_ZOOM_CONFIG`.
    pub(crate) fn from_process(path: Option<PathBuf>) -> anyhow::Result<Self> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let path = path.or_else(|| env.get(CONFIG_FILE_ENV).map(PathBuf::from));
        let file = match path {
            Some(p) => {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", p.display()))?;
                Some((p, text))
            }
            None => None,
        };
        let account_json = env.get(ACCOUNT_JSON_ENV).cloned();
        Ok(Self {
            file,
            env,
            account_json,
            host_config: None,
        })
    }
}

fn known_keys() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The current name of `key` and, for a deprecated name, the warning to log.
fn current_name(key: &str) -> (&str, Option<String>) {
    match DEPRECATED_KEYS.iter().find(|(old, _)| *old == key) {
        Some((old, new)) => (
            new,
            Some(format!("`{old}` is deprecated; rename it to `{new}`")),
        ),
        None => (key, None),
    }
}

/// Adds `value` under `key`'s current name; an old name does not replace a value
/// the source already gave under the new one.
fn insert_current(
    source: &mut Map<String, Value>,
    key: &str,
    value: Value,
    deprecations: &mut Vec<String>,
) {
    let (name, warning) = current_name(key);
    if let Some(warning) = warning {
        if !deprecations.contains(&warning) {
            deprecations.push(warning);
        }
        if source.contains_key(name) {
            return;
        }
    }
    source.insert(name.to_owned(), value);
}

impl Config {
    /// Merges the sources (JSON > env > file > defaults) and validates.
    ///
    /// # Errors
    /// Unreadable or unparsable input, unknown keys in the file, wrong types,
    /// or missing required keys; every message names the key.
    pub(crate) fn load(sources: &Sources) -> Result<Self, Vec<String>> {
        let config = Self::merge(sources)?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems.iter().map(ToString::to_string).collect())
        }
    }

    /// Merges the sources without requiring the keys `run` needs; for
    /// commands that only read part of the configuration (`status`, `outbox`).
    ///
    /// # Errors
    /// As [`Config::load`], except for missing or invalid values.
    pub(crate) fn merge(sources: &Sources) -> Result<Self, Vec<String>> {
        let mut known = known_keys();
        known.extend(DEPRECATED_KEYS.iter().map(|(old, _)| (*old).to_owned()));
        let mut merged = Map::new();
        let mut errors = Vec::new();
        let mut deprecations = Vec::new();
        if let Some((path, text)) = &sources.file {
            let mut file = Map::new();
            match toml::from_str::<toml::Table>(text) {
                Ok(table) => {
                    for (k, v) in table {
                        if !known.contains(&k) {
                            errors.push(format!(
                                "{}: unknown key `{k}` (see docs/configuration.md)",
                                path.display()
                            ));
                            continue;
                        }
                        match serde_json::to_value(v) {
                            Ok(v) => insert_current(&mut file, &k, v, &mut deprecations),
                            Err(_) => errors.push(format!(
                                "{}: {}: unsupported value",
                                path.display(),
                                key_label(&k)
                            )),
                        }
                    }
                }
                Err(e) => errors.push(toml_syntax_error(path, text, &e)),
            }
            merged.extend(file);
        }
        let mut env = Map::new();
        for (var, key) in ENV_KEYS {
            if let Some(v) = sources.env.get(*var).filter(|v| !v.is_empty()) {
                insert_current(&mut env, key, Value::String(v.clone()), &mut deprecations);
            }
        }
        merged.extend(env);
        if let Some(json) = &sources.account_json {
            match serde_json::from_str::<Value>(json) {
                Ok(Value::Object(map)) => {
                    let mut account = Map::new();
                    for (k, v) in map {
                        // The extension passes the whole account object; keys this
                        // version does not know are ignored rather than fatal.
                        if known.contains(&k) && !v.is_null() {
                            let v = match resolve_secret_ref(&v, &sources.env) {
                                None => v,
                                Some(Ok(resolved)) => Value::String(resolved),
                                Some(Err(why)) => {
                                    errors.push(format!("{}: {why}", key_label(&k)));
                                    continue;
                                }
                            };
                            insert_current(&mut account, &k, v, &mut deprecations);
                        } else if !known.contains(&k) {
                            tracing::warn!(key = %k, "ignoring unknown key in {ACCOUNT_JSON_ENV}");
                        }
                    }
                    merged.extend(account);
                }
                Ok(_) => errors.push(format!("{ACCOUNT_JSON_ENV}: expected a JSON object")),
                Err(e) => errors.push(format!("{ACCOUNT_JSON_ENV}: invalid JSON: {e}")),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut config: Config = match serde_json::from_value(Value::Object(merged.clone())) {
            Ok(c) => c,
            Err(e) => {
                // Re-deserialise key by key to name the offending key.
                let mut named = Vec::new();
                let defaults = serde_json::to_value(Config::default()).unwrap_or(Value::Null);
                for (k, v) in &merged {
                    let mut probe = defaults.clone();
                    if let Value::Object(m) = &mut probe {
                        m.insert(k.clone(), v.clone());
                    }
                    // Secrets serialise as "<redacted>" in defaults; that is a valid string.
                    if let Err(err) = serde_json::from_value::<Config>(probe) {
                        // serde quotes the value ("invalid type: integer `123`");
                        // never for a secret.
                        named.push(if is_secret_key(k) {
                            format!(
                                "{}: must be a string (the value is not shown)",
                                key_label(k)
                            )
                        } else {
                            format!("{}: {err}", key_label(k))
                        });
                    }
                }
                if named.is_empty() {
                    // `e` may quote a value; name no value at all.
                    drop(e);
                    named.push("the configuration does not match its schema".into());
                }
                return Err(named);
            }
        };
        config.deprecations = deprecations;
        Ok(config)
    }

    /// Every missing or invalid setting, for `run` and `doctor`.
    pub(crate) fn problems(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let mut need = |key: &'static str, present: bool, why: &str| {
            if !present {
                p.push(ConfigProblem {
                    key,
                    message: format!("is required{why}"),
                });
            }
        };
        let set = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.trim().is_empty());
        let set_secret = |o: &Option<Secret>| o.as_ref().is_some_and(|s| !s.is_empty());
        need("clientId", set(&self.client_id), "");
        need("clientSecret", set_secret(&self.client_secret), "");
        need(
            "password",
            set_secret(&self.password),
            " (the shim's shared secret)",
        );
        if self.grant == GrantKind::Account {
            need(
                "zoomAccountId",
                set(&self.zoom_account_id),
                " when grant = \"account\"",
            );
        }
        match self.transport {
            Transport::Websocket => need(
                "subscriptionId",
                set(&self.subscription_id),
                " when transport = \"websocket\"",
            ),
            Transport::Webhook => need(
                "webhookSecretToken",
                set_secret(&self.webhook_secret_token),
                " when transport = \"webhook\"",
            ),
        }
        match self.send_as {
            SendAsKind::User => need("sender", set(&self.sender), " when sendAs = \"user\""),
            SendAsKind::Chatbot => {
                need(
                    "robotJid",
                    set(&self.robot_jid),
                    " when sendAs = \"chatbot\"",
                );
                if self.grant == GrantKind::Client {
                    need(
                        "zoomAccountId",
                        set(&self.zoom_account_id),
                        " when sendAs = \"chatbot\" (chatbot messages name the account)",
                    );
                }
            }
        }
        for (key, value) in [
            ("listen", &self.listen),
            ("webhookListen", &self.webhook_listen),
        ] {
            if value.parse::<SocketAddr>().is_err() {
                p.push(ConfigProblem {
                    key,
                    message: format!("`{value}` is not an address like 127.0.0.1:18790"),
                });
            }
        }
        for (key, value, schemes) in [
            ("oauthUrl", &self.oauth_url, &["http", "https"][..]),
            ("apiUrl", &self.api_url, &["http", "https"][..]),
            ("wsUrl", &self.ws_url, &["ws", "wss"][..]),
        ] {
            match url::Url::parse(value) {
                Ok(u) if schemes.contains(&u.scheme()) => {}
                _ => p.push(ConfigProblem {
                    key,
                    message: format!("`{value}` is not a {} URL", schemes.join("/")),
                }),
            }
        }
        for (i, u) in self.webhook_targets().iter().enumerate() {
            if let Err(why) = bluebubbles_shim::check_webhook_url(u) {
                p.push(ConfigProblem {
                    key: if i == 0 && self.webhook_url.is_some() {
                        "webhookUrl"
                    } else {
                        "webhookUrls"
                    },
                    message: why.into(),
                });
            }
        }
        for (key, value) in [
            ("maxAttempts", u64::from(self.max_attempts)),
            ("mediaMaxMb", u64::from(self.media_max_mb)),
            ("authFailureLimit", u64::from(self.auth_failure_limit)),
            (
                "authFailureLimitTotal",
                u64::from(self.auth_failure_limit_total),
            ),
            ("maxConnections", u64::from(self.max_connections)),
            ("headerReadTimeoutSecs", self.header_read_timeout_secs),
            ("idleTimeoutSecs", self.idle_timeout_secs),
            ("transcriptMaxBytes", self.transcript_max_bytes),
            (
                "transcriptExcerptLines",
                u64::from(self.transcript_excerpt_lines),
            ),
            (
                "catchupMaxPerConversation",
                u64::from(self.catchup_max_per_conversation),
            ),
            ("catchupMaxTotal", u64::from(self.catchup_max_total)),
        ] {
            if value == 0 {
                p.push(ConfigProblem {
                    key,
                    message: "must be at least 1".into(),
                });
            }
        }
        if !(1..=MAX_EVENT_QUEUE).contains(&self.event_queue_capacity) {
            p.push(ConfigProblem {
                key: "eventQueueCapacity",
                message: format!("must be between 1 and {MAX_EVENT_QUEUE}"),
            });
        }
        p
    }

    /// Limits of both listeners (REST API and Zoom webhooks).
    pub(crate) fn listener_limits(&self) -> ListenerLimits {
        ListenerLimits {
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
        }
    }

    /// The throttle of failed authentication on the REST API.
    pub(crate) fn auth_failure_limit(&self) -> AuthFailureLimit {
        AuthFailureLimit::per_minute(self.auth_failure_limit, self.auth_failure_limit_total)
    }

    /// `webhookUrl` followed by `webhookUrls`.
    pub(crate) fn webhook_targets(&self) -> Vec<String> {
        self.webhook_url
            .iter()
            .chain(self.webhook_urls.iter())
            .filter(|u| !u.trim().is_empty())
            .cloned()
            .collect()
    }

    /// The SQLite path: `database`, else `<stateDir>/zoom/<accountId>.sqlite`,
    /// else `./moltbot-zoom.sqlite`.
    pub(crate) fn database_path(&self) -> PathBuf {
        if let Some(p) = &self.database {
            return p.clone();
        }
        match &self.state_dir {
            Some(dir) => dir.join("zoom").join(format!("{}.sqlite", self.account_id)),
            None => PathBuf::from("moltbot-zoom.sqlite"),
        }
    }

    /// Where catch-up keeps its last-seen marks: beside the database.
    pub(crate) fn catchup_state(&self) -> PathBuf {
        self.database_path().with_extension("catchup.json")
    }

    /// Where downloaded files are kept: beside the database, `<name>.media/`.
    pub(crate) fn media_dir(&self) -> PathBuf {
        self.database_path().with_extension("media")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(file: &str, env: &[(&str, &str)], json: Option<&str>) -> Sources {
        Sources {
            host_config: None,
            file: (!file.is_empty()).then(|| (PathBuf::from("test.toml"), file.to_owned())),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            account_json: json.map(str::to_owned),
        }
    }

    const MINIMAL: &str = r#"
clientId = "id"
clientSecret = "cs-secret"
zoomAccountId = "acc"
subscriptionId = "sub"
sender = "me@example.com"
password = "pw-secret"
"#;

    #[test]
    fn event_queue_capacity_is_bounded() {
        for (value, ok) in [
            ("0", false),
            ("1", true),
            ("1000000", true),
            ("1000001", false),
        ] {
            let file = format!("{MINIMAL}eventQueueCapacity = {value}\n");
            match Config::load(&sources(&file, &[], None)) {
                Ok(c) => {
                    assert!(ok, "{value} accepted");
                    assert_eq!(c.event_queue_capacity.to_string(), value);
                }
                Err(errs) => {
                    assert!(!ok, "{value} refused: {errs:?}");
                    assert!(
                        errs.iter().any(|e| e.contains("eventQueueCapacity")),
                        "{errs:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn minimal_file_loads_with_defaults() {
        let c = Config::load(&sources(MINIMAL, &[], None)).unwrap();
        assert_eq!(c.listen, "127.0.0.1:18790");
        assert_eq!(c.ws_url, "wss://ws.zoom.us/ws");
        assert_eq!(c.max_attempts, 12);
        assert_eq!(c.event_queue_capacity, 1_000);
        assert_eq!(c.database_path(), PathBuf::from("moltbot-zoom.sqlite"));
    }

    #[test]
    fn missing_keys_are_named_with_their_env_var() {
        let errs = Config::load(&sources("", &[], None)).unwrap_err();
        let all = errs.join("\n");
        for key in [
            "clientId",
            "clientSecret",
            "password",
            "zoomAccountId",
            "subscriptionId",
            "sender",
        ] {
            assert!(
                all.contains(&format!("`{key}`")),
                "{key} missing from {all}"
            );
        }
        assert!(all.contains("ZOOM_CLIENT_SECRET"), "{all}");
    }

    #[test]
    fn unknown_file_key_and_bad_types_are_errors() {
        let errs = Config::load(&sources(
            &format!("{MINIMAL}\nclientSecrett = \"x\""),
            &[],
            None,
        ))
        .unwrap_err();
        assert!(errs[0].contains("unknown key `clientSecrett`"), "{errs:?}");
        let errs = Config::load(&sources(
            &format!("{MINIMAL}\ntransport = \"carrier-pigeon\""),
            &[],
            None,
        ))
        .unwrap_err();
        assert!(errs.iter().any(|e| e.contains("`transport`")), "{errs:?}");
        let errs = Config::load(&sources(
            &format!("{MINIMAL}\nlisten = \"nowhere\""),
            &[],
            None,
        ))
        .unwrap_err();
        assert!(errs.iter().any(|e| e.contains("`listen`")), "{errs:?}");
    }

    #[test]
    fn precedence_json_over_env_over_file() {
        let c = Config::load(&sources(
            MINIMAL,
            &[
                ("ZOOM_SENDER", "env@example.com"),
                ("ZOOM_CLIENT_ID", "env-id"),
            ],
            Some(
                r#"{"sender":"json@example.com","accountId":"work","stateDir":"/s","futureKey":1}"#,
            ),
        ))
        .unwrap();
        assert_eq!(c.sender.as_deref(), Some("json@example.com"));
        assert_eq!(c.client_id.as_deref(), Some("env-id"));
        assert_eq!(c.database_path(), PathBuf::from("/s/zoom/work.sqlite"));
    }

    #[test]
    fn env_secret_refs_resolve_and_others_are_named_without_values() {
        let json = r#"{"clientSecret":{"source":"env","provider":"default","id":"ZS"},
                       "password":{"source":"env","id":"PW"}}"#;
        let c = Config::load(&sources(
            MINIMAL,
            &[("ZS", "from-env"), ("PW", "pw-env")],
            Some(json),
        ))
        .unwrap();
        assert_eq!(c.client_secret.as_ref().unwrap().expose(), "from-env");
        assert_eq!(c.password.as_ref().unwrap().expose(), "pw-env");

        let errors =
            Config::merge(&sources(MINIMAL, &[("ZS", "from-env")], Some(json))).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "`password` (env MOLTBOT_ZOOM_PASSWORD): refers to the environment variable PW"
            ),
            "{errors:?}"
        );

        let file_ref =
            r#"{"clientSecret":{"source":"file","provider":"vault","id":"/zoom/secret"}}"#;
        let errors = Config::merge(&sources(MINIMAL, &[], Some(file_ref))).unwrap_err();
        assert!(errors[0].contains("source `file`"), "{errors:?}");
        assert!(!errors.join(" ").contains("cs-secret"), "{errors:?}");
    }

    #[test]
    fn deprecated_names_are_read_with_a_warning_and_lose_to_the_new_ones() {
        let c = Config::load(&sources(
            &format!("{MINIMAL}\ndefaultTarget = \"old@example.com\"\ninboundPath = \"/old\"\n"),
            &[],
            None,
        ))
        .unwrap();
        assert_eq!(c.default_target.as_deref(), Some("old@example.com"));
        assert_eq!(c.inbound_path.as_deref(), Some("/old"));
        assert_eq!(
            c.deprecations,
            [
                "`defaultTarget` is deprecated; rename it to `defaultTo`",
                "`inboundPath` is deprecated; rename it to `webhookPath`",
            ]
        );
        // Both names in one source: the new one wins, whatever the order.
        let c = Config::load(&sources(
            MINIMAL,
            &[],
            Some(r#"{"defaultTo": "new@example.com", "defaultTarget": "old@example.com"}"#),
        ))
        .unwrap();
        assert_eq!(c.default_target.as_deref(), Some("new@example.com"));
        assert_eq!(c.deprecations.len(), 1);
        // A later source's old name still beats an earlier source's new one.
        let c = Config::load(&sources(
            &format!("{MINIMAL}\ndefaultTo = \"file@example.com\"\n"),
            &[("ZOOM_DEFAULT_TARGET", "env@example.com")],
            None,
        ))
        .unwrap();
        assert_eq!(c.default_target.as_deref(), Some("env@example.com"));
        // The new names alone warn about nothing.
        let c = Config::load(&sources(
            &format!("{MINIMAL}\ndefaultTo = \"a@example.com\"\nwebhookPath = \"/zoom\"\n"),
            &[],
            None,
        ))
        .unwrap();
        assert!(c.deprecations.is_empty());
        assert_eq!(c.inbound_path.as_deref(), Some("/zoom"));
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let c = Config::load(&sources(MINIMAL, &[], None)).unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("cs-secret") && !dbg.contains("pw-secret"),
            "{dbg}"
        );
    }

    #[test]
    fn conditional_requirements() {
        let c = Config::load(&sources(
            &format!("{MINIMAL}\ntransport = \"webhook\"\nsendAs = \"chatbot\""),
            &[],
            None,
        ))
        .unwrap_err()
        .join("\n");
        assert!(
            c.contains("`webhookSecretToken`") && c.contains("`robotJid`"),
            "{c}"
        );
    }

    fn assert_hidden(errs: &[String], secrets: &[&str]) -> String {
        let all = errs.join("\n");
        for secret in secrets {
            assert!(!all.contains(secret), "secret {secret} leaked: {all}");
        }
        all
    }

    #[test]
    fn secret_keys_come_from_plugin_toml() {
        for key in ["clientSecret", "password", "webhookSecretToken"] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["clientId", "listen", "webhookUrl", "sender"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn toml_syntax_errors_on_a_secret_line_never_show_the_value() {
        let broken = [
            ("clientSecret = \"cs-TOPSECRET-1", 3), // unterminated string
            ("clientSecret = cs-TOPSECRET-2", 3),   // unquoted
            ("clientSecret = \"cs-TOPSECRET\\q3\"", 3), // bad escape
            ("password = \"pw-TOPSECRET-4\" trailing", 3),
            ("password = \"\"\"pw-TOPSECRET-5\nstill = \"x", 3),
        ];
        for (line, line_no) in broken {
            let file =
                format!("clientId = \"id\"\n# comment\n{line}\nsender = \"me@example.com\"\n");
            let errs = Config::load(&sources(&file, &[], None)).unwrap_err();
            let all = assert_hidden(&errs, &["TOPSECRET"]);
            assert!(all.contains("test.toml: invalid TOML at line"), "{all}");
            assert!(
                all.contains(&format!("line {line_no}, column")) || line.contains("\"\"\""),
                "{all}"
            );
            let key = line.split_whitespace().next().unwrap();
            assert!(
                all.contains(&format!("in the value of `{key}` (env ")),
                "{all}"
            );
            assert!(all.contains("not shown because it holds a secret"), "{all}");
        }
        // A broken non-secret line names its key too, without the line.
        let errs = Config::load(&sources("sender = me@example.com\n", &[], None)).unwrap_err();
        assert!(
            errs[0].starts_with("test.toml: invalid TOML at line 1, column 10: ")
                && errs[0].contains("in the value of `sender` (env ZOOM_SENDER))"),
            "{errs:?}"
        );
    }

    #[test]
    fn wrong_type_secrets_are_named_without_their_value() {
        let file = format!(
            "{}\npassword = 987654321\nclientSecret = 123456789\nwebhookSecretToken = 555444333\n",
            MINIMAL
                .lines()
                .filter(|l| !l.starts_with("password") && !l.starts_with("clientSecret"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let errs = Config::load(&sources(&file, &[], None)).unwrap_err();
        let all = assert_hidden(&errs, &["987654321", "123456789", "555444333"]);
        for label in [
            "`password` (env MOLTBOT_ZOOM_PASSWORD): must be a string (the value is not shown)",
            "`clientSecret` (env ZOOM_CLIENT_SECRET): must be a string",
            "`webhookSecretToken` (env ZOOM_WEBHOOK_SECRET_TOKEN): must be a string",
        ] {
            assert!(all.contains(label), "{all}");
        }
        // Non-secret keys keep serde's detail.
        let errs =
            Config::load(&sources(&format!("{MINIMAL}\nrobotJid = 42\n"), &[], None)).unwrap_err();
        assert!(
            errs.join("\n")
                .contains("`robotJid` (env ZOOM_ROBOT_JID): invalid type: integer `42`"),
            "{errs:?}"
        );
    }

    #[test]
    fn the_extensions_json_never_shows_secret_values() {
        // Wrong types from Moltbot's config (numbers are valid JSON5 there).
        let errs = Config::load(&sources(
            MINIMAL,
            &[],
            Some(r#"{"password": 24681357, "clientSecret": {"v": "cs-JSONSECRET"}, "webhookSecretToken": ["tok-JSONSECRET"]}"#),
        ))
        .unwrap_err();
        let all = assert_hidden(&errs, &["24681357", "JSONSECRET"]);
        assert!(
            all.contains("`password` (env MOLTBOT_ZOOM_PASSWORD): must be a string"),
            "{all}"
        );
        assert!(
            all.contains("`clientSecret`") && all.contains("`webhookSecretToken`"),
            "{all}"
        );
        // Broken JSON: position only.
        for json in [
            r#"{"clientSecret": "cs-JSONSECRET\q"}"#,
            r#"{"password": "pw-JSONSECRET"#,
            r#"{"password": pw-JSONSECRET}"#,
        ] {
            let errs = Config::load(&sources(MINIMAL, &[], Some(json))).unwrap_err();
            let all = assert_hidden(&errs, &["JSONSECRET"]);
            assert!(
                all.starts_with("MOLTBOT_ZOOM_ACCOUNT_JSON: invalid JSON: "),
                "{all}"
            );
            assert!(all.contains("line 1 column"), "{all}");
        }
    }

    #[test]
    fn limits_are_keys_with_defaults_and_must_be_positive() {
        let c = Config::load(&sources(MINIMAL, &[], None)).unwrap();
        assert_eq!(
            c.auth_failure_limit(),
            AuthFailureLimit::per_minute(30, 300)
        );
        let l = c.listener_limits();
        assert_eq!(l.max_connections, 256);
        assert_eq!(l.header_read_timeout, Duration::from_secs(10));
        assert_eq!(l.idle_timeout, Duration::from_secs(120));
        let errs = Config::load(&sources(
            &format!("{MINIMAL}\nauthFailureLimit = 0\nmaxConnections = 0\nidleTimeoutSecs = 0\n"),
            &[],
            None,
        ))
        .unwrap_err()
        .join("\n");
        for key in ["authFailureLimit", "maxConnections", "idleTimeoutSecs"] {
            assert!(
                errs.contains(&format!("`{key}`: must be at least 1")),
                "{errs}"
            );
        }
    }

    #[test]
    fn webhook_urls_use_the_shims_validator() {
        let errs = Config::load(&sources(
            &format!("{MINIMAL}\nwebhookUrl = \"httpx://x\"\nwebhookUrls = [\"http://127.0.0.1/ok\", \"https://\"]\n"),
            &[],
            None,
        ))
        .unwrap_err()
        .join("\n");
        assert!(errs.contains("`webhookUrl` (env MOLTBOT_ZOOM_WEBHOOK_URL): must be an absolute http:// or https:// URL"), "{errs}");
        assert!(
            errs.contains("`webhookUrls`: must be an absolute"),
            "{errs}"
        );
        assert_eq!(errs.lines().count(), 2, "{errs}");
    }

    /// Keys the extension fills in itself; not user settings in plugin.toml.
    const INTERNAL_KEYS: [&str; 3] = ["accountId", "stateDir", "accounts"];

    #[test]
    fn plugin_toml_schema_matches_the_config_struct() {
        let manifest: toml::Table = toml::from_str(include_str!("../../../plugin.toml")).unwrap();
        let entries = manifest["config"].as_array().unwrap();
        let mut schema: Vec<String> = entries
            .iter()
            .map(|e| e["key"].as_str().unwrap().to_owned())
            .collect();
        schema.sort();
        let mut keys: Vec<String> = known_keys()
            .into_iter()
            .filter(|k| !INTERNAL_KEYS.contains(&k.as_str()))
            .chain(DEPRECATED_KEYS.iter().map(|(old, _)| (*old).to_owned()))
            .collect();
        keys.sort();
        assert_eq!(schema, keys, "plugin.toml [[config]] keys vs Config fields");
        for entry in entries {
            let key = entry["key"].as_str().unwrap();
            let env = entry.get("env").and_then(|e| e.as_str());
            let ours = ENV_KEYS.iter().find(|(_, k)| *k == key).map(|(e, _)| *e);
            assert_eq!(env, ours, "environment variable of `{key}`");
        }
    }

    #[test]
    fn configuration_doc_lists_every_key_with_its_env_var() {
        let doc = include_str!("../../../docs/configuration.md");
        let mut rows = Vec::new();
        let mut in_table = false;
        for line in doc.lines() {
            if line.trim() == "| key | env | default | description |" {
                in_table = true;
                continue;
            }
            if in_table {
                if !line.starts_with('|') {
                    break;
                }
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                if cells[1].starts_with("---") {
                    continue;
                }
                rows.push((
                    cells[1].trim_matches('`').to_owned(),
                    cells[2].trim_matches('`').to_owned(),
                ));
            }
        }
        let mut documented: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        documented.sort();
        let mut keys = known_keys();
        keys.extend(DEPRECATED_KEYS.iter().map(|(old, _)| (*old).to_owned()));
        keys.sort();
        assert_eq!(
            documented, keys,
            "docs/configuration.md keys vs Config fields"
        );
        for (key, env) in &rows {
            let ours = ENV_KEYS
                .iter()
                .find(|(_, k)| k == key)
                .map(|(e, _)| *e)
                .unwrap_or("–");
            assert_eq!(env, ours, "env var of `{key}` in docs/configuration.md");
        }
    }
}
