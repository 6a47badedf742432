//! Sidecar configuration: one key space (camelCase) for the TOML file, the
//! environment, and Moltbot's `channels.zoom` account object passed as JSON by
//! the extension. Precedence: JSON > environment > file > defaults.

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf};

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
    ("ZOOM_DEFAULT_TARGET", "defaultTarget"),
    ("MOLTBOT_ZOOM_PASSWORD", "password"),
    ("MOLTBOT_ZOOM_LISTEN", "listen"),
    ("MOLTBOT_ZOOM_WEBHOOK_URL", "webhookUrl"),
    ("MOLTBOT_ZOOM_DATABASE", "database"),
    ("RUST_LOG", "logLevel"),
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
    pub(crate) default_target: Option<String>,
    pub(crate) routing: RoutingKind,
    pub(crate) include: Vec<String>,
    pub(crate) exclude: Vec<String>,
    pub(crate) delivery_modes: BTreeMap<String, DeliveryMode>,
    pub(crate) dm_policy: Option<String>,
    pub(crate) allow_from: Vec<String>,
    pub(crate) self_ids: Vec<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) listen: String,
    pub(crate) sidecar_url: Option<String>,
    pub(crate) sidecar_path: Option<String>,
    pub(crate) webhook_url: Option<String>,
    pub(crate) webhook_urls: Vec<String>,
    pub(crate) inbound_path: Option<String>,
    pub(crate) database: Option<PathBuf>,
    pub(crate) state_dir: Option<PathBuf>,
    pub(crate) max_attempts: u32,
    pub(crate) event_queue_capacity: usize,
    pub(crate) log_level: Option<String>,
    /// Per-account overrides (extension side; the extension resolves them).
    pub(crate) accounts: Map<String, Value>,
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
            event_queue_capacity: 10_000,
            log_level: None,
            accounts: Map::new(),
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
        let env = ENV_KEYS
            .iter()
            .find(|(_, k)| *k == self.key)
            .map(|(e, _)| format!(" (env {e})"))
            .unwrap_or_default();
        write!(f, "`{}`{env}: {}", self.key, self.message)
    }
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
        })
    }
}

fn known_keys() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
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
        let known = known_keys();
        let mut merged = Map::new();
        let mut errors = Vec::new();
        if let Some((path, text)) = &sources.file {
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
                            Ok(v) => {
                                merged.insert(k, v);
                            }
                            Err(e) => errors.push(format!("{}: key `{k}`: {e}", path.display())),
                        }
                    }
                }
                Err(e) => errors.push(format!("{}: invalid TOML: {e}", path.display())),
            }
        }
        for (var, key) in ENV_KEYS {
            if let Some(v) = sources.env.get(*var).filter(|v| !v.is_empty()) {
                merged.insert((*key).to_owned(), Value::String(v.clone()));
            }
        }
        if let Some(json) = &sources.account_json {
            match serde_json::from_str::<Value>(json) {
                Ok(Value::Object(map)) => {
                    for (k, v) in map {
                        // The extension passes the whole account object; keys this
                        // version does not know are ignored rather than fatal.
                        if known.contains(&k) && !v.is_null() {
                            merged.insert(k, v);
                        } else if !known.contains(&k) {
                            tracing::warn!(key = %k, "ignoring unknown key in {ACCOUNT_JSON_ENV}");
                        }
                    }
                }
                Ok(_) => errors.push(format!("{ACCOUNT_JSON_ENV}: expected a JSON object")),
                Err(e) => errors.push(format!("{ACCOUNT_JSON_ENV}: invalid JSON: {e}")),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let config: Config = match serde_json::from_value(Value::Object(merged.clone())) {
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
                        named.push(format!("`{k}`: {err}"));
                    }
                }
                if named.is_empty() {
                    named.push(e.to_string());
                }
                return Err(named);
            }
        };
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
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                p.push(ConfigProblem {
                    key: if i == 0 && self.webhook_url.is_some() {
                        "webhookUrl"
                    } else {
                        "webhookUrls"
                    },
                    message: "must start with http:// or https://".into(),
                });
            }
        }
        if self.max_attempts == 0 {
            p.push(ConfigProblem {
                key: "maxAttempts",
                message: "must be at least 1".into(),
            });
        }
        if !(1..=MAX_EVENT_QUEUE).contains(&self.event_queue_capacity) {
            p.push(ConfigProblem {
                key: "eventQueueCapacity",
                message: format!("must be between 1 and {MAX_EVENT_QUEUE}"),
            });
        }
        p
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(file: &str, env: &[(&str, &str)], json: Option<&str>) -> Sources {
        Sources {
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
        assert_eq!(c.event_queue_capacity, 10_000);
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
