//! `GET|PUT /pages/{page_id}/settings`: a Page's own settings over its account's. `PUT` takes
//! the fields of `PUT /settings` as the Page's overrides (validated the same way; `null` keeps
//! its meaning: no greeting, always open, no AI agent) and `"inherit": [field, …]` to give
//! fields back to the account. Answers show the overrides and the settings in effect.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::store::{PageSettings, SettingField, Settings};
use serde_json::{Map, Value, json};

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, RawBody, Reply, body, ok};
use crate::pages::own_page;
use crate::settings::{apply, key_made, view};

/// The answer of both methods: the Page's overrides (in `GET /settings`' shape, those fields
/// only) and every setting as it applies to the Page.
fn answer(page_id: &str, own: &PageSettings, account: &Settings) -> Value {
    let all = view(&own.values);
    let overrides: Map<String, Value> = own
        .fields
        .iter()
        .filter_map(|f| Some((f.as_str().to_owned(), all.get(f.as_str())?.clone())))
        .collect();
    json!({
        "page_id": page_id,
        "overrides": overrides,
        "effective": view(&own.over(account)),
    })
}

/// `GET /pages/{page_id}/settings`
pub async fn get(State(app): State<Arc<App>>, c: Caller, Id(page_id): Id) -> Reply {
    own_page(&app, &c.account, &page_id).await?;
    // A Page the caller does not work is as absent as another account's (its greeting, hours,
    // fallback agents and AI agent URL are the Page's business).
    if app
        .pages_of(&c)
        .await?
        .is_some_and(|pages| !pages.contains(&page_id))
    {
        return Err(ApiFailure::NotFound("page"));
    }
    let (account, own) = tokio::try_join!(
        app.store.get_settings(&c.account),
        app.store.get_page_settings(&c.account, &page_id)
    )?;
    ok(&answer(&page_id, &own, &account))
}

/// `PUT /pages/{page_id}/settings` (admin): the fields named become the Page's own, the fields
/// in `inherit` follow the account again, the others stay as they were.
pub async fn put(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(page_id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    c.require_admin()?;
    own_page(&app, &c.account, &page_id).await?;
    let mut patch: Map<String, Value> = body(&bytes)?;
    let mut problems = Vec::new();
    let inherit = match patch.remove("inherit") {
        None => BTreeSet::new(),
        Some(v) => inherited(&v, &patch, &mut problems),
    };
    let (account, mut own) = tokio::try_join!(
        app.store.get_settings(&c.account),
        app.store.get_page_settings(&c.account, &page_id)
    )?;
    let before = own.values.ai_agent_secret.clone();
    // The Page's values start from its own: an AI agent override keeps (or is made) a key of
    // its own, never the account's.
    let mut values = own.values.clone();
    problems.extend(apply(&mut values, &patch, app.cfg.url_policy));
    ApiFailure::unless(problems)?;
    own.fields
        .extend(patch.keys().filter_map(|k| SettingField::parse(k)));
    for f in &inherit {
        own.fields.remove(f);
        f.copy(&Settings::default(), &mut values);
    }
    own.values = values;
    app.store
        .put_page_settings(&c.account, &page_id, &own)
        .await?;
    tracing::info!(admin = %c.sub, page_id = %page_id, fields = patch.len(), inherited = inherit.len(), "Page settings changed");
    let mut out = answer(&page_id, &own, &account);
    if key_made(&patch, &before, &own.values.ai_agent_secret)
        && let Some(a) = out
            .pointer_mut("/overrides/ai_agent")
            .and_then(Value::as_object_mut)
    {
        a.insert("secret".into(), json!(own.values.ai_agent_secret));
    }
    ok(&out)
}

/// The fields of `inherit`: each a setting's name, none also given a value in the same body.
fn inherited(
    v: &Value,
    patch: &Map<String, Value>,
    problems: &mut Vec<String>,
) -> BTreeSet<SettingField> {
    let mut out = BTreeSet::new();
    let Some(list) = v.as_array() else {
        problems.push("inherit: a list of setting names".into());
        return out;
    };
    for name in list {
        match name.as_str().and_then(SettingField::parse) {
            Some(f) if patch.contains_key(f.as_str()) => {
                problems.push(format!("inherit: {} is also given a value", f.as_str()))
            }
            Some(f) => {
                out.insert(f);
            }
            None => problems.push(format!("inherit: {name} is not a setting")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherit_names_settings_not_also_given() {
        let patch = json!({"greeting": "Hallo"});
        let patch = patch.as_object().cloned().unwrap_or_default();
        let mut problems = Vec::new();
        let got = inherited(
            &json!(["away_message", "greeting", "colour", 3]),
            &patch,
            &mut problems,
        );
        assert_eq!(got, [SettingField::AwayMessage].into());
        assert_eq!(problems.len(), 3, "{problems:?}");
        let mut problems = Vec::new();
        inherited(&json!("greeting"), &patch, &mut problems);
        assert_eq!(problems.len(), 1);
    }
}
