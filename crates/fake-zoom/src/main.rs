//! `fake-zoom`: runs the fake Zoom server until Ctrl-C / SIGTERM.

use std::net::SocketAddr;

use clap::Parser;
use fake_zoom::{FakeConfig, FakeZoom};

/// A faithful fake Zoom (OAuth, WebSocket events, Team Chat, Chatbot) for tests and demos.
#[derive(Parser)]
#[command(name = "fake-zoom", version)]
struct Args {
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "FAKE_ZOOM_LISTEN", default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// `expires_in` of issued tokens, in seconds.
    #[arg(long, default_value_t = 3599)]
    expires_in: u64,
    /// Known user emails (comma-separated; the first is `me`).
    #[arg(long, value_delimiter = ',')]
    users: Option<Vec<String>>,
    /// Known Team Chat channel ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    channels: Option<Vec<String>>,
}

async fn terminated() {
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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = FakeConfig {
        listen: args.listen,
        expires_in: args.expires_in,
        ..FakeConfig::default()
    };
    if let Some(users) = args.users {
        config.users = users;
    }
    if let Some(channels) = args.channels {
        config.channels = channels;
    }
    let fake = FakeZoom::start(config).await?;
    let c = fake.config();
    // The one stdout line: the credentials are the fake's own test values.
    println!(
        "fake-zoom listening on {} ws={} client_id={} client_secret={} account_id={} subscription_id={}",
        fake.base_url(),
        fake.ws_url(),
        c.client_id,
        c.client_secret,
        c.account_id,
        c.subscription_id
    );
    terminated().await;
    fake.shutdown();
    Ok(())
}
