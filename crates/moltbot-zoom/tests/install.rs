//! `moltbot-zoom install` / `uninstall` as a user runs them, in a temporary HOME
//! holding several gateway state dirs: the choice (or the refusal) and `--host`.

mod common;

use std::path::Path;

use common::*;

fn env_for<'a>(home: &'a str, path: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("HOME", home), ("PATH", path)]
}

fn host_command(bin: &Path, name: &str) {
    use std::os::unix::fs::PermissionsExt;
    let file = bin.join(name);
    std::fs::write(&file, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn several_state_dirs_need_host_or_a_single_host_command() {
    let dir = TempDir::new("install");
    let home = dir.path().join("home");
    let bin = dir.path().join("bin");
    for d in [".clawdbot", ".openclaw"] {
        std::fs::create_dir_all(home.join(d)).unwrap();
    }
    std::fs::create_dir_all(&bin).unwrap();
    let (home_s, bin_s) = (home.to_str().unwrap(), bin.to_str().unwrap());
    let env = env_for(home_s, bin_s);

    // Two state dirs, no host command on PATH: refused, nothing written.
    let out = cli(&["install"], &env).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains("several gateway state dirs"),
        "{}",
        out.stderr
    );
    for d in [".clawdbot", ".openclaw"] {
        let listed = format!("{}", home.join(d).display());
        assert!(
            out.stderr.contains(&listed),
            "{d} not listed: {}",
            out.stderr
        );
        assert!(!home.join(d).join("extensions").exists(), "{d} written to");
    }

    // --host openclaw: into ~/.openclaw, pointing at openclaw.json.
    let out = cli(&["install", "--host", "openclaw"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let package = home.join(".openclaw/extensions/zoom");
    assert!(package.join("openclaw.plugin.json").is_file(), "{out:?}");
    assert!(package.join("bin/moltbot-zoom").is_file());
    assert!(!home.join(".clawdbot/extensions").exists());
    assert!(
        out.stdout.contains(&format!(
            "Add this to {} (JSON5)",
            home.join(".openclaw/openclaw.json").display()
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("openclaw gateway restart"),
        "{}",
        out.stdout
    );

    // Only `clawdbot` on PATH: it decides.
    host_command(&bin, "clawdbot");
    let out = cli(&["install", "--binary-mode", "link"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        home.join(".clawdbot/extensions/zoom/sidecar.json")
            .is_file(),
        "{out:?}"
    );
    assert!(out.stdout.contains("Host: clawdbot"), "{}", out.stdout);
    assert!(out.stdout.contains("PATH"), "{}", out.stdout);

    // Both commands on PATH: refused again; --host still works, for uninstall too.
    host_command(&bin, "openclaw");
    let out = cli(&["uninstall"], &env).await;
    assert_ne!(out.code, Some(0), "{out:?}");
    let out = cli(&["uninstall", "--host", "clawdbot"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!home.join(".clawdbot/extensions/zoom").exists());
    assert!(package.exists(), "the OpenClaw install is untouched");

    // A state dir variable decides alone.
    let custom = dir.path().join("custom-state");
    let mut env = env.clone();
    let custom_s = custom.to_str().unwrap().to_owned();
    env.push(("OPENCLAW_STATE_DIR", &custom_s));
    let out = cli(&["install"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        custom.join("extensions/zoom/package.json").is_file(),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("OPENCLAW_STATE_DIR is set"),
        "{}",
        out.stdout
    );
}
