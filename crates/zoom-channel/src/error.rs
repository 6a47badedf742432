//! Zoom client errors as channel errors.
//!
//! The crate reports failures through [`moltbot_channel::ChannelError`] (the
//! contract's error type), so it has no error enum of its own.

use moltbot_channel::ChannelError;
use zoom::ZoomError;

/// Maps a Zoom error: 404 → NotFound, 400 → BadRequest, 401/403 → Auth,
/// 429 → RateLimited, 5xx and others → Upstream, transport → Network / Timeout.
pub(crate) fn channel_error(err: ZoomError) -> ChannelError {
    match err {
        ZoomError::Api {
            status,
            code,
            message,
        } => match status {
            404 => ChannelError::NotFound(format!("{message} (Zoom code {code})")),
            400 => ChannelError::BadRequest(format!("{message} (Zoom code {code})")),
            401 | 403 => ChannelError::Auth(format!("{message} (Zoom code {code})")),
            429 => ChannelError::RateLimited { retry_after: None },
            _ => ChannelError::Upstream {
                status,
                code,
                message,
            },
        },
        ZoomError::OAuth {
            status,
            reason,
            error,
        } if status < 500 => ChannelError::Auth(format!("{reason} [{error}]")),
        ZoomError::OAuth {
            status,
            reason,
            error,
        } => ChannelError::Upstream {
            status,
            code: 0,
            message: format!("OAuth: {reason} [{error}]"),
        },
        ZoomError::RateLimited { retry_after, .. } => ChannelError::RateLimited { retry_after },
        ZoomError::Network(m) => ChannelError::Network(m),
        ZoomError::Timeout(m) => ChannelError::Timeout(m),
        ZoomError::TokenRejected(m) => ChannelError::Auth(m),
        other => ChannelError::Upstream {
            status: 0,
            code: 0,
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn error_mapping_table() {
        let api = |status, code| ZoomError::Api {
            status,
            code,
            message: "m".into(),
        };
        assert!(
            matches!(channel_error(api(404, 4130)), ChannelError::NotFound(m) if m.contains("4130"))
        );
        assert!(matches!(
            channel_error(api(400, 300)),
            ChannelError::BadRequest(_)
        ));
        assert!(matches!(
            channel_error(api(401, 124)),
            ChannelError::Auth(_)
        ));
        assert!(matches!(
            channel_error(api(403, 7004)),
            ChannelError::Auth(_)
        ));
        let e = channel_error(api(503, 0));
        assert!(matches!(e, ChannelError::Upstream { status: 503, .. }) && e.is_retryable());
        let e = channel_error(api(409, 1));
        assert!(matches!(e, ChannelError::Upstream { status: 409, .. }) && !e.is_retryable());
        let e = channel_error(ZoomError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
            message: "slow down".into(),
        });
        assert!(
            matches!(e, ChannelError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(2))
        );
        assert!(matches!(
            channel_error(ZoomError::Network("reset".into())),
            ChannelError::Network(_)
        ));
        assert!(matches!(
            channel_error(ZoomError::Timeout("t".into())),
            ChannelError::Timeout(_)
        ));
        let oauth = |status| ZoomError::OAuth {
            status,
            reason: "Invalid client_id or client_secret".into(),
            error: "invalid_client".into(),
        };
        assert!(matches!(channel_error(oauth(401)), ChannelError::Auth(_)));
        assert!(matches!(
            channel_error(oauth(502)),
            ChannelError::Upstream { status: 502, .. }
        ));
    }
}
