//! Contacts: created on first contact with the name and picture the User Profile API gives, a
//! refusal asked again later, never a made-up name.

use pagedesk_shared::adapters::graph::GraphError;
use pagedesk_shared::clock::{DAY_MS, HOUR_MS};
use pagedesk_shared::domain::{Channel, ProfileStatus};
use pagedesk_shared::ids;
use pagedesk_shared::store::{ContactItem, PageItem};

use crate::{Router, RouterError};

/// How often to ask the User Profile API again after it refused (100/2018218) or failed.
const PROFILE_RETRY_REFUSED_MS: i64 = DAY_MS;
const PROFILE_RETRY_FAILED_MS: i64 = HOUR_MS;

impl Router {
    pub(crate) async fn reload_contact(
        &self,
        page: &PageItem,
        c: &ContactItem,
    ) -> Result<ContactItem, RouterError> {
        Ok(self
            .store
            .get_contact(&page.account, &c.id)
            .await?
            .unwrap_or_else(|| c.clone()))
    }

    /// The contact for (page, person), created on first contact with the name and picture the
    /// User Profile API gives. A refusal leaves the name empty (never a made-up one) and is
    /// asked again later.
    pub(crate) async fn ensure_contact(
        &self,
        page: &PageItem,
        user: &str,
        thread: Channel,
    ) -> Result<ContactItem, RouterError> {
        let cid = ids::contact_id(&page.page_id, user);
        let now = self.clock.now_ms();
        if let Some(mut c) = self.store.get_contact(&page.account, &cid).await? {
            if c.profile_status != ProfileStatus::Fetched
                && c.profile_retry_at.is_none_or(|t| t <= now)
            {
                self.fill_profile(page, &mut c, thread, now).await;
                self.store.update_contact_profile(&c, now).await?;
            }
            return Ok(c);
        }
        let mut c = ContactItem::new(&page.account, &cid, &page.page_id, now);
        c.facebook_id = user.to_owned();
        c.profile_status = ProfileStatus::Pending;
        self.fill_profile(page, &mut c, thread, now).await;
        if self.store.create_contact(&c).await? {
            tracing::info!(contact_id = %cid, profile = %c.profile_status, "contact created");
            return Ok(c);
        }
        Ok(self
            .store
            .get_contact(&page.account, &cid)
            .await?
            .unwrap_or(c))
    }

    /// The profile of a Messenger person (User Profile API) or an Instagram one (the
    /// Instagram user profile: name, username, picture).
    async fn fill_profile(&self, page: &PageItem, c: &mut ContactItem, thread: Channel, now: i64) {
        let token = match self.secrets.get(&page.token_secret).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                c.profile_retry_at = Some(now + PROFILE_RETRY_FAILED_MS);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "page token unavailable for the profile lookup");
                c.profile_retry_at = Some(now + PROFILE_RETRY_FAILED_MS);
                return;
            }
        };
        let profile = match thread {
            Channel::Instagram => self.graph.instagram_profile(&c.facebook_id, &token).await,
            _ => self.graph.user_profile(&c.facebook_id, &token).await,
        };
        match profile {
            Ok(p) => {
                c.name = p.display_name();
                c.username = p.username;
                c.first_name = p.first_name;
                c.last_name = p.last_name;
                c.picture_url = p.profile_pic;
                c.profile_status = ProfileStatus::Fetched;
                c.profile_retry_at = None;
            }
            Err(
                e @ GraphError::Api {
                    code: 100,
                    subcode: Some(2018218),
                    ..
                },
            ) => {
                tracing::info!(error = %e, "user profile refused (no profile available); keeping the id");
                c.profile_status = ProfileStatus::Unavailable;
                c.profile_retry_at = Some(now + PROFILE_RETRY_REFUSED_MS);
            }
            Err(e) => {
                tracing::warn!(error = %e, "user profile lookup failed; will try again");
                if c.profile_status != ProfileStatus::Unavailable {
                    c.profile_status = ProfileStatus::Pending;
                }
                c.profile_retry_at = Some(now + PROFILE_RETRY_FAILED_MS);
            }
        }
    }
}
