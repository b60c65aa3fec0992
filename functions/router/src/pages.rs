//! Page → account lookups, cached in the warm Lambda: the page index is read once a minute per
//! Page at most instead of once per event.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pagedesk_shared::store::{PageItem, Store};

const FOUND_TTL: Duration = Duration::from_secs(60);
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
    ) -> pagedesk_shared::Result<Option<PageItem>> {
        if let Ok(m) = self.entries.lock()
            && let Some((p, at)) = m.get(page_id)
        {
            let ttl = if p.is_some() { FOUND_TTL } else { MISSING_TTL };
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
}
