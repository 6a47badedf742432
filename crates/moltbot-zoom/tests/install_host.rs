//! `moltbot-zoom install` with several host state dirs present: it refuses to guess,
//! `--host` picks the dir that host uses, and a lone state dir is taken as is.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::TempDir;

fn install(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moltbot-zoom"))
        .arg("install")
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap()
}

fn installed(dir: &Path) -> bool {
    dir.join("extensions/zoom/openclaw.plugin.json").is_file()
}

#[test]
fn several_state_dirs_need_host_and_host_picks_its_own() {
    let home = TempDir::new("install-host");
    let (clawdbot, openclaw) = (home.path().join(".clawdbot"), home.path().join(".openclaw"));
    std::fs::create_dir_all(&clawdbot).unwrap();
    std::fs::create_dir_all(&openclaw).unwrap();

    let guess = install(home.path(), &[]);
    assert!(!guess.status.success());
    let err = String::from_utf8_lossy(&guess.stderr);
    assert!(err.contains("several host state dirs"), "{err}");
    assert!(err.contains("--host"), "{err}");
    assert!(
        !installed(&clawdbot) && !installed(&openclaw),
        "nothing installed on a guess"
    );

    let out = install(
        home.path(),
        &["--host", "openclaw", "--binary-mode", "link"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(installed(&openclaw));
    assert!(!installed(&clawdbot));

    let out = install(
        home.path(),
        &["--host", "clawdbot", "--binary-mode", "link"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(installed(&clawdbot));
}

#[test]
fn a_lone_state_dir_is_used_and_none_is_an_error() {
    let home = TempDir::new("install-lone");
    let none = install(home.path(), &[]);
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr)
            .contains("no Clawdbot, Moltbot or OpenClaw state dir")
    );

    let openclaw = home.path().join(".openclaw");
    std::fs::create_dir_all(&openclaw).unwrap();
    let out = install(home.path(), &["--binary-mode", "link"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(installed(&openclaw));
}
