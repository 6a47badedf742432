//! Log set-up: `tracing` to standard error, filtered by `RUST_LOG` or the
//! configured level.
//!
//! The WebSocket library logs the whole handshake request at DEBUG / TRACE,
//! and its URL carries the Zoom access token (Zoom requires it in the query
//! string). Whatever the filter says, events whose target is `tungstenite` or
//! `tokio_tungstenite` or any target below them (`tungstenite::handshake::…`)
//! are capped at INFO. The cap is a separate filter on the target prefix, so a
//! more specific directive such as `tungstenite::handshake=trace` cannot lift it.

use tracing::{Level, Metadata};
use tracing_subscriber::{
    EnvFilter, Layer, filter::filter_fn, layer::SubscriberExt, util::SubscriberInitExt,
};

/// Crates whose DEBUG / TRACE output may quote the WebSocket URL.
const CAPPED: &[&str] = &["tungstenite", "tokio_tungstenite"];

/// Installs the global subscriber. `default` applies when `RUST_LOG` is unset.
pub(crate) fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter)
        .with_filter(filter_fn(allowed));
    // `try_init` also routes the `log` crate's records (tungstenite logs
    // through it) into the same filters.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

/// False for DEBUG and TRACE events of a capped crate or any of its modules.
fn allowed(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::INFO || !is_capped(meta.target())
}

fn is_capped(target: &str) -> bool {
    CAPPED.iter().any(|krate| {
        target
            .strip_prefix(krate)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_every_target_under_the_websocket_crates() {
        for target in [
            "tungstenite",
            "tungstenite::handshake",
            "tungstenite::handshake::client",
            "tokio_tungstenite",
            "tokio_tungstenite::compat",
        ] {
            assert!(is_capped(target), "{target}");
        }
        for target in [
            "zoom",
            "tungstenite_extra",
            "my_tokio_tungstenite",
            "zoom::session",
        ] {
            assert!(!is_capped(target), "{target}");
        }
    }
}
