//! Property test over arbitrary and mutated BlueBubbles requests (paths,
//! query strings, headers, JSON and raw bodies, client addresses) through the
//! router: no panic, a BlueBubbles envelope on every response (except the
//! non-BlueBubbles `/status` and `/metrics` when they succeed), no 5xx (the
//! channel here always succeeds, so none is documented for these inputs),
//! and no secret in any response.
//!
//! `cargo test` runs a deterministic sample; the long run is
//! `SHIM_FUZZ_CASES=100000 cargo test -p bluebubbles-shim --release --test fuzz`
//! (optionally `SHIM_FUZZ_SEED=<u64>` for another deterministic stream).

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, header};
use bluebubbles_shim::{AuthFailureLimit, Store};
use common::*;
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

/// Cases in a plain `cargo test`.
const DEFAULT_CASES: u32 = 256;
/// The webhook secret given to the shim; never in a response either.
const WEBHOOK_SECRET: &str = "wh-secret-Kq2Lp9";

/// Where the password goes.
#[derive(Debug, Clone)]
enum Auth {
    None,
    Query(&'static str, bool),
    Bearer(bool),
    Both(bool, bool),
}

#[derive(Debug, Clone)]
enum BodyKind {
    Empty,
    Json(Value),
    Raw(Vec<u8>),
}

#[derive(Debug, Clone)]
struct FuzzRequest {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    auth: Auth,
    content_type: Option<String>,
    extra_headers: Vec<(String, String)>,
    body: BodyKind,
    peer: [u8; 4],
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(any::<char>(), 0..24).prop_map(|c| c.into_iter().collect()),
        2 => prop::sample::select(vec![
            "", " ", "zoom;+;feed", "zoom;-;bob@example.com", "zoom;+;meeting:123",
            "zoom;+;channel:abc", "iMessage;-;+15551234", "any;-;x", ";;;", "%", "%zz",
            "-1", "0", "1", "1000", "1001", "9999999999999999999999", "1e3", "true",
            "lastmessage", "chat,participants", "asc", "DESC", "private-api", "apple-script",
            "love", "-like", "http://127.0.0.1:9/h", "httpx://x", "new-message", "*",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z]{0,3}".prop_map(|s| s.repeat(200)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 23] = [
    "chatGuid",
    "tempGuid",
    "message",
    "method",
    "effectId",
    "subject",
    "selectedMessageGuid",
    "partIndex",
    "ddScan",
    "attributedBody",
    "addresses",
    "reaction",
    "with",
    "sort",
    "offset",
    "limit",
    "after",
    "before",
    "guid",
    "url",
    "events",
    "name",
    "caption",
];

/// A JSON object mixing the fields the routes read with junk.
fn json_body() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        4 => prop::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
        1 => text(),
    ];
    prop::collection::vec((field, json_value()), 0..8).prop_map(|pairs| {
        let mut map = Map::new();
        for (k, v) in pairs {
            map.insert(k, v);
        }
        Value::Object(map)
    })
}

const ROUTES: [&str; 17] = [
    "/api/v1/ping",
    "/api/v1/server/info",
    "/api/v1/message/text",
    "/api/v1/message/attachment",
    "/api/v1/message/query",
    "/api/v1/message/react",
    "/api/v1/chat/query",
    "/api/v1/chat/new",
    "/api/v1/chat/{}",
    "/api/v1/chat/{}/message",
    "/api/v1/chat/{}/read",
    "/api/v1/chat/{}/typing",
    "/api/v1/webhook",
    "/api/v1/webhook/{}",
    "/status",
    "/metrics",
    "/{}",
];

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn request() -> impl Strategy<Value = FuzzRequest> {
    let method = prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::DELETE,
        Method::PUT,
        Method::PATCH,
        Method::OPTIONS,
    ]);
    let path = (prop::sample::select(ROUTES.to_vec()), text(), any::<bool>()).prop_map(
        |(route, segment, trailing)| {
            let mut p = route.replace("{}", &encode(&segment));
            if trailing {
                p.push('/');
            }
            p
        },
    );
    let query_key = prop_oneof![
        3 => prop::sample::select(vec![
            "limit", "offset", "with", "sort", "after", "before", "id", "url", "password",
            "guid", "token",
        ])
        .prop_map(str::to_owned),
        1 => text(),
    ];
    let query = prop::collection::vec((query_key, text()), 0..4);
    let auth = prop_oneof![
        1 => Just(Auth::None),
        3 => (prop::sample::select(vec!["password", "guid", "token"]), any::<bool>())
            .prop_map(|(k, ok)| Auth::Query(k, ok)),
        2 => any::<bool>().prop_map(Auth::Bearer),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(a, b)| Auth::Both(a, b)),
    ];
    let content_type = prop::option::of(prop::sample::select(vec![
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=XB",
        "multipart/form-data",
        "application/json; charset=latin1",
    ]))
    .prop_map(|c| c.map(str::to_owned));
    let extra_headers = prop::collection::vec(
        (
            prop::sample::select(vec![
                "x-forwarded-for",
                "content-encoding",
                "transfer-encoding-x",
                "accept",
                "x-junk",
            ]),
            "[ -~]{0,40}",
        )
            .prop_map(|(k, v)| (k.to_owned(), v)),
        0..3,
    );
    let body = prop_oneof![
        1 => Just(BodyKind::Empty),
        4 => json_body().prop_map(BodyKind::Json),
        1 => json_value().prop_map(BodyKind::Json),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(BodyKind::Raw),
        1 => (json_body(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(v, at, byte)| {
            // A valid body with one byte changed or the tail cut.
            let mut bytes = v.to_string().into_bytes();
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                if byte % 2 == 0 { bytes[i] = byte } else { bytes.truncate(i) }
            }
            BodyKind::Raw(bytes)
        }),
    ];
    (
        method,
        path,
        query,
        auth,
        content_type,
        extra_headers,
        body,
        prop::sample::select(vec![[127, 0, 0, 1], [127, 0, 0, 2], [10, 1, 2, 3]]),
    )
        .prop_map(
            |(method, path, query, auth, content_type, extra_headers, body, peer)| FuzzRequest {
                method,
                path,
                query,
                auth,
                content_type,
                extra_headers,
                body,
                peer,
            },
        )
}

fn build(r: &FuzzRequest) -> Request<Body> {
    let secret = |ok: bool| if ok { PASSWORD } else { "wrong-guess" };
    let mut pairs: Vec<(String, String)> = r.query.clone();
    match &r.auth {
        Auth::Query(key, ok) => pairs.push(((*key).to_owned(), secret(*ok).to_owned())),
        Auth::Both(q, _) => pairs.push(("password".into(), secret(*q).to_owned())),
        Auth::None | Auth::Bearer(_) => {}
    }
    let mut uri = r.path.clone();
    if !pairs.is_empty() {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        uri = format!("{uri}?{q}");
    }
    let mut builder = Request::builder().method(r.method.clone()).uri(&uri);
    match &r.auth {
        Auth::Bearer(ok) | Auth::Both(_, ok) => {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {}", secret(*ok)));
        }
        Auth::None | Auth::Query(..) => {}
    }
    if let Some(ct) = &r.content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    for (k, v) in &r.extra_headers {
        builder = builder.header(k, v);
    }
    let body = match &r.body {
        BodyKind::Empty => Body::empty(),
        BodyKind::Json(v) => Body::from(v.to_string()),
        BodyKind::Raw(b) => Body::from(b.clone()),
    };
    let mut req = builder.body(body).expect("valid request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((r.peer, 40000))));
    req
}

async fn check(router: &Router, r: &FuzzRequest) -> Result<u16, String> {
    let res = router
        .clone()
        .oneshot(build(r))
        .await
        .map_err(|e| format!("router error: {e:?}"))?;
    let status = res.status();
    let headers = format!("{:?}", res.headers());
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body error: {e}"))?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    for secret in [PASSWORD, WEBHOOK_SECRET] {
        if text.contains(secret) || headers.contains(secret) {
            return Err(format!("secret echoed: {status} {text}"));
        }
    }
    if status.is_server_error() {
        return Err(format!("undocumented {status}: {text}"));
    }
    let plain = status.is_success() && (r.path == "/status" || r.path == "/metrics");
    if plain {
        return Ok(status.as_u16());
    }
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|_| format!("not JSON: {status} {text:?}"))?;
    let envelope = v["status"] == json!(status.as_u16())
        && v["message"].is_string()
        && (status.is_success()
            || (v["error"]["type"].is_string() && v["error"]["message"].is_string()));
    if envelope {
        Ok(status.as_u16())
    } else {
        Err(format!("not a BlueBubbles envelope: {status} {text}"))
    }
}

#[test]
fn arbitrary_requests_get_envelopes_and_never_secrets() {
    let cases = std::env::var("SHIM_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let seed = std::env::var("SHIM_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut config = config();
    config.auth_failure_limit = Some(AuthFailureLimit::default());
    config.webhook_secret = Some(WEBHOOK_SECRET.into());
    config.body_limit = 64 * 1024;
    let router = rt.block_on(async {
        let (shim, _channel) = shim_with(config, Store::open_in_memory().unwrap());
        shim.router()
    });
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    let result = runner.run(&request(), |r| {
        let status = rt
            .block_on(check(&router, &r))
            .map_err(TestCaseError::fail)?;
        *seen.borrow_mut().entry(status).or_default() += 1;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The sample reaches the handlers, not only the password check.
    let seen = seen.into_inner();
    for status in [200, 400, 401, 404, 405] {
        assert!(seen.contains_key(&status), "no {status} in {seen:?}");
    }
}
