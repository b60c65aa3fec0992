//! The rows of an agent's everyday tools: private notes (a message row of kind `note` and its
//! `note.created` event, written together), a conversation's labels (a string set on the
//! conversation, and the account's label names on one row), and saved replies (a row each).

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use serde::{Deserialize, Serialize};

use super::*;
use crate::domain::ConversationStatus;
use crate::store::update::UpdateExpr;
use crate::{Error, Result};

/// A saved reply: what `/shortcut` in a reply box offers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SavedReply {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub shortcut: String,
    pub text: String,
    pub updated_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Row for SavedReply {
    fn keys(&self) -> Option<(String, String)> {
        Some((self.pk.clone(), self.sk.clone()))
    }
}

impl SavedReply {
    pub fn new(account: &str, shortcut: &str, text: &str, by: &str, now: i64) -> Self {
        SavedReply {
            pk: keys::account(account),
            sk: keys::saved_reply_sk(shortcut),
            shortcut: shortcut.to_owned(),
            text: text.to_owned(),
            updated_by: by.to_owned(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// A label and how many open conversations carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelCount {
    pub name: String,
    pub open_conversations: u64,
}

impl Store {
    /// Stores a note (a message row, `kind: note`) and its `note.created` event in one
    /// transaction: the conversation row is not touched, so its activity and window stay.
    pub async fn put_note(&self, note: &Message, event: &EventItem) -> Result<()> {
        let items = vec![self.put_new(note)?, event.put(&self.table)?];
        match self.transact(items).await? {
            None => Ok(()),
            Some(_) => Err(Error::dynamo("TransactWriteItems", "note id taken")),
        }
    }

    /// Sets a conversation's labels (`[]`: none) and records their names on the account's
    /// label row, with the `conversation.updated` event, in one transaction. `Ok(false)` when
    /// the conversation is gone.
    pub async fn set_labels(
        &self,
        conv: &ConversationItem,
        labels: &[String],
        event: &EventItem,
        now: i64,
    ) -> Result<bool> {
        let mut u = UpdateExpr::new();
        u.set("updated_at = :u")
            .value(":u", n(now))
            .set_or_remove("labels", ":l", string_set(labels))
            .condition("attribute_exists(pk)");
        let mut items = vec![
            TransactWriteItem::builder()
                .update(u.build(&self.table, &conv.pk, keys::META)?)
                .build(),
            event.put(&self.table)?,
        ];
        if let Some(names) = string_set(labels) {
            items.push(self.label_names_item(&conv.account, names)?);
        }
        self.transact_guarded(items).await
    }

    /// Adds the labels of the routing `rule` that matched to those a conversation has, and
    /// their names to the account's, with a `conversation.updated` event.
    pub async fn add_labels(
        &self,
        conv: &ConversationItem,
        labels: &[String],
        rule: &str,
        now: i64,
    ) -> Result<()> {
        let Some(set) = string_set(labels) else {
            return Ok(());
        };
        let event = EventItem::new(
            &conv.account,
            crate::domain::EventType::ConversationUpdated,
            Some(&conv.id),
            serde_json::json!({"labels_added": labels, "rule": rule}),
            now,
        );
        // `ADD` merges into the set, keeping what agents have put there.
        let upd = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .key("pk", s(&conv.pk))
            .key("sk", s(keys::META))
            .update_expression("ADD labels :l")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":l", set.clone())
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        let items = vec![
            TransactWriteItem::builder().update(upd).build(),
            self.label_names_item(&conv.account, set)?,
            event.put(&self.table)?,
        ];
        self.transact(items).await?;
        Ok(())
    }

    fn label_names_item(&self, account: &str, names: AttributeValue) -> Result<TransactWriteItem> {
        let upd = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .key("pk", s(keys::account(account)))
            .key("sk", s(keys::LABELS_SK))
            .update_expression("ADD #names :n")
            .expression_attribute_names("#names", "names")
            .expression_attribute_values(":n", names)
            .build()
            .map_err(|e| Error::dynamo("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().update(upd).build())
    }

    /// Every label the account has used, with its open conversations: the label row, and the
    /// open partition's labelled conversations read for their labels and Page alone. `pages`
    /// (`None`: every Page) limits the counts to the conversations of those Pages, so an agent
    /// limited to some Pages learns nothing of the others.
    pub async fn label_counts(
        &self,
        account: &str,
        pages: Option<&[String]>,
    ) -> Result<Vec<LabelCount>> {
        let names: Vec<String> = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::account(account)))
            .key("sk", s(keys::LABELS_SK))
            .projection_expression("#names")
            .expression_attribute_names("#names", "names")
            .send()
            .await
            .map_err(failed("GetItem"))?
            .item
            .and_then(|mut i| i.remove("names"))
            .and_then(|v| v.as_ss().ok().cloned())
            .unwrap_or_default();
        let mut counts: std::collections::BTreeMap<String, u64> =
            names.into_iter().map(|n| (n, 0)).collect();
        /// An open conversation read for its labels and Page alone.
        #[derive(Deserialize)]
        struct Labelled {
            #[serde(default)]
            labels: std::collections::BTreeSet<String>,
            #[serde(default)]
            page_id: String,
        }
        let open: Vec<Labelled> = self
            .query_all(
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name("gsi2")
                    .key_condition_expression("gsi2pk = :p")
                    .filter_expression("attribute_exists(labels)")
                    .projection_expression("labels, page_id")
                    .select(Select::SpecificAttributes)
                    .expression_attribute_values(
                        ":p",
                        s(keys::conversations_by_status(
                            account,
                            ConversationStatus::Open,
                        )),
                    ),
            )
            .await?;
        let visible = |c: &Labelled| pages.is_none_or(|p| p.contains(&c.page_id));
        for l in open.into_iter().filter(visible).flat_map(|c| c.labels) {
            *counts.entry(l).or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .map(|(name, open_conversations)| LabelCount {
                name,
                open_conversations,
            })
            .collect())
    }

    pub async fn list_saved_replies(&self, account: &str) -> Result<Vec<SavedReply>> {
        self.query_all(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :r)")
                .expression_attribute_values(":p", s(keys::account(account)))
                .expression_attribute_values(":r", s(keys::SAVED_REPLY_PREFIX)),
        )
        .await
    }

    /// Creates or replaces a saved reply, keeping when it was first made; the row as stored.
    /// `Ok(None)` when it is new and the account has `max` already (a soft cap: two admins
    /// adding at once may pass it by one each).
    pub async fn put_saved_reply(
        &self,
        account: &str,
        reply: &SavedReply,
        max: usize,
    ) -> Result<Option<SavedReply>> {
        let existing = self.list_saved_replies(account).await?;
        if existing.len() >= max && !existing.iter().any(|r| r.shortcut == reply.shortcut) {
            return Ok(None);
        }
        let mut u = UpdateExpr::new();
        u.set("shortcut = :s")
            .value(":s", s(&reply.shortcut))
            .set("#text = :t")
            .name("#text", "text")
            .value(":t", s(&reply.text))
            .set("updated_by = :b")
            .value(":b", s(&reply.updated_by))
            .set("updated_at = :u")
            .set("created_at = if_not_exists(created_at, :u)")
            .value(":u", n(reply.updated_at));
        let out = self
            .update_item(u.build(&self.table, &keys::account(account), &reply.sk)?)
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        from_item(out.attributes.unwrap_or_default()).map(Some)
    }

    /// `Ok(false)` when there was no such saved reply.
    pub async fn delete_saved_reply(&self, account: &str, shortcut: &str) -> Result<bool> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(keys::account(account)))
            .key("sk", s(keys::saved_reply_sk(shortcut)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        written(res, "DeleteItem")
    }
}

/// A DynamoDB string set of `labels`; `None` for none (a set cannot be empty).
fn string_set(labels: &[String]) -> Option<AttributeValue> {
    (!labels.is_empty()).then(|| AttributeValue::Ss(labels.to_vec()))
}

/// What a sender action is held back by: `typing_on` at most once a period per conversation,
/// `mark_seen` once per message of the person.
#[derive(Debug, Clone, Copy)]
pub enum ActionMark {
    /// `typing_on` at `now`, unless one went out less than `every_ms` before.
    Typing { now: i64, every_ms: i64 },
    /// `mark_seen` for the person's message at `inbound_at`, unless one went out for it or a
    /// later one.
    Seen { inbound_at: i64 },
}

impl Store {
    /// Takes the right to send a sender action (one conditional write on a row of the
    /// conversation's partition, kept a day past its moment by TTL): `Ok(false)` when it is not
    /// due, so however many API instances an inbox reaches, Meta hears it once.
    pub async fn take_action_mark(
        &self,
        conv: &ConversationItem,
        mark: ActionMark,
    ) -> Result<bool> {
        let (sk, value, below) = match mark {
            ActionMark::Typing { now, every_ms } => ("TYPING", now, now - every_ms + 1),
            ActionMark::Seen { inbound_at } => ("SEEN", inbound_at, inbound_at),
        };
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&conv.pk))
            .key("sk", s(sk))
            .update_expression("SET #at = :v, expires_at = :e")
            .condition_expression("attribute_not_exists(#at) OR #at < :below")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":v", n(value))
            .expression_attribute_values(":below", n(below))
            .expression_attribute_values(":e", n((value + 86_400_000) / 1000))
            .send()
            .await;
        written(res, "UpdateItem")
    }

    /// A message of the conversation by its id (its time is in the id), or `None`.
    pub async fn message_by_id(
        &self,
        account: &str,
        conv: &str,
        id: &str,
    ) -> Result<Option<Message>> {
        let Some(at) = crate::ids::time_of(id) else {
            return Ok(None);
        };
        let m: Option<Message> = self
            .get(
                keys::conversation(account, conv),
                keys::message_sk(at, id),
                true,
            )
            .await?;
        Ok(m.filter(|m| m.id == id))
    }

    /// Records (or, `None`, clears) the Page's own reaction to a message of the person.
    pub async fn set_page_reaction(
        &self,
        m: &Message,
        emoji: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let mut u = UpdateExpr::new();
        u.set("page_reaction_at = :t")
            .value(":t", n(now))
            .set_or_remove("page_reaction", ":r", emoji.map(s))
            .condition("attribute_exists(pk)");
        self.update_item(u.build(&self.table, &m.pk(), &m.sk())?)
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        Ok(())
    }
}
