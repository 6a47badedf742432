//! Log set-up: `tracing` to standard error, one line per record.
//!
//! - The filter is the configured `logLevel` ([`crate::config`] merges it:
//!   `channels.zoom.logLevel` from the extension > `RUST_LOG` > the TOML file >
//!   `info`). `RUST_LOG` is not read again here, so an inherited one cannot beat
//!   the gateway config. It filters by target only ([`Targets`]: `level` and
//!   `target=level`), which keeps a regex engine out of the binary; span and
//!   field directives are refused with a warning rather than silently ignored.
//! - Colours only when stderr is a terminal: the extension reads the sidecar's
//!   stderr from a file, and escape codes there hid the level from it.
//! - Dependencies (HTTP, TLS, WebSocket, runtime crates: [`DEPENDENCIES`]) stay at
//!   INFO or quieter when the filter's default level is DEBUG or TRACE, unless a
//!   directive names them (`debug,hyper=debug`): `logLevel: "debug"` means this
//!   program's debug lines, not every library's.
//! - The WebSocket library logs the whole handshake request at DEBUG / TRACE, and
//!   its URL carries the Zoom access token (Zoom requires it in the query string).
//!   Whatever the filter says, events whose target is `tungstenite` or
//!   `tokio_tungstenite` or any target below them (`tungstenite::handshake::…`) are
//!   capped at INFO. The cap is a separate filter on the target prefix, so a more
//!   specific directive such as `tungstenite::handshake=trace` cannot lift it.

use std::io::IsTerminal;

use tracing::{Level, Metadata, level_filters::LevelFilter};
use tracing_subscriber::{
    Layer,
    filter::{FilterExt, Targets, filter_fn},
    layer::{Filter, SubscriberExt},
    util::SubscriberInitExt,
};

/// Crates whose DEBUG / TRACE output may quote the WebSocket URL.
const CAPPED: &[&str] = &["tungstenite", "tokio_tungstenite"];

/// Dependencies kept at INFO when the default level is more verbose, unless named.
pub(crate) const DEPENDENCIES: &[&str] = &[
    "axum",
    "h2",
    "hyper",
    "hyper_util",
    "mio",
    "reqwest",
    "rusqlite",
    "rustls",
    "tokio",
    "tokio_tungstenite",
    "tokio_util",
    "tower",
    "tower_http",
    "tungstenite",
    "want",
];

/// Installs the global subscriber with `filter` (`tracing` directives such as
/// `debug` or `info,zoom=debug`); an invalid filter falls back to `info` with a
/// warning.
pub(crate) fn init(filter: &str) {
    let (targets, invalid) = targets(filter);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(capped(targets));
    // `try_init` also routes the `log` crate's records (tungstenite logs
    // through it) into the same filters.
    let _ = tracing_subscriber::registry().with(layer).try_init();
    if let Some(e) = invalid {
        tracing::warn!(error = %e, "invalid `logLevel` filter; logging at info");
    }
}

/// The log layer's one filter: `targets`, and the WebSocket cap on top. One
/// combined filter, not two nested `with_filter`s: with nested per-layer
/// filters an event that either accepts counts as wanted, so every disabled
/// DEBUG line (two per event on the hot path) still had its fields formatted.
fn capped<S: tracing::Subscriber>(targets: Targets) -> impl Filter<S> {
    targets.and(filter_fn(allowed))
}

/// The filter for `filter` with [`with_dependency_caps`], or `info` and the
/// parse error. Directives are `level` and `target=level` (a target matches by
/// prefix); span and field directives (`zoom[span]=debug`) are not supported.
fn targets(filter: &str) -> (Targets, Option<String>) {
    let parsed = if filter.contains(['[', '{']) {
        Err("span and field directives are not supported".to_owned())
    } else {
        with_dependency_caps(filter)
            .parse::<Targets>()
            .map_err(|e| e.to_string())
    };
    match parsed {
        Ok(targets) => (targets, None),
        Err(e) => (
            Targets::new().with_default(Level::INFO),
            Some(format!("{e}: `{filter}`")),
        ),
    }
}

/// `filter` plus `crate=info` for each of [`DEPENDENCIES`] that no directive
/// names, when the default (target-less) level is more verbose than INFO.
pub(crate) fn with_dependency_caps(filter: &str) -> String {
    let parts: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let default = parts
        .iter()
        .filter(|p| !p.contains('='))
        .filter_map(|p| p.parse::<LevelFilter>().ok())
        .next_back();
    if default.is_none_or(|d| d <= LevelFilter::INFO) {
        return filter.to_owned();
    }
    let targets: Vec<&str> = parts
        .iter()
        .filter(|p| p.contains('='))
        .map(|p| p.split('=').next().unwrap_or("").trim())
        .collect();
    let mut out: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
    for krate in DEPENDENCIES {
        let named = targets.iter().any(|t| under(t, krate));
        if !named {
            out.push(format!("{krate}=info"));
        }
    }
    out.join(",")
}

/// False for DEBUG and TRACE events of a capped crate or any of its modules.
fn allowed(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::INFO || !is_capped(meta.target())
}

fn is_capped(target: &str) -> bool {
    CAPPED.iter().any(|krate| under(target, krate))
}

/// Whether `target` is `krate` or a module below it.
fn under(target: &str, krate: &str) -> bool {
    target
        .strip_prefix(krate)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
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

    #[test]
    fn dependencies_are_capped_at_info_unless_named() {
        for quiet in [
            "info",
            "warn",
            "error",
            "off",
            "zoom=debug",
            "info,zoom=trace",
        ] {
            assert_eq!(with_dependency_caps(quiet), quiet, "unchanged: {quiet}");
        }
        let debug = with_dependency_caps("debug");
        for krate in DEPENDENCIES {
            assert!(
                debug.contains(&format!(",{krate}=info")),
                "{krate}: {debug}"
            );
        }
        assert!(debug.starts_with("debug,"), "{debug}");
        let named = with_dependency_caps("trace, hyper=debug,rustls::client=trace");
        assert!(named.contains("hyper=debug"), "{named}");
        assert!(!named.contains("hyper=info"), "{named}");
        assert!(!named.contains("rustls=info"), "{named}");
        assert!(
            named.contains("hyper_util=info"),
            "hyper_util is not hyper: {named}"
        );
        assert!(named.contains("h2=info"), "{named}");
    }

    #[test]
    fn an_unsupported_directive_falls_back_to_info_and_says_why() {
        for ok in [
            "info",
            "debug",
            "info,zoom=debug",
            "warn,zoom_channel::render=trace",
        ] {
            assert_eq!(targets(ok).1, None, "{ok}");
        }
        for bad in ["info,zoom[session]=debug", "zoom{id=1}=trace", "zoom=loud"] {
            let (fallback, invalid) = targets(bad);
            let invalid = invalid.unwrap_or_else(|| panic!("accepted: {bad}"));
            assert!(invalid.contains(bad), "{invalid}");
            assert_eq!(fallback.default_level(), Some(LevelFilter::INFO), "{bad}");
        }
    }

    /// The built filter, applied: a dependency's DEBUG is off at `debug`, ours on.
    #[test]
    fn the_capped_filter_lets_our_debug_through_and_not_theirs() {
        use tracing_subscriber::layer::Context;
        let (filter, invalid) = targets("debug");
        assert_eq!(invalid, None);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Record(std::sync::Arc<std::sync::Mutex<Vec<String>>>);
        impl<S: tracing::Subscriber> Layer<S> for Record {
            fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
                let meta = event.metadata();
                self.0
                    .lock()
                    .unwrap()
                    .push(format!("{} {}", meta.level(), meta.target()));
            }
        }
        let subscriber =
            tracing_subscriber::registry().with(Record(seen.clone()).with_filter(capped(filter)));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "zoom::session", "ours");
            tracing::trace!(target: "tungstenite::handshake", "the cap holds");
            tracing::debug!(target: "hyper::proto::h1", "theirs");
            tracing::debug!(target: "rustls::client::hs", "theirs");
            tracing::info!(target: "hyper::proto::h1", "theirs at info");
        });
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            ["DEBUG zoom::session", "INFO hyper::proto::h1"],
            "{seen:?}"
        );
    }

    /// A line the filter turns away costs no formatting: its fields are
    /// never built (they were, per delivery, with two nested filters).
    #[test]
    fn a_disabled_line_never_builds_its_fields() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static BUILT: AtomicUsize = AtomicUsize::new(0);
        struct Costly;
        impl std::fmt::Display for Costly {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                BUILT.fetch_add(1, Ordering::SeqCst);
                f.write_str("costly")
            }
        }
        let (filter, _) = targets("info,zoom=debug,tungstenite=trace");
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(std::io::sink)
            .with_filter(capped(filter));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "bluebubbles_shim::outbox", field = %Costly, "off");
            tracing::trace!(target: "zoom::session", field = %Costly, "off");
            tracing::debug!(target: "tungstenite::handshake", field = %Costly, "capped");
            assert_eq!(BUILT.load(Ordering::SeqCst), 0, "a disabled line was built");
            tracing::debug!(target: "zoom::session", field = %Costly, "on");
            tracing::info!(target: "bluebubbles_shim::outbox", field = %Costly, "on");
        });
        assert_eq!(
            BUILT.load(Ordering::SeqCst),
            2,
            "the enabled lines are built"
        );
    }
}
