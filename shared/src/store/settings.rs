//! An account's settings: one item, defaults when absent.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;
use crate::Result;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Settings {
    #[serde(default)]
    pub human_agent_enabled: bool,
    #[serde(default)]
    pub history_depth: Option<u32>,
    /// IANA zone the business hours are in (default UTC).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// `{"mon": [["09:00", "17:00"]], …}`; absent = always open.
    #[serde(default)]
    pub business_hours: Option<Value>,
    #[serde(default)]
    pub away_message: Option<String>,
    #[serde(default)]
    pub greeting: Option<String>,
    #[serde(default)]
    pub csat_enabled: bool,
    #[serde(default)]
    pub ai_agent_url: Option<String>,
    /// The key deliveries to the AI agent are signed with (HMAC-SHA256); never shown back.
    #[serde(default)]
    pub ai_agent_secret: Option<String>,
    /// Minutes before the 24 h close at which `window.expiring` is emitted.
    #[serde(default)]
    pub window_warnings_minutes: Option<Vec<i64>>,
}

impl Settings {
    pub const HISTORY_DEPTHS: [u32; 5] = [1, 5, 10, 20, 50];
    pub fn history_depth(&self) -> u32 {
        self.history_depth
            .filter(|d| Self::HISTORY_DEPTHS.contains(d))
            .unwrap_or(10)
    }

    /// The closed period `at` falls in (its end, see `WeeklyHours::closed_until`); `None` while
    /// open, and always `None` without business hours.
    pub fn closed_period(&self, at: i64) -> Option<i64> {
        use crate::domain::hours::{WeeklyHours, zone};
        let hours = WeeklyHours::parse(self.business_hours.as_ref()?).ok()?;
        hours.closed_until(&zone(self.time_zone.as_deref()), at)
    }

    pub fn window_warnings(&self) -> Vec<i64> {
        self.window_warnings_minutes
            .clone()
            .unwrap_or_else(|| crate::domain::window::DEFAULT_WARNINGS_MIN.to_vec())
    }
}

impl Store {
    pub async fn get_settings(&self, account: &str) -> Result<Settings> {
        let item: Option<Item> = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::account(account)))
            .key("sk", s(keys::SETTINGS_SK))
            .send()
            .await
            .map_err(failed("GetItem"))?
            .item;
        match item {
            Some(i) => from_item(i),
            None => Ok(Settings::default()),
        }
    }

    pub async fn put_settings(&self, account: &str, settings: &Settings) -> Result<()> {
        let mut item = to_item(settings)?;
        item.insert("pk".into(), s(keys::account(account)));
        item.insert("sk".into(), s(keys::SETTINGS_SK));
        self.put_map(item).await
    }
}
