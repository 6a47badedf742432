//! `moltbot-zoom outbox`: inspect, requeue or drop dead letters directly in
//! the SQLite store. Safe while the sidecar runs (WAL); a running delivery
//! worker notices the change (SQLite `data_version`) within about a second
//! and delivers requeued messages.

use std::{fmt::Write as _, path::PathBuf};

use anyhow::{Context, bail};
use bluebubbles_shim::{DeadLetter, OutboxStats, Store, redact_url};
use serde_json::{Value, json};

use crate::status_cmd::{duration, now_ms, when};

/// Longest last-error text shown in the list.
const ERROR_WIDTH: usize = 60;

/// `moltbot-zoom outbox` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum OutboxCommand {
    /// List dead letters and the outbox counts.
    List {
        /// Print one JSON document: `{"outbox": {counts}, "deadLetters": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter with its webhook payload.
    Show {
        /// Dead letter id (from `list`).
        id: i64,
        /// Print the dead letter as one JSON object (payload included).
        #[arg(long)]
        json: bool,
    },
    /// Put a dead letter (or every one with --all) back in the queue.
    Retry {
        /// Dead letter id (from `list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Requeue every dead letter.
        #[arg(long)]
        all: bool,
    },
    /// Delete a dead letter for good.
    Drop {
        /// Dead letter id (from `list`).
        id: i64,
    },
}

/// Runs an `outbox` subcommand on the database at `db` and prints its report.
///
/// # Errors
/// The database does not exist or cannot be opened, or the dead letter does
/// not exist.
pub(crate) fn run(cmd: OutboxCommand, db: PathBuf) -> anyhow::Result<()> {
    if !db.is_file() {
        bail!(
            "no database at {}; check `database` (--database, --config or MOLTBOT_ZOOM_DATABASE)",
            db.display()
        );
    }
    let store =
        Store::open(&db).with_context(|| format!("cannot open the database {}", db.display()))?;
    let text = execute(&store, &cmd, now_ms())?;
    crate::stdout::outln!("{}", text.trim_end_matches('\n'))
}

/// Performs `cmd` on `store`; returns the text to print.
fn execute(store: &Store, cmd: &OutboxCommand, now_ms: i64) -> anyhow::Result<String> {
    match *cmd {
        OutboxCommand::List { json: false } => {
            Ok(list(&store.dead_letters()?, &store.outbox_stats()?, now_ms))
        }
        OutboxCommand::List { json: true } => {
            let letters: Vec<Value> = store.dead_letters()?.iter().map(letter_json).collect();
            let doc = json!({ "outbox": store.outbox_stats()?, "deadLetters": letters });
            Ok(format!("{}\n", serde_json::to_string_pretty(&doc)?))
        }
        OutboxCommand::Show { id, json: false } => Ok(show(&find(store, id)?, now_ms)),
        OutboxCommand::Show { id, json: true } => Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&letter_json(&find(store, id)?))?
        )),
        OutboxCommand::Retry { all: true, .. } => {
            let letters = store.dead_letters()?;
            let mut requeued = 0;
            for d in &letters {
                if store.requeue(d.id)? {
                    requeued += 1;
                }
            }
            Ok(format!(
                "requeued {requeued} dead letter{}{}\n",
                if requeued == 1 { "" } else { "s" },
                if requeued > 0 { PICKUP } else { "" }
            ))
        }
        OutboxCommand::Retry { id, .. } => {
            let Some(id) = id else {
                bail!("give a dead letter id or --all");
            };
            let d = find(store, id)?;
            if !store.requeue(id)? {
                bail!("dead letter {id} changed meanwhile; see `moltbot-zoom outbox list`");
            }
            Ok(format!("requeued {}{PICKUP}\n", describe(&d)))
        }
        OutboxCommand::Drop { id } => {
            let d = find(store, id)?;
            if !store.drop_dead_letter(id)? {
                bail!("dead letter {id} changed meanwhile; see `moltbot-zoom outbox list`");
            }
            Ok(format!("dropped {} for good\n", describe(&d)))
        }
    }
}

/// When a requeued message goes out.
const PICKUP: &str = "; a running sidecar delivers it within seconds, otherwise at its next start";

fn find(store: &Store, id: i64) -> anyhow::Result<DeadLetter> {
    store
        .dead_letter(id)?
        .with_context(|| format!("no dead letter with id {id} (see `moltbot-zoom outbox list`)"))
}

/// `dead letter 3 (message zoom-ev-…, conversation zoom;+;meeting:1, webhook http://…)`.
fn describe(d: &DeadLetter) -> String {
    format!(
        "dead letter {} (message {}, conversation {}, webhook {})",
        d.id,
        d.message_guid,
        d.chat_guid,
        redact_url(&d.webhook_url)
    )
}

/// A dead letter as JSON (the store's camelCase fields), the webhook URL redacted.
fn letter_json(d: &DeadLetter) -> Value {
    let mut value = serde_json::to_value(d).unwrap_or(Value::Null);
    value["webhookUrl"] = Value::String(redact_url(&d.webhook_url));
    value
}

/// The counts and a table of dead letters.
fn list(letters: &[DeadLetter], stats: &OutboxStats, now_ms: i64) -> String {
    let mut out = format!(
        "outbox: {} undelivered, {} pending deliver{}, {} dead letter{}\n",
        stats.depth,
        stats.pending,
        if stats.pending == 1 { "y" } else { "ies" },
        stats.dead_letters,
        if stats.dead_letters == 1 { "" } else { "s" },
    );
    if letters.is_empty() {
        return out;
    }
    let rows: Vec<[String; 5]> = letters
        .iter()
        .map(|d| {
            [
                d.id.to_string(),
                d.chat_guid.clone(),
                d.attempts.to_string(),
                duration(u64::try_from(now_ms.saturating_sub(d.created_ms)).unwrap_or(0)),
                shorten(d.last_error.as_deref().unwrap_or("–"), ERROR_WIDTH),
            ]
        })
        .collect();
    let header = ["ID", "CONVERSATION", "ATTEMPTS", "AGE", "LAST ERROR"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    out.push('\n');
    for row in std::iter::once(header.map(str::to_owned)).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One dead letter with its payload.
fn show(d: &DeadLetter, now_ms: i64) -> String {
    let payload =
        serde_json::to_string_pretty(&d.payload).unwrap_or_else(|_| d.payload.to_string());
    format!(
        "dead letter {}\n  message       {}\n  conversation  {}\n  webhook       {} (id {})\n  \
         attempts      {}\n  last error    {}\n  queued        {}\npayload:\n{payload}\n",
        d.id,
        d.message_guid,
        d.chat_guid,
        redact_url(&d.webhook_url),
        d.webhook_id,
        d.attempts,
        d.last_error.as_deref().unwrap_or("–"),
        when(d.created_ms, now_ms),
    )
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_736_154_000_000;

    fn letter(id: i64, chat: &str, error: &str) -> DeadLetter {
        DeadLetter {
            id,
            message_guid: format!("zoom-ev-{id:032}"),
            chat_guid: chat.into(),
            webhook_id: 1,
            webhook_url: "http://127.0.0.1:9/zoom-webhook?password=hunter2".into(),
            attempts: 12,
            last_error: Some(error.into()),
            created_ms: NOW - 192_000,
            payload: json!({"type": "new-message", "data": {"guid": format!("zoom-ev-{id:032}"), "text": "Meeting started"}}),
        }
    }

    #[test]
    fn list_prints_counts_and_an_aligned_table() {
        let stats = OutboxStats {
            depth: 3,
            pending: 1,
            dead_letters: 2,
            ..OutboxStats::default()
        };
        let text = list(
            &[
                letter(4, "zoom;+;meeting:1", "webhook answered HTTP 500"),
                letter(17, "zoom;-;alice@example.com", &"x".repeat(100)),
            ],
            &stats,
            NOW,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "outbox: 3 undelivered, 1 pending delivery, 2 dead letters"
        );
        assert_eq!(
            lines[2],
            "ID  CONVERSATION              ATTEMPTS  AGE     LAST ERROR"
        );
        assert_eq!(
            lines[3],
            "4   zoom;+;meeting:1          12        3m 12s  webhook answered HTTP 500"
        );
        assert!(lines[4].starts_with("17  zoom;-;alice@example.com  12"));
        assert!(lines[4].ends_with(&format!("{}…", "x".repeat(ERROR_WIDTH - 1))));
        assert_eq!(
            list(&[], &OutboxStats::default(), NOW),
            "outbox: 0 undelivered, 0 pending deliveries, 0 dead letters\n"
        );
    }

    #[test]
    fn show_prints_the_payload_and_redacts_the_webhook() {
        let text = show(&letter(4, "zoom;+;meeting:1", "could not connect"), NOW);
        assert!(text.starts_with("dead letter 4\n"), "{text}");
        assert!(
            text.contains("  webhook       http://127.0.0.1:9/zoom-webhook (id 1)"),
            "{text}"
        );
        assert!(
            text.contains("  queued        2025-01-06 08:56:48 UTC (3m 12s ago)"),
            "{text}"
        );
        assert!(
            text.contains("payload:\n{\n  \"data\": {\n    \"guid\": \"zoom-ev-"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!describe(&letter(4, "c", "e")).contains("hunter2"));
    }

    #[test]
    fn unknown_ids_are_errors_and_change_nothing() {
        let store = Store::open_in_memory().unwrap();
        for cmd in [
            OutboxCommand::Show {
                id: 42,
                json: false,
            },
            OutboxCommand::Show { id: 42, json: true },
            OutboxCommand::Retry {
                id: Some(42),
                all: false,
            },
            OutboxCommand::Drop { id: 42 },
        ] {
            let err = execute(&store, &cmd, NOW).unwrap_err().to_string();
            assert_eq!(
                err,
                "no dead letter with id 42 (see `moltbot-zoom outbox list`)"
            );
        }
        let all = OutboxCommand::Retry {
            id: None,
            all: true,
        };
        assert_eq!(
            execute(&store, &all, NOW).unwrap(),
            "requeued 0 dead letters\n"
        );
    }

    #[test]
    fn a_missing_database_is_not_created() {
        let path = std::env::temp_dir().join(format!(
            "moltbot-zoom-missing-{}.sqlite",
            uuid::Uuid::new_v4().simple()
        ));
        let err = run(OutboxCommand::List { json: false }, path.clone())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no database at "), "{err}");
        assert!(!path.exists());
    }
}
