//! Log set-up: `tracing` to standard error, filtered by `RUST_LOG` or the
//! configured level.

use tracing_subscriber::EnvFilter;

/// Caps applied whatever `RUST_LOG` says: tungstenite's TRACE output holds the
/// whole WebSocket handshake request, whose URL carries the Zoom access token.
const CAPS: &[&str] = &["tungstenite=debug", "tokio_tungstenite=debug"];

/// Installs the global subscriber. `default` applies when `RUST_LOG` is unset.
pub(crate) fn init(default: &str) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    for cap in CAPS {
        if let Ok(directive) = cap.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
