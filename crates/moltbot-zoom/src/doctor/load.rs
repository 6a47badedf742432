//! Loading the configuration so that one bad key does not stop every check.

use super::*;

/// A configuration good enough to run checks with, and the keys that are
/// missing or invalid (their checks are skipped).
pub(super) struct Loaded {
    pub(super) config: Config,
    pub(super) unusable: BTreeSet<String>,
}

impl Loaded {
    /// Why a check needing `keys` cannot run, if it cannot.
    pub(super) fn missing(&self, keys: &[&str]) -> Option<String> {
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
pub(super) const PLACEHOLDER: &str = "http://placeholder.invalid/";

/// The configuration checks and, when possible, a configuration to continue
/// with: problems that name a key are listed and the key is replaced by its
/// default (or a placeholder) so the checks that do not need it still run.
pub(super) fn load(sources: &Sources) -> (Vec<Check>, Option<Loaded>) {
    let config = match Config::merge(sources) {
        Ok(config) => config,
        Err(errors) => return load_around(sources, &errors),
    };
    let problems = config.problems();
    if !problems.is_empty() {
        let errors: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return load_around(sources, &errors);
    }
    let check = Check::ok("configuration", describe(sources, &config));
    let loaded = Loaded {
        config,
        unusable: BTreeSet::new(),
    };
    (vec![check], Some(loaded))
}

/// Reports `errors` (missing, invalid or mistyped values, each naming its key),
/// then loads again with those keys at their defaults so the checks that do
/// not need them still run.
pub(super) fn load_around(sources: &Sources, errors: &[String]) -> (Vec<Check>, Option<Loaded>) {
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
        host_config: sources.host_config.clone(),
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
pub(super) fn problem_key(error: &str) -> Option<&str> {
    let rest = error.strip_prefix('`')?;
    rest.split_once('`').map(|(key, _)| key)
}

pub(super) fn env_of(key: &str) -> Option<&'static str> {
    ENV_KEYS.iter().find(|(_, k)| *k == key).map(|(e, _)| *e)
}

/// `` `key` (env VAR) ``.
pub(super) fn key_ref(key: &str) -> String {
    match env_of(key) {
        Some(env) => format!("`{key}` (env {env})"),
        None => format!("`{key}`"),
    }
}

pub(super) fn key_fix(key: &str) -> String {
    format!(
        "set {} in the config file or in channels.zoom; see docs/configuration.md",
        key_ref(key)
    )
}

/// Clears an optional key that held a placeholder.
pub(super) fn clear(config: &mut Config, key: &str) {
    match key {
        "zoomAccountId" => config.zoom_account_id = None,
        "clientId" => config.client_id = None,
        "clientSecret" => config.client_secret = None,
        "subscriptionId" => config.subscription_id = None,
        "webhookSecretToken" => config.webhook_secret_token = None,
        "sender" => config.sender = None,
        "robotJid" => config.robot_jid = None,
        "defaultTo" => config.default_target = None,
        "password" => config.password = None,
        "webhookUrl" => config.webhook_url = None,
        "database" => config.database = None,
        "stateDir" => config.state_dir = None,
        _ => {}
    }
}

pub(super) fn describe(sources: &Sources, config: &Config) -> String {
    let mut from = Vec::new();
    if let Some((path, _)) = &sources.file {
        from.push(path.display().to_string());
    }
    if ENV_KEYS.iter().any(|(e, _)| sources.env.contains_key(*e)) {
        from.push("environment".into());
    }
    if let Some(path) = &sources.host_config {
        from.push(format!("channels.zoom in {}", path.display()));
    }
    if sources.env.contains_key(crate::config::ACCOUNT_JSON_ENV) {
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
