//! `channels.zoom` from the gateway's own config file (JSON5), merged the way the
//! extension merges it: `channels.zoom` without `accounts`, then
//! `channels.zoom.accounts.<id>` over it, key by key.
//!
//! `${VAR}` in a string value is the hosts' env substitution (uppercase names,
//! `$${VAR}` for a literal). Here it resolves from the process environment, then the
//! file's `env.vars`; a value naming a variable that is not set becomes an env
//! SecretRef, so the configuration check names the key and the variable (never a
//! value). SecretRef objects pass through to the config loader, which resolves
//! `env` ones.

use std::collections::BTreeMap;

use super::*;

/// The account object read from a gateway config file.
#[derive(Debug)]
pub(super) struct HostAccount {
    /// The config file.
    pub(super) path: PathBuf,
    /// The merged account, with `accountId` (and `stateDir` when known) added.
    pub(super) account: Map<String, Value>,
}

/// Why no account could be read: the check to print.
pub(super) type Refusal = Check;

/// Reads `path` and merges account `account_id` (the extension's default when `None`).
pub(super) fn read(
    path: &Path,
    account_id: Option<&str>,
    env: &BTreeMap<String, String>,
) -> Result<Option<HostAccount>, Refusal> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Check::fail(
            "configuration",
            format!("cannot read {}: {e}", path.display()),
            "pass the gateway config with --host-config FILE, or choose the gateway with --host",
        )
    })?;
    let root: Value = json5::from_str(&text).map_err(|e| {
        // The parser's message quotes the offending line, which may hold a secret.
        let at = match &e {
            json5::Error::Message {
                location: Some(l), ..
            } => format!(" at line {}, column {}", l.line, l.column),
            json5::Error::Message { .. } => String::new(),
        };
        Check::fail(
            "configuration",
            format!("{}: invalid JSON5{at}", path.display()),
            "fix the syntax (the gateway refuses the file too)",
        )
    })?;
    let Some(section) = root.pointer("/channels/zoom") else {
        return Ok(None);
    };
    let Value::Object(section) = section else {
        return Err(Check::fail(
            "configuration",
            format!("{}: channels.zoom is not an object", path.display()),
            "make channels.zoom an object of the keys in docs/configuration.md",
        ));
    };
    let mut account = section.clone();
    let accounts = match account.remove("accounts") {
        Some(Value::Object(a)) => a,
        _ => Map::new(),
    };
    let ids: Vec<&String> = accounts
        .keys()
        .filter(|k| accounts[*k].is_object())
        .collect();
    let id = match account_id {
        Some(id) => {
            if !ids.is_empty() && !ids.iter().any(|k| *k == id) {
                return Err(Check::fail(
                    "configuration",
                    format!(
                        "{}: no channels.zoom.accounts.{id} (accounts: {})",
                        path.display(),
                        join(&ids)
                    ),
                    "pass one of the listed ids with --account",
                ));
            }
            id.to_owned()
        }
        None if ids.is_empty() || ids.iter().any(|k| *k == "default") => "default".to_owned(),
        None if ids.len() == 1 => ids[0].clone(),
        None => {
            return Err(Check::fail(
                "configuration",
                format!(
                    "{}: several accounts under channels.zoom.accounts ({}) and none is `default`",
                    path.display(),
                    join(&ids)
                ),
                "choose one with --account ID",
            ));
        }
    };
    if let Some(Value::Object(own)) = accounts.get(&id) {
        for (k, v) in own {
            account.insert(k.clone(), v.clone());
        }
    }
    let mut vars = env.clone();
    if let Some(Value::Object(inline)) = root.pointer("/env/vars") {
        for (k, v) in inline {
            if let Some(v) = v.as_str() {
                // Inline vars apply only where the process environment lacks them.
                vars.entry(k.clone()).or_insert_with(|| v.to_owned());
            }
        }
    }
    for value in account.values_mut() {
        substitute(value, &vars);
    }
    account.insert("accountId".into(), Value::String(id));
    Ok(Some(HostAccount {
        path: path.to_path_buf(),
        account,
    }))
}

fn join(ids: &[&String]) -> String {
    ids.iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Applies `${VAR}` substitution to every string in `value` (SecretRefs are left).
fn substitute(value: &mut Value, vars: &BTreeMap<String, String>) {
    if crate::config::resolve_secret_ref(value, vars).is_some() {
        return;
    }
    match value {
        Value::String(s) => {
            if let Some(replacement) = substitute_str(s, vars) {
                *value = replacement;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, vars)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, vars)),
        _ => {}
    }
}

/// The value for `s` when it holds a `${VAR}` (or `$${…}`): the substituted string,
/// or an env SecretRef naming the first variable that is not set.
fn substitute_str(s: &str, vars: &BTreeMap<String, String>) -> Option<Value> {
    if !s.contains("${") {
        return None;
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        let escaped = rest[..at].ends_with('$');
        let after = &rest[at + 2..];
        let name_len = after.find('}').filter(|&n| is_var_name(&after[..n]));
        match name_len {
            Some(n) if escaped => {
                out.push_str(&rest[..at - 1]);
                out.push_str(&rest[at..at + 3 + n]);
            }
            Some(n) => {
                out.push_str(&rest[..at]);
                let name = &after[..n];
                match vars.get(name).filter(|v| !v.is_empty()) {
                    Some(v) => out.push_str(v),
                    None => return Some(serde_json::json!({ "source": "env", "id": name })),
                }
            }
            None => {
                out.push_str(&rest[..at + 2]);
                rest = after;
                continue;
            }
        }
        rest = &after[name_len.unwrap_or(0) + 1..];
    }
    out.push_str(rest);
    Some(Value::String(out))
}

/// `[A-Z_][A-Z0-9_]*`, the names the hosts substitute.
fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn file(text: &str) -> (PathBuf, impl Drop) {
        struct Gone(PathBuf);
        impl Drop for Gone {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        let path = std::env::temp_dir().join(format!(
            "moltbot-zoom-hostcfg-{}.json",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&path, text).unwrap();
        (path.clone(), Gone(path))
    }

    #[test]
    fn substitution_follows_the_hosts_rules() {
        let v = vars(&[("ZS", "secret"), ("HOST", "h")]);
        assert_eq!(substitute_str("plain", &v), None);
        assert_eq!(substitute_str("${ZS}", &v), Some(json!("secret")));
        assert_eq!(
            substitute_str("http://${HOST}:1/${HOST}", &v),
            Some(json!("http://h:1/h"))
        );
        assert_eq!(substitute_str("$${ZS}", &v), Some(json!("${ZS}")));
        assert_eq!(
            substitute_str("${lower}", &v),
            Some(json!("${lower}")),
            "only uppercase names"
        );
        assert_eq!(
            substitute_str("x${MISSING}", &v),
            Some(json!({"source": "env", "id": "MISSING"}))
        );
    }

    #[test]
    fn reads_json5_and_merges_the_account_over_the_top_level() {
        let (path, _gone) = file(
            r#"// OpenClaw config
            {
              env: { vars: { INLINE: "from-file", ZS: "ignored: the process env wins" } },
              channels: {
                zoom: {
                  clientId: "top", sender: "top@example.com",
                  clientSecret: "${ZS}",
                  password: { source: "env", id: "PW" },
                  accounts: {
                    work: { sender: "work@example.com", name: "${INLINE}", },
                  },
                },
              },
            }"#,
        );
        let env = vars(&[("ZS", "zoom-secret")]);
        let got = read(&path, None, &env).unwrap().unwrap();
        let a = &got.account;
        assert_eq!(a["accountId"], "work", "the only account");
        assert_eq!(a["clientId"], "top");
        assert_eq!(a["sender"], "work@example.com");
        assert_eq!(a["name"], "from-file");
        assert_eq!(a["clientSecret"], "zoom-secret");
        assert_eq!(a["password"], json!({"source": "env", "id": "PW"}));
        assert!(a.get("accounts").is_none());

        let refused = read(&path, Some("home"), &env).unwrap_err();
        assert!(refused.detail.contains("accounts: work"), "{refused}");
    }

    #[test]
    fn several_accounts_without_default_need_a_choice() {
        let (path, _gone) = file(r#"{channels:{zoom:{accounts:{a:{},b:{}}}}}"#);
        let refused = read(&path, None, &BTreeMap::new()).unwrap_err();
        assert!(refused.detail.contains("(a, b)"), "{refused}");
        assert_eq!(
            read(&path, Some("b"), &BTreeMap::new())
                .unwrap()
                .unwrap()
                .account["accountId"],
            "b"
        );
    }

    #[test]
    fn syntax_errors_never_quote_the_file_and_no_section_is_none() {
        let (path, _gone) = file("{ channels: { zoom: { clientSecret: \"hunter2\" oops } } }");
        let refused = read(&path, None, &BTreeMap::new()).unwrap_err();
        assert!(
            refused.detail.contains("invalid JSON5 at line 1"),
            "{refused}"
        );
        assert!(!refused.to_string().contains("hunter2"), "{refused}");
        let (path, _gone2) = file("{ gateway: { port: 1 } }");
        assert!(read(&path, None, &BTreeMap::new()).unwrap().is_none());
    }
}
