//! One-shot checks for diagnostics (`moltbot-zoom doctor`): open, look, close.

use std::time::Duration;

use tokio::time::timeout;

use crate::{
    AccessToken, ZoomError,
    session::{WsConnector, close_socket, connect_url, handshake},
};

/// What a successful WebSocket probe saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WsProbe {
    /// `x-zm-trackingid` of the upgrade response (Zoom support asks for it).
    pub tracking_id: Option<String>,
}

/// Opens one WebSocket to `ws_url` for `subscription_id` with `token`, reads
/// the first frame and closes the socket with a normal close frame.
///
/// Opening a connection may make Zoom close another connection of the same
/// subscription (a running sidecar's), which then reconnects.
///
/// # Errors
/// [`ZoomError::BuildConnection`] or [`ZoomError::TokenRejected`] with Zoom's
/// text (an unknown subscription is refused this way), [`ZoomError::Network`]
/// when the socket cannot be opened, [`ZoomError::Timeout`] when nothing
/// arrives within `timeout`. Messages never contain the token.
pub async fn probe_websocket(
    ws_url: &str,
    subscription_id: &str,
    token: &AccessToken,
    timeout_after: Duration,
) -> Result<WsProbe, ZoomError> {
    let secret = token.value.expose();
    let url = connect_url(ws_url, subscription_id, secret);
    let (mut ws, tracking_id) = timeout(timeout_after, handshake(&WsConnector, &url, secret))
        .await
        .map_err(|_| {
            ZoomError::Timeout(format!("no build_connection within {timeout_after:?}"))
        })??;
    close_socket(&mut ws, 0).await;
    Ok(WsProbe { tracking_id })
}

#[cfg(test)]
mod tests {
    use fake_zoom::{FakeConfig, FakeZoom};
    use moltbot_channel::Secret;
    use tokio::time::Instant;

    use super::*;
    use crate::{Credentials, Grant, TokenProvider};

    const WAIT: Duration = Duration::from_secs(5);

    async fn token(fake: &FakeZoom) -> AccessToken {
        let config = fake.config();
        let provider = TokenProvider::new(
            reqwest::Client::new(),
            &fake.base_url(),
            Credentials {
                client_id: config.client_id.clone(),
                client_secret: Secret::new(config.client_secret.clone()),
                account_id: Some(config.account_id.clone()),
                grant: Grant::AccountCredentials,
            },
        );
        provider.token().await.unwrap()
    }

    #[tokio::test]
    async fn accepted_probe_reports_the_tracking_id_and_closes() {
        let fake = FakeZoom::start(FakeConfig::default()).await.unwrap();
        let token = token(&fake).await;
        let probe = probe_websocket(&fake.ws_url(), "fake-subscription", &token, WAIT)
            .await
            .unwrap();
        assert!(
            probe.tracking_id.is_some_and(|t| !t.is_empty()),
            "no tracking id"
        );
        assert_eq!(fake.ws_connects(), 1);
        assert!(
            fake.wait_for_at_most_connections(0, WAIT).await,
            "socket left open"
        );
    }

    #[tokio::test]
    async fn unknown_subscription_is_refused_without_quoting_the_token() {
        let fake = FakeZoom::start(FakeConfig::default()).await.unwrap();
        let token = token(&fake).await;
        let err = probe_websocket(&fake.ws_url(), "no-such-subscription", &token, WAIT)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ZoomError::TokenRejected(_) | ZoomError::BuildConnection(_)
            ),
            "{err:?}"
        );
        assert!(!err.to_string().contains(token.value.expose()), "{err}");
    }

    #[tokio::test]
    async fn closed_port_is_a_network_error_within_the_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let token = AccessToken {
            value: Secret::new("tok-probe-secret"),
            expires_at: Instant::now() + WAIT,
            scopes: vec![],
            api_url: None,
            generation: 1,
        };
        let err = probe_websocket(&format!("ws://{addr}/ws"), "sub", &token, WAIT)
            .await
            .unwrap_err();
        assert!(matches!(err, ZoomError::Network(_)), "{err:?}");
        assert!(!err.to_string().contains("tok-probe-secret"), "{err}");
    }
}
