//! `GET /reports/csat?from=&to=&page_id=&agent_id=` (admin): survey answers in a time range,
//! with average, distribution and groups by agent, Page and day (in the account's zone).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use chrono::NaiveDate;
use pagedesk_shared::clock::{DAY_MS, rfc3339};
use pagedesk_shared::domain::hours;
use pagedesk_shared::store::CsatItem;
use serde_json::{Value, json};

use crate::App;
use crate::error::ApiFailure;
use crate::extract::{Caller, Params, Reply, ok};

pub async fn csat(State(app): State<Arc<App>>, c: Caller, p: Params) -> Reply {
    c.require_admin()?;
    let settings = app.store.get_settings(&c.account).await?;
    let tz = hours::zone(settings.time_zone.as_deref());
    let now = app.clock.now_ms();
    let to = match p.get("to") {
        Some(v) => instant(v, &tz, true).ok_or_else(|| bad_time("to"))?,
        None => now,
    };
    let from = match p.get("from") {
        Some(v) => instant(v, &tz, false).ok_or_else(|| bad_time("from"))?,
        None => to - 30 * DAY_MS,
    };
    if from >= to || to - from > 366 * DAY_MS {
        return Err(ApiFailure::bad_parameter(
            "from",
            "a time before to, at most 366 days apart",
        ));
    }
    let page = p.get("page_id");
    let agent = p.get("agent_id");
    let answers: Vec<CsatItem> = app
        .store
        .csat_answers(&c.account, from, to)
        .await?
        .into_iter()
        .filter(|a| page.is_none_or(|p| a.page_id == p))
        .filter(|a| agent.is_none_or(|g| a.agent_id.as_deref() == Some(g)))
        .collect();
    let group = |key: &dyn Fn(&CsatItem) -> String, name: &str| -> Vec<Value> {
        let mut m: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for a in &answers {
            m.entry(key(a)).or_default().push(a.score);
        }
        m.into_iter()
            .map(|(k, scores)| {
                let mut v = summary(&scores);
                if let Some(o) = v.as_object_mut() {
                    o.insert(
                        name.to_owned(),
                        if k.is_empty() {
                            Value::Null
                        } else {
                            Value::String(k)
                        },
                    );
                }
                v
            })
            .collect()
    };
    let all: Vec<i64> = answers.iter().map(|a| a.score).collect();
    let mut body = summary(&all);
    if let Some(o) = body.as_object_mut() {
        o.insert("from".into(), json!(rfc3339(from)));
        o.insert("to".into(), json!(rfc3339(to)));
        o.insert("time_zone".into(), json!(hours::zone_name(&tz)));
        o.insert(
            "by_agent".into(),
            json!(group(
                &|a| a.agent_id.clone().unwrap_or_default(),
                "agent_id"
            )),
        );
        o.insert(
            "by_page".into(),
            json!(group(&|a| a.page_id.clone(), "page_id")),
        );
        o.insert(
            "by_day".into(),
            json!(group(
                &|a| hours::local_date(&tz, a.answered_at)
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                "date"
            )),
        );
    }
    ok(&body)
}

/// Count, average and distribution of scores 1–5.
fn summary(scores: &[i64]) -> Value {
    let mut dist = [0u64; 5];
    for s in scores {
        if let Some(slot) = usize::try_from(*s - 1).ok().and_then(|i| dist.get_mut(i)) {
            *slot += 1;
        }
    }
    let avg = if scores.is_empty() {
        Value::Null
    } else {
        let mean = scores.iter().sum::<i64>() as f64 / scores.len() as f64;
        json!((mean * 100.0).round() / 100.0)
    };
    json!({
        "responses": scores.len(),
        "average": avg,
        "distribution": {"1": dist[0], "2": dist[1], "3": dist[2], "4": dist[3], "5": dist[4]},
    })
}

fn bad_time(name: &'static str) -> ApiFailure {
    ApiFailure::bad_parameter(
        name,
        "an RFC 3339 time or a date (YYYY-MM-DD, in the account's time zone)",
    )
}

/// An RFC 3339 instant, or a date in the account's zone (`to` dates include the whole day).
fn instant(v: &str, tz: &hours::Tz, end_of_day: bool) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(t.timestamp_millis());
    }
    let d = NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
    let d = if end_of_day { d.succ_opt()? } else { d };
    hours::local_midnight(tz, d)
}
