//! Throttle of failed authentication (token buckets per client address and
//! one for all clients) and request timeouts.
//!
//! Authenticated requests are never throttled here: the one Moltbot gateway
//! makes several calls per agent turn and a 429 would lose its reply. Only
//! requests whose password is missing or wrong spend tokens; once a bucket is
//! empty they are answered 429 instead of 401, while a request with the right
//! password from the same address still passes.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::envelope::ApiError;
use crate::{AuthFailureLimit, RateLimit, Shim};

/// Per-client buckets kept before full (idle) ones are forgotten.
const MAX_TRACKED_CLIENTS: usize = 4096;

/// Failed-authentication buckets: one per client address, one for everyone.
#[derive(Debug)]
pub(crate) struct AuthThrottle {
    limit: AuthFailureLimit,
    state: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    clients: HashMap<IpAddr, Bucket>,
    total: Bucket,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(limit: RateLimit, now: Instant) -> Self {
        Self {
            tokens: f64::from(limit.burst.max(1)),
            updated: now,
        }
    }

    fn refill(&mut self, limit: RateLimit, now: Instant) {
        let rate = limit.per_second.max(f64::MIN_POSITIVE);
        let refill = now.duration_since(self.updated).as_secs_f64() * rate;
        self.tokens = (self.tokens + refill).min(f64::from(limit.burst.max(1)));
        self.updated = now;
    }

    /// How long until a token is available (zero when one is).
    fn wait(&self, limit: RateLimit) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            let rate = limit.per_second.max(f64::MIN_POSITIVE);
            Duration::from_secs_f64(((1.0 - self.tokens) / rate).min(86_400.0))
        }
    }
}

/// The address a client is counted under: an IPv4 address, or the /64 of an
/// IPv6 address (one host usually owns a whole /64). IPv4-mapped IPv6
/// addresses count as their IPv4 address.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl AuthThrottle {
    pub(crate) fn new(limit: AuthFailureLimit) -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(Buckets {
                clients: HashMap::new(),
                total: Bucket::full(limit.total, now),
            }),
            limit,
        }
    }

    /// Records a failed authentication from `client`: `Ok` while its bucket
    /// and the shared one have tokens, else how long until they refill.
    pub(crate) fn failure(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let (per_client, total) = (self.limit.per_client, self.limit.total);
        let key = client_key(client);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.clients.len() >= MAX_TRACKED_CLIENTS && !state.clients.contains_key(&key) {
            state.clients.retain(|_, b| {
                let mut b = *b;
                b.refill(per_client, now);
                b.tokens < f64::from(per_client.burst.max(1))
            });
            if state.clients.len() >= MAX_TRACKED_CLIENTS {
                // Every tracked client is mid-throttle: a new address is
                // only limited by the shared bucket until room is made.
                state.clients.clear();
            }
        }
        let Buckets {
            clients,
            total: all,
        } = &mut *state;
        let mine = clients
            .entry(key)
            .or_insert_with(|| Bucket::full(per_client, now));
        mine.refill(per_client, now);
        all.refill(total, now);
        let wait = mine.wait(per_client).max(all.wait(total));
        if wait > Duration::ZERO {
            return Err(wait);
        }
        mine.tokens -= 1.0;
        all.tokens -= 1.0;
        Ok(())
    }
}

/// The peer address axum recorded, or 0.0.0.0 when served without
/// connect info (then every client shares one bucket).
pub(crate) fn peer_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Middleware: 504 in the envelope when a request takes too long. Uploads get
/// the attachment timeout; sends are bounded more tightly inside their handler.
pub(crate) async fn timeout(State(shim): State<Shim>, req: Request, next: Next) -> Response {
    let config = &shim.0.config;
    let upload = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str() == crate::routes::ATTACHMENT_ROUTE);
    let limit = if upload {
        config.attachment_timeout + Duration::from_secs(1)
    } else {
        config
            .request_timeout
            .max(config.send_timeout + Duration::from_secs(1))
    };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::gateway_timeout(format!(
            "The request timed-out after {} ms!",
            limit.as_millis()
        ))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_client: (f64, u32), total: (f64, u32)) -> AuthThrottle {
        AuthThrottle::new(AuthFailureLimit {
            per_client: RateLimit {
                per_second: per_client.0,
                burst: per_client.1,
            },
            total: RateLimit {
                per_second: total.0,
                burst: total.1,
            },
        })
    }

    #[tokio::test(start_paused = true)]
    async fn failures_allow_a_burst_per_client_then_refill() {
        let limiter = throttle((2.0, 3), (100.0, 100));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.failure(a, t0).is_ok());
        }
        assert_eq!(
            limiter.failure(a, t0).unwrap_err(),
            Duration::from_millis(500)
        );
        assert!(
            limiter.failure(b, t0).is_ok(),
            "other clients have their own bucket"
        );
        assert!(limiter.failure(a, t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.failure(a, t0 + Duration::from_millis(500)).is_err());
        // Refill is capped at the burst.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.failure(a, later).is_ok());
        }
        assert!(limiter.failure(a, later).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_shared_bucket_stops_address_hopping() {
        let limiter = throttle((1.0, 5), (1.0, 10));
        let t0 = Instant::now();
        let mut ok = 0;
        for i in 1..=50u8 {
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, i));
            ok += usize::from(limiter.failure(ip, t0).is_ok());
        }
        assert_eq!(ok, 10, "127/8 addresses share the total bucket");
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), "127.0.0.1".parse::<IpAddr>().unwrap());
    }
}
