//! Page → account lookups, cached in the warm Lambda: the page index is read once per settings
//! cache period per Page at most instead of once per event (so a channel switch applies within
//! that period). The router reads a Page for every event, the sender for every send.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{PageItem, Store};

// A Page registered a moment ago should start routing quickly.
const MISSING_TTL: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct PageCache {
    entries: Mutex<HashMap<String, (Option<PageItem>, Instant)>>,
}

impl PageCache {
    pub async fn get(
        &self,
        store: &Store,
        page_id: &str,
        found_ttl: Duration,
    ) -> crate::Result<Option<PageItem>> {
        if let Ok(m) = self.entries.lock()
            && let Some((p, at)) = m.get(page_id)
        {
            let ttl = if p.is_some() { found_ttl } else { MISSING_TTL };
            if at.elapsed() < ttl {
                return Ok(p.clone());
            }
        }
        let page = store.get_page(page_id).await?;
        if let Ok(mut m) = self.entries.lock() {
            m.insert(page_id.to_owned(), (page.clone(), Instant::now()));
        }
        Ok(page)
    }

    /// Forgets a Page, so the next lookup reads it (after the Page refused its cached token).
    pub fn invalidate(&self, page_id: &str) {
        if let Ok(mut m) = self.entries.lock() {
            m.remove(page_id);
        }
    }
}
