use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use moltbot_channel::Secret;
use tokio::{sync::Mutex, time::Instant};
use zoom_wire::{OAuthError, TokenResponse};

use crate::ZoomError;

/// Bound on one OAuth round trip.
const OAUTH_TIMEOUT: Duration = Duration::from_secs(30);

/// Which OAuth grant to request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Grant {
    /// Server-to-Server OAuth: `grant_type=account_credentials&account_id=…`.
    #[default]
    AccountCredentials,
    /// `grant_type=client_credentials` (chatbot tokens).
    ClientCredentials,
}

/// App credentials. `Debug` redacts the secret.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: Secret,
    /// Account id (required for [`Grant::AccountCredentials`]).
    pub account_id: Option<String>,
    /// Grant type.
    pub grant: Grant,
}

/// A cached access token. `Debug` redacts `value`.
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The bearer token.
    pub value: Secret,
    /// When it stops working.
    pub expires_at: Instant,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// REST base URL to use with this token, when Zoom gave one.
    pub api_url: Option<String>,
    /// Increments on every fetch; 1 for the first token.
    pub generation: u64,
}

/// Where tokens come from.
enum Source {
    Http {
        http: reqwest::Client,
        token_url: String,
        creds: Credentials,
    },
    #[cfg(test)]
    Fixed(Box<dyn Fn(u64) -> Result<TokenResponse, ZoomError> + Send + Sync>),
}

struct Inner {
    source: Source,
    cache: Mutex<Option<AccessToken>>,
    requests: AtomicU64,
}

/// Cached, single-flight OAuth token provider. Clones share one cache, so a
/// process holds one token per app (Zoom may invalidate older tokens when new
/// ones are minted).
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
    margin: Duration,
}

impl TokenProvider {
    /// A provider that posts to `{oauth_base}/oauth/token`.
    pub fn new(http: reqwest::Client, oauth_base: &str, creds: Credentials) -> Self {
        let token_url = format!("{}/oauth/token", oauth_base.trim_end_matches('/'));
        Self::with_source(Source::Http {
            http,
            token_url,
            creds,
        })
    }

    /// A provider whose tokens come from `issue(request_number)`, for tests
    /// that must not touch the network.
    #[cfg(test)]
    pub(crate) fn from_fn(
        issue: impl Fn(u64) -> Result<TokenResponse, ZoomError> + Send + Sync + 'static,
    ) -> Self {
        Self::with_source(Source::Fixed(Box::new(issue)))
    }

    fn with_source(source: Source) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                cache: Mutex::new(None),
                requests: AtomicU64::new(0),
            }),
            margin: Duration::from_secs(300),
        }
    }

    /// Treat a token as due for renewal this long before it expires (default 5 min).
    #[must_use]
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The cached token, or a new one when there is none or it is within the
    /// refresh margin of expiry. Concurrent callers share one request.
    ///
    /// # Errors
    /// The OAuth request failed ([`ZoomError::OAuth`], network, timeout).
    pub async fn token(&self) -> Result<AccessToken, ZoomError> {
        let mut cache = self.inner.cache.lock().await;
        if let Some(token) = cache.as_ref().filter(|t| self.is_fresh(t)) {
            return Ok(token.clone());
        }
        self.fetch_into(&mut cache).await
    }

    /// Forces a new token, unless the cached one is already newer than
    /// `stale_generation` (another caller refreshed it) and still fresh.
    ///
    /// # Errors
    /// As [`TokenProvider::token`].
    pub async fn refresh(&self, stale_generation: u64) -> Result<AccessToken, ZoomError> {
        let mut cache = self.inner.cache.lock().await;
        if let Some(token) = cache
            .as_ref()
            .filter(|t| t.generation > stale_generation && self.is_fresh(t))
        {
            return Ok(token.clone());
        }
        self.fetch_into(&mut cache).await
    }

    /// How many OAuth requests this provider has made.
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    fn is_fresh(&self, token: &AccessToken) -> bool {
        Instant::now() + self.margin < token.expires_at
    }

    async fn fetch_into(&self, cache: &mut Option<AccessToken>) -> Result<AccessToken, ZoomError> {
        let n = self.inner.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let started = Instant::now();
        let response = match &self.inner.source {
            Source::Http {
                http,
                token_url,
                creds,
            } => request_token(http, token_url, creds).await,
            #[cfg(test)]
            Source::Fixed(issue) => issue(n),
        };
        let response = response.inspect_err(|e| tracing::warn!(error = %e, "Zoom OAuth failed"))?;
        let generation = cache.as_ref().map_or(0, |t| t.generation) + 1;
        let token = AccessToken {
            value: Secret::new(response.access_token),
            expires_at: started + Duration::from_secs(response.expires_in),
            scopes: response
                .scope
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            api_url: response.api_url.filter(|u| !u.is_empty()),
            generation,
        };
        tracing::debug!(
            generation,
            request = n,
            expires_in = response.expires_in,
            "fetched Zoom access token"
        );
        *cache = Some(token.clone());
        Ok(token)
    }
}

async fn request_token(
    http: &reqwest::Client,
    token_url: &str,
    creds: &Credentials,
) -> Result<TokenResponse, ZoomError> {
    let mut form = vec![(
        "grant_type",
        match creds.grant {
            Grant::AccountCredentials => "account_credentials",
            Grant::ClientCredentials => "client_credentials",
        },
    )];
    if creds.grant == Grant::AccountCredentials {
        form.push((
            "account_id",
            creds.account_id.as_deref().unwrap_or_default(),
        ));
    }
    let response = http
        .post(token_url)
        .basic_auth(&creds.client_id, Some(creds.client_secret.expose()))
        .form(&form)
        .timeout(OAUTH_TIMEOUT)
        .send()
        .await
        .map_err(ZoomError::from_http)?;
    let status = response.status();
    let body = response.text().await.map_err(ZoomError::from_http)?;
    if status.is_success() {
        return serde_json::from_str(&body)
            .map_err(|e| ZoomError::Protocol(format!("unreadable OAuth token response: {e}")));
    }
    let err: OAuthError = serde_json::from_str(&body).unwrap_or_else(|_| OAuthError {
        reason: body.chars().take(200).collect(),
        error: String::new(),
    });
    Err(ZoomError::OAuth {
        status: status.as_u16(),
        reason: err.reason,
        error: err.error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(n: u64, expires_in: u64) -> Result<TokenResponse, ZoomError> {
        Ok(TokenResponse {
            access_token: format!("tok-{n}"),
            token_type: "bearer".into(),
            expires_in,
            scope: "a b".into(),
            api_url: None,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn caches_and_renews_within_the_margin() {
        let p = TokenProvider::from_fn(|n| issued(n, 3600));
        let t1 = p.token().await.unwrap();
        assert_eq!(t1.value.expose(), "tok-1");
        assert_eq!(t1.generation, 1);
        assert_eq!(t1.scopes, ["a", "b"]);
        assert_eq!(p.token().await.unwrap().generation, 1);
        assert_eq!(p.request_count(), 1);
        tokio::time::advance(Duration::from_secs(3600 - 301)).await;
        assert_eq!(p.token().await.unwrap().generation, 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        let t2 = p.token().await.unwrap();
        assert_eq!((t2.generation, t2.value.expose()), (2, "tok-2"));
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_skips_when_someone_else_already_refreshed() {
        let p = TokenProvider::from_fn(|n| issued(n, 3600));
        let t1 = p.token().await.unwrap();
        let t2 = p.refresh(t1.generation).await.unwrap();
        assert_eq!(t2.generation, 2);
        // A second caller that also saw generation 1 gets generation 2, no new request.
        assert_eq!(p.refresh(t1.generation).await.unwrap().generation, 2);
        assert_eq!(p.request_count(), 2);
    }

    #[test]
    fn debug_redacts_the_token_and_secret() {
        let t = AccessToken {
            value: Secret::new("super-token"),
            expires_at: Instant::now(),
            scopes: vec![],
            api_url: None,
            generation: 1,
        };
        assert!(!format!("{t:?}").contains("super-token"));
        let c = Credentials {
            client_id: "id".into(),
            client_secret: Secret::new("shh-secret"),
            account_id: None,
            grant: Grant::ClientCredentials,
        };
        assert!(!format!("{c:?}").contains("shh-secret"));
    }
}
