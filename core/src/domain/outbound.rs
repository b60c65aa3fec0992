//! Outbound rules, pure: what a reply may contain, how it is sent given the messaging window,
//! and what a Graph error means for it.

use super::vocab::SendType;
use serde::{Deserialize, Serialize};

use super::window::{Window, WindowState};
use crate::meta::graph_error::GraphError;

/// Meta's limits for a Send API message (text length, quick replies).
pub const MAX_TEXT_CHARS: usize = 2000;
pub const MAX_QUICK_REPLIES: usize = 13;
pub const MAX_QUICK_REPLY_TITLE: usize = 20;
pub const MAX_QUICK_REPLY_PAYLOAD: usize = 1000;
pub const MAX_ATTACHMENTS: usize = 5;
pub const ATTACHMENT_TYPES: [&str; 4] = ["image", "video", "audio", "file"];

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<OutAttachment>,
    #[serde(default)]
    pub quick_replies: Vec<QuickReply>,
    #[serde(default)]
    pub private: bool,
    #[serde(default)]
    pub client_id: Option<String>,
    /// Comment conversations: the comment to answer (default: the latest).
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// An attachment of a reply: a URL Meta fetches, or an agent's upload (`POST /uploads`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutAttachment {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub upload_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuickReply {
    pub title: String,
    pub payload: String,
}

/// Checks a reply against Meta's limits; every problem is listed so a front end can show them.
pub fn validate(r: &ReplyRequest) -> Result<(), Vec<String>> {
    let mut errs = Vec::new();
    let text = r.text.as_deref().unwrap_or("");
    if text.trim().is_empty() && r.attachments.is_empty() {
        errs.push("text: a reply needs text or an attachment".to_owned());
    }
    if r.text.is_some() && text.trim().is_empty() && !r.attachments.is_empty() {
        errs.push("text: must not be blank when given".to_owned());
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        errs.push(format!(
            "text: {chars} characters; Messenger allows {MAX_TEXT_CHARS}"
        ));
    }
    if r.attachments.len() > MAX_ATTACHMENTS {
        errs.push(format!("attachments: at most {MAX_ATTACHMENTS}"));
    }
    for (i, a) in r.attachments.iter().enumerate() {
        if !ATTACHMENT_TYPES.contains(&a.kind.as_str()) {
            errs.push(format!(
                "attachments[{i}].type: one of image, video, audio, file"
            ));
        }
        match (&a.url, &a.upload_id) {
            (Some(url), None) => match url::Url::parse(url) {
                Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => {}
                _ => errs.push(format!(
                    "attachments[{i}].url: an absolute http(s) URL Meta can fetch"
                )),
            },
            (None, Some(id)) if !id.is_empty() && id.len() <= 64 => {}
            (None, Some(_)) => errs.push(format!("attachments[{i}].upload_id: an upload's id")),
            _ => errs.push(format!(
                "attachments[{i}]: a url or an upload_id, one of the two"
            )),
        }
    }
    if r.quick_replies.len() > MAX_QUICK_REPLIES {
        errs.push(format!(
            "quick_replies: {} given; Messenger allows {MAX_QUICK_REPLIES}",
            r.quick_replies.len()
        ));
    }
    for (i, q) in r.quick_replies.iter().enumerate() {
        if q.title.trim().is_empty() || q.title.chars().count() > MAX_QUICK_REPLY_TITLE {
            errs.push(format!(
                "quick_replies[{i}].title: 1 to {MAX_QUICK_REPLY_TITLE} characters"
            ));
        }
        if q.payload.is_empty() || q.payload.chars().count() > MAX_QUICK_REPLY_PAYLOAD {
            errs.push(format!(
                "quick_replies[{i}].payload: 1 to {MAX_QUICK_REPLY_PAYLOAD} characters"
            ));
        }
    }
    if let Some(c) = &r.client_id
        && (c.is_empty() || c.chars().count() > 128 || c.contains('#'))
    {
        errs.push("client_id: 1 to 128 characters, no '#'".to_owned());
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

/// Who wrote a message: only a human agent's reply may use the Human Agent tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyAuthor {
    HumanAgent,
    /// Bots, greetings, away messages, surveys: never tagged.
    Automatic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowRefusal {
    /// The person never wrote (e.g. a conversation started by the Page).
    NoInboundMessage,
    /// 24 h passed and the Human Agent feature is off for this account.
    StandardWindowClosed,
    /// 24 h passed; automatic messages may not use the Human Agent tag.
    AutomaticOutsideStandardWindow,
    /// 7 days passed.
    HumanAgentWindowClosed,
}

impl WindowRefusal {
    pub fn explain(self) -> &'static str {
        match self {
            WindowRefusal::NoInboundMessage => {
                "the person has not written to the Page, so Messenger allows no reply"
            }
            WindowRefusal::StandardWindowClosed => {
                "24 hours have passed since the person's last message and the Human Agent feature is off"
            }
            WindowRefusal::AutomaticOutsideStandardWindow => {
                "automatic messages may only be sent within 24 hours of the person's last message"
            }
            WindowRefusal::HumanAgentWindowClosed => {
                "7 days have passed since the person's last message"
            }
        }
    }
}

/// How a message may go out now, or why it may not.
pub fn messaging_type(w: &Window, sender: ReplyAuthor) -> Result<SendType, WindowRefusal> {
    match (w.state, sender) {
        (WindowState::Open, _) => Ok(SendType::Response),
        (WindowState::HumanAgent, ReplyAuthor::HumanAgent) => Ok(SendType::HumanAgent),
        (WindowState::HumanAgent, ReplyAuthor::Automatic) => {
            Err(WindowRefusal::AutomaticOutsideStandardWindow)
        }
        (WindowState::Closed, _) if w.closes_at.is_none() => Err(WindowRefusal::NoInboundMessage),
        (WindowState::Closed, _) if w.human_agent_until.is_some() => {
            Err(WindowRefusal::HumanAgentWindowClosed)
        }
        (WindowState::Closed, ReplyAuthor::Automatic) => {
            Err(WindowRefusal::AutomaticOutsideStandardWindow)
        }
        (WindowState::Closed, ReplyAuthor::HumanAgent) => Err(WindowRefusal::StandardWindowClosed),
    }
}

/// Meta's private reply to a comment: one per comment, within 7 days of it.
pub const PRIVATE_REPLY_MS: i64 = 7 * 24 * 3_600_000;

/// The boundary instant is already too late, as for the messaging window.
pub fn private_reply_allowed(comment_created_at: i64, now: i64) -> bool {
    now < comment_created_at + PRIVATE_REPLY_MS
}

/// Why Instagram Direct would refuse an attachment of `kind` with this content type and size
/// (bytes), or `None`. Meta's table ("Upload Media for Instagram Messaging", 2026-04-01):
/// images png, jpeg or gif up to 8 MB; video mp4, ogg, avi, mov or webm and audio aac, m4a,
/// wav or mp4 up to 25 MB; files PDF only, up to 25 MB.
pub fn instagram_attachment_problem(kind: &str, content_type: &str, size: i64) -> Option<String> {
    const MB: i64 = 1024 * 1024;
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (formats, max): (&[&str], i64) = match kind {
        "image" => (&["image/png", "image/jpeg", "image/gif"], 8 * MB),
        "video" => (
            &[
                "video/mp4",
                "video/ogg",
                "video/x-msvideo",
                "video/avi",
                "video/quicktime",
                "video/webm",
            ],
            25 * MB,
        ),
        "audio" => (
            &[
                "audio/aac",
                "audio/mp4",
                "audio/x-m4a",
                "audio/m4a",
                "audio/wav",
                "audio/x-wav",
                "audio/wave",
            ],
            25 * MB,
        ),
        "file" => (&["application/pdf"], 25 * MB),
        other => {
            return Some(format!(
                "Instagram Direct does not take {other} attachments"
            ));
        }
    };
    if !formats.contains(&ct.as_str()) {
        return Some(format!(
            "Instagram Direct takes {kind} attachments as {} only, not {content_type}",
            formats.join(", ")
        ));
    }
    (size > max).then(|| {
        format!(
            "Instagram Direct takes {kind} attachments up to {} MB; this one is {:.1} MB",
            max / MB,
            size as f64 / MB as f64
        )
    })
}

/// Meta's limit on private replies to an Instagram account's comments: 750 an hour.
pub const INSTAGRAM_PRIVATE_REPLIES_PER_HOUR: u32 = 750;

const HOUR_MS: i64 = 3_600_000;

/// The clock hour `now` (epoch ms) falls in, as a number, and the whole seconds until the next
/// one: a reply over the hour's quota can be asked for again then. Counting by clock hour lets
/// up to twice the limit through across an hour's end; Meta's own refusal (retried by the
/// sender) covers that edge.
pub fn quota_hour(now: i64) -> (i64, i64) {
    let hour = now.div_euclid(HOUR_MS);
    let next = (hour + 1) * HOUR_MS;
    (hour, (next - now + 999) / 1000)
}

/// What a failed Graph call means for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Temporary: try again later with backoff.
    Retry,
    /// The request may have reached Meta (timeout): wait for the echo before sending again.
    Ambiguous,
    /// Final: the message fails with this machine-readable reason.
    Fail(&'static str),
    /// The Page token is no longer valid: fail the message and mark the Page.
    Disconnected,
}

pub fn classify(e: &GraphError) -> SendOutcome {
    match e {
        // It may have gone out: the echo (our id in `metadata`) settles it.
        GraphError::Timeout | GraphError::Unconfirmed(_) => SendOutcome::Ambiguous,
        // Refused before anything was sent (connection refused, DNS): safe to retry.
        GraphError::Transport(_) => SendOutcome::Retry,
        GraphError::Http { status } if *status >= 500 || *status == 429 => SendOutcome::Retry,
        GraphError::Http { .. } | GraphError::Decode(_) => SendOutcome::Fail("send_failed"),
        GraphError::Api {
            code,
            subcode,
            status,
            ..
        } => match (*code, *subcode) {
            (1 | 2 | 4 | 17 | 32 | 341 | 613 | 1200 | -1, _) => SendOutcome::Retry,
            (10, Some(2018278 | 2018065)) => SendOutcome::Fail("window_closed"),
            (10, Some(2018108)) | (551, _) => SendOutcome::Fail("recipient_unavailable"),
            (10, Some(2018336)) => SendOutcome::Fail("eu_privacy_restriction"),
            (10, Some(1893063)) => SendOutcome::Fail("page_restricted"),
            (10903, _) => SendOutcome::Fail("private_reply_exists"),
            (100, Some(2018001)) => SendOutcome::Fail("recipient_not_found"),
            (100, _) => SendOutcome::Fail("invalid_request"),
            (190, _) => SendOutcome::Disconnected,
            (368, _) => SendOutcome::Fail("policy_blocked"),
            (10 | 200..=299, _) => SendOutcome::Fail("permission_denied"),
            _ if *status >= 500 => SendOutcome::Retry,
            _ => SendOutcome::Fail("send_failed"),
        },
    }
}

/// A sentence a person understands for each failure reason.
/// A final failure with `reason`, its text for people, and Graph's code when Graph refused.
pub fn failure(reason: &str, graph: Option<&GraphError>) -> super::MessageError {
    super::MessageError {
        code: graph.and_then(GraphError::code),
        subcode: graph.and_then(GraphError::subcode),
        reason: reason.to_owned(),
        message: Some(reason_text(reason).to_owned()),
    }
}

pub fn reason_text(reason: &str) -> &'static str {
    match reason {
        "window_closed" => {
            "Messenger refused: the reply window has closed. The person has to write again first."
        }
        "recipient_unavailable" => {
            "This person can't receive messages from the Page right now (blocked the Page or turned messages off)."
        }
        "eu_privacy_restriction" => {
            "Not allowed by Messenger's privacy rules for people in Europe and Japan (some message types are unavailable there)."
        }
        "page_restricted" => "Meta has temporarily restricted this Page from sending messages.",
        "recipient_not_found" => "Meta does not know this person for this Page.",
        "invalid_request" => {
            "Meta rejected the message as invalid (check attachment URLs and sizes)."
        }
        "page_disconnected" => "The Page's access token is no longer valid: reconnect the Page.",
        "policy_blocked" => "Meta has blocked this Page for policy reasons.",
        "private_reply_exists" => "This comment already has its one private reply.",
        "private_reply_window_closed" => {
            "A private reply is only possible within 7 days of the comment."
        }
        "comment_unavailable" => "The comment no longer exists or can't be replied to.",
        "permission_denied" => "The app lacks a permission Meta requires for this message.",
        "rate_limited" => "Meta's rate limit was hit repeatedly; sending was given up.",
        "unconfirmed" => {
            "Meta did not confirm the send and no echo came back: it may or may not have been delivered."
        }
        "not_sent" => "The message could not be sent in time; send it again.",
        "not_with_ai_agent" => {
            "A person took the conversation over before the AI agent's message went out; it was not sent."
        }
        _ => "Meta refused the message.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instagrams_attachment_table() {
        let mb = 1024 * 1024;
        assert_eq!(
            instagram_attachment_problem("image", "image/jpeg", 8 * mb),
            None
        );
        assert_eq!(
            instagram_attachment_problem("file", "application/pdf; x=1", mb),
            None
        );
        assert_eq!(
            instagram_attachment_problem("audio", "audio/x-m4a", mb),
            None
        );
        assert!(
            instagram_attachment_problem("image", "image/jpeg", 8 * mb + 1)
                .is_some_and(|p| p.contains("up to 8 MB"))
        );
        assert!(
            instagram_attachment_problem("image", "image/webp", 10)
                .is_some_and(|p| p.contains("not image/webp"))
        );
        assert!(instagram_attachment_problem("file", "application/zip", 10).is_some());
        assert!(instagram_attachment_problem("video", "video/mp4", 25 * mb + 1).is_some());
        assert!(instagram_attachment_problem("sticker", "image/png", 10).is_some());
    }

    #[test]
    fn quota_hours_and_the_wait_to_the_next() {
        assert_eq!(quota_hour(0), (0, 3600));
        assert_eq!(quota_hour(3_599_999), (0, 1));
        assert_eq!(quota_hour(3_600_000), (1, 3600));
        assert_eq!(quota_hour(3_600_001), (1, 3600));
        assert_eq!(quota_hour(5_400_000), (1, 1800));
    }
    use crate::domain::window::{HUMAN_AGENT_MS, STANDARD_MS, window_at};

    fn body(name: &str) -> GraphError {
        let p = format!("{}/../fixtures/meta/{name}", env!("CARGO_MANIFEST_DIR"));
        GraphError::from_body(400, &std::fs::read(p).unwrap())
    }

    #[test]
    fn a_temporarily_restricted_page_is_a_failure_with_its_reason() {
        let e = GraphError::Api {
            status: 400,
            code: 10,
            subcode: Some(1893063),
            kind: Some("OAuthException".into()),
            message: "This Page is temporarily restricted".into(),
        };
        assert_eq!(classify(&e), SendOutcome::Fail("page_restricted"));
        assert!(reason_text("page_restricted").contains("restricted"));
    }

    #[test]
    fn every_graph_error_fixture_has_its_documented_outcome() {
        for (name, want) in [
            (
                "send_api_error_10_2018278_outside_window.json",
                SendOutcome::Fail("window_closed"),
            ),
            (
                "send_api_error_10_2018336_eu_privacy.json",
                SendOutcome::Fail("eu_privacy_restriction"),
            ),
            (
                "send_api_error_100_2018001_no_matching_user.json",
                SendOutcome::Fail("recipient_not_found"),
            ),
            ("send_api_error_1200_temporary.json", SendOutcome::Retry),
            ("send_api_error_613_rate_limit.json", SendOutcome::Retry),
            (
                "send_api_error_190_invalid_token.json",
                SendOutcome::Disconnected,
            ),
            (
                "send_api_error_551_person_unavailable.json",
                SendOutcome::Fail("recipient_unavailable"),
            ),
            ("meta_doc_error_example_190.json", SendOutcome::Disconnected),
            (
                "meta_doc_graph_error_shape_190_460.json",
                SendOutcome::Disconnected,
            ),
            (
                "profile_api_error_100_2018218_no_profile.json",
                SendOutcome::Fail("invalid_request"),
            ),
        ] {
            assert_eq!(classify(&body(name)), want, "{name}");
        }
        assert_eq!(classify(&GraphError::Timeout), SendOutcome::Ambiguous);
        assert_eq!(
            classify(&GraphError::Unconfirmed("reset".into())),
            SendOutcome::Ambiguous
        );
        assert_eq!(
            classify(&GraphError::Transport("refused".into())),
            SendOutcome::Retry
        );
        assert_eq!(
            classify(&GraphError::Http { status: 503 }),
            SendOutcome::Retry
        );
        let api = |code, subcode| GraphError::Api {
            status: 400,
            code,
            subcode,
            kind: None,
            message: String::new(),
        };
        assert_eq!(classify(&api(-1, Some(2018012))), SendOutcome::Retry);
        assert_eq!(
            classify(&api(10, Some(2018108))),
            SendOutcome::Fail("recipient_unavailable")
        );
        assert_eq!(
            classify(&api(200, Some(1545041))),
            SendOutcome::Fail("permission_denied")
        );
        assert_eq!(
            classify(&api(368, None)),
            SendOutcome::Fail("policy_blocked")
        );
        assert_eq!(classify(&api(4, None)), SendOutcome::Retry);
    }

    #[test]
    fn human_agent_tag_only_for_humans_between_24_hours_and_7_days() {
        let t = 0;
        let at = |now, ha| window_at(Some(t), ha, now);
        use SendType::*;
        assert_eq!(
            messaging_type(&at(STANDARD_MS - 1, false), ReplyAuthor::HumanAgent),
            Ok(Response)
        );
        assert_eq!(
            messaging_type(&at(STANDARD_MS - 1, true), ReplyAuthor::Automatic),
            Ok(Response)
        );
        assert_eq!(
            messaging_type(&at(STANDARD_MS, true), ReplyAuthor::HumanAgent),
            Ok(HumanAgent)
        );
        assert_eq!(
            messaging_type(&at(STANDARD_MS, true), ReplyAuthor::Automatic),
            Err(WindowRefusal::AutomaticOutsideStandardWindow)
        );
        assert_eq!(
            messaging_type(&at(STANDARD_MS, false), ReplyAuthor::HumanAgent),
            Err(WindowRefusal::StandardWindowClosed)
        );
        assert_eq!(
            messaging_type(&at(HUMAN_AGENT_MS - 1, true), ReplyAuthor::HumanAgent),
            Ok(HumanAgent)
        );
        assert_eq!(
            messaging_type(&at(HUMAN_AGENT_MS, true), ReplyAuthor::HumanAgent),
            Err(WindowRefusal::HumanAgentWindowClosed)
        );
        assert_eq!(
            messaging_type(&window_at(None, true, 5), ReplyAuthor::HumanAgent),
            Err(WindowRefusal::NoInboundMessage)
        );
    }

    #[test]
    fn private_replies_within_seven_days_of_the_comment() {
        let c = 1_000;
        assert!(private_reply_allowed(c, c));
        assert!(private_reply_allowed(c, c + PRIVATE_REPLY_MS - 1));
        assert!(!private_reply_allowed(c, c + PRIVATE_REPLY_MS));
        assert!(!private_reply_allowed(c, c + PRIVATE_REPLY_MS + 1));
    }

    #[test]
    fn reply_validation_lists_every_problem() {
        let ok = ReplyRequest {
            text: Some("hi".into()),
            ..Default::default()
        };
        assert!(validate(&ok).is_ok());
        assert!(validate(&ReplyRequest::default()).is_err());
        assert!(
            validate(&ReplyRequest {
                text: Some("   ".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            validate(&ReplyRequest {
                text: Some("x".repeat(2001)),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            validate(&ReplyRequest {
                text: Some("é".repeat(2000)),
                ..Default::default()
            })
            .is_ok()
        );
        let bad = ReplyRequest {
            text: Some("x".into()),
            attachments: vec![OutAttachment {
                kind: "gif".into(),
                url: Some("ftp://x".into()),
                upload_id: None,
            }],
            quick_replies: (0..14)
                .map(|i| QuickReply {
                    title: format!("{i}"),
                    payload: "p".into(),
                })
                .collect(),
            ..Default::default()
        };
        assert_eq!(validate(&bad).unwrap_err().len(), 3);
        let image = ReplyRequest {
            attachments: vec![OutAttachment {
                kind: "image".into(),
                url: Some("https://cdn.example/a.png".into()),
                upload_id: None,
            }],
            ..Default::default()
        };
        assert!(validate(&image).is_ok());
    }
}
