use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value Zoom sends as a JSON number in some events and a string in others.
///
/// Meeting ids are numbers in `meeting.created/updated/deleted` and strings in
/// `meeting.started/ended/participant_*`; both decode to the same text.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NumOrString(pub String);

/// A Zoom meeting id, whichever JSON type it arrived as.
pub type MeetingId = NumOrString;

impl NumOrString {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when no id was present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for NumOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NumOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl From<&str> for NumOrString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl Serialize for NumOrString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NumOrString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(Self(match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null => String::new(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a number or string id, got {other}"
                )));
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_and_string_decode_the_same() {
        let a: NumOrString = serde_json::from_str("1234567890").unwrap();
        let b: NumOrString = serde_json::from_str("\"1234567890\"").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "1234567890");
        assert!(serde_json::from_str::<NumOrString>("[1]").is_err());
    }
}
