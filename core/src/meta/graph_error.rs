//! Graph API errors as pagedesk reads them: Meta's `{"error": {...}}` body with its code and
//! subcode (callers classify by number, never by message text, which Meta localises), and the
//! ways a call can fail without one.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum GraphError {
    #[error("graph error {code}/{subcode:?} (http {status})")]
    Api {
        status: u16,
        code: i64,
        subcode: Option<i64>,
        kind: Option<String>,
        message: String,
    },
    #[error("graph http {status} without an error body")]
    Http { status: u16 },
    #[error("graph request timed out")]
    Timeout,
    /// Nothing reached Graph (connection refused, DNS): safe to send again.
    #[error("graph transport: {0}")]
    Transport(String),
    /// The request went out but its answer was lost or unreadable (a connection reset after
    /// the request was written, a body that broke off, a 2xx that is not Graph's JSON or lacks
    /// the id it promises): it may have taken effect.
    #[error("graph answer lost: {0}")]
    Unconfirmed(String),
    #[error("graph response not understood: {0}")]
    Decode(String),
}

impl GraphError {
    pub fn code(&self) -> Option<i64> {
        match self {
            GraphError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
    pub fn subcode(&self) -> Option<i64> {
        match self {
            GraphError::Api { subcode, .. } => *subcode,
            _ => None,
        }
    }
    /// Parses Meta's `{"error": {...}}` body.
    pub fn from_body(status: u16, body: &[u8]) -> GraphError {
        #[derive(Deserialize)]
        struct Envelope {
            error: Body,
        }
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            code: Option<Value>,
            #[serde(default)]
            error_subcode: Option<Value>,
            #[serde(default, rename = "type")]
            kind: Option<String>,
            #[serde(default)]
            message: Option<String>,
        }
        let num = |v: &Option<Value>| {
            v.as_ref().and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
        };
        match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => match num(&error.code) {
                Some(code) => GraphError::Api {
                    status,
                    code,
                    subcode: num(&error.error_subcode),
                    kind: error.kind,
                    message: error.message.unwrap_or_default(),
                },
                None => GraphError::Http { status },
            },
            Err(_) => GraphError::Http { status },
        }
    }
}
