//! Pages: the global index from a Page id to the account that connected it (a webhook names a
//! Page, not an account), and the account's list of Pages.

use aws_sdk_dynamodb::types::Update;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::*;
use crate::connect::Channels;
use crate::domain::{EventType, InstagramStatus, PageStatus};
use crate::store::update::UpdateExpr;
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PageItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub(in crate::store) gsi1pk: String,
    pub(in crate::store) gsi1sk: String,
    pub account: String,
    pub page_id: String,
    pub name: Option<String>,
    pub status: PageStatus,
    pub status_reason: Option<String>,
    /// Secrets Manager id of this Page's token secret.
    pub token_secret: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The app-scoped id of the Facebook user whose login connected the Page (not a name:
    /// Meta's data-deletion callback names people by this id).
    #[serde(default)]
    pub connected_by: Option<String>,
    #[serde(default)]
    pub connected_at: Option<i64>,
    /// The webhook fields our app is subscribed to, as last set or checked.
    #[serde(default)]
    pub subscribed_fields: Vec<String>,
    #[serde(default)]
    pub channels: Channels,
    #[serde(default)]
    pub last_check_at: Option<i64>,
    /// `ok`, `resubscribed`, `reauth_required: <why>` or `error: <what>`.
    #[serde(default)]
    pub last_check: Option<String>,
    #[serde(default)]
    pub import: Option<ImportProgress>,
    /// The last reconciliation with the Conversations API (an import of what webhooks missed).
    #[serde(default)]
    pub reconcile: Option<ImportProgress>,
    /// Messages reconciliation found that no webhook had brought, in all.
    #[serde(default)]
    pub reconciled_messages: i64,
    /// When a webhook event for the Page last reached the router (to the minute).
    #[serde(default)]
    pub last_webhook_at: Option<i64>,
    /// `sharing: only_me`: the one admin who may work the Page until it is shared; absent:
    /// every agent given the Page (or every Page) works it.
    #[serde(default)]
    pub private_to: Option<String>,
    /// When a send first met Meta's EU/Japan privacy restriction (10/2018336).
    #[serde(default)]
    pub privacy_restricted_at: Option<i64>,
    /// The Instagram professional account linked to the Page, as connecting found it.
    #[serde(default)]
    pub instagram: Option<InstagramLink>,
    /// The next health check, in the scheduler's `due` index.
    #[serde(default)]
    pub(in crate::store) duepk: Option<String>,
    #[serde(default)]
    pub(in crate::store) duesk: Option<String>,
}

/// A Page's linked Instagram account and whether pagedesk may work it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstagramLink {
    pub id: String,
    #[serde(default)]
    pub username: Option<String>,
    pub status: InstagramStatus,
    #[serde(default)]
    pub missing_permissions: Vec<String>,
}

impl InstagramLink {
    /// The account as Graph names it, judged by the permissions `granted`.
    pub fn judged(id: &str, username: Option<String>, granted: &[String]) -> Self {
        let (status, missing) = crate::connect::instagram_status(granted);
        InstagramLink {
            id: id.to_owned(),
            username,
            status,
            missing_permissions: missing.into_iter().map(str::to_owned).collect(),
        }
    }

    /// `not_subscribed` when the app's Instagram webhook lacks fields it cannot be given,
    /// unless permissions are missing (the first thing to mend).
    pub fn mark_unsubscribed(&mut self, unsubscribed: bool) {
        if unsubscribed && self.status == InstagramStatus::Connected {
            self.status = InstagramStatus::NotSubscribed;
        }
    }
}

/// What one health check found, to be recorded on the Page.
pub struct PageCheck<'a> {
    /// `ok`, `resubscribed`, `reauth_required: <why>` or `error: <what>`.
    pub outcome: &'a str,
    /// The Page's subscription as found or set (`None`: not learnt).
    pub subscribed: Option<&'a [String]>,
    /// The Instagram account as found, when it differs from the Page's (`Some(None)`: no
    /// account is linked any more).
    pub instagram: Option<Option<&'a InstagramLink>>,
    pub next_due: i64,
    pub events: &'a [EventItem],
}

/// Which Page an Instagram account's webhooks belong to (`IGACCOUNT#<id>`): Meta names the
/// Instagram account in `entry[].id`, not the Page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct InstagramIndex {
    pk: String,
    sk: String,
    page_id: String,
    account: String,
}

impl Row for InstagramIndex {
    fn keys(&self) -> Option<(String, String)> {
        Some((self.pk.clone(), self.sk.clone()))
    }
}

/// A history import's state, kept on the Page so that a crashed step resumes where the last
/// one finished.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ImportProgress {
    pub run: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub days: i64,
    /// `rules` or `unassigned`.
    pub assign: String,
    /// Conversations last active before this (epoch ms) are not imported.
    pub since: i64,
    /// Steps finished; a job names the step it runs, so a repeated job is recognised.
    pub step: i64,
    /// The Conversations API cursor where the next step starts.
    pub after: Option<String>,
    pub conversations: i64,
    pub messages: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
}

/// Which of a Page's runs through the Conversations API: the history import an admin asks
/// for, or the reconciliation the scheduler starts. Each keeps its own progress on the Page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    #[default]
    History,
    Reconcile,
}

impl ImportKind {
    /// The Page attribute its progress is kept in.
    fn attr(self) -> &'static str {
        match self {
            ImportKind::History => "import",
            ImportKind::Reconcile => "reconcile",
        }
    }
}

/// A Facebook user's connection of a Page (`FBUSER#<asid>` / `PAGE#<page>`), so that Meta's
/// callbacks, which name the user, find the Pages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FbUserLink {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub account: String,
    pub page_id: String,
    pub created_at: i64,
}

/// A data-deletion request Meta sent, for its status page. The user's id is not kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeletionItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub code: String,
    pub status: String,
    pub pages: i64,
    pub requested_at: i64,
    pub completed_at: Option<i64>,
}

impl DeletionItem {
    pub fn new(code: &str, pages: i64, now: i64) -> Self {
        DeletionItem {
            pk: format!("DELETION#{code}"),
            sk: "DELETION".into(),
            code: code.to_owned(),
            status: "completed".into(),
            pages,
            requested_at: now,
            completed_at: Some(now),
        }
    }
}

impl PageItem {
    /// The Page's token, read again if the Page was re-registered since it was cached.
    pub async fn token(
        &self,
        secrets: &crate::adapters::secrets::SecretCache,
    ) -> Result<Option<String>> {
        secrets.get_fresh(&self.token_secret, self.updated_at).await
    }
}

impl PageItem {
    /// Whether `agent` may work the Page's conversations as far as its sharing goes (their own
    /// Pages are `AgentItem::works`).
    pub fn open_to(&self, agent: &str) -> bool {
        self.private_to.as_deref().is_none_or(|a| a == agent)
    }

    /// A Page of `account` whose token is kept in the secret `token_secret`.
    pub fn new(account: &str, page_id: &str, token_secret: String, now: i64) -> Self {
        PageItem {
            pk: keys::page(page_id),
            sk: keys::PAGE_SK.into(),
            gsi1pk: keys::account_pages(account),
            gsi1sk: page_id.to_owned(),
            account: account.to_owned(),
            page_id: page_id.to_owned(),
            name: None,
            status: PageStatus::Connected,
            status_reason: None,
            token_secret,
            created_at: now,
            updated_at: now,
            connected_by: None,
            connected_at: None,
            subscribed_fields: Vec::new(),
            channels: Channels::default(),
            last_check_at: None,
            last_check: None,
            import: None,
            reconcile: None,
            reconciled_messages: 0,
            last_webhook_at: None,
            private_to: None,
            privacy_restricted_at: None,
            instagram: None,
            duepk: None,
            duesk: None,
        }
    }

    /// Puts the Page's next health check at `due` (epoch ms) in the scheduler's index.
    pub fn check_at(&mut self, due: i64) {
        self.duepk = Some(keys::due_pk(due));
        self.duesk = Some(keys::due_page_sk(due, &self.account, &self.page_id));
    }
}

impl Store {
    pub async fn get_page(&self, page_id: &str) -> Result<Option<PageItem>> {
        self.get(keys::page(page_id), keys::PAGE_SK.into(), false)
            .await
    }

    /// Registers or updates a Page for `account`. A Page belongs to one account at a time:
    /// returns `Ok(false)` when another account holds it.
    pub async fn put_page(&self, page: &PageItem) -> Result<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(page)?))
            .condition_expression("attribute_not_exists(pk) OR account = :a")
            .expression_attribute_values(":a", s(&page.account))
            .send()
            .await;
        written(res, "PutItem")
    }

    /// Points Instagram account `ig_id`'s webhooks at `page`.
    pub async fn link_instagram(&self, page: &PageItem, ig_id: &str) -> Result<()> {
        self.put(&InstagramIndex {
            pk: keys::instagram(ig_id),
            sk: keys::INSTAGRAM_SK.into(),
            page_id: page.page_id.clone(),
            account: page.account.clone(),
        })
        .await
    }

    /// The Page an Instagram account's webhooks belong to.
    pub async fn page_of_instagram(&self, ig_id: &str) -> Result<Option<PageItem>> {
        let Some(link) = self
            .get::<InstagramIndex>(keys::instagram(ig_id), keys::INSTAGRAM_SK.into(), false)
            .await?
        else {
            return Ok(None);
        };
        // The Page's record is the truth; this row only finds it. A Page that was forgotten or
        // moved on, or whose Instagram account changed, leaves the row pointing nowhere.
        Ok(self.get_page(&link.page_id).await?.filter(|p| {
            p.account == link.account && p.instagram.as_ref().is_some_and(|i| i.id == ig_id)
        }))
    }

    /// Forgets the link of `ig_id` if it still points at `page_id`.
    pub async fn unlink_instagram(&self, ig_id: &str, page_id: &str) -> Result<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::instagram(ig_id)))
            .key("sk", s(keys::INSTAGRAM_SK))
            .condition_expression("page_id = :p")
            .expression_attribute_values(":p", s(page_id))
            .send()
            .await;
        written(res, "DeleteItem").map(|_| ())
    }

    pub async fn delete_page(&self, account: &str, page_id: &str) -> Result<bool> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::page(page_id)))
            .key("sk", s(keys::PAGE_SK))
            .condition_expression("account = :a")
            .expression_attribute_values(":a", s(account))
            .send()
            .await;
        written(res, "DeleteItem")
    }

    /// Limits the Page to one admin (`Some`) or shares it again (`None`); `None` back when the
    /// Page is not `account`'s.
    pub async fn set_page_private_to(
        &self,
        account: &str,
        page_id: &str,
        private_to: Option<&str>,
        now: i64,
    ) -> Result<Option<PageItem>> {
        let mut u = UpdateExpr::new();
        u.set("updated_at = :u")
            .value(":u", n(now))
            .set_or_remove("private_to", ":pt", private_to.map(s))
            .condition("account = :a")
            .value(":a", s(account));
        let res = self
            .update_item(u.build(&self.table, &keys::page(page_id), keys::PAGE_SK)?)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(from_item(out.attributes.unwrap_or_default())?)),
            Err(e) if is_conditional(&e) => Ok(None),
            Err(e) => Err(failed("UpdateItem")(e)),
        }
    }

    pub async fn list_pages(&self, account: &str) -> Result<Vec<PageItem>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :p")
                .expression_attribute_values(":p", s(keys::account_pages(account))),
        )
        .await
    }

    /// Marks the Page `reauth_required` (once) and says so in the events feed.
    pub async fn disconnect_page(
        &self,
        account: &str,
        page_id: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool> {
        let upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::page(page_id)))
            .key("sk", s(keys::PAGE_SK))
            .update_expression("SET #st = :r, status_reason = :why, updated_at = :u")
            .condition_expression("account = :a AND #st <> :r")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":r", s(PageStatus::ReauthRequired.as_str()))
            .expression_attribute_values(":why", s(reason))
            .expression_attribute_values(":a", s(account))
            .expression_attribute_values(":u", n(now))
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let ev = EventItem::new(
            account,
            EventType::PageDisconnected,
            None,
            json!({"page_id": page_id, "reason": reason}),
            now,
        );
        self.update_with_event(upd, Some(&ev)).await
    }

    /// Records a health check: its outcome, what it found (the subscription, the Instagram
    /// account) and the next check, with its events in the same transaction.
    pub async fn record_page_check(
        &self,
        page: &PageItem,
        check: &PageCheck<'_>,
        now: i64,
    ) -> Result<bool> {
        let next_due = check.next_due;
        let mut u = UpdateExpr::new();
        u.set("last_check_at = :now")
            .set("last_check = :c")
            .set("duepk = :dp")
            .set("duesk = :ds")
            .set("updated_at = :now")
            .value(":now", n(now))
            .value(":c", s(check.outcome))
            .value(":dp", s(keys::due_pk(next_due)))
            .value(
                ":ds",
                s(keys::due_page_sk(next_due, &page.account, &page.page_id)),
            );
        if let Some(f) = check.subscribed {
            u.set("subscribed_fields = :f").value(
                ":f",
                AttributeValue::L(f.iter().map(|x| s(x.as_str())).collect()),
            );
        }
        if let Some(ig) = check.instagram {
            let v = ig
                .map(|l| {
                    serde_dynamo::to_attribute_value(l).map_err(|e| Error::Corrupt(e.to_string()))
                })
                .transpose()?;
            u.set_or_remove("instagram", ":ig", v);
        }
        u.condition("account = :a").value(":a", s(&page.account));
        let upd = u.build(&self.table, &keys::page(&page.page_id), keys::PAGE_SK)?;
        self.update_with_events(upd, check.events).await
    }

    /// Saves an import's progress if the stored one is still at step `expect_step` of the same
    /// run (`None`: starts a run unless one is running, or one has been running for six hours:
    /// a chain whose step went to the dead-letter queue). `Ok(false)` otherwise.
    /// Saves a run's progress (`kind` says which run); `found` messages no webhook had brought
    /// are added to the Page's `reconciled_messages`.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_import(
        &self,
        account: &str,
        page_id: &str,
        kind: ImportKind,
        progress: &ImportProgress,
        expect_step: Option<i64>,
        event: Option<&EventItem>,
        found: i64,
    ) -> Result<bool> {
        let value = to_item(progress)?;
        let expr = if found > 0 {
            "SET #imp = :p, updated_at = :u ADD reconciled_messages :found"
        } else {
            "SET #imp = :p, updated_at = :u"
        };
        let mut b = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::page(page_id)))
            .key("sk", s(keys::PAGE_SK))
            .update_expression(expr)
            .expression_attribute_names("#imp", kind.attr())
            .expression_attribute_values(":p", AttributeValue::M(value))
            .expression_attribute_values(
                ":u",
                n(progress.started_at.max(crate::store::events::feed_now())),
            )
            .expression_attribute_values(":a", s(account));
        b = match expect_step {
            Some(step) => b
                .condition_expression("account = :a AND #imp.#run = :run AND #imp.step = :st")
                .expression_attribute_names("#run", "run")
                .expression_attribute_values(":run", s(&progress.run))
                .expression_attribute_values(":st", n(step)),
            None => b
                .condition_expression(
                    "account = :a AND (attribute_not_exists(#imp) OR #imp.#status <> :running OR #imp.started_at < :stale)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":running", s("running"))
                .expression_attribute_values(":stale", n(progress.started_at - 6 * 3_600_000)),
        };
        if found > 0 {
            b = b.expression_attribute_values(":found", n(found));
        }
        let upd = b.build().map_err(|e| Error::dynamo("UpdateItem", e))?;
        self.update_with_event(upd, event).await
    }

    /// Records that a webhook event for the Page reached the router at `now` (the caller
    /// writes it at most about once a minute per Page).
    pub async fn mark_webhook_seen(&self, page_id: &str, now: i64) -> Result<()> {
        let res = self
            .update_row(&keys::page(page_id), keys::PAGE_SK)
            .update_expression("SET last_webhook_at = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", n(now))
            .send()
            .await;
        // A Page forgotten meanwhile keeps no mark.
        written(res, "UpdateItem").map(|_| ())
    }

    /// Gives up the Page's token after its connector asked Meta to delete their data: the
    /// Page is `disconnected` and no longer names them. `Ok(false)` when someone else has
    /// connected it since.
    pub async fn forget_connector(&self, link: &FbUserLink, user: &str, now: i64) -> Result<bool> {
        let upd = Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::page(&link.page_id)))
            .key("sk", s(keys::PAGE_SK))
            .update_expression("SET #st = :d, status_reason = :why, updated_at = :u REMOVE connected_by, duepk, duesk")
            .condition_expression("account = :a AND connected_by = :who")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":d", s(PageStatus::Disconnected.as_str()))
            .expression_attribute_values(":why", s("data_deletion"))
            .expression_attribute_values(":u", n(now))
            .expression_attribute_values(":a", s(&link.account))
            .expression_attribute_values(":who", s(user))
            .build()
            .map_err(|e| Error::dynamo("UpdateItem", e))?;
        let ev = EventItem::new(
            &link.account,
            EventType::PageDisconnected,
            None,
            json!({"page_id": link.page_id, "reason": "data_deletion"}),
            now,
        );
        self.update_with_event(upd, Some(&ev)).await
    }

    pub async fn link_fb_user(
        &self,
        user: &str,
        account: &str,
        page_id: &str,
        now: i64,
    ) -> Result<()> {
        let link = FbUserLink {
            pk: keys::fb_user(user),
            sk: keys::page(page_id),
            account: account.to_owned(),
            page_id: page_id.to_owned(),
            created_at: now,
        };
        self.put(&link).await
    }

    pub async fn fb_user_links(&self, user: &str) -> Result<Vec<FbUserLink>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p")
                .consistent_read(true)
                .expression_attribute_values(":p", s(keys::fb_user(user))),
        )
        .await
    }

    pub async fn unlink_fb_user(&self, link: &FbUserLink) -> Result<()> {
        self.delete_row(&link.pk, &link.sk).await
    }

    pub async fn put_deletion(&self, d: &DeletionItem) -> Result<()> {
        self.put(d).await
    }

    pub async fn get_deletion(&self, code: &str) -> Result<Option<DeletionItem>> {
        self.get(format!("DELETION#{code}"), "DELETION".into(), false)
            .await
    }
}
