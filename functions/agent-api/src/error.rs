//! Every way the agent API refuses a request, and the one place each becomes an HTTP status and
//! an error code. A condition has one code on every route; `openapi.yaml` lists them.

use std::borrow::Cow;

use axum::response::{IntoResponse, Response};
use lambda_http::http::StatusCode;
use pagedesk_shared::adapters::auth::AuthError;
use pagedesk_shared::http::api::error_body;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    /// No such object in the caller's account (another account's objects are not found either).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{method} is not allowed here")]
    MethodNotAllowed { method: String },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    /// A query parameter is not what the route takes.
    #[error("{name}: expected {expected}")]
    BadParameter {
        name: Cow<'static, str>,
        expected: Cow<'static, str>,
    },
    /// The body (or the path's id) is not acceptable; every problem is listed.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("the conversation is not open; reopen it first")]
    ConversationNotOpen,
    #[error("the conversation is not resolved")]
    NotResolved,
    #[error("the conversation is not snoozed")]
    NotSnoozed,
    #[error("the contact already has another open conversation")]
    ContactHasOpenConversation,
    #[error("someone else has this conversation")]
    AlreadyAssigned { assignee: Option<String> },
    #[error("the conversation kept changing; try again")]
    ConversationChanging,
    #[error("the conversation is not with the AI agent (it was handed off or claimed)")]
    NotWithAiAgent,
    #[error("only a message the person wrote can get the Page's reaction")]
    NotPersonsMessage,
    #[error("the rules were changed by someone else meanwhile; read them and try again")]
    RulesChanged,
    #[error("this Page is registered by another account")]
    PageRegisteredElsewhere,
    #[error("Facebook does not confirm that this token belongs to this Page")]
    TokenNotForPage,
    /// The token's person does not have full control of the Page (Meta's `MANAGE` task), or
    /// the token cannot show whose role it carries (a Page token).
    #[error("{0}")]
    MissingRole(&'static str),
    #[error("the Page is not connected; connect it again first")]
    PageNotConnected,
    #[error("a history import of this Page is running")]
    ImportRunning,
    /// Meta's messaging window does not allow this reply now; `details` say why and since when.
    #[error("{explain}")]
    WindowClosed { explain: String, details: Value },
    #[error("Meta allows one private reply per comment, and this comment has had it")]
    PrivateReplyExists,
    #[error("Meta allows a private reply only within 7 days of the comment")]
    PrivateReplyWindowClosed {
        comment_id: Option<String>,
        closed_at: String,
    },
    /// The Instagram account's private replies for this clock hour are used up (Meta allows
    /// 750 an hour); the next hour starts in `retry_after_s`.
    #[error(
        "this Instagram account's private replies for the hour are used up (Meta allows {limit} an hour); try again in {retry_after_s} s"
    )]
    PrivateReplyQuota { limit: u32, retry_after_s: i64 },
    /// The secret rotated out last time still signs (a day's overlap was promised).
    #[error("the previous secret signs until {until}; rotate again after that")]
    RotationInProgress { until: String },
    /// The webhook's last replay has deliveries neither delivered nor given up yet.
    #[error("a replay of this webhook is still being delivered")]
    ReplayInProgress { replay_id: String },
    #[error("the request body is too large")]
    TooLarge,
    /// A dependency is down; the same request can be sent again.
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("internal error; retry later")]
    Internal,
}

impl ApiFailure {
    pub fn invalid(problem: impl Into<String>) -> Self {
        ApiFailure::Invalid(vec![problem.into()])
    }

    /// Nothing when nothing is wrong, else 422 listing every problem.
    pub fn unless(problems: Vec<String>) -> Result<(), Self> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ApiFailure::Invalid(problems))
        }
    }

    pub fn forbidden(why: impl Into<Cow<'static, str>>) -> Self {
        ApiFailure::Forbidden(why.into())
    }

    pub fn bad_parameter(
        name: impl Into<Cow<'static, str>>,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiFailure::BadParameter {
            name: name.into(),
            expected: expected.into(),
        }
    }

    /// The HTTP status and the machine-readable code: the one mapping.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use ApiFailure::*;
        match self {
            NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            BadParameter { .. } => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ConversationNotOpen => (StatusCode::CONFLICT, "conversation_not_open"),
            NotResolved => (StatusCode::CONFLICT, "not_resolved"),
            NotSnoozed => (StatusCode::CONFLICT, "not_snoozed"),
            ContactHasOpenConversation => (StatusCode::CONFLICT, "contact_has_open_conversation"),
            AlreadyAssigned { .. } => (StatusCode::CONFLICT, "already_assigned"),
            ConversationChanging => (StatusCode::CONFLICT, "conversation_changing"),
            NotWithAiAgent => (StatusCode::CONFLICT, "not_with_ai_agent"),
            NotPersonsMessage => (StatusCode::CONFLICT, "not_persons_message"),
            RulesChanged => (StatusCode::CONFLICT, "rules_changed"),
            PageRegisteredElsewhere => (StatusCode::CONFLICT, "page_registered_elsewhere"),
            TokenNotForPage => (StatusCode::UNPROCESSABLE_ENTITY, "token_not_for_page"),
            MissingRole(_) => (StatusCode::UNPROCESSABLE_ENTITY, "missing_role"),
            PageNotConnected => (StatusCode::CONFLICT, "page_not_connected"),
            ImportRunning => (StatusCode::CONFLICT, "import_running"),
            WindowClosed { .. } => (StatusCode::CONFLICT, "window_closed"),
            PrivateReplyExists => (StatusCode::CONFLICT, "private_reply_exists"),
            PrivateReplyWindowClosed { .. } => {
                (StatusCode::CONFLICT, "private_reply_window_closed")
            }
            PrivateReplyQuota { .. } => (StatusCode::TOO_MANY_REQUESTS, "private_reply_quota"),
            RotationInProgress { .. } => (StatusCode::CONFLICT, "rotation_in_progress"),
            ReplayInProgress { .. } => (StatusCode::CONFLICT, "replay_in_progress"),
            Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// Fields beside `code` and `message` that say more about this refusal.
    fn details(&self) -> Value {
        use ApiFailure::*;
        match self {
            Invalid(problems) => json!({ "problems": problems }),
            AlreadyAssigned { assignee } => json!({ "assignee": assignee }),
            RotationInProgress { until } => json!({ "previous_secret_expires_at": until }),
            ReplayInProgress { replay_id } => json!({ "replay_id": replay_id }),
            WindowClosed { details, .. } => details.clone(),
            PrivateReplyWindowClosed {
                comment_id,
                closed_at,
            } => json!({ "comment_id": comment_id, "closed_at": closed_at }),
            PrivateReplyQuota { retry_after_s, .. } => {
                json!({ "retry_after_seconds": retry_after_s })
            }
            _ => Value::Null,
        }
    }

    /// `{"error": {"code", "message", …details}}`.
    pub fn body(&self) -> Value {
        let (_, code) = self.status_and_code();
        error_body(code, self.to_string(), self.details())
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        let mut res = crate::extract::json(status, &self.body());
        if let ApiFailure::PrivateReplyQuota { retry_after_s, .. } = &self
            && let Ok(v) = axum::http::HeaderValue::from_str(&retry_after_s.to_string())
        {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        res
    }
}

impl From<pagedesk_shared::Error> for ApiFailure {
    fn from(e: pagedesk_shared::Error) -> Self {
        tracing::error!(error = %e, "request failed");
        ApiFailure::Internal
    }
}

impl From<AuthError> for ApiFailure {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => ApiFailure::Unauthorized("a bearer token is required"),
            AuthError::Invalid(_) => ApiFailure::Unauthorized("the token is not valid"),
            AuthError::NotConfigured => {
                tracing::error!("no token verification is configured; refusing every request");
                ApiFailure::Unauthorized("authentication is not configured")
            }
            AuthError::KeysUnavailable(m) => {
                tracing::error!(error = %m, "JWKS unavailable");
                ApiFailure::Unavailable("token keys unavailable; retry")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_their_details_beside_code_and_message() {
        let e = ApiFailure::Invalid(vec!["a: wrong".into(), "b: missing".into()]);
        let b = e.body();
        assert_eq!(b["error"]["code"], "invalid_request");
        assert_eq!(b["error"]["message"], "a: wrong; b: missing");
        assert_eq!(b["error"]["problems"].as_array().map(Vec::len), Some(2));
        let e = ApiFailure::AlreadyAssigned {
            assignee: Some("bob".into()),
        };
        assert_eq!(
            e.status_and_code(),
            (StatusCode::CONFLICT, "already_assigned")
        );
        assert_eq!(e.body()["error"]["assignee"], "bob");
        assert_eq!(
            ApiFailure::NotFound("route").body()["error"]["message"],
            "route not found"
        );
    }
}
