//! Idempotent sends: what each caller key (BlueBubbles' `tempGuid`) has
//! posted, so a retry after a partial failure resumes at the first part not
//! posted, and a retry after success returns the same result. Bounded: the
//! oldest keys are forgotten first.

use std::hash::{DefaultHasher, Hash, Hasher};

use moltbot_channel::{ChannelError, DeliveryResult};

use crate::dedup::Recent;

/// How many keys are remembered.
pub(crate) const LEDGER_CAPACITY: usize = 4096;

/// What one key has done so far.
#[derive(Debug, Clone)]
struct Entry {
    /// Hash of the conversation, text and reply target the key was used with.
    fingerprint: u64,
    /// Zoom ids of the parts posted, in order.
    posted: Vec<String>,
    /// The result once every part is posted.
    done: Option<DeliveryResult>,
}

/// Where a keyed send starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resume {
    /// Already complete: answer this.
    Done(DeliveryResult),
    /// These parts are posted; continue after them.
    From(Vec<String>),
}

/// Caller key → progress.
#[derive(Debug)]
pub(crate) struct Ledger {
    entries: Recent<Entry>,
}

impl Ledger {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Recent::new(capacity),
        }
    }

    /// Where the send of `key` with this message starts.
    ///
    /// # Errors
    /// [`ChannelError::BadRequest`] when `key` already posted (part of)
    /// another message.
    pub(crate) fn resume(
        &mut self,
        key: &str,
        conversation_id: &str,
        text: &str,
        reply_to_id: Option<&str>,
    ) -> Result<Resume, ChannelError> {
        let fingerprint = fingerprint(conversation_id, text, reply_to_id);
        if let Some(entry) = self.entries.get_mut(key) {
            if entry.posted.is_empty() && entry.done.is_none() {
                // Nothing went out under this key yet: it may name another message.
                entry.fingerprint = fingerprint;
            }
            if entry.fingerprint != fingerprint {
                return Err(ChannelError::BadRequest(format!(
                    "idempotency key `{key}` was already used for a different message"
                )));
            }
            return Ok(match &entry.done {
                Some(result) => Resume::Done(result.clone()),
                None => Resume::From(entry.posted.clone()),
            });
        }
        self.entries.insert_with(
            key,
            Entry {
                fingerprint,
                posted: Vec::new(),
                done: None,
            },
        );
        Ok(Resume::From(Vec::new()))
    }

    /// Whether `key` is remembered.
    pub(crate) fn knows(&self, key: &str) -> bool {
        self.entries.contains(key)
    }

    /// Takes over a send of `key` that another process began: `posted` are
    /// the parts found on the platform.
    pub(crate) fn adopt(
        &mut self,
        key: &str,
        conversation_id: &str,
        text: &str,
        reply_to_id: Option<&str>,
        posted: Vec<String>,
    ) {
        self.entries.insert_with(
            key,
            Entry {
                fingerprint: fingerprint(conversation_id, text, reply_to_id),
                posted,
                done: None,
            },
        );
    }

    /// Records that `key`'s next part was posted as `id`.
    pub(crate) fn posted(&mut self, key: &str, id: &str) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.posted.push(id.to_owned());
        }
    }

    /// Records `key`'s final result.
    pub(crate) fn done(&mut self, key: &str, result: &DeliveryResult) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.done = Some(result.clone());
        }
    }
}

fn fingerprint(conversation_id: &str, text: &str, reply_to_id: Option<&str>) -> u64 {
    let mut h = DefaultHasher::new();
    (conversation_id, text, reply_to_id).hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_completes_and_refuses_reuse() {
        let mut ledger = Ledger::new(2);
        assert_eq!(
            ledger.resume("k", "c", "hello", None).unwrap(),
            Resume::From(vec![])
        );
        // Nothing posted yet: the key may still change its message.
        assert_eq!(
            ledger.resume("k", "c", "hello again", None).unwrap(),
            Resume::From(vec![])
        );
        assert_eq!(
            ledger.resume("k", "c", "hello", None).unwrap(),
            Resume::From(vec![])
        );
        ledger.posted("k", "id-1");
        assert_eq!(
            ledger.resume("k", "c", "hello", None).unwrap(),
            Resume::From(vec!["id-1".into()])
        );
        let err = ledger.resume("k", "c", "other", None).unwrap_err();
        assert!(matches!(err, ChannelError::BadRequest(_)), "{err}");
        let result = DeliveryResult {
            message_id: "id-1".into(),
            part_ids: vec!["id-1".into(), "id-2".into()],
            conversation_id: "c".into(),
            timestamp_ms: 1,
        };
        ledger.posted("k", "id-2");
        ledger.done("k", &result);
        assert_eq!(
            ledger.resume("k", "c", "hello", None).unwrap(),
            Resume::Done(result)
        );
        // Bounded: the oldest key is forgotten.
        ledger.resume("k2", "c", "x", None).unwrap();
        ledger.resume("k3", "c", "x", None).unwrap();
        assert_eq!(
            ledger.resume("k", "c", "hello", None).unwrap(),
            Resume::From(vec![])
        );
    }
}
