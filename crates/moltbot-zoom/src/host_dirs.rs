//! Which state dir a host gateway uses, resolved the way each host does, and the choice
//! `moltbot-zoom install` makes when several hosts' dirs are present.
//!
//! - Clawdbot 2026.1.24 (`resolveStateDir` in its `dist/config/paths.js`):
//!   `CLAWDBOT_STATE_DIR`, else `~/.clawdbot`.
//! - Moltbot 2026.1.27: `MOLTBOT_STATE_DIR`, then `CLAWDBOT_STATE_DIR`, else `~/.clawdbot`
//!   unless only `~/.moltbot` exists.
//! - OpenClaw 2026.9 (`resolveStateDir` / `resolveStateDirFromHome` in its dist):
//!   `OPENCLAW_STATE_DIR`, else `~/.openclaw` when it exists, else the legacy `~/.clawdbot`
//!   when that exists, else `~/.openclaw`; home is `OPENCLAW_HOME`, else `HOME`.
//!
//! Without `--host`, install goes where exactly one host points: a `*_STATE_DIR` variable
//! names the host; otherwise the hosts' resolved dirs that exist on disk must be one dir.
//! Several (e.g. `~/.clawdbot` and `~/.openclaw`) or none is an error asking for `--host`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::bail;

/// A host gateway whose state dir `install` can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Host {
    /// Clawdbot (`~/.clawdbot`, `CLAWDBOT_STATE_DIR`).
    Clawdbot,
    /// Moltbot (`~/.clawdbot` or `~/.moltbot`, `MOLTBOT_STATE_DIR`).
    Moltbot,
    /// OpenClaw (`~/.openclaw`, `OPENCLAW_STATE_DIR`).
    Openclaw,
}

impl Host {
    const ALL: [Host; 3] = [Host::Clawdbot, Host::Moltbot, Host::Openclaw];

    fn name(self) -> &'static str {
        match self {
            Host::Clawdbot => "clawdbot",
            Host::Moltbot => "moltbot",
            Host::Openclaw => "openclaw",
        }
    }

    /// The state-dir variables this host reads, in its order.
    fn env_vars(self) -> &'static [&'static str] {
        match self {
            Host::Clawdbot => &["CLAWDBOT_STATE_DIR"],
            Host::Moltbot => &["MOLTBOT_STATE_DIR", "CLAWDBOT_STATE_DIR"],
            Host::Openclaw => &["OPENCLAW_STATE_DIR"],
        }
    }
}

fn non_empty(var: &impl Fn(&str) -> Option<OsString>, name: &str) -> Option<PathBuf> {
    var(name)
        .filter(|v| !v.to_string_lossy().trim().is_empty())
        .map(PathBuf::from)
}

fn expand_home(path: PathBuf, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path,
    }
}

/// The state dir `host` uses. `var` reads the environment, `exists` the disk; `None`
/// without a home.
pub(crate) fn host_state_dir(
    host: Host,
    var: &impl Fn(&str) -> Option<OsString>,
    exists: &impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    let home = match host {
        Host::Openclaw => non_empty(var, "OPENCLAW_HOME").or_else(|| non_empty(var, "HOME")),
        _ => non_empty(var, "HOME"),
    };
    if let Some(dir) = host.env_vars().iter().find_map(|name| non_empty(var, name)) {
        return Some(expand_home(dir, home.as_deref()));
    }
    let home = home?;
    let (clawdbot, moltbot, openclaw) = (
        home.join(".clawdbot"),
        home.join(".moltbot"),
        home.join(".openclaw"),
    );
    Some(match host {
        Host::Clawdbot => clawdbot,
        Host::Moltbot if !exists(&clawdbot) && exists(&moltbot) => moltbot,
        Host::Moltbot => clawdbot,
        Host::Openclaw if !exists(&openclaw) && exists(&clawdbot) => clawdbot,
        Host::Openclaw => openclaw,
    })
}

/// The state dir to install into: `host`'s when given, else the one dir the present hosts
/// agree on (module docs); an error naming the candidates and `--host` otherwise.
pub(crate) fn choose_state_dir(
    host: Option<Host>,
    var: &impl Fn(&str) -> Option<OsString>,
    exists: &impl Fn(&Path) -> bool,
) -> anyhow::Result<PathBuf> {
    let resolve = |h: Host| host_state_dir(h, var, exists);
    if let Some(h) = host {
        return match resolve(h) {
            Some(dir) => Ok(dir),
            None => bail!(
                "cannot find the {} state dir: set HOME or {}, or pass --extensions-dir",
                h.name(),
                h.env_vars()[0]
            ),
        };
    }
    let named: Vec<Host> = Host::ALL
        .into_iter()
        .filter(|h| h.env_vars().iter().any(|v| non_empty(var, v).is_some()))
        .collect();
    let candidates: Vec<Host> = if named.is_empty() {
        Host::ALL
            .into_iter()
            .filter(|h| resolve(*h).is_some_and(|d| exists(&d)))
            .collect()
    } else {
        named
    };
    let mut dirs: Vec<(PathBuf, Vec<&str>)> = Vec::new();
    for h in candidates {
        let Some(dir) = resolve(h) else { continue };
        match dirs.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, hosts)) => hosts.push(h.name()),
            None => dirs.push((dir, vec![h.name()])),
        }
    }
    match dirs.len() {
        1 => Ok(dirs.remove(0).0),
        0 => bail!(
            "no Clawdbot, Moltbot or OpenClaw state dir found (~/.clawdbot, ~/.moltbot, ~/.openclaw): \
             start the gateway once, or pass --host clawdbot|moltbot|openclaw or --extensions-dir"
        ),
        _ => {
            let list: Vec<String> = dirs
                .iter()
                .map(|(d, hosts)| format!("{} ({})", d.display(), hosts.join(", ")))
                .collect();
            bail!(
                "several host state dirs are present: {}; pass --host clawdbot|moltbot|openclaw (or --extensions-dir) to choose",
                list.join("; ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    struct World {
        env: HashMap<&'static str, &'static str>,
        dirs: HashSet<PathBuf>,
    }

    impl World {
        fn new(env: &[(&'static str, &'static str)], dirs: &[&str]) -> Self {
            World {
                env: env.iter().copied().collect(),
                dirs: dirs.iter().map(|d| Path::new("/home/u").join(d)).collect(),
            }
        }

        fn choose(&self, host: Option<Host>) -> anyhow::Result<PathBuf> {
            let mut env = self.env.clone();
            env.entry("HOME").or_insert("/home/u");
            let var = move |name: &str| env.get(name).map(OsString::from);
            choose_state_dir(host, &var, &|p: &Path| self.dirs.contains(p))
        }
    }

    fn home(d: &str) -> PathBuf {
        Path::new("/home/u").join(d)
    }

    #[test]
    fn each_host_resolves_as_it_does() {
        let both = World::new(&[], &[".clawdbot", ".openclaw", ".moltbot"]);
        assert_eq!(
            both.choose(Some(Host::Clawdbot)).unwrap(),
            home(".clawdbot")
        );
        assert_eq!(both.choose(Some(Host::Moltbot)).unwrap(), home(".clawdbot"));
        assert_eq!(
            both.choose(Some(Host::Openclaw)).unwrap(),
            home(".openclaw")
        );

        let only_moltbot = World::new(&[], &[".moltbot"]);
        assert_eq!(
            only_moltbot.choose(Some(Host::Moltbot)).unwrap(),
            home(".moltbot")
        );
        assert_eq!(
            only_moltbot.choose(Some(Host::Clawdbot)).unwrap(),
            home(".clawdbot")
        );

        let legacy = World::new(&[], &[".clawdbot"]);
        assert_eq!(
            legacy.choose(Some(Host::Openclaw)).unwrap(),
            home(".clawdbot"),
            "OpenClaw falls back to an existing legacy ~/.clawdbot"
        );
        let none = World::new(&[], &[]);
        assert_eq!(
            none.choose(Some(Host::Openclaw)).unwrap(),
            home(".openclaw")
        );
    }

    #[test]
    fn env_vars_win_and_expand_home() {
        let w = World::new(
            &[
                ("OPENCLAW_STATE_DIR", "~/oc"),
                ("CLAWDBOT_STATE_DIR", "/srv/cb"),
                ("OPENCLAW_HOME", "/home/oc"),
            ],
            &[".clawdbot", ".openclaw"],
        );
        assert_eq!(
            w.choose(Some(Host::Openclaw)).unwrap(),
            PathBuf::from("/home/oc/oc")
        );
        assert_eq!(
            w.choose(Some(Host::Clawdbot)).unwrap(),
            PathBuf::from("/srv/cb")
        );
        assert_eq!(
            w.choose(Some(Host::Moltbot)).unwrap(),
            PathBuf::from("/srv/cb")
        );
        let m = World::new(
            &[
                ("MOLTBOT_STATE_DIR", "/srv/m"),
                ("CLAWDBOT_STATE_DIR", "/srv/cb"),
            ],
            &[],
        );
        assert_eq!(
            m.choose(Some(Host::Moltbot)).unwrap(),
            PathBuf::from("/srv/m")
        );
        let blank = World::new(&[("OPENCLAW_STATE_DIR", "  ")], &[".openclaw"]);
        assert_eq!(
            blank.choose(Some(Host::Openclaw)).unwrap(),
            home(".openclaw")
        );
    }

    #[test]
    fn without_host_one_present_dir_is_chosen() {
        assert_eq!(
            World::new(&[], &[".openclaw"]).choose(None).unwrap(),
            home(".openclaw")
        );
        assert_eq!(
            World::new(&[], &[".clawdbot"]).choose(None).unwrap(),
            home(".clawdbot")
        );
        assert_eq!(
            World::new(&[], &[".moltbot"]).choose(None).unwrap(),
            home(".moltbot")
        );
        // ~/.clawdbot and ~/.moltbot: Moltbot and Clawdbot both use ~/.clawdbot.
        assert_eq!(
            World::new(&[], &[".clawdbot", ".moltbot"])
                .choose(None)
                .unwrap(),
            home(".clawdbot")
        );
        // A state-dir variable names the host, whatever is on disk.
        let named = World::new(
            &[("OPENCLAW_STATE_DIR", "/srv/oc")],
            &[".clawdbot", ".openclaw"],
        );
        assert_eq!(named.choose(None).unwrap(), PathBuf::from("/srv/oc"));
    }

    #[test]
    fn without_host_several_or_none_is_an_error_naming_the_choice() {
        let err = World::new(&[], &[".clawdbot", ".openclaw"])
            .choose(None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/home/u/.clawdbot (clawdbot, moltbot)"),
            "{err}"
        );
        assert!(err.contains("/home/u/.openclaw (openclaw)"), "{err}");
        assert!(err.contains("--host clawdbot|moltbot|openclaw"), "{err}");

        let vars = World::new(
            &[("OPENCLAW_STATE_DIR", "/a"), ("CLAWDBOT_STATE_DIR", "/b")],
            &[],
        );
        assert!(
            vars.choose(None)
                .unwrap_err()
                .to_string()
                .contains("several")
        );

        let none = World::new(&[], &[]).choose(None).unwrap_err().to_string();
        assert!(
            none.contains("no Clawdbot, Moltbot or OpenClaw state dir"),
            "{none}"
        );
        assert!(none.contains("--host"), "{none}");
    }
}
