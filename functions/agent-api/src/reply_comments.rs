//! A reply in a comment conversation (Facebook or Instagram): which comment it answers, what it
//! may carry there, and Meta's hourly quota of private replies to an Instagram account's
//! comments.

use pagedesk_shared::clock::rfc3339;
use pagedesk_shared::domain::outbound::{self, ReplyRequest};
use pagedesk_shared::domain::{Channel, Direction};
use pagedesk_shared::store::{ConversationItem, Message};

use crate::App;
use crate::error::ApiFailure;
use crate::extract::Caller;

/// Counts a private reply to an Instagram comment against the account's hour (Meta allows 750
/// an hour per account), before it is stored: over the quota it is refused now, with the wait,
/// rather than failing at Meta later. The hour counted, or `None` for any other reply.
pub(crate) async fn count_private_reply(
    app: &App,
    c: &Caller,
    msg: &Message,
    conv: &ConversationItem,
    now: i64,
) -> Result<Option<i64>, ApiFailure> {
    if !(msg.private && conv.channel == Channel::InstagramComment) {
        return Ok(None);
    }
    let (hour, retry_after_s) = outbound::quota_hour(now);
    let limit = app.cfg.instagram_private_replies_per_hour;
    if app
        .store
        .take_private_reply(&c.account, &conv.page_id, hour, limit)
        .await?
    {
        Ok(Some(hour))
    } else {
        Err(ApiFailure::PrivateReplyQuota {
            limit,
            retry_after_s,
        })
    }
}

/// The comment a reply in a comment conversation answers: `reply_to`, else the latest.
pub(crate) async fn comment_target(
    app: &App,
    c: &Caller,
    conv: &str,
    req: &ReplyRequest,
    channel: Channel,
    now: i64,
) -> Result<Message, ApiFailure> {
    let target = match &req.reply_to {
        Some(cid) => {
            let guard = app
                .store
                .get_mid(&c.account, cid)
                .await?
                .filter(|g| g.conversation_id == conv);
            match guard {
                Some(g) => {
                    app.store
                        .get_message(&c.account, conv, &g.message_sk)
                        .await?
                }
                None => None,
            }
            .filter(|m| m.direction == Direction::In)
            .ok_or_else(|| ApiFailure::invalid("reply_to: not a comment of this conversation"))?
        }
        None => app
            .store
            .latest_comment(&c.account, conv)
            .await?
            .ok_or_else(|| ApiFailure::invalid("there is no comment to reply to"))?,
    };
    if req.private {
        if !req.attachments.is_empty() || !req.quick_replies.is_empty() {
            return Err(ApiFailure::invalid(
                "private replies to comments carry text only",
            ));
        }
        let created = target.comment_created_at.unwrap_or(target.created_at);
        if !outbound::private_reply_allowed(created, now) {
            return Err(ApiFailure::PrivateReplyWindowClosed {
                comment_id: target.comment_id,
                closed_at: rfc3339(created + outbound::PRIVATE_REPLY_MS),
            });
        }
    } else if channel == Channel::InstagramComment
        && (!req.quick_replies.is_empty() || !req.attachments.is_empty())
    {
        // Instagram's `/replies` takes a message and nothing else.
        return Err(ApiFailure::invalid(
            "public replies to Instagram comments carry text only",
        ));
    } else if !req.quick_replies.is_empty()
        || req.attachments.len() > 1
        || req.attachments.iter().any(|a| a.kind != "image")
    {
        return Err(ApiFailure::invalid(
            "public comment replies carry text and at most one image",
        ));
    }
    Ok(target)
}
