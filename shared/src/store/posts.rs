//! Posts and lead markers: what comment and lead conversations hang from while they are open,
//! as a contact does for Messenger (an owner pointer makes "one open conversation per owner" a
//! conditional write).

use serde::{Deserialize, Serialize};

use super::*;
use crate::Result;

/// A post with comments: points at its open comment conversation, like a contact does.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct PostItem {
    pub(in crate::store) pk: String,
    pub(in crate::store) sk: String,
    pub page_id: String,
    pub post_id: String,
    pub text: Option<String>,
    pub permalink_url: Option<String>,
    pub active_conversation_id: Option<String>,
    pub last_conversation_id: Option<String>,
    pub created_at: i64,
}

impl PostItem {
    /// A post of `page_id` seen for the first time (text and time filled in by the caller).
    pub fn new(account: &str, page_id: &str, post_id: &str) -> Self {
        PostItem {
            pk: keys::account(account),
            sk: keys::post_sk(page_id, post_id),
            page_id: page_id.to_owned(),
            post_id: post_id.to_owned(),
            ..Default::default()
        }
    }

    /// What a comment conversation about this post hangs from (its owner pointer).
    pub fn anchor_ref(&self) -> super::AnchorRef {
        super::AnchorRef(self.sk.clone())
    }
}

impl Store {
    pub async fn get_post(
        &self,
        account: &str,
        page_id: &str,
        post_id: &str,
    ) -> Result<Option<PostItem>> {
        self.get(
            keys::account(account),
            keys::post_sk(page_id, post_id),
            true,
        )
        .await
    }

    /// Stores the post unless it exists; `Ok(false)` when it did.
    pub async fn create_post(&self, p: &PostItem) -> Result<bool> {
        self.put_if_absent(p).await
    }

    /// A marker under the account that lead `leadgen_id`'s conversation hangs from; returns the
    /// reference a conversation hangs from (`ConversationItem::hang_from`).
    pub async fn create_lead_marker(
        &self,
        account: &str,
        page_id: &str,
        leadgen_id: &str,
        now: i64,
    ) -> Result<super::AnchorRef> {
        let sk = keys::lead_marker_sk(page_id, leadgen_id);
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::account(account)))
            .item("sk", s(&sk))
            .item("created_at", n(now))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        // Already there: a redelivered lead, which the message's dedupe then settles.
        written(res, "PutItem")?;
        Ok(super::AnchorRef(sk))
    }
}
