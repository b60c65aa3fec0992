//! HTTP helpers shared by the webhook and the agent API: JSON responses, query parameters and
//! the error shape `{"error": {"code": "...", "message": "..."}}`.

use lambda_http::Body;
use lambda_http::http::{Response, StatusCode, header};
use serde::Serialize;

pub type HttpResponse = Response<Body>;

/// The error shape both HTTP functions answer with: `{"error": {"code", "message", …}}`, where
/// `details` (an object, or null) adds fields beside code and message.
pub fn error_body(code: &str, message: String, details: serde_json::Value) -> serde_json::Value {
    let mut err = serde_json::Map::new();
    err.insert("code".into(), code.into());
    err.insert("message".into(), message.into());
    if let serde_json::Value::Object(more) = details {
        for (k, v) in more {
            err.entry(k).or_insert(v);
        }
    }
    serde_json::json!({ "error": err })
}

/// The webhook's refusals (the agent API has its own typed ones in the same shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(code: &'static str, m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, m)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; retry later",
        )
    }
    pub fn unavailable(m: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
    }

    pub fn into_response(self) -> HttpResponse {
        let body = error_body(self.code, self.message, serde_json::Value::Null);
        json(self.status, &body)
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        tracing::error!(error = %e, "request failed");
        ApiError::internal()
    }
}

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Body::Text(String::from_utf8(bytes).unwrap_or_default()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

pub fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    let mut r = Response::new(Body::Text(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Query parameters from the request URI (lambda_http puts API Gateway's raw query string
/// there, and the local host does the same).
pub fn query_params(uri: &lambda_http::http::Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

pub fn query_param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}
