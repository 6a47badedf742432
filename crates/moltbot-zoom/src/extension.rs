//! The Moltbot extension package: manifests generated from `plugin.toml`, and the
//! `install` / `uninstall` commands that put the package (manifests, `index.js` and
//! the sidecar binary) into `<stateDir>/extensions/zoom/`.
//!
//! The state dir is the one the chosen host uses ([`crate::host`]: `--host`, else the
//! documented choice). `--extensions-dir DIR` bypasses it and installs into `DIR/zoom/`.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::host::{self, Host, HostDir};
use moltbot_channel::Secret;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The plugin's identity and `channels.zoom` schema (repository root `plugin.toml`).
const PLUGIN_TOML: &str = include_str!("../../../plugin.toml");
/// The extension entry point, installed next to the manifests.
const INDEX_JS: &str = include_str!("../../../extension/index.js");
/// The extension's other modules, installed next to `index.js`.
const MODULES: [(&str, &str); 4] = [
    (
        "sidecar-binary.js",
        include_str!("../../../extension/sidecar-binary.js"),
    ),
    ("setup.js", include_str!("../../../extension/setup.js")),
    ("media.js", include_str!("../../../extension/media.js")),
    ("actions.js", include_str!("../../../extension/actions.js")),
];

/// Manifest file names: Clawdbot (legacy), Moltbot and OpenClaw read one each.
const MANIFEST_NAMES: [&str; 3] = [
    "clawdbot.plugin.json",
    "moltbot.plugin.json",
    "openclaw.plugin.json",
];
/// `package.json` keys read by Clawdbot, Moltbot and OpenClaw.
const PACKAGE_KEYS: [&str; 3] = ["clawdbot", "moltbot", "openclaw"];
/// Where the sidecar binary is copied, relative to the package dir.
const BIN_PATH: &str = "bin/moltbot-zoom";
/// Written instead of the binary in link mode: `{"path": "<binary>"}`.
const SIDECAR_JSON: &str = "sidecar.json";

/// `plugin.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginToml {
    id: String,
    name: String,
    description: String,
    version: String,
    channel: ChannelMeta,
    package: NpmPackage,
    config: Vec<ConfigKey>,
}

/// `[package]`: the npm distribution (extension, sidecar, per-target binaries).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NpmPackage {
    name: String,
    sidecar: String,
    license: String,
    repository: String,
    targets: Vec<Target>,
}

/// One prebuilt sidecar target: a Rust triple and the npm platform it serves.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    #[allow(dead_code)] // read by the npm generator (tests only)
    triple: String,
    os: String,
    cpu: String,
    libc: Option<String>,
}

impl NpmPackage {
    /// `<sidecar>-<os>-<cpu>` (`-musl` appended for a musl libc), the name the
    /// extension derives from `process.platform` / `process.arch`.
    fn target_package(&self, target: &Target) -> String {
        let musl = if target.libc.as_deref() == Some("musl") {
            "-musl"
        } else {
            ""
        };
        format!("{}-{}-{}{musl}", self.sidecar, target.os, target.cpu)
    }
}

/// Channel catalog metadata (`package.json` `<key>.channel`, the channel's `meta`).
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChannelMeta {
    label: String,
    selection_label: String,
    detail_label: String,
    blurb: String,
    docs_path: String,
    docs_label: String,
    order: u32,
}

/// One `channels.zoom` key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigKey {
    key: String,
    #[serde(rename = "type")]
    kind: KeyType,
    items: Option<String>,
    #[serde(rename = "enum")]
    allowed: Option<Vec<String>>,
    value_enum: Option<Vec<String>>,
    default: Option<toml::Value>,
    minimum: Option<i64>,
    #[allow(dead_code)] // documentation for the sidecar's env contract
    env: Option<String>,
    description: String,
    label: String,
    help: Option<String>,
    placeholder: Option<String>,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    advanced: bool,
    /// The plugin-owned `channels add` flag (Commander syntax) that sets this key.
    cli: Option<String>,
    /// The key this deprecated name was renamed to.
    deprecated: Option<String>,
    /// The keys of an object's entries (e.g. `groups.<channelId>`).
    values: Option<Vec<ValueKey>>,
}

/// One key of an object entry (`[[config.values]]`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ValueKey {
    key: String,
    #[serde(rename = "type")]
    kind: KeyType,
    items: Option<String>,
    default: Option<toml::Value>,
    description: String,
}

/// A SecretRef, as the hosts' SecretInput fields accept next to a plain string
/// (OpenClaw docs/gateway/secrets/secretref-contract.md).
fn secret_ref_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["source", "id"],
        "properties": {
            "source": { "type": "string", "enum": ["env", "file", "exec", "store"] },
            "provider": { "type": "string" },
            "id": { "type": "string" },
        },
    })
}

/// `type` plus `items` of an array, `default` when set.
fn value_schema(
    kind: KeyType,
    items: Option<&str>,
    default: Option<&toml::Value>,
    s: &mut Map<String, Value>,
) {
    s.insert("type".into(), json!(kind.as_str()));
    if let KeyType::Array = kind {
        s.insert("items".into(), json!({ "type": items.unwrap_or("string") }));
    }
    if let Some(default) = default {
        // toml::Value serialises to the same JSON shape.
        let default = serde_json::to_value(default).expect("toml value is JSON");
        s.insert("default".into(), default);
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum KeyType {
    String,
    Boolean,
    Integer,
    Array,
    Object,
}

impl KeyType {
    fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Integer => "integer",
            Self::Array => "array",
            Self::Object => "object",
        }
    }
}

fn plugin() -> PluginToml {
    // plugin.toml is compiled in and checked by the tests below.
    toml::from_str(PLUGIN_TOML).expect("plugin.toml is valid")
}

impl ConfigKey {
    fn schema(&self) -> Value {
        let mut s = Map::new();
        value_schema(self.kind, self.items.as_deref(), None, &mut s);
        s.insert("description".into(), json!(self.description));
        if let Some(allowed) = &self.allowed {
            s.insert("enum".into(), json!(allowed));
        }
        if let KeyType::Object = self.kind {
            let values = match &self.values {
                Some(keys) => {
                    let properties: Map<String, Value> = keys
                        .iter()
                        .map(|k| {
                            let mut v = Map::new();
                            value_schema(k.kind, k.items.as_deref(), k.default.as_ref(), &mut v);
                            v.insert("description".into(), json!(k.description));
                            (k.key.clone(), Value::Object(v))
                        })
                        .collect();
                    json!({ "type": "object", "additionalProperties": false, "properties": properties })
                }
                None => {
                    let mut values = json!({ "type": "string" });
                    if let Some(allowed) = &self.value_enum {
                        values["enum"] = json!(allowed);
                    }
                    values
                }
            };
            s.insert("additionalProperties".into(), values);
        }
        if let Some(min) = self.minimum {
            s.insert("minimum".into(), json!(min));
        }
        if let Some(default) = &self.default {
            let default = serde_json::to_value(default).expect("toml value is JSON");
            s.insert("default".into(), default);
        }
        if self.deprecated.is_some() {
            s.insert("deprecated".into(), json!(true));
        }
        if self.sensitive {
            // A secret is a string or a SecretRef: `anyOf` replaces the plain type.
            let plain = s.remove("type").unwrap_or(json!("string"));
            s.insert(
                "anyOf".into(),
                json!([{ "type": plain }, secret_ref_schema()]),
            );
        }
        Value::Object(s)
    }

    fn ui_hint(&self) -> Value {
        let mut h = Map::new();
        h.insert("label".into(), json!(self.label));
        h.insert(
            "help".into(),
            json!(self.help.as_deref().unwrap_or(&self.description)),
        );
        if let Some(p) = &self.placeholder {
            h.insert("placeholder".into(), json!(p));
        }
        if self.sensitive {
            h.insert("sensitive".into(), json!(true));
        }
        if self.advanced {
            h.insert("advanced".into(), json!(true));
        }
        Value::Object(h)
    }
}

/// The JSON Schema of `channels.zoom`: every key, plus `accounts` (a map of account
/// objects with the same keys).
pub(crate) fn channel_schema() -> Value {
    let plugin = plugin();
    let properties: Map<String, Value> = plugin
        .config
        .iter()
        .map(|k| (k.key.clone(), k.schema()))
        .collect();
    let account = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": properties.clone(),
    });
    let mut all = properties;
    all.insert(
        "accounts".into(),
        json!({
            "type": "object",
            "description": "Named accounts; each overrides the top-level keys for that account.",
            "additionalProperties": account,
        }),
    );
    json!({ "type": "object", "additionalProperties": false, "properties": all })
}

/// UI hints for `channels.zoom`, keyed by path relative to `channels.zoom`.
fn ui_hints(plugin: &PluginToml) -> Value {
    let mut hints = Map::new();
    for key in &plugin.config {
        hints.insert(key.key.clone(), key.ui_hint());
        if key.sensitive {
            hints.insert(format!("accounts.*.{}", key.key), key.ui_hint());
        }
    }
    hints.insert(
        "accounts".into(),
        json!({ "label": "Accounts", "help": "Named Zoom accounts.", "advanced": true }),
    );
    Value::Object(hints)
}

/// The plugin manifest, identical for `clawdbot.plugin.json`, `moltbot.plugin.json`
/// and `openclaw.plugin.json`.
pub(crate) fn plugin_manifest() -> Value {
    let plugin = plugin();
    let hints = ui_hints(&plugin);
    json!({
        "id": plugin.id,
        "name": plugin.name,
        "description": plugin.description,
        "version": plugin.version,
        "channels": [plugin.id],
        "configSchema": { "type": "object", "additionalProperties": false, "properties": {} },
        "uiHints": hints,
        "channelConfigs": {
            (plugin.id.clone()): { "schema": channel_schema(), "uiHints": hints },
        },
    })
}

/// The files of the extension package (what `npm pack` includes besides package.json).
const PACKAGE_FILES: [&str; 8] = [
    "index.js",
    "sidecar-binary.js",
    "setup.js",
    "media.js",
    "actions.js",
    "clawdbot.plugin.json",
    "moltbot.plugin.json",
    "openclaw.plugin.json",
];

/// `openclaw.channel.cliAddOptions`: the plugin-owned `channels add` flags (OpenClaw
/// registers them for `--channel zoom`; `extension/setup.js` reads the values).
fn cli_add_options(plugin: &PluginToml) -> Vec<Value> {
    plugin
        .config
        .iter()
        .filter_map(|k| {
            let flags = k.cli.as_ref()?;
            let mut option = json!({ "flags": flags, "description": k.description });
            if matches!(k.kind, KeyType::Array) {
                option["valueType"] = json!("list");
            }
            Some(option)
        })
        .collect()
}

/// `package.json` of the extension (`@moltbot-zoom/zoom`): the same `extensions` and
/// `channel` under the `clawdbot`, `moltbot` and `openclaw` keys, and a dependency on the
/// sidecar package that brings the prebuilt binary.
pub(crate) fn package_json() -> Value {
    let plugin = plugin();
    let npm = &plugin.package;
    let mut channel = serde_json::to_value(&plugin.channel).expect("meta is JSON");
    channel["id"] = json!(plugin.id);
    let entry = json!({ "extensions": ["./index.js"], "channel": channel });
    let mut pkg = json!({
        "name": npm.name,
        "version": plugin.version,
        "description": plugin.description,
        "license": npm.license,
        "repository": npm.repository,
        "type": "module",
        "files": PACKAGE_FILES,
        "dependencies": { (npm.sidecar.clone()): plugin.version },
    });
    for key in PACKAGE_KEYS {
        pkg[key] = entry.clone();
    }
    pkg["openclaw"]["channel"]["cliAddOptions"] = json!(cli_add_options(&plugin));
    let platform_packages: Vec<String> =
        npm.targets.iter().map(|t| npm.target_package(t)).collect();
    pkg["openclaw"]["install"] = json!({
        "npmSpec": npm.name,
        "defaultChoice": "npm",
        "requiredPlatformPackages": platform_packages,
    });
    pkg
}

#[cfg(test)] // the generator of the committed npm/ files
/// `package.json` of the sidecar package: one optional dependency per prebuilt target,
/// of which npm installs the one whose `os` / `cpu` / `libc` match.
pub(crate) fn sidecar_package_json() -> Value {
    let plugin = plugin();
    let npm = &plugin.package;
    let optional: Map<String, Value> = npm
        .targets
        .iter()
        .map(|t| (npm.target_package(t), json!(plugin.version)))
        .collect();
    json!({
        "name": npm.sidecar,
        "version": plugin.version,
        "description": "The moltbot-zoom sidecar binary for the Zoom channel extension: depends on the prebuilt package for this platform.",
        "license": npm.license,
        "repository": npm.repository,
        "files": [],
        "optionalDependencies": optional,
    })
}

#[cfg(test)] // the generator of the committed npm/ files
/// `package.json` of each per-target package (directory name, content); `bin/moltbot-zoom`
/// is added by scripts/pack.mjs.
pub(crate) fn target_package_jsons() -> Vec<(String, Value)> {
    let plugin = plugin();
    let npm = &plugin.package;
    npm.targets
        .iter()
        .map(|t| {
            let name = npm.target_package(t);
            let dir = name.rsplit('/').next().unwrap_or(&name).to_string();
            let mut pkg = json!({
                "name": name,
                "version": plugin.version,
                "description": format!("The prebuilt moltbot-zoom sidecar binary for {} ({}).", t.triple, plugin.package.name),
                "license": npm.license,
                "repository": npm.repository,
                "os": [t.os],
                "cpu": [t.cpu],
                "files": ["bin/"],
                "preferUnplugged": true,
                "moltbotZoom": { "rustTarget": t.triple },
            });
            if let Some(libc) = &t.libc {
                pkg["libc"] = json!([libc]);
            }
            (dir, pkg)
        })
        .collect()
}

#[cfg(test)] // the generator of the committed npm/ files
/// The generated npm package files outside extension/, relative to the repository's
/// `npm/` dir.
pub(crate) fn npm_files() -> Vec<(String, Vec<u8>)> {
    let sidecar = plugin().package.sidecar;
    let sidecar_dir = sidecar.rsplit('/').next().unwrap_or(&sidecar).to_string();
    let mut files = vec![(
        format!("{sidecar_dir}/package.json"),
        pretty(&sidecar_package_json()),
    )];
    for (dir, pkg) in target_package_jsons() {
        files.push((format!("{dir}/package.json"), pretty(&pkg)));
    }
    files
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).expect("JSON serialises");
    out.push(b'\n');
    out
}

/// `package.json` of a source install (`moltbot-zoom install`): the npm package's without
/// `dependencies`, since the binary sits next to it. OpenClaw refuses to load a plugin whose
/// declared dependencies are not installed ("Plugin dependency … is missing").
pub(crate) fn installed_package_json() -> Value {
    let mut pkg = package_json();
    if let Some(map) = pkg.as_object_mut() {
        map.remove("dependencies");
    }
    pkg
}

/// The generated text files of a source install: (path relative to the package dir,
/// content).
pub(crate) fn package_files() -> Vec<(&'static str, Vec<u8>)> {
    let manifest = pretty(&plugin_manifest());
    let mut files: Vec<(&'static str, Vec<u8>)> = MANIFEST_NAMES
        .iter()
        .map(|name| (*name, manifest.clone()))
        .collect();
    files.push(("package.json", pretty(&installed_package_json())));
    files.push(("index.js", INDEX_JS.as_bytes().to_vec()));
    for (name, text) in MODULES {
        files.push((name, text.as_bytes().to_vec()));
    }
    files
}

/// How the sidecar binary gets into the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum BinaryMode {
    /// Copy the binary to `bin/moltbot-zoom` (mode 0755).
    #[default]
    Copy,
    /// Write `sidecar.json` pointing at the binary where it is.
    Link,
}

/// What `install` does.
#[derive(Debug, Clone)]
pub(crate) struct InstallOptions {
    /// The extensions dir (`<stateDir>/extensions`); from the host's state dir when `None`.
    pub(crate) extensions_dir: Option<PathBuf>,
    /// The host whose state dir to use; chosen by [`host::choose`] when `None`.
    pub(crate) host: Option<Host>,
    /// Copy or link the sidecar binary.
    pub(crate) binary_mode: BinaryMode,
    /// The sidecar binary (normally `std::env::current_exe()`).
    pub(crate) sidecar_binary: PathBuf,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileStatus {
    /// Did not exist.
    Created,
    /// Existed with other content; replaced atomically.
    Updated,
    /// Existed with the same content.
    Unchanged,
    /// A file of the other binary mode, removed.
    Removed,
}

impl fmt::Display for FileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Removed => "removed",
        })
    }
}

/// The result of `install`; its `Display` is the text to print (files, the config to
/// add, the restart step).
#[derive(Debug)]
pub(crate) struct InstallReport {
    /// The package dir, `<extensions dir>/zoom`.
    pub(crate) dir: PathBuf,
    /// The host and state dir, unless `--extensions-dir` was given.
    pub(crate) host: Option<HostDir>,
    /// The host's config file, where `channels.zoom` goes.
    pub(crate) config_path: Option<PathBuf>,
    /// Each file (relative path) and what happened to it.
    pub(crate) files: Vec<(String, FileStatus)>,
    /// How the sidecar binary was installed.
    pub(crate) binary_mode: BinaryMode,
    /// The sidecar binary the package uses.
    pub(crate) sidecar_binary: PathBuf,
    /// A freshly generated `channels.zoom.password` suggestion.
    pub(crate) password_suggestion: Secret,
}

impl InstallReport {
    /// "installed" (fresh), "updated" (something changed) or "unchanged".
    pub(crate) fn outcome(&self) -> &'static str {
        let mut statuses = self.files.iter().map(|(_, s)| *s);
        if statuses.clone().all(|s| s == FileStatus::Created) {
            "installed"
        } else if statuses.all(|s| s == FileStatus::Unchanged) {
            "unchanged"
        } else {
            "updated"
        }
    }
}

impl fmt::Display for InstallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Zoom extension {}: {}",
            self.outcome(),
            self.dir.display()
        )?;
        if let Some(host) = &self.host {
            writeln!(
                f,
                "Host: {} (state dir {}; {})",
                host.host,
                host.state_dir.display(),
                host.reason
            )?;
        }
        for (path, status) in &self.files {
            writeln!(f, "  {status:<9} {path}")?;
        }
        match self.binary_mode {
            BinaryMode::Copy => writeln!(
                f,
                "Sidecar: copied {} to {BIN_PATH}",
                self.sidecar_binary.display()
            )?,
            BinaryMode::Link => writeln!(
                f,
                "Sidecar: {SIDECAR_JSON} points at {} (keep it there)",
                self.sidecar_binary.display()
            )?,
        }
        writeln!(f)?;
        match &self.config_path {
            Some(path) => writeln!(f, "Add this to {} (JSON5):", path.display())?,
            None => writeln!(
                f,
                "Add this to your gateway config (moltbot.json, clawdbot.json or openclaw.json in the state dir), JSON5:"
            )?,
        }
        writeln!(f, "{}", config_snippet(self.password_suggestion.expose()))?;
        writeln!(
            f,
            "Or let the host write it: clawdbot|openclaw channels add --channel zoom … (docs/moltbot-setup.md)."
        )?;
        match &self.host {
            Some(host) => writeln!(
                f,
                "Then restart the gateway: {} gateway restart.",
                host.host
            ),
            None => writeln!(
                f,
                "Then restart the gateway: openclaw gateway restart (or clawdbot / moltbot gateway restart)."
            ),
        }
    }
}

/// The JSON5 config to add after installing, with `password` filled in.
fn config_snippet(password: &str) -> String {
    format!(
        r#"{{
  channels: {{
    zoom: {{
      clientId: "<Server-to-Server OAuth client id>",
      clientSecret: "<client secret>",
      zoomAccountId: "<Zoom account id>",
      subscriptionId: "<WebSocket event subscription id>",
      sender: "<you@example.com>",          // the Team Chat user replies are posted as
      defaultTo: "<you@example.com>",       // where replies to meeting events go
      password: "{password}",  // shared secret of the sidecar (generated for you)
      allowFrom: ["<you@example.com>"],     // Team Chat senders the agent answers
    }},
  }},
  plugins: {{ entries: {{ zoom: {{ enabled: true }} }} }},
}}"#
    )
}

fn generate_password() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

/// The package dir `<extensions dir>/zoom` and, without `extensions_dir`, the host
/// whose state dir holds it.
fn package_dir(
    extensions_dir: Option<&Path>,
    host: Option<Host>,
) -> anyhow::Result<(PathBuf, Option<HostDir>)> {
    let id = plugin().id;
    if let Some(dir) = extensions_dir {
        return Ok((dir.join(id), None));
    }
    let chosen = host::choose(host, &|name| std::env::var_os(name))?;
    Ok((chosen.state_dir.join("extensions").join(id), Some(chosen)))
}

/// Installs (or updates) the extension package into `<extensions dir>/zoom/`.
/// Idempotent: files are replaced atomically (temp file + rename) only when their
/// content differs.
pub(crate) fn install(opts: &InstallOptions) -> anyhow::Result<InstallReport> {
    let (dir, host) = package_dir(opts.extensions_dir.as_deref(), opts.host)?;
    let config_path = host
        .as_ref()
        .map(|h| h.config_path(&|name| std::env::var_os(name)));
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let sidecar_binary = fs::canonicalize(&opts.sidecar_binary).with_context(|| {
        format!(
            "cannot find the sidecar binary {}",
            opts.sidecar_binary.display()
        )
    })?;

    let mut files = Vec::new();
    for (path, content) in package_files() {
        let status = write_file(&dir.join(path), &content, 0o644)?;
        files.push((path.to_string(), status));
    }
    let (wanted, stale, status) = match opts.binary_mode {
        BinaryMode::Copy => {
            let binary = fs::read(&sidecar_binary)
                .with_context(|| format!("cannot read {}", sidecar_binary.display()))?;
            fs::create_dir_all(dir.join("bin"))?;
            let status = write_file(&dir.join(BIN_PATH), &binary, 0o755)?;
            (BIN_PATH, SIDECAR_JSON, status)
        }
        BinaryMode::Link => {
            let link = pretty(&json!({ "path": sidecar_binary }));
            let status = write_file(&dir.join(SIDECAR_JSON), &link, 0o644)?;
            (SIDECAR_JSON, BIN_PATH, status)
        }
    };
    files.push((wanted.to_string(), status));
    match fs::remove_file(dir.join(stale)) {
        Ok(()) => files.push((stale.to_string(), FileStatus::Removed)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {stale}")),
    }
    if opts.binary_mode == BinaryMode::Link {
        // Only succeeds when empty; a leftover bin/ is harmless.
        let _ = fs::remove_dir(dir.join("bin"));
    }
    Ok(InstallReport {
        dir,
        host,
        config_path,
        files,
        binary_mode: opts.binary_mode,
        sidecar_binary,
        password_suggestion: Secret::new(generate_password()),
    })
}

/// Writes `content` to `path` unless it already holds it: a temp file in the same
/// dir, then a rename, so a reader never sees half a file.
fn write_file(path: &Path, content: &[u8], mode: u32) -> anyhow::Result<FileStatus> {
    let status = match fs::read(path) {
        Ok(existing) if existing == content && mode_is(path, mode) => {
            return Ok(FileStatus::Unchanged);
        }
        Ok(_) => FileStatus::Updated,
        Err(e) if e.kind() == io::ErrorKind::NotFound => FileStatus::Created,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let name = path.file_name().context("file path has a name")?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = fs::write(&tmp, content)
        .and_then(|()| set_mode(&tmp, mode))
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(status)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn mode_is(path: &Path, mode: u32) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o777 == mode)
}

#[cfg(not(unix))]
fn mode_is(_path: &Path, _mode: u32) -> bool {
    true
}

/// The result of `uninstall`; its `Display` is the text to print.
#[derive(Debug)]
pub(crate) struct UninstallReport {
    /// The package dir.
    pub(crate) dir: PathBuf,
    /// False when there was nothing to remove.
    pub(crate) removed: bool,
}

impl fmt::Display for UninstallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.removed {
            writeln!(f, "Removed {}", self.dir.display())?;
        } else {
            writeln!(
                f,
                "Nothing to remove: {} does not exist",
                self.dir.display()
            )?;
        }
        writeln!(
            f,
            "Also remove channels.zoom and plugins.entries.zoom from the gateway config (an unknown channel makes it invalid), then restart the gateway: moltbot gateway restart."
        )
    }
}

/// Removes `<extensions dir>/zoom/`; no error when it does not exist. Refuses a dir
/// whose `package.json` names another package.
pub(crate) fn uninstall(
    extensions_dir: Option<&Path>,
    host: Option<Host>,
) -> anyhow::Result<UninstallReport> {
    let (dir, _) = package_dir(extensions_dir, host)?;
    if !dir.exists() {
        return Ok(UninstallReport {
            dir,
            removed: false,
        });
    }
    if let Ok(text) = fs::read_to_string(dir.join("package.json")) {
        let name = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["name"].as_str().map(str::to_owned));
        let plugin = plugin();
        // An install from before the scoped name carries the bare id.
        let ours = [plugin.package.name.as_str(), plugin.id.as_str()];
        if !name.as_deref().is_some_and(|n| ours.contains(&n)) {
            bail!(
                "{} holds another package ({}); not removing it",
                dir.display(),
                name.as_deref().unwrap_or("unreadable package.json")
            );
        }
    }
    fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok(UninstallReport { dir, removed: true })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Every key of the configuration contract (.lead/config-keys.md).
    const CONTRACT_KEYS: [&str; 50] = [
        "enabled",
        "name",
        "zoomAccountId",
        "clientId",
        "clientSecret",
        "subscriptionId",
        "grant",
        "oauthUrl",
        "apiUrl",
        "wsUrl",
        "transport",
        "webhookSecretToken",
        "webhookListen",
        "sendAs",
        "sender",
        "robotJid",
        "defaultTo",
        "defaultTarget",
        "routing",
        "include",
        "exclude",
        "deliveryModes",
        "dmPolicy",
        "allowFrom",
        "groupPolicy",
        "groupAllowFrom",
        "groups",
        "selfIds",
        "password",
        "listen",
        "sidecarUrl",
        "sidecarPath",
        "webhookUrl",
        "webhookUrls",
        "webhookPath",
        "inboundPath",
        "database",
        "maxAttempts",
        "mediaMaxMb",
        "eventQueueCapacity",
        "transcriptMaxBytes",
        "transcriptExcerptLines",
        "catchupMaxPerConversation",
        "catchupMaxTotal",
        "authFailureLimit",
        "authFailureLimitTotal",
        "maxConnections",
        "headerReadTimeoutSecs",
        "idleTimeoutSecs",
        "logLevel",
    ];
    const SECRET_KEYS: [&str; 3] = ["clientSecret", "password", "webhookSecretToken"];

    fn extension_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../extension")
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "moltbot-zoom-ext-{name}-{}-{}",
            std::process::id(),
            generate_password()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn fake_binary(dir: &Path, content: &str) -> PathBuf {
        let path = dir.join("moltbot-zoom-src");
        fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn plugin_toml_identity_matches_the_workspace() {
        let p = plugin();
        assert_eq!(p.id, "zoom");
        assert_eq!(p.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(p.channel.label, "Zoom");
        assert_eq!(p.channel.docs_path, "/channels/zoom");
    }

    #[test]
    fn schema_has_every_contract_key_and_nothing_else() {
        let schema = channel_schema();
        let props = schema["properties"].as_object().unwrap();
        for key in CONTRACT_KEYS {
            assert!(props.contains_key(key), "missing {key}");
        }
        assert_eq!(props.len(), CONTRACT_KEYS.len() + 1, "unexpected keys");
        let account = &props["accounts"]["additionalProperties"]["properties"];
        for key in CONTRACT_KEYS {
            assert!(account.get(key).is_some(), "accounts.* lacks {key}");
        }
        assert_eq!(props["dmPolicy"]["default"], "pairing");
        assert_eq!(
            props["dmPolicy"]["enum"],
            json!(["pairing", "allowlist", "open", "disabled"])
        );
        assert_eq!(props["groupPolicy"]["default"], "allowlist");
        let group = &props["groups"]["additionalProperties"];
        assert_eq!(group["additionalProperties"], false);
        assert_eq!(group["properties"]["requireMention"]["default"], true);
        assert_eq!(group["properties"]["allowFrom"]["items"]["type"], "string");
        // A typo is rejected by the host, at the top and in accounts.
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            props["accounts"]["additionalProperties"]["additionalProperties"],
            false
        );
        // Secrets take a string or a SecretRef; old names are marked deprecated.
        for key in SECRET_KEYS {
            assert_eq!(props[key]["anyOf"][0]["type"], "string", "{key}");
            assert_eq!(
                props[key]["anyOf"][1]["required"],
                json!(["source", "id"]),
                "{key}"
            );
        }
        assert_eq!(props["defaultTarget"]["deprecated"], true);
        assert_eq!(props["inboundPath"]["deprecated"], true);
        assert!(props["defaultTo"].get("deprecated").is_none());
        assert_eq!(props["transport"]["enum"], json!(["websocket", "webhook"]));
        assert_eq!(props["maxAttempts"]["default"], 12);
        assert_eq!(props["allowFrom"]["items"]["type"], "string");
        assert_eq!(
            props["deliveryModes"]["additionalProperties"]["enum"],
            json!(["message", "context", "drop"])
        );
    }

    #[test]
    fn secrets_are_marked_sensitive_and_nothing_else_is() {
        let manifest = plugin_manifest();
        for hints in [
            &manifest["uiHints"],
            &manifest["channelConfigs"]["zoom"]["uiHints"],
        ] {
            for key in CONTRACT_KEYS {
                let sensitive = hints[key]["sensitive"] == json!(true);
                assert_eq!(sensitive, SECRET_KEYS.contains(&key), "{key}");
                assert!(hints[key]["label"].is_string(), "{key} has no label");
            }
            for key in SECRET_KEYS {
                assert_eq!(hints[format!("accounts.*.{key}")]["sensitive"], true);
            }
            for key in ["oauthUrl", "apiUrl", "wsUrl", "sidecarUrl", "webhookUrl"] {
                assert_eq!(hints[key]["advanced"], true, "{key}");
            }
        }
    }

    #[test]
    fn manifest_has_the_loader_required_fields() {
        let m = plugin_manifest();
        assert_eq!(m["id"], "zoom");
        assert_eq!(m["channels"], json!(["zoom"]));
        assert_eq!(m["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            m["configSchema"],
            json!({ "type": "object", "additionalProperties": false, "properties": {} })
        );
        assert_eq!(m["channelConfigs"]["zoom"]["schema"], channel_schema());
    }

    #[test]
    fn package_json_serves_all_three_hosts() {
        let pkg = package_json();
        assert_eq!(pkg["name"], "@moltbot-zoom/zoom");
        assert_eq!(
            pkg["name"].as_str().unwrap().rsplit('/').next(),
            Some("zoom"),
            "the unscoped name is the install-time plugin id"
        );
        assert_eq!(pkg["type"], "module");
        assert!(pkg.get("private").is_none(), "the package is published");
        for key in PACKAGE_KEYS {
            assert_eq!(pkg[key]["extensions"], json!(["./index.js"]), "{key}");
            assert_eq!(pkg[key]["channel"]["id"], "zoom");
            assert_eq!(
                pkg[key]["channel"]["selectionLabel"],
                "Zoom (meetings + Team Chat)"
            );
            assert_eq!(pkg[key]["channel"]["order"], 75);
        }
    }

    #[test]
    fn npm_packages_chain_extension_sidecar_and_targets() {
        let pkg = package_json();
        let sidecar = sidecar_package_json();
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            pkg["dependencies"],
            json!({ "@moltbot-zoom/sidecar": version })
        );
        assert!(
            pkg.get("optionalDependencies").is_none(),
            "Clawdbot runs npm install only for `dependencies`"
        );
        for file in pkg["files"].as_array().unwrap() {
            let file = file.as_str().unwrap();
            assert!(
                extension_dir().join(file).is_file(),
                "files lists {file}, which extension/ lacks"
            );
        }
        let targets = target_package_jsons();
        assert!(!targets.is_empty());
        let optional = sidecar["optionalDependencies"].as_object().unwrap();
        assert_eq!(optional.len(), targets.len());
        for (dir, target) in &targets {
            let name = target["name"].as_str().unwrap();
            assert_eq!(optional[name], version, "{name}");
            assert_eq!(name, format!("@moltbot-zoom/{dir}"));
            let (os, cpu) = (&target["os"][0], &target["cpu"][0]);
            assert_eq!(
                name,
                format!(
                    "@moltbot-zoom/sidecar-{}-{}",
                    os.as_str().unwrap(),
                    cpu.as_str().unwrap()
                ),
                "the extension derives the name from process.platform / process.arch"
            );
            assert_eq!(target["files"], json!(["bin/"]));
            assert!(target["moltbotZoom"]["rustTarget"].is_string());
        }
        assert_eq!(
            pkg["openclaw"]["install"]["requiredPlatformPackages"],
            json!(optional.keys().collect::<Vec<_>>())
        );
        assert_eq!(targets[0].1["os"], json!(["linux"]));
        assert_eq!(targets[0].1["cpu"], json!(["x64"]));
        assert_eq!(targets[0].1["libc"], json!(["glibc"]));
    }

    #[test]
    fn cli_add_options_are_long_flags_named_after_their_keys() {
        let pkg = package_json();
        let options = pkg["openclaw"]["channel"]["cliAddOptions"]
            .as_array()
            .unwrap();
        let flags: Vec<&str> = options
            .iter()
            .map(|o| o["flags"].as_str().unwrap())
            .collect();
        for flag in [
            "--client-id <id>",
            "--client-secret <secret>",
            "--zoom-account-id <id>",
        ] {
            assert!(flags.contains(&flag), "{flag}");
        }
        for option in options {
            let flag = option["flags"].as_str().unwrap();
            assert!(flag.starts_with("--"), "{flag}");
            assert!(option["description"].is_string());
        }
        let allow = options
            .iter()
            .find(|o| o["flags"] == "--allow-from <list>")
            .unwrap();
        assert_eq!(allow["valueType"], "list");
        assert!(pkg["clawdbot"]["channel"].get("cliAddOptions").is_none());
    }

    /// The copies under extension/ (loadable in place with `plugins.load.paths`) and
    /// npm/ are the generated ones. `MOLTBOT_ZOOM_BLESS=1` rewrites them.
    #[test]
    fn committed_manifests_match_plugin_toml() {
        let bless = std::env::var_os("MOLTBOT_ZOOM_BLESS").is_some();
        let npm_dir = extension_dir().join("../npm");
        let manifest = pretty(&plugin_manifest());
        let generated =
            MANIFEST_NAMES
                .iter()
                .map(|name| (*name, manifest.clone()))
                .chain([("package.json", pretty(&package_json()))])
                .map(|(name, content)| (extension_dir().join(name), name.to_string(), content))
                .chain(npm_files().into_iter().map(|(name, content)| {
                    (npm_dir.join(&name), format!("../npm/{name}"), content)
                }));
        for (path, name, content) in generated {
            if bless {
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(&path, &content).unwrap();
            }
            let committed: Value = serde_json::from_slice(&fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let generated: Value = serde_json::from_slice(&content).unwrap();
            assert_eq!(
                committed, generated,
                "extension/{name} is stale: run MOLTBOT_ZOOM_BLESS=1 cargo test -p moltbot-zoom"
            );
        }
    }

    #[test]
    fn index_js_fallback_meta_agrees_with_plugin_toml() {
        let p = plugin();
        let inbound = p.config.iter().find(|k| k.key == "webhookPath").unwrap();
        let inbound = inbound.default.as_ref().unwrap().as_str().unwrap();
        let expected = [
            format!("id: {:?},", p.id),
            format!("label: {:?},", p.channel.label),
            format!("selectionLabel: {:?},", p.channel.selection_label),
            format!("detailLabel: {:?},", p.channel.detail_label),
            format!("blurb: {:?},", p.channel.blurb),
            format!("docsPath: {:?},", p.channel.docs_path),
            format!("docsLabel: {:?},", p.channel.docs_label),
            format!("order: {},", p.channel.order),
            format!("const PLUGIN_NAME = {:?};", p.name),
            format!("const PLUGIN_DESCRIPTION = {:?};", p.description),
            format!("const DEFAULT_INBOUND_PATH = {inbound:?};"),
        ];
        for line in expected {
            assert!(INDEX_JS.contains(&line), "index.js lacks `{line}`");
        }
    }

    #[test]
    fn fresh_install_writes_every_file() {
        let tmp = temp_dir("fresh");
        let bin = fake_binary(&tmp, "#!/bin/sh\necho sidecar\n");
        let ext = tmp.join("extensions");
        let report = install(&InstallOptions {
            extensions_dir: Some(ext.clone()),
            binary_mode: BinaryMode::Copy,
            host: None,
            sidecar_binary: bin,
        })
        .unwrap();
        let dir = ext.join("zoom");
        assert_eq!(report.dir, dir);
        assert_eq!(report.outcome(), "installed");
        for name in MANIFEST_NAMES {
            let m: Value = serde_json::from_slice(&fs::read(dir.join(name)).unwrap()).unwrap();
            assert_eq!(m, plugin_manifest(), "{name}");
        }
        let pkg: Value =
            serde_json::from_slice(&fs::read(dir.join("package.json")).unwrap()).unwrap();
        assert_eq!(pkg, installed_package_json());
        assert!(
            pkg.get("dependencies").is_none(),
            "a source install has its binary; OpenClaw would refuse a missing dependency"
        );
        assert_eq!(pkg["name"], package_json()["name"]);
        for module in ["setup.js", "sidecar-binary.js", "media.js", "actions.js"] {
            assert!(dir.join(module).is_file(), "{module}");
        }
        assert_eq!(fs::read_to_string(dir.join("index.js")).unwrap(), INDEX_JS);
        assert_eq!(
            fs::read_to_string(dir.join(BIN_PATH)).unwrap(),
            "#!/bin/sh\necho sidecar\n"
        );
        assert!(mode_is(&dir.join(BIN_PATH), 0o755));
        assert!(!dir.join(SIDECAR_JSON).exists());
        let text = report.to_string();
        assert!(text.contains("plugins: { entries: { zoom: { enabled: true } } }"));
        assert!(text.contains(report.password_suggestion.expose()));
        assert!(text.contains("gateway restart"));
        assert!(text.contains("channels add --channel zoom"));
        assert!(!format!("{report:?}").contains(report.password_suggestion.expose()));
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn second_install_is_idempotent_and_updates_changed_files() {
        let tmp = temp_dir("again");
        let bin = fake_binary(&tmp, "v1");
        let opts = InstallOptions {
            extensions_dir: Some(tmp.join("ext")),
            binary_mode: BinaryMode::Copy,
            host: None,
            sidecar_binary: bin.clone(),
        };
        install(&opts).unwrap();
        let again = install(&opts).unwrap();
        assert_eq!(again.outcome(), "unchanged");
        assert!(again.files.iter().all(|(_, s)| *s == FileStatus::Unchanged));

        fs::write(&bin, "v2").unwrap();
        fs::write(tmp.join("ext/zoom/package.json"), "{}").unwrap();
        let third = install(&opts).unwrap();
        assert_eq!(third.outcome(), "updated");
        let status: HashMap<_, _> = third.files.iter().cloned().collect();
        assert_eq!(status["package.json"], FileStatus::Updated);
        assert_eq!(status[BIN_PATH], FileStatus::Updated);
        assert_eq!(status["index.js"], FileStatus::Unchanged);
        assert_eq!(
            fs::read_to_string(tmp.join("ext/zoom").join(BIN_PATH)).unwrap(),
            "v2"
        );
        let leftovers: Vec<_> = fs::read_dir(tmp.join("ext/zoom"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn link_mode_writes_sidecar_json_and_removes_the_copy() {
        let tmp = temp_dir("link");
        let bin = fake_binary(&tmp, "bin");
        let mut opts = InstallOptions {
            extensions_dir: Some(tmp.join("ext")),
            binary_mode: BinaryMode::Copy,
            host: None,
            sidecar_binary: bin.clone(),
        };
        install(&opts).unwrap();
        opts.binary_mode = BinaryMode::Link;
        let report = install(&opts).unwrap();
        let dir = tmp.join("ext/zoom");
        let link: Value =
            serde_json::from_slice(&fs::read(dir.join(SIDECAR_JSON)).unwrap()).unwrap();
        assert_eq!(link["path"], json!(fs::canonicalize(&bin).unwrap()));
        assert!(!dir.join(BIN_PATH).exists());
        assert!(
            report
                .files
                .contains(&(BIN_PATH.to_string(), FileStatus::Removed))
        );
        assert!(report.to_string().contains(SIDECAR_JSON));
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn install_fails_clearly_without_the_binary() {
        let tmp = temp_dir("nobin");
        let err = install(&InstallOptions {
            extensions_dir: Some(tmp.join("ext")),
            binary_mode: BinaryMode::Copy,
            host: None,
            sidecar_binary: tmp.join("missing"),
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("cannot find the sidecar binary"));
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn uninstall_removes_and_tolerates_absence() {
        let tmp = temp_dir("uninstall");
        let ext = tmp.join("ext");
        install(&InstallOptions {
            extensions_dir: Some(ext.clone()),
            binary_mode: BinaryMode::Copy,
            host: None,
            sidecar_binary: fake_binary(&tmp, "x"),
        })
        .unwrap();
        let report = uninstall(Some(&ext), None).unwrap();
        assert!(report.removed);
        assert!(!ext.join("zoom").exists());
        assert!(report.to_string().contains("Removed"));
        let again = uninstall(Some(&ext), None).unwrap();
        assert!(!again.removed);
        assert!(again.to_string().contains("Nothing to remove"));
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn uninstall_refuses_a_foreign_package() {
        let tmp = temp_dir("foreign");
        let dir = tmp.join("ext/zoom");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("package.json"), r#"{"name":"other"}"#).unwrap();
        let err = uninstall(Some(&tmp.join("ext")), None).unwrap_err();
        assert!(err.to_string().contains("another package"));
        assert!(dir.exists());
        fs::remove_dir_all(&tmp).unwrap();
    }
}
