//! The Instagram part of a Page's health check. The account linked to the Page can change
//! at any time on Meta's side (linked, unlinked, another one, a new username), and so can the
//! permissions the person granted; connecting only saw them once. Each check reads the Page's
//! `instagram_business_account`, judges it by the token's scopes, and keeps the app's
//! Instagram webhook complete. A change is recorded with the check, with
//! `page.instagram_changed`; a newly linked account gets the `IGACCOUNT#` row that routes its
//! webhooks.
//! Graph's trouble here leaves the Instagram part as it was: the Page's own check stands.

use pagedesk_shared::adapters::graph::AppCredentials;
use pagedesk_shared::connect::INSTAGRAM_PERMISSIONS;
use pagedesk_shared::domain::{EventType, InstagramStatus};
use pagedesk_shared::services::instagram_webhook::{self, Outcome};
use pagedesk_shared::store::{EventItem, InstagramLink, PageItem, Store};
use serde_json::json;

use crate::health::{Health, Verdict};

impl Health {
    /// Adds to `v` what the Page's Instagram account is now, if that differs from the Page's
    /// record. `scopes`: the token's, or `None` when the app's credentials are not configured
    /// (then permissions are not judged, as the token's own are not).
    pub(crate) async fn instagram(
        &self,
        page: &PageItem,
        token: &str,
        app: Option<&AppCredentials>,
        scopes: Option<&[String]>,
        now: i64,
        v: &mut Verdict,
    ) {
        let account = match self.graph.page_instagram(&page.page_id, token).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(page_id = %page.page_id, error = %e, "instagram account not read");
                return;
            }
        };
        let all: Vec<String> = INSTAGRAM_PERMISSIONS.map(str::to_owned).to_vec();
        let granted = scopes.unwrap_or(&all);
        let mut link = account.map(|a| InstagramLink::judged(&a.id, a.username, granted));
        if let (Some(l), Some(app)) = (link.as_mut(), app) {
            let verify = self.verify_token_id.as_deref();
            match instagram_webhook::ensure(&self.graph, app, &self.secrets, verify).await {
                Ok(outcome) => {
                    l.mark_unsubscribed(!outcome.works());
                    // A blocked webhook is logged by `ensure`; a repair is the account's news.
                    if let Outcome::Subscribed { missing } = outcome {
                        tracing::warn!(?missing, "the app's Instagram webhook was repaired");
                        v.events.push(EventItem::new(
                            &page.account,
                            EventType::PageResubscribed,
                            None,
                            json!({"page_id": page.page_id, "object": "instagram", "missing_fields": missing}),
                            now,
                        ));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the app's Instagram webhook could not be checked");
                    // Unknown: the status it had stands.
                    if let Some(old) = page.instagram.as_ref().filter(|o| o.id == l.id) {
                        l.mark_unsubscribed(old.status == InstagramStatus::NotSubscribed);
                    }
                }
            }
        }
        if link == page.instagram {
            return;
        }
        v.events.push(EventItem::new(
            &page.account,
            EventType::PageInstagramChanged,
            None,
            json!({"page_id": page.page_id, "instagram": link, "previous": page.instagram}),
            now,
        ));
        v.instagram = Some(link);
    }

    /// Points the new account's webhooks at the Page, before the check is recorded (a crash in
    /// between is mended by the next check, which finds the record unchanged). The old
    /// account's row is left: `page_of_instagram` follows the Page's record, so it finds
    /// nothing, and the scheduler keeps its no-delete policy.
    pub(crate) async fn relink_instagram(
        &self,
        store: &Store,
        page: &PageItem,
        found: Option<&InstagramLink>,
    ) -> pagedesk_shared::Result<()> {
        if let Some(new) = found.filter(|n| page.instagram.as_ref().is_none_or(|o| o.id != n.id)) {
            store.link_instagram(page, &new.id).await?;
        }
        Ok(())
    }
}
