//! `moltbot-zoom demo` (a default feature) and what a build without it says;
//! commands whose reader goes away early (`| head -2`) end quietly.

mod common;

use common::*;

#[cfg(feature = "demo")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_into_a_pipe_closed_after_two_lines_ends_quietly() {
    let out = cli_with_closed_stdout(&["demo"], &[], 2).await;
    assert!(out.stdout.starts_with("moltbot-zoom demo\n"), "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[cfg(not(feature = "demo"))]
#[tokio::test]
async fn a_build_without_the_demo_feature_says_how_to_get_it() {
    let out = cli(&["demo"], &[]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("has no demo"), "{}", out.stderr);
    assert!(
        out.stderr.contains("cargo run --release -- demo"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[tokio::test]
async fn render_into_a_closed_pipe_ends_quietly() {
    let dir = TempDir::new("render-pipe");
    let input = dir.path().join("events.jsonl");
    let lines: Vec<String> = (1..=2000)
        .map(|seq| meeting_started(1, seq, 1_736_150_400_000).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let input = input.to_str().unwrap();
    for keep in [0, 1] {
        let out = cli_with_closed_stdout(&["render", input], &[], keep).await;
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert_eq!(out.code, Some(0), "keep {keep}: {out:?}");
    }
}
