//! A Page's own settings over its account's. One item per Page that overrides anything
//! (`ACC#<a>` / `SETTINGS#PAGE#<page>`: which fields, and their values), and on the account's
//! settings item the set of Pages that have one (`page_overrides`), so a reader that holds the
//! account's settings — cached, or batched with a conversation — knows without another read
//! whether the Page's item is worth reading. A Page without overrides costs nothing more.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::*;
use crate::Result;

/// The settings a Page may override, by their API names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingField {
    TimeZone,
    BusinessHours,
    AwayMessage,
    Greeting,
    CsatEnabled,
    HumanAgentEnabled,
    HistoryDepth,
    AiAgent,
    WindowWarningsMinutes,
    Fallback,
    SendReadReceipts,
    AutoResolveHours,
}

impl SettingField {
    pub const ALL: [SettingField; 12] = [
        Self::TimeZone,
        Self::BusinessHours,
        Self::AwayMessage,
        Self::Greeting,
        Self::CsatEnabled,
        Self::HumanAgentEnabled,
        Self::HistoryDepth,
        Self::AiAgent,
        Self::WindowWarningsMinutes,
        Self::Fallback,
        Self::SendReadReceipts,
        Self::AutoResolveHours,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TimeZone => "time_zone",
            Self::BusinessHours => "business_hours",
            Self::AwayMessage => "away_message",
            Self::Greeting => "greeting",
            Self::CsatEnabled => "csat_enabled",
            Self::HumanAgentEnabled => "human_agent_enabled",
            Self::HistoryDepth => "history_depth",
            Self::AiAgent => "ai_agent",
            Self::WindowWarningsMinutes => "window_warnings_minutes",
            Self::Fallback => "fallback",
            Self::SendReadReceipts => "send_read_receipts",
            Self::AutoResolveHours => "auto_resolve_hours",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// Gives `to` this field's value in `from` (the AI agent's URL and key go together).
    pub fn copy(self, from: &Settings, to: &mut Settings) {
        match self {
            Self::TimeZone => to.time_zone.clone_from(&from.time_zone),
            Self::BusinessHours => to.business_hours.clone_from(&from.business_hours),
            Self::AwayMessage => to.away_message.clone_from(&from.away_message),
            Self::Greeting => to.greeting.clone_from(&from.greeting),
            Self::CsatEnabled => to.csat_enabled = from.csat_enabled,
            Self::HumanAgentEnabled => to.human_agent_enabled = from.human_agent_enabled,
            Self::HistoryDepth => to.history_depth = from.history_depth,
            Self::AiAgent => {
                to.ai_agent_url.clone_from(&from.ai_agent_url);
                to.ai_agent_secret.clone_from(&from.ai_agent_secret);
            }
            Self::WindowWarningsMinutes => to
                .window_warnings_minutes
                .clone_from(&from.window_warnings_minutes),
            Self::Fallback => to.fallback.clone_from(&from.fallback),
            Self::SendReadReceipts => to.send_read_receipts = from.send_read_receipts,
            Self::AutoResolveHours => to.auto_resolve_hours = from.auto_resolve_hours,
        }
    }
}

/// What one Page overrides: the fields, and their values in `values` (its other fields are
/// not read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageSettings {
    #[serde(default)]
    pub fields: BTreeSet<SettingField>,
    #[serde(default)]
    pub values: Settings,
}

impl Row for PageSettings {}

impl PageSettings {
    /// The settings that apply to the Page: the account's, with this Page's fields over them.
    pub fn over(&self, account: &Settings) -> Settings {
        let mut s = account.clone();
        for f in &self.fields {
            f.copy(&self.values, &mut s);
        }
        s
    }
}

impl Store {
    /// What `page_id` overrides (nothing when it has no item).
    pub async fn get_page_settings(&self, account: &str, page_id: &str) -> Result<PageSettings> {
        let got = self
            .get(
                keys::account(account),
                keys::page_settings_sk(page_id),
                false,
            )
            .await?;
        Ok(got.unwrap_or_default())
    }

    /// The settings that apply to `page_id`, given its account's (`account_settings`, as read
    /// or cached): those, unless the account marks the Page as overriding some — then its
    /// item is read (one GetItem).
    pub async fn for_page(
        &self,
        account: &str,
        page_id: &str,
        account_settings: Settings,
    ) -> Result<Settings> {
        if !account_settings.page_overrides.contains(page_id) {
            return Ok(account_settings);
        }
        Ok(self
            .get_page_settings(account, page_id)
            .await?
            .over(&account_settings))
    }

    /// The settings that apply to `page_id`: one read, two for a Page with overrides.
    pub async fn settings_for_page(&self, account: &str, page_id: &str) -> Result<Settings> {
        let s = self.get_settings(account).await?;
        self.for_page(account, page_id, s).await
    }

    /// Stores what `page_id` overrides and marks the account's settings, in one transaction;
    /// a Page that overrides nothing loses its item and its mark.
    pub async fn put_page_settings(
        &self,
        account: &str,
        page_id: &str,
        ps: &PageSettings,
    ) -> Result<()> {
        let (pk, sk) = (keys::account(account), keys::page_settings_sk(page_id));
        let mark = if ps.fields.is_empty() {
            "DELETE page_overrides :p"
        } else {
            "ADD page_overrides :p"
        };
        let marker = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(keys::SETTINGS_SK))
            .update_expression(mark)
            .expression_attribute_values(":p", AttributeValue::Ss(vec![page_id.to_owned()]))
            .build()
            .map_err(|e| Error::dynamo("UpdateItem", e))?;
        let row = if ps.fields.is_empty() {
            let d = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(&pk))
                .key("sk", s(&sk))
                .build()
                .map_err(|e| Error::dynamo("DeleteItem", e))?;
            TransactWriteItem::builder().delete(d).build()
        } else {
            let mut item = to_item(ps)?;
            item.insert("pk".into(), s(&pk));
            item.insert("sk".into(), s(&sk));
            let p = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(|e| Error::dynamo("PutItem", e))?;
            TransactWriteItem::builder().put(p).build()
        };
        let items = vec![row, TransactWriteItem::builder().update(marker).build()];
        match self.transact(items).await? {
            None => Ok(()),
            Some(_) => Err(Error::Corrupt(
                "the Page's settings were refused without a condition".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_overrides_only_its_fields_and_null_keeps_its_meaning() {
        let account = Settings {
            greeting: Some("Hello".into()),
            csat_enabled: true,
            time_zone: Some("UTC".into()),
            ai_agent_url: Some("https://bot.example/a".into()),
            ai_agent_secret: Some("account-key".into()),
            ..Settings::default()
        };
        let page = PageSettings {
            fields: [
                SettingField::Greeting,
                SettingField::AiAgent,
                SettingField::TimeZone,
            ]
            .into(),
            values: Settings {
                greeting: None,
                time_zone: Some("Europe/Berlin".into()),
                csat_enabled: false,
                ai_agent_url: Some("https://bot.example/b".into()),
                ai_agent_secret: Some("page-key".into()),
                ..Settings::default()
            },
        };
        let s = page.over(&account);
        assert_eq!(s.greeting, None, "null: no greeting on this Page");
        assert_eq!(s.time_zone.as_deref(), Some("Europe/Berlin"));
        assert!(s.csat_enabled, "not overridden: the account's");
        assert_eq!(
            (s.ai_agent_url.as_deref(), s.ai_agent_secret.as_deref()),
            (Some("https://bot.example/b"), Some("page-key"))
        );
        assert_eq!(PageSettings::default().over(&account), account);
        for f in SettingField::ALL {
            assert_eq!(SettingField::parse(f.as_str()), Some(f));
        }
    }
}
