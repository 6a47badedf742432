//! Wiring of the sidecar: Zoom channel → outbox → webhooks, and the REST shim
//! in front of the channel's send path. Used by `run` and by the demo.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use bluebubbles_shim::{Shim, ShimConfig, Store};
use moltbot_channel::{CancellationToken, Channel, DeliveryMode, StartContext, inbound_channel};
use zoom::{
    Credentials, Grant, SessionConfig, TokenProvider, WebhookConfig, ZoomApi, serve_webhooks_with,
    webhook_router,
};
use zoom_channel::{Routing, SendAs, ZoomChannel, ZoomChannelConfig};

use crate::{
    config::{Config, GrantKind, RoutingKind, SendAsKind, Transport},
    supervisor::Components,
};

/// Capacity of the queue between the channel and the outbox writer.
const INBOUND_QUEUE: usize = 256;

/// A running sidecar.
pub(crate) struct Sidecar {
    /// Where the REST shim listens.
    pub(crate) addr: SocketAddr,
    /// The Zoom channel (for status and direct sends; the demo reads it).
    #[cfg_attr(not(feature = "demo"), allow(dead_code))]
    pub(crate) channel: Arc<ZoomChannel>,
    cancel: CancellationToken,
    components: Components,
}

/// The channel settings derived from the sidecar configuration.
pub(crate) fn channel_config(config: &Config) -> ZoomChannelConfig {
    let send_as = match config.send_as {
        SendAsKind::User => SendAs::User {
            sender: config.sender.clone().unwrap_or_default(),
        },
        SendAsKind::Chatbot => SendAs::Chatbot {
            robot_jid: config.robot_jid.clone().unwrap_or_default(),
            account_id: config.zoom_account_id.clone().unwrap_or_default(),
        },
    };
    // Most specific pattern first: exact names, then longer wildcards.
    let mut delivery_modes: Vec<(String, DeliveryMode)> = config
        .delivery_modes
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    delivery_modes.sort_by_key(|(p, _)| (p.contains('*'), std::cmp::Reverse(p.len())));
    ZoomChannelConfig {
        account_id: config.account_id.clone(),
        subscription_id: config.subscription_id.clone().unwrap_or_default(),
        routing: match config.routing {
            RoutingKind::Meeting => Routing::Meeting,
            RoutingKind::Feed => Routing::Feed,
        },
        include: config.include.clone(),
        exclude: config.exclude.clone(),
        delivery_modes,
        send_as,
        default_target: config.default_target.clone(),
        self_ids: config.self_ids.clone(),
        media_dir: config.media_dir(),
        // The outbox does not store the raw event: do not build it.
        raw_event: false,
        transcript_max_bytes: usize::try_from(config.transcript_max_bytes).unwrap_or(usize::MAX),
        transcript_excerpt_lines: usize::try_from(config.transcript_excerpt_lines)
            .unwrap_or(usize::MAX),
        catchup_max_per_conversation: usize::try_from(config.catchup_max_per_conversation)
            .unwrap_or(usize::MAX),
        catchup_max_total: usize::try_from(config.catchup_max_total).unwrap_or(usize::MAX),
        catchup_state: Some(config.catchup_state()),
        media_max_bytes: u64::from(config.media_max_mb) * 1024 * 1024,
        ..ZoomChannelConfig::default()
    }
}

/// The OAuth provider and REST client for `config`.
pub(crate) fn zoom_clients(config: &Config) -> (TokenProvider, ZoomApi) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let tokens = TokenProvider::new(
        http.clone(),
        &config.oauth_url,
        Credentials {
            client_id: config.client_id.clone().unwrap_or_default(),
            client_secret: config.client_secret.clone().unwrap_or_default(),
            account_id: config.zoom_account_id.clone(),
            grant: match config.grant {
                GrantKind::Account => Grant::AccountCredentials,
                GrantKind::Client => Grant::ClientCredentials,
            },
        },
    );
    let api = ZoomApi::new(http, &config.api_url, tokens.clone());
    (tokens, api)
}

/// Opens (creating its folder) the SQLite store.
pub(crate) fn open_store(path: &Path) -> anyhow::Result<Store> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the database folder {}", dir.display()))?;
    }
    Store::open(path).with_context(|| format!("cannot open the database {}", path.display()))
}

impl Sidecar {
    /// Starts the channel, the outbox and the REST shim.
    ///
    /// # Errors
    /// The listen address is taken, the database cannot be opened, or the
    /// configuration is rejected.
    pub(crate) async fn start(config: &Config) -> anyhow::Result<Self> {
        let cancel = CancellationToken::new();
        let (tokens, api) = zoom_clients(config);
        let mut components = Components::default();
        let channel = match config.transport {
            Transport::Websocket => {
                let mut session = SessionConfig::new(
                    config.ws_url.clone(),
                    config.subscription_id.clone().unwrap_or_default(),
                );
                session.queue_capacity = config.event_queue_capacity;
                ZoomChannel::new(channel_config(config), session, tokens, api)
            }
            Transport::Webhook => {
                let (tx, rx) = tokio::sync::mpsc::channel(INBOUND_QUEUE);
                let router = webhook_router(
                    WebhookConfig::new(config.webhook_secret_token.clone().unwrap_or_default()),
                    tx,
                );
                let listener = tokio::net::TcpListener::bind(&config.webhook_listen)
                    .await
                    .with_context(|| {
                        format!(
                            "cannot listen on {} (`webhookListen`)",
                            config.webhook_listen
                        )
                    })?;
                tracing::info!(addr = %listener.local_addr()?, "Zoom webhook endpoint listening");
                let serve =
                    serve_webhooks_with(listener, router, config.listener_limits(), cancel.clone());
                components.spawn("webhook-listener", async move {
                    serve.await.context("the webhook listener failed")
                });
                ZoomChannel::new_webhook(channel_config(config), rx, tokens, api)
            }
        };
        let channel = Arc::new(channel);
        let store = open_store(&config.database_path())?;
        let mut shim_config = ShimConfig::new(config.password.clone().unwrap_or_default());
        shim_config.webhooks = config.webhook_targets();
        shim_config.max_attempts = config.max_attempts;
        shim_config.auth_failure_limit = Some(config.auth_failure_limit());
        shim_config.listener = config.listener_limits();
        let shim =
            Shim::new(shim_config, channel.clone(), store).context("invalid shim settings")?;
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (`listen`)", config.listen))?;
        let addr = listener.local_addr()?;

        let (inbound, rx) = inbound_channel(INBOUND_QUEUE);
        {
            let channel = channel.clone();
            let ctx = StartContext {
                account_id: config.account_id.clone(),
                inbound,
                cancel: cancel.clone(),
            };
            components.spawn("channel", async move { Ok(channel.start(ctx).await?) });
        }
        {
            let cancel = cancel.clone();
            components.spawn(
                "shim",
                async move { Ok(shim.run(listener, rx, cancel).await?) },
            );
        }
        tracing::info!(%addr, account = %config.account_id, "moltbot-zoom sidecar running");
        Ok(Self {
            addr,
            channel,
            cancel,
            components,
        })
    }

    /// The shim's base URL.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until a component (channel, shim, webhook listener) stops on
    /// its own, which is always a failure; says which and why.
    pub(crate) async fn wait_for_failure(&mut self) -> anyhow::Error {
        self.components.first_stop().await
    }

    /// Stops everything and waits (bounded) for the tasks to finish.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        self.cancel.cancel();
        self.components.join_all(Duration::from_secs(10)).await
    }
}

/// `moltbot-zoom run`: loads the configuration, runs until SIGINT / SIGTERM.
pub(crate) async fn run(config_path: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let sources = crate::config::Sources::from_process(config_path)?;
    let config = match Config::load(&sources) {
        Ok(c) => c,
        Err(problems) => {
            crate::logging::init("info");
            let list = problems
                .iter()
                .map(|p| format!("  - {p}"))
                .collect::<Vec<_>>()
                .join("\n");
            anyhow::bail!("invalid configuration:\n{list}\nSee docs/configuration.md.");
        }
    };
    crate::logging::init(config.log_level.as_deref().unwrap_or("info"));
    for warning in &config.deprecations {
        tracing::warn!("configuration: {warning}");
    }
    let mut sidecar = Sidecar::start(&config).await?;
    // A closed stdout must not stop the sidecar: the line is informational.
    let _ = crate::stdout::outln!("moltbot-zoom listening on {}", sidecar.base_url());
    tokio::select! {
        failure = sidecar.wait_for_failure() => {
            // Best effort: the others get their bounded shutdown; the exit is non-zero anyway.
            if let Err(e) = sidecar.stop().await {
                tracing::warn!(error = %format!("{e:#}"), "while stopping the other components");
            }
            return Err(failure);
        }
        () = shutdown_signal() => tracing::info!("shutting down"),
        dir = crate::owner::uninstalled() => tracing::info!(
            dir = %dir.display(),
            "the extension that started this sidecar was uninstalled; shutting down"
        ),
    }
    sidecar.stop().await
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
