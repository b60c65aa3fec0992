//! An account's settings: one item, defaults when absent.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::update::UpdateExpr;
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
    /// Who gets a conversation no routing rule matched and no AI agent took (else the pool).
    #[serde(default)]
    pub fallback: Option<Fallback>,
    /// Whether opening a conversation tells the person it was seen (`mark_seen`); absent: yes.
    #[serde(default)]
    pub send_read_receipts: Option<bool>,
    /// Hours after the team's last message with no answer at which the scheduler resolves a
    /// conversation (`resolved_by: auto`); absent: never.
    #[serde(default)]
    pub auto_resolve_hours: Option<i64>,
    /// The Pages with settings of their own (a string set kept by `put_page_settings`; never
    /// written from here, so changing the account's settings cannot lose a Page's mark).
    #[serde(default, skip_serializing)]
    pub page_overrides: std::collections::BTreeSet<String>,
}

/// Every attribute a `Settings` is stored as, but the Pages' mark: what `put_settings` sets
/// or removes.
const STORED: [&str; 13] = [
    "human_agent_enabled",
    "history_depth",
    "time_zone",
    "business_hours",
    "away_message",
    "greeting",
    "csat_enabled",
    "ai_agent_url",
    "ai_agent_secret",
    "window_warnings_minutes",
    "fallback",
    "send_read_receipts",
    "auto_resolve_hours",
];

/// The people a conversation goes to when nothing else takes it, by `method` (round robin or
/// load balanced, as a routing rule's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    pub agents: Vec<String>,
    pub method: crate::domain::RoutingMethod,
}

impl Fallback {
    /// The name conversations it assigns carry as their `routing_rule`.
    pub const RULE_NAME: &str = "fallback";

    /// The fallback as the routing rule it acts as (matching everything).
    pub fn as_rule(&self) -> crate::domain::rules::RoutingRule {
        crate::domain::rules::RoutingRule {
            name: Self::RULE_NAME.to_owned(),
            matches: Default::default(),
            agents: self.agents.clone(),
            method: self.method,
            on_agent_removed: Default::default(),
            labels: vec![],
        }
    }
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

    pub fn read_receipts(&self) -> bool {
        self.send_read_receipts.unwrap_or(true)
    }

    pub const AUTO_RESOLVE_HOURS: std::ops::RangeInclusive<i64> = 1..=720;

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

    /// Stores the account's settings, leaving the Pages' mark as it is.
    pub async fn put_settings(&self, account: &str, settings: &Settings) -> Result<()> {
        let mut item = to_item(settings)?;
        let mut u = UpdateExpr::new();
        for (i, attr) in STORED.iter().enumerate() {
            u.set_or_remove(attr, &format!(":v{i}"), item.remove(*attr));
        }
        if let Some(extra) = item.keys().next() {
            return Err(crate::Error::Corrupt(format!(
                "settings attribute {extra} is not stored"
            )));
        }
        let upd = u.build(&self.table, &keys::account(account), keys::SETTINGS_SK)?;
        self.update_item(upd)
            .send()
            .await
            .map_err(failed("UpdateItem"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `put_settings` writes each stored attribute by name: a field added to `Settings`
    /// without its name in `STORED` would be refused, not silently dropped.
    #[test]
    fn every_settings_attribute_is_written_by_name() {
        let full = Settings {
            human_agent_enabled: true,
            history_depth: Some(5),
            time_zone: Some("UTC".into()),
            business_hours: Some(serde_json::json!({})),
            away_message: Some("a".into()),
            greeting: Some("g".into()),
            csat_enabled: true,
            ai_agent_url: Some("https://x".into()),
            ai_agent_secret: Some("k".into()),
            window_warnings_minutes: Some(vec![5]),
            fallback: Some(Fallback {
                agents: vec!["a".into()],
                method: crate::domain::RoutingMethod::RoundRobin,
            }),
            send_read_receipts: Some(false),
            auto_resolve_hours: Some(24),
            page_overrides: ["p".to_owned()].into(),
        };
        let item = to_item(&full).expect("serialises");
        let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut want = STORED.to_vec();
        want.sort_unstable();
        assert_eq!(names, want, "and never the Pages' mark");
    }
}
