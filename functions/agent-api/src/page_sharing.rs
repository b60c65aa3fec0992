//! Who may work a Page: `sharing` on connect and `PUT /pages/{page_id}/sharing` afterwards.
//!
//! `only_me` limits the Page to the admin who asked (`PageItem::private_to`): agents do not
//! see it through any route (`App::pages_of`), routing never gives it to anyone else
//! (`Assigner::assign_by_rule`), and an `owner` rule for that admin, first in order, sends its
//! new conversations to them. `shared` lifts the limit and, with `rule`, adds the Page to that
//! rule's `match.pages`.

use std::sync::Arc;

use axum::extract::State;
use pagedesk_shared::domain::rules::{RoutingRule, RuleMatch};
use pagedesk_shared::domain::{AssignedBy, RoutingMethod};
use serde::Deserialize;
use serde_json::json;

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Id, RawBody, Reply, body};
use crate::pages::{answer, own_page};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sharing {
    pub mode: SharingMode,
    /// Left out, or a rule's name: `null` is not a name (the document's type is a string).
    #[serde(default, deserialize_with = "a_string")]
    pub rule: Option<String>,
}

/// A field that, when present, is a string (absence is `None` through `default`).
fn a_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SharingMode {
    OnlyMe,
    Shared,
}

/// `PUT /pages/{page_id}/sharing` `{"mode": "only_me" | "shared", "rule"}` (admin) → the Page
/// as `GET /pages/{page_id}` shows it.
pub async fn put(
    State(app): State<Arc<App>>,
    c: Caller,
    Id(page_id): Id,
    RawBody(bytes): RawBody,
) -> Reply {
    c.require_admin()?;
    let req: Sharing = body(&bytes)?;
    if req.mode == SharingMode::OnlyMe && c.sub.is_empty() {
        return Err(ApiFailure::invalid(
            "sharing: only_me needs a person's token",
        ));
    }
    if req.mode == SharingMode::OnlyMe && req.rule.is_some() {
        return Err(ApiFailure::invalid(
            "rule: only with mode shared (only_me makes its own owner rule)",
        ));
    }
    own_page(&app, &c.account, &page_id).await?;
    let now = app.clock.now_ms();
    let pages = [page_id.clone()];
    // The rules first: a missing rule refuses the change before the Page's access moves.
    if req.mode == SharingMode::OnlyMe || req.rule.is_some() {
        share_rules(&app, &c, &req, &pages, "rule", now).await?;
    }
    let private_to = (req.mode == SharingMode::OnlyMe).then_some(c.sub.as_str());
    let page = app
        .store
        .set_page_private_to(&c.account, &page_id, private_to, now)
        .await?
        .ok_or(ApiFailure::NotFound("page"))?;
    let moved = match private_to {
        Some(_) => release_others(&app, &c, &page_id, now).await?,
        None => 0,
    };
    tracing::info!(page_id, by = %c.sub, only_me = private_to.is_some(), moved, "page sharing changed");
    let mut v = answer(&app, &page).await?;
    v["moved"] = json!(moved);
    crate::extract::ok(&v)
}

/// A Page just limited to the caller: its open conversations held by anyone else go back to
/// the pool (the owner rule's admin can claim them). Returns how many moved.
pub(crate) async fn release_others(
    app: &App,
    c: &Caller,
    page_id: &str,
    now: i64,
) -> Result<usize, ApiFailure> {
    let held = app
        .store
        .active_conversations_on_page_not_of(&c.account, page_id, &c.sub)
        .await?;
    for conv in &held {
        let from = conv.assignee.as_deref().unwrap_or_default();
        crate::rules::move_away(app, conv, from, None, AssignedBy::PageAccess, &c.sub, now).await?;
    }
    Ok(held.len())
}

/// `only_me`: an `owner` rule for the calling admin, first in order, scoped to the Pages.
/// `shared`: the Pages join the named rule's `match.pages`.
pub(crate) async fn share_rules(
    app: &App,
    c: &Caller,
    sharing: &Sharing,
    pages: &[String],
    field: &str,
    now: i64,
) -> Result<(), ApiFailure> {
    for _ in 0..4 {
        let current = app.store.get_rules(&c.account).await?;
        let mut rules = current.rules.clone();
        match sharing.mode {
            SharingMode::OnlyMe => {
                let name: String = format!("only me: {}", c.sub).chars().take(100).collect();
                match rules.iter_mut().find(|r| r.name == name) {
                    Some(r) => add_pages(&mut r.matches, pages),
                    None => rules.insert(
                        0,
                        RoutingRule {
                            name,
                            matches: RuleMatch {
                                pages: pages.to_vec(),
                                ..Default::default()
                            },
                            agents: vec![c.sub.clone()],
                            method: RoutingMethod::Owner,
                            on_agent_removed: Default::default(),
                            labels: vec![],
                        },
                    ),
                }
            }
            SharingMode::Shared => {
                let name = sharing.rule.as_deref().unwrap_or_default();
                let Some(r) = rules.iter_mut().find(|r| r.name == name) else {
                    return Err(ApiFailure::invalid(format!(
                        "{field}: there is no routing rule named {name:?}"
                    )));
                };
                add_pages(&mut r.matches, pages);
            }
        }
        let as_json = json!({"rules": rules});
        pagedesk_shared::domain::rules::parse_rules(&as_json).map_err(ApiFailure::Invalid)?;
        if app
            .store
            .put_rules(&c.account, &rules, current.version, now)
            .await?
        {
            return Ok(());
        }
    }
    Err(ApiFailure::RulesChanged)
}

fn add_pages(m: &mut RuleMatch, pages: &[String]) {
    for p in pages {
        if !m.pages.contains(p) {
            m.pages.push(p.clone());
        }
    }
}
