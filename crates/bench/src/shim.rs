//! The reply path: `POST /api/v1/message/text` on the sidecar's shim from one
//! client address, across many channels, against the same sends made
//! directly to fake Zoom's Team Chat API.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fake_zoom::FakeZoom;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::sidecar::{PASSWORD, Sidecar};
use crate::stats::{per_sec, quantile};

/// Requests in flight in the throughput run.
pub(crate) const CONCURRENCY: usize = 32;
/// Replies per channel in the throughput run (Zoom allows 10 per second).
pub(crate) const PER_CHANNEL: usize = 5;
/// Spacing of the one-at-a-time latency run.
const SEQUENTIAL_GAP: Duration = Duration::from_millis(20);

/// Channel ids fake Zoom must know for `replies` and `sequential` requests.
pub(crate) fn channels(replies: usize, sequential: usize) -> Vec<String> {
    let mut out: Vec<String> = (0..replies.div_ceil(PER_CHANNEL))
        .map(|i| format!("shim-ch-{i}"))
        .collect();
    out.extend((0..sequential).map(|i| format!("seq-ch-{i}")));
    out
}

/// One series of sends.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sends {
    pub(crate) requests: usize,
    pub(crate) ok: usize,
    /// Non-2xx answers by status (0 = transport error).
    pub(crate) failures: BTreeMap<u16, usize>,
    pub(crate) elapsed: Duration,
    /// Latency quantiles of the successful requests.
    pub(crate) p50: Option<Duration>,
    pub(crate) p99: Option<Duration>,
}

impl Sends {
    /// Successful sends per second.
    pub(crate) fn rate(&self) -> f64 {
        per_sec(self.ok as u64, self.elapsed)
    }

    /// `429×960, 500×3` or `none`.
    pub(crate) fn failure_text(&self) -> String {
        if self.failures.is_empty() {
            return "none".into();
        }
        self.failures
            .iter()
            .map(|(s, n)| {
                if *s == 0 {
                    format!("error×{n}")
                } else {
                    format!("{s}×{n}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The shim and the direct results.
#[derive(Debug, Clone)]
pub(crate) struct ShimResult {
    pub(crate) shim_burst: Sends,
    pub(crate) direct_burst: Sends,
    pub(crate) shim_sequential: Sends,
    pub(crate) direct_sequential: Sends,
}

static NEXT_TEMP_GUID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How a request is made: the shim's BlueBubbles call or Zoom's own.
#[derive(Clone)]
enum Target {
    Shim { url: String },
    Direct { url: String, token: String },
}

impl Target {
    fn request(&self, http: &reqwest::Client, channel: &str, i: usize) -> reqwest::RequestBuilder {
        let text = format!("bench reply {i}");
        match self {
            Target::Shim { url } => http
                .post(format!("{url}/api/v1/message/text"))
                .query(&[("password", PASSWORD)])
                .json(&json!({
                    "chatGuid": format!("zoom;+;channel:{channel}"),
                    // Unique per request: a repeated tempGuid is a retry of
                    // the same send (the shim answers it without posting).
                    "tempGuid": format!(
                        "bench-temp-{}",
                        NEXT_TEMP_GUID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    ),
                    "message": text,
                })),
            Target::Direct { url, token } => http
                .post(format!("{url}/v2/chat/users/me/messages"))
                .bearer_auth(token)
                .json(&json!({ "message": text, "to_channel": channel })),
        }
    }
}

async fn timed(req: reqwest::RequestBuilder) -> (u16, Duration) {
    let start = Instant::now();
    let status = match req.timeout(Duration::from_secs(15)).send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            let _ = res.bytes().await;
            status
        }
        Err(_) => 0,
    };
    (status, start.elapsed())
}

fn summarize(results: Vec<(u16, Duration)>, elapsed: Duration) -> Sends {
    let mut ok: Vec<Duration> = Vec::new();
    let mut failures = BTreeMap::new();
    for (status, took) in &results {
        if (200..300).contains(status) {
            ok.push(*took);
        } else {
            *failures.entry(*status).or_insert(0) += 1;
        }
    }
    ok.sort();
    Sends {
        requests: results.len(),
        ok: ok.len(),
        failures,
        elapsed,
        p50: quantile(&ok, 0, 0.5),
        p99: quantile(&ok, 0, 0.99),
    }
}

async fn burst(http: &reqwest::Client, target: &Target, replies: usize) -> Sends {
    let start = Instant::now();
    let results: Vec<(u16, Duration)> = futures_util::stream::iter(0..replies)
        .map(|i| {
            let channel = format!("shim-ch-{}", i % replies.div_ceil(PER_CHANNEL));
            timed(target.request(http, &channel, i))
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    summarize(results, start.elapsed())
}

async fn sequential(http: &reqwest::Client, target: &Target, count: usize) -> Sends {
    let start = Instant::now();
    let mut results = Vec::with_capacity(count);
    for i in 0..count {
        let due = start + SEQUENTIAL_GAP * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(due).await;
        results.push(timed(target.request(http, &format!("seq-ch-{i}"), i)).await);
    }
    summarize(results, start.elapsed())
}

/// A Team Chat token from fake Zoom.
async fn token(http: &reqwest::Client, fake: &FakeZoom) -> anyhow::Result<String> {
    let fc = fake.config();
    let res: Value = http
        .post(format!("{}/oauth/token", fake.base_url()))
        .basic_auth(&fc.client_id, Some(&fc.client_secret))
        .form(&[
            ("grant_type", "account_credentials"),
            ("account_id", fc.account_id.as_str()),
        ])
        .send()
        .await?
        .json()
        .await?;
    res["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("fake Zoom gave no token: {res}"))
}

/// Runs the four series: burst and one-at-a-time, through the shim and direct.
pub(crate) async fn run(
    sidecar: &Sidecar,
    fake: &Arc<FakeZoom>,
    replies: usize,
    sequential_count: usize,
) -> anyhow::Result<ShimResult> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    let shim = Target::Shim {
        url: sidecar.url.clone(),
    };
    let direct = Target::Direct {
        url: fake.base_url(),
        token: token(&http, fake).await?,
    };
    fake.reset();
    let shim_sequential = sequential(&http, &shim, sequential_count).await;
    fake.reset();
    let direct_sequential = sequential(&http, &direct, sequential_count).await;
    fake.reset();
    let shim_burst = burst(&http, &shim, replies).await;
    fake.reset();
    let direct_burst = burst(&http, &direct, replies).await;
    Ok(ShimResult {
        shim_burst,
        direct_burst,
        shim_sequential,
        direct_sequential,
    })
}
