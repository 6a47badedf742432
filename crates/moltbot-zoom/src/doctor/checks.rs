//! The checks themselves.

use super::*;

pub(super) struct Doctor {
    loaded: Loaded,
    tokens: TokenProvider,
    api: ZoomApi,
}

impl Doctor {
    pub(super) fn new(loaded: Loaded) -> Self {
        let (tokens, api) = zoom_clients(&loaded.config);
        Self {
            loaded,
            tokens,
            api,
        }
    }

    pub(super) fn config(&self) -> &Config {
        &self.loaded.config
    }

    pub(super) async fn oauth(&self, checks: &mut Checks<'_>) -> Option<AccessToken> {
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

    /// A sidecar already running with this configuration (its `listen`
    /// answers): whether it is connected to Zoom and, if not, the reason it
    /// reports, e.g. an OAuth refusal it keeps retrying. `None` when no
    /// sidecar answers there.
    pub(super) async fn running_sidecar(&self) -> Option<Check> {
        const NAME: &str = "running sidecar";
        let config = self.config();
        let url = crate::status_cmd::url_of_listen(&config.listen).ok()?;
        let addr = url.trim_start_matches("http://").to_owned();
        let reachable = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(addr.as_str()),
        )
        .await;
        if !matches!(reachable, Ok(Ok(_))) {
            return None;
        }
        let password = config.password.clone().unwrap_or_default();
        let status = match crate::status_cmd::fetch(&url, &password).await {
            Ok(status) => status,
            Err(e) => {
                return Some(Check::fail(
                    NAME,
                    format!("{e:#}"),
                    format!("is the process at {addr} this account's sidecar?"),
                ));
            }
        };
        let zoom: moltbot_channel::AccountStatus =
            serde_json::from_value(status["zoom"].clone()).unwrap_or_default();
        if zoom.connected() {
            let q = &zoom.queue;
            return Some(Check::ok(
                NAME,
                format!(
                    "at {url}: connected to Zoom; event queue {} of {}",
                    q.depth, q.capacity
                ),
            ));
        }
        let mut detail = format!(
            "at {url}: Zoom {}",
            crate::status_cmd::connection(&zoom.connection)
        );
        if let Some(error) = &zoom.last_error {
            detail.push_str(": ");
            detail.push_str(error);
        }
        Some(Check::fail(
            NAME,
            detail,
            "it retries by itself; fix the cause (see the checks above), then follow it with \
             `moltbot-zoom status`",
        ))
    }

    pub(super) fn scopes(&self, token: Option<&AccessToken>) -> Check {
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

    pub(super) async fn transport(&self, token: Option<&AccessToken>) -> Check {
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

    pub(super) async fn sender(&self, token: Option<&AccessToken>) -> Check {
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

    pub(super) async fn lookup_user(&self, user: &str) -> Result<String, Lookup> {
        match bounded("user lookup", self.api.get_user(user)).await {
            Ok(v) => {
                let id = v.get("id").and_then(Value::as_str).unwrap_or("?");
                Ok(format!("{user} (user id {id})"))
            }
            Err(ZoomError::Api { status: 404, .. }) => Err(Lookup::Missing),
            Err(e) => Err(Lookup::Failed(e)),
        }
    }

    pub(super) async fn default_target(
        &self,
        token: Option<&AccessToken>,
        checks: &mut Checks<'_>,
    ) -> Option<Target> {
        const NAME: &str = "default target";
        let config = self.config();
        if let Some(why) = self.loaded.missing(&["defaultTo"]) {
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
                 (set `defaultTo` to choose)",
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
                        key_ref("defaultTo")
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
                        format!("set {} to an existing user", key_ref("defaultTo")),
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

    pub(super) async fn send_test(
        &self,
        token: Option<&AccessToken>,
        target: Option<&Target>,
    ) -> Check {
        const NAME: &str = "send test";
        if token.is_none() {
            return Check::skip(NAME, "no OAuth token");
        }
        if target.is_none() {
            return Check::skip(NAME, "no usable `defaultTo`");
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

    pub(super) async fn gateway(&self, state_dir: Option<&Path>, checks: &mut Checks<'_>) {
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
                    "cannot tell the gateway's state dir: pass --host (or set HOME, the host's *_STATE_DIR or `stateDir`)",
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

    pub(super) async fn store(&self, checks: &mut Checks<'_>) -> Option<Store> {
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
pub(super) fn http_error(err: reqwest::Error) -> String {
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
pub(super) enum Lookup {
    Missing,
    Failed(ZoomError),
}

/// Takes the write lock and writes one row, then rolls back.
pub(super) fn write_check(path: &Path) -> anyhow::Result<()> {
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

pub(super) fn extension_installed(state_dir: &Path) -> Check {
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

pub(super) fn outbox(store: Option<&Store>) -> Check {
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
pub(super) async fn webhook_listener(listen: &str) -> Check {
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
