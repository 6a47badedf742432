//! The sidecar's log lines as the extension reads them (stderr to a pipe): no
//! escape codes, and the level rule of docs/operations.md — `logLevel` from the
//! extension's JSON beats an inherited `RUST_LOG`, which beats the TOML file's,
//! and the default is `info`.

mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use common::*;

const MEETING: u64 = 81_234_567_891;

/// Runs the sidecar with `rust_log` ("" = unset), `extra` TOML and the extension's
/// JSON, through connect and one delivered event; its whole output.
async fn run_sidecar(rust_log: &str, extra: &str, account_json: Option<&str>) -> String {
    let fake = fake_zoom().await;
    let receiver = Receiver::start(0, StatusCode::OK).await;
    let dir = TempDir::new("logs");
    let config = write_config(
        &dir,
        &fake,
        "127.0.0.1:0",
        &webhook_url(receiver.addr.port()),
        extra,
    );
    let env: Vec<(&str, &str)> = account_json
        .map(|j| ("MOLTBOT_ZOOM_ACCOUNT_JSON", j))
        .into_iter()
        .collect();
    let sidecar = SidecarProcess::start_with_env(&config, rust_log, &env);
    sidecar
        .wait_status("the Zoom connection", |s| s["zoom"]["connected"] == true)
        .await;
    fake.push_event(meeting_started(MEETING, 1, 1_736_150_400_000));
    let got = receiver.wait_for(WAIT, |r| !r.is_empty()).await;
    assert_eq!(got.len(), 1, "{}", sidecar.output());
    sidecar.kill()
}

/// The level of each log line (`<timestamp> <LEVEL> …`).
fn levels(output: &str) -> BTreeSet<String> {
    output
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|w| ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(w))
        .map(str::to_owned)
        .collect()
}

fn assert_plain(output: &str) {
    assert!(
        !output.contains('\u{1b}'),
        "escape codes in piped output:\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_is_info_without_colours() {
    let output = run_sidecar("", "", None).await;
    assert_plain(&output);
    let levels = levels(&output);
    assert!(levels.contains("INFO"), "{output}");
    assert!(
        !levels.contains("DEBUG") && !levels.contains("TRACE"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extensions_log_level_beats_an_inherited_rust_log() {
    let output = run_sidecar("debug", "", Some(r#"{"logLevel":"warn"}"#)).await;
    assert_plain(&output);
    let levels = levels(&output);
    for verbose in ["INFO", "DEBUG", "TRACE"] {
        assert!(
            !levels.contains(verbose),
            "{verbose} at logLevel warn:\n{output}"
        );
    }
    assert!(
        output.contains("moltbot-zoom listening on"),
        "output not captured"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_log_applies_when_the_extension_sets_no_level_and_beats_the_file() {
    let output = run_sidecar("debug", "logLevel = \"warn\"", Some("{}")).await;
    assert_plain(&output);
    let levels = levels(&output);
    assert!(
        levels.contains("DEBUG"),
        "RUST_LOG=debug did not apply:\n{output}"
    );
}
