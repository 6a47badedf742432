//! The POST of one webhook delivery.
//!
//! A webhook on this machine (`http://` to a loopback address, the gateway's
//! usual place) is posted over HTTP/1 connections of its own, kept open
//! between POSTs. Every other URL goes through reqwest, which adds TLS,
//! proxies and credentials in the URL. A blast makes one POST per event, and
//! reqwest's layers (URL parsing, redirect policy, retry and timeout
//! futures), then hyper's generic pool (checkout, per-response connection
//! info), were most of the POST's CPU on loopback (docs/performance.md,
//! "CPU per event").

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue, RETRY_AFTER};
use hyper::{HeaderMap, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;

use crate::outbox::{auth_header, redact_url};
use crate::store::Attempt;

/// Largest answer body read back (and then dropped) so the connection can
/// be reused; a longer one is dropped unread with its connection.
const MAX_ANSWER: usize = 64 * 1024;

/// Idle connections kept per loopback webhook (deliveries in flight are
/// fewer: 64 by default).
const MAX_IDLE: usize = 256;

/// The client for other webhooks. Cheap to clone.
#[derive(Clone)]
pub(crate) struct WebhookClient {
    other: reqwest::Client,
}

impl WebhookClient {
    /// The client for webhooks that are not on this machine; it does not
    /// follow redirects.
    ///
    /// # Errors
    /// reqwest cannot build its client (no TLS roots).
    pub(crate) fn new() -> Result<Self, reqwest::Error> {
        Ok(Self {
            other: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }

    /// POSTs `payload` to `target`, with `secret` as `x-password` when the
    /// URL carries no credential, and gives the attempt's result.
    pub(crate) async fn post(
        &self,
        target: &Target,
        payload: &str,
        secret: &str,
        timeout: Duration,
    ) -> Attempt {
        match &target.how {
            How::Local(local) => {
                let request = match local.request(target.auth, payload, secret) {
                    Ok(request) => request,
                    Err(error) => return Attempt::Failed(error),
                };
                match tokio::time::timeout(timeout, local.send(request)).await {
                    Ok(Ok((response, connection))) => {
                        let (parts, body) = response.into_parts();
                        // The status decides. The answer is read to the end
                        // so the connection can be used again; one too long
                        // or too slow only costs its connection.
                        let read =
                            tokio::time::timeout(timeout, Limited::new(body, MAX_ANSWER).collect())
                                .await;
                        if matches!(read, Ok(Ok(_))) {
                            local.put_back(connection);
                        }
                        attempt(parts.status, &parts.headers)
                    }
                    Ok(Err(error)) => Attempt::Failed(error),
                    Err(_) => Attempt::Failed("webhook timed out".into()),
                }
            }
            How::Other(url) => {
                let mut request = self
                    .other
                    .post(url.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(payload.to_owned())
                    .timeout(timeout);
                if let Some(name) = target.auth {
                    request = request.header(name, secret);
                }
                match request.send().await {
                    Ok(res) => attempt(res.status(), res.headers()),
                    Err(e) => Attempt::Failed(describe(&e)),
                }
            }
            How::Invalid(error) => Attempt::Failed(error.clone()),
        }
    }
}

/// A webhook on this machine: where to connect, the request line and `Host`
/// header, and its connections waiting for the next POST.
struct Local {
    /// `host:port`.
    addr: String,
    /// Origin form: path and query.
    path: Uri,
    host: HeaderValue,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl Local {
    fn new(url: &url::Url) -> Option<Self> {
        let addr = format!("{}:{}", url.host_str()?, url.port_or_known_default()?);
        let path = url[url::Position::BeforePath..url::Position::AfterQuery]
            .parse()
            .ok()?;
        let host = HeaderValue::from_str(&url[url::Position::BeforeHost..url::Position::AfterPort])
            .ok()?;
        Some(Self {
            addr,
            path,
            host,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn request(
        &self,
        auth: Option<&'static str>,
        payload: &str,
        secret: &str,
    ) -> Result<Request<Full<Bytes>>, String> {
        let mut request = Request::post(self.path.clone())
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(name) = auth {
            let value = HeaderValue::from_str(secret)
                .map_err(|_| "the webhook secret is not a valid header value".to_owned())?;
            request = request.header(name, value);
        }
        request
            .body(Full::new(Bytes::copy_from_slice(payload.as_bytes())))
            .map_err(|e| format!("webhook request failed: {e}"))
    }

    /// Sends `request` on an idle connection, or on a new one when none is
    /// left or the one taken had closed before the request went out (the
    /// receiver closes idle connections after a few seconds). Gives the
    /// answer and its connection.
    async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, SendRequest<Full<Bytes>>), String> {
        while let Some(mut connection) = self.take_idle() {
            // Ready once its previous exchange is wound up; an error means
            // it has closed.
            if connection.ready().await.is_err() {
                continue;
            }
            match connection.try_send_request(request).await {
                Ok(response) => return Ok((response, connection)),
                Err(mut e) => match e.take_message() {
                    // Not sent: try the next connection.
                    Some(unsent) => request = unsent,
                    None => return Err(failed(e.error())),
                },
            }
        }
        let mut connection = self.connect().await?;
        let response = connection
            .send_request(request)
            .await
            .map_err(|e| failed(&e))?;
        Ok((response, connection))
    }

    fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(connection) = idle.pop() {
            if !connection.is_closed() {
                return Some(connection);
            }
        }
        None
    }

    fn put_back(&self, connection: SendRequest<Full<Bytes>>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let refused = |_| "could not connect to the webhook".to_owned();
        let stream = tokio::net::TcpStream::connect(&self.addr)
            .await
            .map_err(refused)?;
        // No Nagle delay on a request written in parts.
        stream.set_nodelay(true).map_err(refused)?;
        let (connection, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(&e))?;
        tokio::spawn(async move {
            if let Err(e) = driver.await {
                tracing::debug!(error = %chain(&e), "webhook connection ended");
            }
        });
        Ok(connection)
    }
}

/// A transport error of a loopback POST, with its causes (no URL).
fn failed(e: &hyper::Error) -> String {
    format!("webhook request failed: {}", chain(e))
}

/// An error and its sources, one line (no URL: hyper's errors carry none).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The attempt an answer makes.
fn attempt(status: StatusCode, headers: &HeaderMap) -> Attempt {
    if status.is_success() {
        return Attempt::Delivered;
    }
    let error = format!("webhook answered HTTP {}", status.as_u16());
    match retry_after(status, headers) {
        Some(retry_after) => Attempt::Deferred { error, retry_after },
        None => Attempt::Failed(error),
    }
}

/// The delay a busy receiver asked for: `Retry-After` in seconds on a 503
/// or 429 (the extension answers 503 while the host has not yet taken the
/// turn). Such an answer is a deferral, not a failed attempt.
fn retry_after(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if !matches!(status.as_u16(), 429 | 503) {
        return None;
    }
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// A transport error without the URL (which may carry a password).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "webhook timed out".into()
    } else if e.is_connect() {
        "could not connect to the webhook".into()
    } else {
        let mut text = e.to_string();
        if let Some(url) = e.url() {
            text = text.replace(url.as_str(), &redact_url(url.as_str()));
        }
        format!("webhook request failed: {text}")
    }
}

/// How a webhook's POSTs are made.
enum How {
    /// hyper, to a loopback address over plain HTTP, no credentials in the URL.
    Local(Local),
    /// reqwest: any other URL.
    Other(url::Url),
    /// The URL does not parse: every attempt fails with this.
    Invalid(String),
}

/// A webhook as a POST needs it: the URL parsed once, its redacted form for
/// logs, how it authenticates, and which client posts it. Worked out once
/// per webhook, not per delivery (parsing the URL up to four times per POST
/// was about 6 % of the CPU of a blast).
pub(crate) struct Target {
    raw: String,
    how: How,
    /// The URL without credentials, for logs.
    pub(crate) shown: String,
    auth: Option<&'static str>,
}

impl Target {
    fn new(raw: String) -> Self {
        let how = match url::Url::parse(&raw) {
            Ok(url) if is_local_plain(&url) => match Local::new(&url) {
                Some(local) => How::Local(local),
                None => How::Other(url),
            },
            Ok(url) => How::Other(url),
            Err(e) => How::Invalid(format!("invalid webhook URL: {e}")),
        };
        Self {
            how,
            shown: redact_url(&raw),
            auth: auth_header(&raw),
            raw,
        }
    }
}

/// Shows the redacted URL only: the raw one may carry a password.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let via = match &self.how {
            How::Local(_) => "hyper",
            How::Other(_) => "reqwest",
            How::Invalid(_) => "invalid",
        };
        f.debug_struct("Target")
            .field("url", &self.shown)
            .field("via", &via)
            .finish_non_exhaustive()
    }
}

/// `http://` to a loopback address (or `localhost`), with no user info.
fn is_local_plain(url: &url::Url) -> bool {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    url.scheme() == "http" && loopback && url.username().is_empty() && url.password().is_none()
}

/// Webhooks whose [`Target`] is kept.
const MAX_TARGETS: usize = 64;

/// The delivery worker's [`Target`]s by webhook id. A webhook's URL never
/// changes, but an id may be reused after a delete, so the URL is compared.
#[derive(Default)]
pub(crate) struct Targets(std::collections::HashMap<i64, Arc<Target>>);

impl Targets {
    /// The target of webhook `id`, whose URL is `url`.
    pub(crate) fn get(&mut self, id: i64, url: String) -> Arc<Target> {
        match self.0.get(&id) {
            Some(t) if t.raw == url => Arc::clone(t),
            _ => {
                // Deleted webhooks' entries stay until the map is full.
                if self.0.len() >= MAX_TARGETS {
                    self.0.clear();
                }
                let t = Arc::new(Target::new(url));
                self.0.insert(id, Arc::clone(&t));
                t
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_target_is_worked_out_once_per_url() {
        let mut targets = Targets::default();
        let url = "http://127.0.0.1:3000/hook?password=hunter2";
        let first = targets.get(1, url.into());
        assert!(Arc::ptr_eq(&first, &targets.get(1, url.into())));
        assert_eq!(first.shown, "http://127.0.0.1:3000/hook");
        assert_eq!(first.auth, None);
        assert!(
            matches!(&first.how, How::Local(l) if l.addr == "127.0.0.1:3000" && l.path == "/hook?password=hunter2" && l.host == "127.0.0.1:3000"),
            "{first:?}"
        );
        // An id reused by another webhook gets that webhook's target.
        let other = targets.get(1, "http://127.0.0.1:3000/other".into());
        assert_eq!(other.shown, "http://127.0.0.1:3000/other");
        assert_eq!(other.auth, Some("x-password"));
        // A URL that does not parse fails its attempts with a clear error.
        let bad = targets.get(2, "not a url".into());
        assert!(
            matches!(&bad.how, How::Invalid(e) if e.starts_with("invalid webhook URL")),
            "{bad:?}"
        );
        assert_eq!(bad.shown, "<invalid url>");
        for id in 3..200 {
            targets.get(id, format!("http://127.0.0.1:1/{id}"));
        }
        assert!(targets.0.len() <= MAX_TARGETS);
    }

    #[test]
    fn a_target_never_shows_the_password_of_its_url() {
        for url in [
            "http://127.0.0.1:1/hook?password=hunter2",
            "https://u:hunter2@gateway.example/hook",
        ] {
            let shown = format!("{:?}", Target::new(url.into()));
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn only_plain_http_to_this_machine_skips_reqwest() {
        for local in [
            "http://127.0.0.1:18789/bluebubbles-webhook",
            "http://127.3.4.5/x",
            "http://[::1]:80/x?guid=1",
            "http://LocalHost:9/x",
        ] {
            let t = Target::new(local.into());
            assert!(matches!(t.how, How::Local(_)), "{local}: {t:?}");
        }
        for other in [
            "https://127.0.0.1/x",
            "http://u:pw@127.0.0.1/x",
            "http://10.0.0.1/x",
            "http://gateway.example/x",
            "http://localhost.example/x",
        ] {
            let t = Target::new(other.into());
            assert!(matches!(t.how, How::Other(_)), "{other}: {t:?}");
        }
    }

    /// Over the hyper path: the status decides, whatever the answer's body.
    #[tokio::test]
    async fn the_status_decides_even_with_a_long_answer() {
        use axum::routing::post;
        let app = axum::Router::new()
            .route("/long", post(|| async { "x".repeat(3 * MAX_ANSWER) }))
            .route(
                "/busy",
                post(|| async {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(RETRY_AFTER, "3")],
                        "later",
                    )
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = WebhookClient::new().unwrap();
        let timeout = Duration::from_secs(5);
        let long = Target::new(format!("http://{addr}/long"));
        assert!(matches!(long.how, How::Local(_)));
        for _ in 0..2 {
            let a = client.post(&long, "{}", "s", timeout).await;
            assert!(matches!(a, Attempt::Delivered), "{a:?}");
        }
        let busy = Target::new(format!("http://{addr}/busy"));
        let a = client.post(&busy, "{}", "s", timeout).await;
        assert!(
            matches!(a, Attempt::Deferred { retry_after, .. } if retry_after == Duration::from_secs(3)),
            "{a:?}"
        );
        let closed = Target::new("http://127.0.0.1:1/hook".into());
        let a = client.post(&closed, "{}", "s", timeout).await;
        assert!(
            matches!(&a, Attempt::Failed(e) if e == "could not connect to the webhook"),
            "{a:?}"
        );
    }

    /// A plain HTTP/1 server answering 200; counts the connections it
    /// accepts, and closes each after one answer unless `keep_alive`.
    async fn counting_server(
        keep_alive: bool,
    ) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("ok"))))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .keep_alive(keep_alive)
                        .serve_connection(TokioIo::new(tcp), service),
                );
            }
        });
        (addr, accepted)
    }

    /// Connections are kept between POSTs; one the receiver closed is
    /// replaced without failing the attempt.
    #[tokio::test]
    async fn connections_are_reused_and_closed_ones_replaced() {
        use std::sync::atomic::Ordering;
        let client = WebhookClient::new().unwrap();
        let timeout = Duration::from_secs(5);
        for (keep_alive, connections) in [(true, 1), (false, 5)] {
            let (addr, accepted) = counting_server(keep_alive).await;
            let target = Target::new(format!("http://{addr}/hook"));
            for _ in 0..5 {
                let a = client.post(&target, "{}", "s", timeout).await;
                assert!(matches!(a, Attempt::Delivered), "{a:?}");
            }
            assert_eq!(
                accepted.load(Ordering::SeqCst),
                connections,
                "keep-alive {keep_alive}"
            );
        }
    }

    #[test]
    fn busy_answers_with_retry_after_are_deferrals() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert!(matches!(
            attempt(StatusCode::SERVICE_UNAVAILABLE, &headers),
            Attempt::Deferred { retry_after, .. } if retry_after == Duration::from_secs(7)
        ));
        assert!(matches!(
            attempt(StatusCode::TOO_MANY_REQUESTS, &headers),
            Attempt::Deferred { .. }
        ));
        assert!(matches!(
            attempt(StatusCode::INTERNAL_SERVER_ERROR, &headers),
            Attempt::Failed(e) if e == "webhook answered HTTP 500"
        ));
        assert!(matches!(
            attempt(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new()),
            Attempt::Failed(_)
        ));
        assert!(matches!(
            attempt(StatusCode::NO_CONTENT, &HeaderMap::new()),
            Attempt::Delivered
        ));
    }
}
