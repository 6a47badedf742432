//! Which gateway (Clawdbot, OpenClaw or Moltbot) a command works for, and that
//! host's state dir and config file, resolved the way the host itself does.
//!
//! Per host (read from the hosts' own path code, `config/paths`):
//! - Clawdbot: `CLAWDBOT_STATE_DIR`, else `~/.clawdbot`; config `CLAWDBOT_CONFIG_PATH`,
//!   else `<state>/clawdbot.json`.
//! - OpenClaw: `OPENCLAW_STATE_DIR`, else `~/.openclaw` when it exists, else a legacy
//!   `~/.clawdbot` when that exists, else `~/.openclaw` (home is `OPENCLAW_HOME`, else
//!   `HOME`); config `OPENCLAW_CONFIG_PATH`, else `<state>/openclaw.json`, falling back
//!   to a legacy `<state>/clawdbot.json` that exists.
//! - Moltbot: `MOLTBOT_STATE_DIR`, else the first existing of `~/.clawdbot` and
//!   `~/.moltbot`, else `~/.moltbot`; config `MOLTBOT_CONFIG_PATH`, else
//!   `<state>/moltbot.json`, falling back to a legacy `clawdbot.json`.
//!
//! Without `--host` ([`choose`]): a host named by its `*_STATE_DIR` variable (only one
//! set) wins; otherwise the hosts whose state dir exists are the candidates (hosts that
//! resolve to the same dir count once); one candidate is taken; among several, the one
//! whose command (`clawdbot`, `openclaw`, `moltbot`) is on `PATH` is taken when exactly
//! one is; else the choice is refused with the list, asking for `--host`. With no state
//! dir at all, the single host command on `PATH` decides, else the choice is refused too.

use std::{
    ffi::OsString,
    fmt,
    path::{Path, PathBuf},
};

/// A gateway that loads the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Host {
    /// Clawdbot (`~/.clawdbot`, `clawdbot.json`).
    Clawdbot,
    /// OpenClaw (`~/.openclaw`, `openclaw.json`).
    Openclaw,
    /// Moltbot (`~/.moltbot`, `moltbot.json`).
    Moltbot,
}

/// Every host, in the order candidates are listed.
pub(crate) const HOSTS: [Host; 3] = [Host::Openclaw, Host::Clawdbot, Host::Moltbot];

/// Reads an environment variable (tests pass a map).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

impl Host {
    /// The host's command name.
    pub(crate) fn command(self) -> &'static str {
        match self {
            Self::Clawdbot => "clawdbot",
            Self::Openclaw => "openclaw",
            Self::Moltbot => "moltbot",
        }
    }

    fn upper(self) -> &'static str {
        match self {
            Self::Clawdbot => "CLAWDBOT",
            Self::Openclaw => "OPENCLAW",
            Self::Moltbot => "MOLTBOT",
        }
    }

    /// `<HOST>_STATE_DIR`.
    pub(crate) fn state_dir_var(self) -> String {
        format!("{}_STATE_DIR", self.upper())
    }

    /// `<HOST>_CONFIG_PATH`.
    pub(crate) fn config_path_var(self) -> String {
        format!("{}_CONFIG_PATH", self.upper())
    }

    /// The config file name in the state dir.
    pub(crate) fn config_file_name(self) -> String {
        format!("{}.json", self.command())
    }

    /// The default state dirs under home, in the host's order of preference; the
    /// last is used when none exists.
    fn default_dirs(self) -> &'static [&'static str] {
        match self {
            Self::Clawdbot => &[".clawdbot"],
            Self::Openclaw => &[".openclaw", ".clawdbot", ".openclaw"],
            Self::Moltbot => &[".clawdbot", ".moltbot", ".moltbot"],
        }
    }

    fn home(self, env: Env<'_>) -> Option<PathBuf> {
        let openclaw_home = match self {
            Self::Openclaw => non_empty(env, "OPENCLAW_HOME"),
            _ => None,
        };
        openclaw_home
            .or_else(|| non_empty(env, "HOME"))
            .map(PathBuf::from)
    }

    /// The state dir this host would use; `None` without the variable and a home.
    pub(crate) fn state_dir(self, env: Env<'_>) -> Option<PathBuf> {
        let home = self.home(env);
        if let Some(dir) = non_empty(env, &self.state_dir_var()) {
            return Some(expand_home(dir, home.as_deref()));
        }
        let home = home?;
        let dirs = self.default_dirs();
        let existing = dirs.iter().map(|d| home.join(d)).find(|d| d.is_dir());
        Some(existing.unwrap_or_else(|| home.join(dirs[dirs.len() - 1])))
    }

    /// The config file this host reads, given its state dir.
    pub(crate) fn config_path(self, env: Env<'_>, state_dir: &Path) -> PathBuf {
        if let Some(path) = non_empty(env, &self.config_path_var()) {
            return expand_home(path, self.home(env).as_deref());
        }
        let own = state_dir.join(self.config_file_name());
        let legacy = state_dir.join("clawdbot.json");
        if !own.is_file() && self != Self::Clawdbot && legacy.is_file() {
            return legacy;
        }
        own
    }

    /// Whether the host's command is an executable file on `PATH`.
    fn on_path(self, env: Env<'_>) -> bool {
        let Some(path) = env("PATH") else {
            return false;
        };
        std::env::split_paths(&path).any(|dir| is_executable(&dir.join(self.command())))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.command())
    }
}

/// The chosen host and its state dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostDir {
    /// The host (when several share the dir, the first of [`HOSTS`]).
    pub(crate) host: Host,
    /// Its state dir.
    pub(crate) state_dir: PathBuf,
    /// Why this one (for messages).
    pub(crate) reason: String,
}

impl HostDir {
    /// The host's config file.
    pub(crate) fn config_path(&self, env: Env<'_>) -> PathBuf {
        self.host.config_path(env, &self.state_dir)
    }
}

/// `host` when given, else the documented choice (module docs).
///
/// # Errors
/// No home and no state dir variable; or several state dirs and nothing to decide
/// between them (the message lists them and asks for `--host`).
pub(crate) fn choose(host: Option<Host>, env: Env<'_>) -> anyhow::Result<HostDir> {
    if let Some(host) = host {
        let state_dir = host.state_dir(env).ok_or_else(|| no_home(host))?;
        return Ok(HostDir {
            host,
            state_dir,
            reason: "--host".into(),
        });
    }
    let by_var: Vec<Host> = HOSTS
        .into_iter()
        .filter(|h| non_empty(env, &h.state_dir_var()).is_some())
        .collect();
    if let [host] = by_var[..] {
        let state_dir = host.state_dir(env).ok_or_else(|| no_home(host))?;
        return Ok(HostDir {
            host,
            state_dir,
            reason: format!("{} is set", host.state_dir_var()),
        });
    }
    let mut candidates: Vec<(Host, PathBuf)> = Vec::new();
    for host in HOSTS {
        if let Some(dir) = host.state_dir(env).filter(|d| d.is_dir())
            && !candidates.iter().any(|(_, d)| *d == dir)
        {
            candidates.push((host, dir));
        }
    }
    if let [(host, dir)] = &candidates[..] {
        return Ok(HostDir {
            host: *host,
            state_dir: dir.clone(),
            reason: "the only existing state dir".into(),
        });
    }
    let pool: Vec<Host> = if candidates.is_empty() {
        HOSTS.to_vec()
    } else {
        candidates.iter().map(|(h, _)| *h).collect()
    };
    let on_path: Vec<Host> = pool.into_iter().filter(|h| h.on_path(env)).collect();
    if let [host] = on_path[..] {
        let state_dir = match candidates.iter().find(|(h, _)| *h == host) {
            Some((_, dir)) => dir.clone(),
            None => host.state_dir(env).ok_or_else(|| no_home(host))?,
        };
        return Ok(HostDir {
            host,
            state_dir,
            reason: format!("`{}` is the only host command on PATH", host.command()),
        });
    }
    if candidates.is_empty() {
        anyhow::bail!(
            "cannot tell which gateway to install for: no state dir exists yet (~/.openclaw, \
             ~/.clawdbot, ~/.moltbot) and {} of the commands openclaw, clawdbot, moltbot is on PATH; \
             pass --host openclaw|clawdbot|moltbot (or --extensions-dir DIR)",
            if on_path.is_empty() {
                "none"
            } else {
                "more than one"
            }
        );
    }
    let list: Vec<String> = candidates
        .iter()
        .map(|(h, d)| format!("  --host {h:<9} {}", d.display()))
        .collect();
    anyhow::bail!(
        "several gateway state dirs exist and nothing tells which one is in use:\n{}\n\
         pass --host to choose (or set that host's *_STATE_DIR, or --extensions-dir DIR)",
        list.join("\n")
    )
}

fn no_home(host: Host) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot find the {host} state dir: set HOME or {}",
        host.state_dir_var()
    )
}

fn non_empty(env: Env<'_>, name: &str) -> Option<OsString> {
    env(name).filter(|v| !v.to_string_lossy().trim().is_empty())
}

fn expand_home(value: OsString, home: Option<&Path>) -> PathBuf {
    let path = PathBuf::from(value.to_string_lossy().trim());
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path,
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, fs};

    use super::*;

    struct Home {
        root: PathBuf,
        vars: HashMap<String, OsString>,
    }

    impl Home {
        fn new(name: &str) -> Self {
            let root = std::env::temp_dir().join(format!(
                "moltbot-zoom-host-{name}-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ));
            fs::create_dir_all(root.join("home")).unwrap();
            fs::create_dir_all(root.join("bin")).unwrap();
            let mut vars = HashMap::new();
            vars.insert("HOME".into(), root.join("home").into_os_string());
            vars.insert("PATH".into(), root.join("bin").into_os_string());
            Self { root, vars }
        }
        fn home(&self) -> PathBuf {
            self.root.join("home")
        }
        fn dir(&self, name: &str) -> PathBuf {
            let dir = self.home().join(name);
            fs::create_dir_all(&dir).unwrap();
            dir
        }
        fn command(&self, name: &str) {
            use std::os::unix::fs::PermissionsExt;
            let path = self.root.join("bin").join(name);
            fs::write(&path, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fn set(&mut self, name: &str, value: impl Into<OsString>) {
            self.vars.insert(name.into(), value.into());
        }
        fn choose(&self, host: Option<Host>) -> anyhow::Result<HostDir> {
            let vars = self.vars.clone();
            choose(host, &move |n| vars.get(n).cloned())
        }
    }

    impl Drop for Home {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    #[test]
    fn each_host_resolves_its_own_dir_and_config() {
        let h = Home::new("each");
        let claw = h.dir(".clawdbot");
        let open = h.dir(".openclaw");
        let molt = h.dir(".moltbot");
        let pick = |host| h.choose(Some(host)).unwrap().state_dir;
        assert_eq!(pick(Host::Clawdbot), claw);
        assert_eq!(pick(Host::Openclaw), open);
        // Moltbot prefers an existing legacy ~/.clawdbot.
        assert_eq!(pick(Host::Moltbot), claw);
        fs::remove_dir_all(&claw).unwrap();
        assert_eq!(pick(Host::Moltbot), molt);
        let vars = h.vars.clone();
        let env = move |n: &str| vars.get(n).cloned();
        let chosen = h.choose(Some(Host::Openclaw)).unwrap();
        assert_eq!(chosen.config_path(&env), open.join("openclaw.json"));
        fs::write(open.join("clawdbot.json"), "{}").unwrap();
        assert_eq!(
            chosen.config_path(&env),
            open.join("clawdbot.json"),
            "OpenClaw reads a legacy clawdbot.json when openclaw.json is absent"
        );
        fs::write(open.join("openclaw.json"), "{}").unwrap();
        assert_eq!(chosen.config_path(&env), open.join("openclaw.json"));
    }

    #[test]
    fn openclaw_falls_back_to_a_legacy_clawdbot_dir_and_honours_openclaw_home() {
        let mut h = Home::new("legacy");
        let claw = h.dir(".clawdbot");
        assert_eq!(h.choose(Some(Host::Openclaw)).unwrap().state_dir, claw);
        let other = h.root.join("other-home");
        fs::create_dir_all(other.join(".openclaw")).unwrap();
        h.set("OPENCLAW_HOME", other.clone());
        assert_eq!(
            h.choose(Some(Host::Openclaw)).unwrap().state_dir,
            other.join(".openclaw")
        );
    }

    #[test]
    fn a_single_state_dir_variable_decides() {
        let mut h = Home::new("var");
        h.dir(".clawdbot");
        h.dir(".openclaw");
        h.set("OPENCLAW_STATE_DIR", "~/custom");
        let chosen = h.choose(None).unwrap();
        assert_eq!(chosen.host, Host::Openclaw);
        assert_eq!(chosen.state_dir, h.home().join("custom"));
        h.dir("custom");
        h.set("CLAWDBOT_STATE_DIR", h.dir("claw"));
        // Two variables: they no longer decide; several dirs exist, nothing on PATH.
        let err = h.choose(None).unwrap_err().to_string();
        assert!(err.contains("pass --host"), "{err}");
    }

    #[test]
    fn several_state_dirs_are_refused_with_a_list_unless_one_host_is_on_path() {
        let h = Home::new("several");
        let claw = h.dir(".clawdbot");
        let open = h.dir(".openclaw");
        let err = h.choose(None).unwrap_err().to_string();
        assert!(err.contains("several gateway state dirs"), "{err}");
        assert!(
            err.contains(&format!("--host openclaw  {}", open.display())),
            "{err}"
        );
        assert!(
            err.contains(&format!("--host clawdbot  {}", claw.display())),
            "{err}"
        );
        h.command("openclaw");
        let chosen = h.choose(None).unwrap();
        assert_eq!((chosen.host, chosen.state_dir), (Host::Openclaw, open));
        assert!(chosen.reason.contains("PATH"), "{}", chosen.reason);
        h.command("clawdbot");
        assert!(h.choose(None).is_err(), "two host commands decide nothing");
        assert_eq!(h.choose(Some(Host::Clawdbot)).unwrap().state_dir, claw);
    }

    #[test]
    fn one_state_dir_is_taken_and_none_needs_a_command_or_host() {
        let h = Home::new("one");
        let err = h.choose(None).unwrap_err().to_string();
        assert!(err.contains("no state dir exists yet"), "{err}");
        h.command("clawdbot");
        assert_eq!(
            h.choose(None).unwrap().state_dir,
            h.home().join(".clawdbot")
        );
        // Only ~/.clawdbot: OpenClaw and Moltbot would use it too, so it is one dir.
        let claw = h.dir(".clawdbot");
        h.command("openclaw");
        let chosen = h.choose(None).unwrap();
        assert_eq!(chosen.state_dir, claw);
        assert_eq!(chosen.reason, "the only existing state dir");
    }
}
