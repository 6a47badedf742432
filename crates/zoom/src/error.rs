use std::time::{Duration, SystemTime};

use time::{PrimitiveDateTime, macros::format_description};

/// Everything that can go wrong talking to Zoom. Messages never carry a
/// secret, a token, or a URL with a token in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoomError {
    /// The OAuth endpoint refused the token request (Zoom's `{reason, error}`).
    #[error("Zoom OAuth request failed (HTTP {status}): {reason} [{error}]")]
    OAuth {
        /// HTTP status.
        status: u16,
        /// Zoom's human-readable `reason`.
        reason: String,
        /// Zoom's error code, e.g. `invalid_client`.
        error: String,
    },
    /// A REST call failed (Zoom's `{code, message}`).
    #[error("Zoom API error {code} (HTTP {status}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Zoom error code.
        code: i64,
        /// Zoom's message.
        message: String,
    },
    /// HTTP 429.
    #[error("rate limited by Zoom (retry after {}): {message}", .retry_after.map_or_else(|| "unknown".to_owned(), |d| format!("{} s", d.as_secs_f64())))]
    RateLimited {
        /// Parsed `Retry-After` (seconds or HTTP date), when present.
        retry_after: Option<Duration>,
        /// Zoom's message.
        message: String,
    },
    /// Transport failure (connect, TLS, reset, ...).
    #[error("network error: {0}")]
    Network(String),
    /// Something took too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The WebSocket's `build_connection` frame said `success:false`.
    #[error("build_connection failed: {0}")]
    BuildConnection(String),
    /// Zoom rejected the access token on the WebSocket ("Invalid Token" / "Token is invalid").
    #[error("Zoom rejected the access token: {0}")]
    TokenRejected(String),
    /// An unexpected frame or response shape.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// Whether and how a failed operation may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryKind {
    /// Retry later (after `retry_after` when given).
    Transient {
        /// Server-requested wait.
        retry_after: Option<Duration>,
    },
    /// The network failed; retry a bounded number of times.
    NetworkFailure,
    /// Retrying will not help.
    Permanent,
}

impl ZoomError {
    /// Classifies the error for retry decisions: 429 and 5xx are transient,
    /// network failures and timeouts are network failures, other 4xx are permanent.
    pub fn retry_kind(&self) -> RetryKind {
        let by_status = |status: u16| {
            if status == 429 || status >= 500 {
                RetryKind::Transient { retry_after: None }
            } else {
                RetryKind::Permanent
            }
        };
        match self {
            ZoomError::OAuth { status, .. } | ZoomError::Api { status, .. } => by_status(*status),
            ZoomError::RateLimited { retry_after, .. } => RetryKind::Transient {
                retry_after: *retry_after,
            },
            ZoomError::Network(_) | ZoomError::Timeout(_) => RetryKind::NetworkFailure,
            ZoomError::BuildConnection(_)
            | ZoomError::TokenRejected(_)
            | ZoomError::Protocol(_) => RetryKind::Transient { retry_after: None },
        }
    }

    /// A transport error from reqwest, with the URL stripped and its causes
    /// appended (e.g. "tcp connect error: Connection refused").
    pub(crate) fn from_http(err: reqwest::Error) -> Self {
        let timeout = err.is_timeout();
        let err = err.without_url();
        let mut text = err.to_string();
        let mut cause = std::error::Error::source(&err);
        while let Some(c) = cause {
            text = format!("{text}: {c}");
            cause = c.source();
        }
        if timeout {
            ZoomError::Timeout(text)
        } else {
            ZoomError::Network(text)
        }
    }
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date (IMF-fixdate,
/// measured from `now`; a date in the past gives zero).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at: SystemTime = PrimitiveDateTime::parse(value, format)
        .ok()?
        .assume_utc()
        .into();
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn retry_classification_table() {
        let cases = [
            (
                ZoomError::Api {
                    status: 404,
                    code: 4130,
                    message: String::new(),
                },
                RetryKind::Permanent,
            ),
            (
                ZoomError::Api {
                    status: 503,
                    code: 0,
                    message: String::new(),
                },
                RetryKind::Transient { retry_after: None },
            ),
            (
                ZoomError::OAuth {
                    status: 401,
                    reason: String::new(),
                    error: "invalid_client".into(),
                },
                RetryKind::Permanent,
            ),
            (
                ZoomError::OAuth {
                    status: 500,
                    reason: String::new(),
                    error: String::new(),
                },
                RetryKind::Transient { retry_after: None },
            ),
            (
                ZoomError::RateLimited {
                    retry_after: Some(Duration::from_secs(3)),
                    message: String::new(),
                },
                RetryKind::Transient {
                    retry_after: Some(Duration::from_secs(3)),
                },
            ),
            (
                ZoomError::Network("reset".into()),
                RetryKind::NetworkFailure,
            ),
            (ZoomError::Timeout("slow".into()), RetryKind::NetworkFailure),
            (
                ZoomError::TokenRejected("Invalid Token".into()),
                RetryKind::Transient { retry_after: None },
            ),
            (
                ZoomError::BuildConnection("token is empty".into()),
                RetryKind::Transient { retry_after: None },
            ),
        ];
        for (err, kind) in cases {
            assert_eq!(err.retry_kind(), kind, "{err}");
        }
    }

    #[test]
    fn rate_limited_display_shows_the_wait() {
        let e = ZoomError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
            message: "slow down".into(),
        };
        assert_eq!(
            e.to_string(),
            "rate limited by Zoom (retry after 2 s): slow down"
        );
    }
}
