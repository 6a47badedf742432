//! BlueBubbles' response envelope `{status, message, data?, metadata?,
//! error?: {type, message}}`, the error classes of its server, and the JSON
//! body extractor whose rejections use the same shape.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

/// A 200 reply.
#[derive(Debug)]
pub(crate) struct Success {
    message: &'static str,
    data: Option<Value>,
    metadata: Option<Value>,
}

impl Success {
    pub(crate) fn new(message: &'static str) -> Self {
        Self {
            message,
            data: None,
            metadata: None,
        }
    }

    pub(crate) fn data(mut self, data: impl Serialize) -> Self {
        self.data = Some(serde_json::to_value(data).unwrap_or(Value::Null));
        self
    }

    pub(crate) fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

#[derive(Serialize)]
struct Body<'a> {
    status: u16,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody<'a>>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

impl IntoResponse for Success {
    fn into_response(self) -> Response {
        let body = Body {
            status: 200,
            message: self.message,
            data: self.data.as_ref(),
            metadata: self.metadata.as_ref(),
            error: None,
        };
        axum::Json(body).into_response()
    }
}

/// An error reply in BlueBubbles' shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) kind: &'static str,
    pub(crate) detail: String,
    pub(crate) retry_after: Option<Duration>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        message: &str,
        kind: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            message: message.to_owned(),
            kind,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 400 Validation Error.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "You've made a bad request! Please check your request params & body",
            "Validation Error",
            detail,
        )
    }

    /// 401 Authentication Error.
    pub(crate) fn unauthorized(detail: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "You are not authorized to access this resource",
            "Authentication Error",
            detail,
        )
    }

    /// 404 Database Error.
    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "The requested resource was not found",
            "Database Error",
            detail,
        )
    }

    /// 500 Server Error.
    pub(crate) fn server(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server has encountered an error",
            "Server Error",
            detail,
        )
    }

    /// 500 iMessage Error with a custom top-level message.
    pub(crate) fn imessage(message: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            message,
            "iMessage Error",
            detail,
        )
    }

    /// 504 Gateway Timeout.
    pub(crate) fn gateway_timeout(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "The server took too long to response!",
            "Gateway Timeout",
            detail,
        )
    }

    /// 413, not a BlueBubbles class but in its shape.
    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is too large!",
            "Validation Error",
            format!("The request body may not be larger than {limit} bytes."),
        )
    }

    /// 405, not a BlueBubbles class but in its shape: the path exists, the
    /// method does not.
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "The requested method is not allowed on this route",
            "Validation Error",
            "Method Not Allowed",
        )
    }

    /// 429, not a BlueBubbles class but in its shape.
    pub(crate) fn too_many_requests(retry_after: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests! Slow down.",
            "Server Error",
            format!(
                "Rate limit exceeded; retry in {} ms.",
                retry_after.as_millis().max(1)
            ),
        );
        e.retry_after = Some(retry_after);
        e
    }
}

impl From<crate::ShimError> for ApiError {
    fn from(e: crate::ShimError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::server("Database failure")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            status: self.status.as_u16(),
            message: &self.message,
            data: None,
            metadata: None,
            error: Some(ErrorBody {
                kind: self.kind,
                message: &self.detail,
            }),
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(after) = self.retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}

/// A JSON object body. Accepted whatever the `Content-Type` (BlueBubbles
/// parses JSON leniently); an empty body is an empty object. Rejections are
/// BlueBubbles envelopes: 413 above the body limit, 400 otherwise.
#[derive(Debug)]
pub(crate) struct AppJson(pub(crate) Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for AppJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(limit)
            } else {
                ApiError::bad_request(format!(
                    "Could not read the request body: {}",
                    e.body_text()
                ))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::bad_request(
                "The request body must be a JSON object.",
            )),
            Err(e) => Err(ApiError::bad_request(format!("Invalid JSON body: {e}"))),
        }
    }
}

/// The configured body limit, put in request extensions so rejections can
/// name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub(crate) usize);

/// Field checks with validatorjs-style messages ("The chatGuid field is
/// required.").
pub(crate) struct Fields<'a>(pub(crate) &'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A required non-empty string.
    pub(crate) fn required_str(&self, name: &str) -> Result<String, ApiError> {
        match self.get(name) {
            None => Err(required(name)),
            Some(Value::String(s)) if s.is_empty() => Err(required(name)),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(ApiError::bad_request(format!(
                "The {name} must be a string."
            ))),
        }
    }

    /// An optional string.
    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::bad_request(format!(
                "The {name} must be a string."
            ))),
        }
    }

    /// An optional integer (number or numeric string) within `min..=max`.
    pub(crate) fn opt_int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let n = match self.get(name) {
            None => return Ok(None),
            Some(v) => int_of(v)
                .ok_or_else(|| ApiError::bad_request(format!("The {name} must be a number.")))?,
        };
        check_range(name, n, min, max).map(Some)
    }

    /// An optional array of strings.
    pub(crate) fn opt_str_array(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| {
                    ApiError::bad_request(format!("The {name} must be an array of strings."))
                }),
            Some(_) => Err(ApiError::bad_request(format!(
                "The {name} must be an array."
            ))),
        }
    }

    /// An optional boolean (or `"true"`/`"false"`).
    pub(crate) fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(_) => Err(ApiError::bad_request(format!(
                "The {name} field must be true or false."
            ))),
        }
    }

    /// True when the field is present and not null.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

fn required(name: &str) -> ApiError {
    ApiError::bad_request(format!("The {name} field is required."))
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// validatorjs' min/max messages.
pub(crate) fn check_range(name: &str, n: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    if n < min {
        Err(ApiError::bad_request(format!(
            "The {name} must be at least {min}."
        )))
    } else if n > max {
        Err(ApiError::bad_request(format!(
            "The {name} may not be greater than {max}."
        )))
    } else {
        Ok(n)
    }
}

/// Parses a query-string integer with the same messages.
pub(crate) fn query_int(
    name: &str,
    raw: Option<&str>,
    min: i64,
    max: i64,
) -> Result<Option<i64>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(s) => {
            let n = s
                .trim()
                .parse()
                .map_err(|_| ApiError::bad_request(format!("The {name} must be a number.")))?;
            check_range(name, n, min, max).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn json(res: Response) -> (StatusCode, Value) {
        let status = res.status();
        let bytes = to_bytes(res.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn error_classes_render_the_bluebubbles_table() {
        let cases = [
            (
                ApiError::bad_request("Bad Request"),
                400,
                "Validation Error",
            ),
            (
                ApiError::unauthorized("Unauthorized"),
                401,
                "Authentication Error",
            ),
            (ApiError::not_found("Not Found"), 404, "Database Error"),
            (ApiError::server("Server Error"), 500, "Server Error"),
            (
                ApiError::imessage("Message Send Error", "x"),
                500,
                "iMessage Error",
            ),
            (
                ApiError::gateway_timeout("Gateway Timeout"),
                504,
                "Gateway Timeout",
            ),
            (ApiError::too_large(10), 413, "Validation Error"),
            (ApiError::method_not_allowed(), 405, "Validation Error"),
            (
                ApiError::too_many_requests(Duration::from_millis(10)),
                429,
                "Server Error",
            ),
        ];
        for (err, status, kind) in cases {
            let detail = err.detail.clone();
            let (s, body) = json(err.into_response()).await;
            assert_eq!(s.as_u16(), status);
            assert_eq!(body["status"], status);
            assert_eq!(body["error"]["type"], kind);
            assert_eq!(body["error"]["message"], detail.as_str());
            assert!(body.get("data").is_none());
        }
        let (_, ok) = json(Success::new("Ping received!").data("pong").into_response()).await;
        assert_eq!(
            ok,
            serde_json::json!({"status": 200, "message": "Ping received!", "data": "pong"})
        );
    }

    #[test]
    fn field_rules_give_validatorjs_messages() {
        let body = serde_json::json!({"a": "", "b": 5, "n": "7", "big": 2000, "arr": ["x", 1]});
        let f = Fields(body.as_object().unwrap());
        assert_eq!(
            f.required_str("chatGuid").unwrap_err().detail,
            "The chatGuid field is required."
        );
        assert_eq!(
            f.required_str("a").unwrap_err().detail,
            "The a field is required."
        );
        assert_eq!(
            f.required_str("b").unwrap_err().detail,
            "The b must be a string."
        );
        assert_eq!(f.opt_int("n", 0, 10).unwrap(), Some(7));
        assert_eq!(
            f.opt_int("big", 1, 1000).unwrap_err().detail,
            "The big may not be greater than 1000."
        );
        assert!(f.opt_str_array("arr").is_err());
        assert_eq!(
            query_int("limit", Some("-1"), 0, 5).unwrap_err().detail,
            "The limit must be at least 0."
        );
    }
}
