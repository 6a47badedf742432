use std::time::Duration;

use moltbot_channel::{Backoff, ListenerLimits, Secret};

/// Settings of the shim: auth, limits, timeouts and webhook delivery.
///
/// Build it with [`ShimConfig::new`] and adjust the public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ShimConfig {
    /// The server password clients send as `?password=` (or `guid`, `token`,
    /// `Authorization: Bearer`).
    pub password: Secret,
    /// Sent as `x-password: …` with every webhook delivery whose URL carries
    /// no `password=` / `guid=` query; `None` means the server password.
    pub webhook_secret: Option<Secret>,
    /// Webhook URLs from configuration (in addition to those registered with
    /// `POST /api/v1/webhook`).
    pub webhooks: Vec<String>,
    /// Largest accepted request body in bytes (default 10 MiB).
    pub body_limit: usize,
    /// Throttle of failed authentication (per client address and in total);
    /// `None` disables it. Authenticated requests are never throttled.
    pub auth_failure_limit: Option<AuthFailureLimit>,
    /// Limits of the REST listener (connection cap, header-read and idle
    /// timeouts).
    pub listener: ListenerLimits,
    /// Upper bound of a whole `message/text` or `chat/new` call; keep it under
    /// Moltbot's 10 s client timeout (default 9 s).
    pub send_timeout: Duration,
    /// Upper bound of a `message/attachment` call (default 55 s; Moltbot waits 60 s).
    pub attachment_timeout: Duration,
    /// Upper bound of any other request (default 30 s).
    pub request_timeout: Duration,
    /// Delivery attempts per message and webhook before it becomes a dead
    /// letter (default 10).
    pub max_attempts: u32,
    /// Retry delays between delivery attempts.
    pub backoff: Backoff,
    /// Timeout of one webhook POST (default 10 s).
    pub delivery_timeout: Duration,
    /// Webhook POSTs in flight at once, across conversations (each
    /// conversation still has at most one; default 64).
    pub delivery_concurrency: usize,
    /// Longest the delivery worker sleeps without a wake-up (default 5 s).
    /// Changes by another process (the `outbox` CLI) are noticed by the
    /// store's writer within about a second, independently of this.
    pub poll_interval: Duration,
    /// `server/info` `os_version`; keep the major below 26 so Moltbot keeps
    /// its edit action (default `15.1.1`).
    pub os_version: String,
    /// `server/info` `computer_id` (default `moltbot-zoom`).
    pub computer_id: String,
}

impl ShimConfig {
    /// Defaults around the given password.
    pub fn new(password: impl Into<Secret>) -> Self {
        Self {
            password: password.into(),
            webhook_secret: None,
            webhooks: Vec::new(),
            body_limit: 10 * 1024 * 1024,
            auth_failure_limit: Some(AuthFailureLimit::default()),
            listener: ListenerLimits::default(),
            send_timeout: Duration::from_secs(9),
            attachment_timeout: Duration::from_secs(55),
            request_timeout: Duration::from_secs(30),
            max_attempts: 10,
            backoff: Backoff {
                base: Duration::from_secs(1),
                max: Duration::from_secs(300),
            },
            delivery_timeout: Duration::from_secs(10),
            delivery_concurrency: 64,
            poll_interval: Duration::from_secs(5),
            os_version: "15.1.1".into(),
            computer_id: "moltbot-zoom".into(),
        }
    }

    /// The secret sent with webhook deliveries.
    pub(crate) fn webhook_secret(&self) -> &Secret {
        self.webhook_secret.as_ref().unwrap_or(&self.password)
    }
}

/// Checks a webhook URL the same way at start-up (configured webhooks) and
/// at runtime (`POST /api/v1/webhook`): an absolute `http` or `https` URL
/// with a host.
///
/// # Errors
/// A message without the URL (it may carry a password in its query).
pub fn check_webhook_url(url: &str) -> Result<(), &'static str> {
    match url::Url::parse(url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err("must be an absolute http:// or https:// URL"),
    }
}

/// A token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size: events allowed in a burst.
    pub burst: u32,
}

impl RateLimit {
    /// `n` events per minute, all of them allowed in one burst.
    pub fn per_minute(n: u32) -> Self {
        Self {
            per_second: f64::from(n) / 60.0,
            burst: n,
        }
    }

    fn is_valid(self) -> bool {
        self.per_second.is_finite() && self.per_second > 0.0 && self.burst >= 1
    }
}

/// How many failed authentications are answered 401 before the rest get 429.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuthFailureLimit {
    /// Per client address (IPv6: per /64).
    pub per_client: RateLimit,
    /// All clients together (so hopping across 127/8 gains nothing).
    pub total: RateLimit,
}

impl AuthFailureLimit {
    /// `per_client` and `total` failures per minute.
    pub fn per_minute(per_client: u32, total: u32) -> Self {
        Self {
            per_client: RateLimit::per_minute(per_client),
            total: RateLimit::per_minute(total),
        }
    }

    /// True when both buckets have a positive rate and burst.
    pub(crate) fn is_valid(self) -> bool {
        self.per_client.is_valid() && self.total.is_valid()
    }
}

impl Default for AuthFailureLimit {
    /// 30 failures a minute per client, 300 in total.
    fn default() -> Self {
        Self::per_minute(30, 300)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let mut c = ShimConfig::new("hunter2");
        c.webhook_secret = Some("s3cret".into());
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains("s3cret"));
    }
}
