//! What handlers take from a request: the verified caller, path ids, query parameters and
//! request bodies, each refusing with an `ApiFailure` so errors keep one shape.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path};
use axum::response::{IntoResponse, Response};
use lambda_http::http::request::Parts;
use lambda_http::http::{StatusCode, header};
use pagedesk_shared::adapters::auth::{Claims, Role};
use pagedesk_shared::http::api::{query_param, query_params};
use pagedesk_shared::store::ConversationItem;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::App;
use crate::error::ApiFailure;

/// What a handler answers.
pub type Reply = Result<Response, ApiFailure>;

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

pub fn ok<T: Serialize>(body: &T) -> Reply {
    Ok(json(StatusCode::OK, body))
}

/// The caller, from a verified bearer token. Every route but the fallbacks needs one.
pub struct Caller(pub Claims);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiFailure> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        Ok(Caller(app.verifier.verify_header(header).await?))
    }
}

impl std::ops::Deref for Caller {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.0
    }
}

impl Caller {
    pub fn require_admin(&self) -> Result<(), ApiFailure> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiFailure::forbidden("this needs the admin role"))
        }
    }

    /// The AI agent acts only on conversations that are with it; people on any.
    pub fn require_holder(&self, conv: &ConversationItem) -> Result<(), ApiFailure> {
        if self.role == Role::Bot && !conv.with_ai_agent() {
            Err(ApiFailure::NotWithAiAgent)
        } else {
            Ok(())
        }
    }

    /// People only: the AI agent may not claim, assign or read the rules.
    pub fn require_person(&self) -> Result<(), ApiFailure> {
        if self.role == Role::Bot {
            Err(ApiFailure::forbidden(
                "this is for people, not the AI agent",
            ))
        } else {
            Ok(())
        }
    }
}

/// The `{id}` (or `{page_id}`) of a route.
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiFailure> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Id(id))
            .map_err(|_| ApiFailure::NotFound("route"))
    }
}

/// The query string's parameters, in order.
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiFailure;

    /// An empty parameter (`?label=`) is refused, whichever it is: no parameter of the
    /// document takes the empty string, and reading it as "left out" would accept what the
    /// document refuses (a `label` off its pattern, a `to` that is no time).
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiFailure> {
        let params = query_params(&parts.uri);
        if let Some((name, _)) = params.iter().find(|(_, v)| v.is_empty()) {
            return Err(ApiFailure::bad_parameter(
                name.clone(),
                "a value (leave the parameter out instead of sending it empty)",
            ));
        }
        Ok(Params(params))
    }
}

impl Params {
    /// A parameter's value (never empty: see the extractor).
    pub fn get(&self, name: &str) -> Option<&str> {
        query_param(&self.0, name)
    }

    /// `limit`: `default` when absent, else a number from 1 to `max`.
    pub fn limit(&self, default: i32, max: i32) -> Result<i32, ApiFailure> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => v
                .parse::<i32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    ApiFailure::bad_parameter("limit", format!("a number from 1 to {max}"))
                }),
        }
    }
}

/// The request body as bytes. Larger than the function accepts (axum's 2 MiB default, below the
/// function URL's 6 MB) is 413 in the API's error shape.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiFailure;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiFailure> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|_| ApiFailure::TooLarge)
    }
}

/// Reads a JSON body into `T` (422 with serde's words when it does not fit). Handlers parse
/// after their permission checks, so a caller without the right learns nothing from a body.
pub fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiFailure> {
    serde_json::from_slice(bytes).map_err(|e| ApiFailure::invalid(format!("body: {e}")))
}

/// Like `body`, but an empty body is `T::default()` (for bodies whose every field is optional).
pub fn optional_body<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiFailure> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        body(bytes)
    }
}

/// A JSON number that is a whole number, as JSON Schema's `integer` counts them: `5` and `5.0`
/// alike (some clients and languages write every number with a fraction).
pub fn integer(v: &serde_json::Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_numbers_with_a_fraction_count_as_integers() {
        assert_eq!(integer(&json!(5)), Some(5));
        assert_eq!(integer(&json!(212.0)), Some(212));
        assert_eq!(integer(&json!(2.5)), None);
        assert_eq!(integer(&json!("5")), None);
        assert_eq!(integer(&json!(1e300)), None);
    }
}
