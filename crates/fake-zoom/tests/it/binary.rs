use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::WAIT;

#[tokio::test]
async fn binary_prints_its_url_and_serves() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-zoom"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(WAIT, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("first line in time")
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no base URL in {line:?}"))
        .to_owned();
    assert!(
        line.contains("ws=ws://127.0.0.1:") && line.contains("client_id=fake-client-id"),
        "{line}"
    );
    let stats: fake_zoom::Stats = reqwest::get(format!("{base}/_fake/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.token_requests, 0);
    child.kill().await.unwrap();
}
