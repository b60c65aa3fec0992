//! Key layout of the single table. Every key of tenant data starts with `ACC#<account>`, so no
//! query can cross accounts; the only global item is the page index (a webhook names a Page,
//! not an account).
//!
//! | item | pk | sk | gsi1 (pk / sk) | gsi2 | feed |
//! |---|---|---|---|---|---|
//! | page | `PAGE#<page>` | `PAGE` | `ACC#<a>#PAGES` / page | | |
//! | (page, its next health check) | | | due: `DUE#<minute>` / `<ms:013>#<a>#PAGE#<page>` | | |
//! | Instagram account → its Page | `IGACCOUNT#<ig id>` | `IGACCOUNT` | | | |
//! | Facebook user's connection of a Page | `FBUSER#<asid>` | `PAGE#<page>` | | | |
//! | copy of a media URL (guard) | `ACC#<a>#MEDIA#<sha256 of url>` | `MEDIA` | | | |
//! | agent's upload | `ACC#<a>` | `UPLOAD#<id>` | | | |
//! | data-deletion request | `DELETION#<code>` | `DELETION` | | | |
//! | settings | `ACC#<a>` | `SETTINGS` | | | |
//! | a Page's own settings (its overrides) | `ACC#<a>` | `SETTINGS#PAGE#<page>` | | | |
//! | contact | `ACC#<a>` | `CONTACT#<contact>` | | | |
//! | post (comment conversations) | `ACC#<a>` | `POST#<page>#<post>` | | | |
//! | lead marker (lead conversations) | `ACC#<a>` | `LEAD#<page>#<leadgen>` | | | |
//! | private-reply guard | `ACC#<a>#CONV#<c>` | `PRIVATE#<comment>` | | | |
//! | conversation | `ACC#<a>#CONV#<c>` | `META` | | `ACC#<a>#CONVS#<status>` / activity | |
//! | (conversation, when a window mark is due) | | | due: `DUE#<minute>` / `<ms:013>#<a>#<c>` | | |
//! | message | `ACC#<a>#CONV#<c>` | `MSG#<ms:013>#<id>` | | | |
//! | (Messenger message: its own event) | | | | | `ACC#<a>#EV` / `<position:013>#<id>` |
//! | (outbound message while `queued`) | | | due: `DUE#<minute>` / `<ms:013>#<a>#<c>#<message sk>` | | |
//! | mid guard (comments, our sends, survey answers) | `ACC#<a>#MID#<mid>` | `MID` | | | |
//! | client id | `ACC#<a>#CONV#<c>` | `CLIENT#<client_id>` | | | |
//! | event | `ACC#<a>#EV` | `<ms:013>#<ulid>` | | | |
//! | agent (profile and open-conversation count) | `ACC#<a>` | `AGENT#<agent>` | | | |
//! | routing rules | `ACC#<a>` | `ROUTING` | | | |
//! | round-robin counter of a rule | `ACC#<a>` | `RR#<rule>` | | | |
//! | outgoing webhook | `ACC#<a>` | `WEBHOOK#<id>` | | | |
//! | the account's webhook count | `ACC#<a>` | `WEBHOOKS` | | | |
//! | the account's dispatch cursor (feed position delivered up to) | `ACC#<a>` | `HOOKCURSOR` | | | |
//! | a webhook's attempts in flight (leases `s0`…) | `ACC#<a>` | `HOOKSLOTS#<id>` | | | |
//! | a webhook's running replay (its count of deliveries) | `ACC#<a>` | `HOOKREPLAY#<id>` | | | |
//! | a webhook delivery (its latest attempt) | `ACC#<a>#WH#<id>` | `DLV#<queued ms:013>#<event>#<delivery>` | | | |
//! | CSAT answer | `ACC#<a>#CSAT` | `<ms:013>#<c>` | | | |

use crate::domain::ConversationStatus;

pub const META: &str = "META";
pub const PAGE_SK: &str = "PAGE";

pub fn page(page_id: &str) -> String {
    format!("PAGE#{page_id}")
}
/// The account's contact search rows (`<term>#<contact id>`).
pub fn contact_search(a: &str) -> String {
    format!("ACC#{a}#SEARCH")
}
pub fn account(a: &str) -> String {
    format!("ACC#{a}")
}
pub fn account_pages(a: &str) -> String {
    format!("ACC#{a}#PAGES")
}
pub fn contact_sk(contact_id: &str) -> String {
    format!("CONTACT#{contact_id}")
}
pub fn conversation(a: &str, c: &str) -> String {
    format!("ACC#{a}#CONV#{c}")
}
pub fn conversations_by_status(a: &str, status: ConversationStatus) -> String {
    format!("ACC#{a}#CONVS#{status}")
}
pub fn activity_sk(activity_ms: i64, c: &str) -> String {
    format!("{activity_ms:013}#{c}")
}
/// The time (epoch ms) a key that starts with one holds: the list index's and the `due`
/// index's sort keys.
pub fn time_prefix(key: &str) -> Option<i64> {
    key.get(..13)?.parse().ok()
}
pub fn message_sk(created_ms: i64, id: &str) -> String {
    format!("MSG#{created_ms:013}#{id}")
}
/// The creation time a message's sort key holds.
pub fn message_created_ms(sk: &str) -> Option<i64> {
    sk.strip_prefix("MSG#")?.get(..13)?.parse().ok()
}
pub fn mid(a: &str, mid: &str) -> String {
    format!("ACC#{a}#MID#{mid}")
}
/// The scheduler's minute bucket: conversations with a window mark due in that minute.
pub fn due_pk(due_ms: i64) -> String {
    format!("DUE#{}", due_ms.div_euclid(60_000))
}
pub fn due_sk(due_ms: i64, a: &str, c: &str) -> String {
    format!("{due_ms:013}#{a}#{c}")
}
/// A queued outbound message in the scheduler's minute bucket: the sweeper's deadline for it.
pub fn due_message_sk(due_ms: i64, a: &str, c: &str, message_sk: &str) -> String {
    format!("{due_ms:013}#{a}#{c}#{message_sk}")
}
/// A conversation's timer (auto-resolve, end of a snooze) in the scheduler's minute bucket:
/// its own row in the conversation's partition (sort key `timer_sk`), so the conversation's
/// window marks keep theirs.
pub fn due_timer_sk(due_ms: i64, a: &str, c: &str, timer_sk: &str) -> String {
    format!("{}#{timer_sk}", due_sk(due_ms, a, c))
}
/// A Page's next health check in the scheduler's minute bucket.
pub fn due_page_sk(due_ms: i64, a: &str, page_id: &str) -> String {
    format!("{due_ms:013}#{a}#PAGE#{page_id}")
}
pub fn fb_user(user: &str) -> String {
    format!("FBUSER#{user}")
}
pub fn post_sk(page_id: &str, post_id: &str) -> String {
    format!("POST#{page_id}#{post_id}")
}
pub fn private_reply_sk(comment_id: &str) -> String {
    format!("PRIVATE#{comment_id}")
}
pub fn client_sk(client_id: &str) -> String {
    format!("CLIENT#{client_id}")
}
pub fn events(a: &str) -> String {
    format!("ACC#{a}#EV")
}
/// A message's place in the `feed` index (partition `events(a)`), the same shape as an event
/// item's sort key so that the feed merges both in one order.
pub fn feed_sk(position_ms: i64, id: &str) -> String {
    format!("{position_ms:013}#{id}")
}
pub const MID_SK: &str = "MID";
pub const SETTINGS_SK: &str = "SETTINGS";
pub fn page_settings_sk(page_id: &str) -> String {
    format!("{SETTINGS_SK}#PAGE#{page_id}")
}
pub fn agent_sk(agent: &str) -> String {
    format!("AGENT#{agent}")
}
pub const ROUTING_SK: &str = "ROUTING";
/// The names of every label the account has used (a string set).
pub const LABELS_SK: &str = "LABELS";
pub const SAVED_REPLY_PREFIX: &str = "REPLY#";

pub fn saved_reply_sk(shortcut: &str) -> String {
    format!("{SAVED_REPLY_PREFIX}{shortcut}")
}
pub fn lead_marker_sk(page_id: &str, leadgen_id: &str) -> String {
    format!("LEAD#{page_id}#{leadgen_id}")
}
pub fn round_robin_sk(rule: &str) -> String {
    format!("RR#{rule}")
}
pub fn csat(a: &str) -> String {
    format!("ACC#{a}#CSAT")
}
pub const WEBHOOK_PREFIX: &str = "WEBHOOK#";
pub const WEBHOOK_COUNT_SK: &str = "WEBHOOKS";
pub const HOOK_CURSOR_SK: &str = "HOOKCURSOR";
pub fn webhook_sk(id: &str) -> String {
    format!("{WEBHOOK_PREFIX}{id}")
}
pub fn webhook_slots_sk(webhook: &str) -> String {
    format!("HOOKSLOTS#{webhook}")
}
pub fn webhook_replay_sk(webhook: &str) -> String {
    format!("HOOKREPLAY#{webhook}")
}
pub fn webhook_deliveries(a: &str, webhook: &str) -> String {
    format!("ACC#{a}#WH#{webhook}")
}
/// Newest first by when it was queued, then by the event's feed position (a dispatch turn
/// queues many at once).
pub fn delivery_sk(queued_ms: i64, event_id: &str, delivery: &str) -> String {
    format!("DLV#{queued_ms:013}#{event_id}#{delivery}")
}
/// Meta's hourly quotas counted per Page (`quota.rs`).
pub fn quota(a: &str, page: &str) -> String {
    format!("ACC#{a}#QUOTA#{page}")
}
pub fn private_reply_quota_sk(hour: i64) -> String {
    format!("PRIVREPLY#{hour}")
}
pub const INSTAGRAM_SK: &str = "IGACCOUNT";
pub fn instagram(ig_id: &str) -> String {
    format!("IGACCOUNT#{ig_id}")
}
