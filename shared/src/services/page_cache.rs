//! Page → account lookups, cached in the warm Lambda: the page index is read once per settings
//! cache period per Page at most instead of once per event (so a channel switch applies within
//! that period). The router reads a Page for every event, the sender for every send.

use std::time::Duration;

use super::ttl_map::TtlMap;
use crate::store::{PageItem, Store};

// A Page registered a moment ago should start routing quickly.
const MISSING_TTL: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct PageCache {
    entries: TtlMap<String, Option<PageItem>>,
}

impl PageCache {
    pub async fn get(
        &self,
        store: &Store,
        page_id: &str,
        found_ttl: Duration,
    ) -> crate::Result<Option<PageItem>> {
        let ttl = |p: &Option<PageItem>| if p.is_some() { found_ttl } else { MISSING_TTL };
        if let Some(p) = self.entries.fresh(page_id, ttl) {
            return Ok(p);
        }
        let page = store.get_page(page_id).await?;
        self.entries.put(page_id.to_owned(), page.clone());
        Ok(page)
    }

    /// The Page an Instagram account belongs to (cached under `ig:<id>`).
    pub async fn get_instagram(
        &self,
        store: &Store,
        ig_id: &str,
        found_ttl: Duration,
    ) -> crate::Result<Option<PageItem>> {
        let key = format!("ig:{ig_id}");
        let ttl = |p: &Option<PageItem>| if p.is_some() { found_ttl } else { MISSING_TTL };
        if let Some(p) = self.entries.fresh(&key, ttl) {
            return Ok(p);
        }
        let page = store.page_of_instagram(ig_id).await?;
        self.entries.put(key, page.clone());
        Ok(page)
    }

    /// Forgets a Page, so the next lookup reads it (after the Page refused its cached token).
    pub fn invalidate(&self, page_id: &str) {
        self.entries.remove(page_id);
    }
}
