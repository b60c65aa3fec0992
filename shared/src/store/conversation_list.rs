//! Listing conversations: by status, assignee, Page and channel, newest activity first, with
//! cursors that neither skip nor repeat a row while conversations move between partitions.

use aws_sdk_dynamodb::types::AttributeValue;

use super::*;
use crate::Result;
use crate::domain::{Channel, ConversationStatus};

#[derive(Debug, Clone, Default)]
pub struct ConversationQuery {
    pub status: Option<ConversationStatus>,
    /// `None`: anyone; `Some(None)`: unassigned; `Some(Some(agent))`.
    pub assignee: Option<Option<String>>,
    pub page_id: Option<String>,
    /// Only these Pages' conversations (an agent who works some Pages); at most 100.
    pub pages: Option<Vec<String>>,
    pub channel: Option<Channel>,
    /// Only conversations carrying this label.
    pub label: Option<String>,
    /// Only this contact's conversations.
    pub contact_id: Option<String>,
    pub limit: i32,
    pub cursor: Option<String>,
}

impl Store {
    /// The conversations `ids` of `account` that exist (one BatchGetItem per 100).
    pub async fn get_conversations(
        &self,
        account: &str,
        ids: &[&str],
    ) -> Result<Vec<ConversationItem>> {
        let keys = ids
            .iter()
            .map(|id| (keys::conversation(account, id), keys::META.to_owned()))
            .collect();
        self.batch_get_rows(keys, false).await
    }

    pub async fn list_conversations(
        &self,
        account: &str,
        q: &ConversationQuery,
    ) -> Result<Result<ResultPage<ConversationItem>, BadCursor>> {
        let before = match q.cursor.as_deref().map(|c| decode_list_cursor(c, account)) {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => return Ok(Err(e)),
            None => None,
        };
        let mut filters = Vec::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        match &q.assignee {
            Some(Some(a)) => {
                filters.push("assignee = :as");
                values.insert(":as".into(), s(a));
            }
            Some(None) => filters.push("attribute_not_exists(assignee)"),
            None => {}
        }
        if let Some(p) = &q.page_id {
            filters.push("page_id = :pg");
            values.insert(":pg".into(), s(p));
        }
        let within;
        if let Some(pages) = &q.pages {
            if pages.is_empty() {
                return Ok(Ok(ResultPage {
                    items: vec![],
                    next_cursor: None,
                }));
            }
            let names: Vec<String> = (0..pages.len()).map(|i| format!(":pp{i}")).collect();
            for (name, p) in names.iter().zip(pages) {
                values.insert(name.clone(), s(p));
            }
            within = format!("page_id IN ({})", names.join(", "));
            filters.push(&within);
        }
        if let Some(c) = &q.channel {
            filters.push("channel = :ch");
            values.insert(":ch".into(), s(c.as_str()));
        }
        if let Some(l) = &q.label {
            filters.push("contains(labels, :lb)");
            values.insert(":lb".into(), s(l));
        }
        if let Some(c) = &q.contact_id {
            filters.push("contact_id = :ct");
            values.insert(":ct".into(), s(c));
        }
        let filter = (!filters.is_empty()).then(|| filters.join(" AND "));
        let limit = q.limit.clamp(1, 100) as usize;
        // One partition per status: "all" reads every one.
        let statuses = match &q.status {
            Some(st) => std::slice::from_ref(st),
            None => ConversationStatus::ALL,
        };
        let mut parts = Vec::with_capacity(statuses.len());
        for st in statuses {
            parts.push(
                self.list_partition(
                    account,
                    *st,
                    before.as_deref(),
                    filter.as_deref(),
                    &values,
                    limit,
                )
                .await?,
            );
        }
        let (rows, bound) = merge_newest_first(parts, limit, |c| &c.gsi2sk);
        Ok(Ok(ResultPage {
            next_cursor: bound.map(|b| encode_list_cursor(account, &b)),
            items: rows,
        }))
    }

    /// Up to `limit` conversations of one status partition that pass `filter`, newest first
    /// from below `before`, and where the reading stopped (`None`: the partition is done).
    async fn list_partition(
        &self,
        account: &str,
        status: ConversationStatus,
        before: Option<&str>,
        filter: Option<&str>,
        values: &HashMap<String, AttributeValue>,
        limit: usize,
    ) -> Result<(Vec<ConversationItem>, Option<String>)> {
        let mut values = values.clone();
        values.insert(
            ":p".into(),
            s(keys::conversations_by_status(account, status)),
        );
        let mut cond = "gsi2pk = :p".to_owned();
        if let Some(b) = before {
            cond.push_str(" AND gsi2sk < :b");
            values.insert(":b".into(), s(b));
        }
        let mut items = Vec::new();
        let mut start = None;
        // A filter can leave a page short; read on a bounded number of pages, then hand back a
        // cursor so the caller continues.
        for _ in 0..10 {
            let res = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi2")
                .key_condition_expression(&cond)
                .set_filter_expression(filter.map(str::to_owned))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit((limit - items.len()) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(failed("Query"))?;
            for item in res.items.unwrap_or_default() {
                items.push(from_item::<ConversationItem>(item)?);
            }
            start = res.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() || items.len() >= limit {
                break;
            }
        }
        let read_to = start.and_then(|k| k.get("gsi2sk").and_then(|v| v.as_s().ok()).cloned());
        Ok((items, read_to))
    }

    /// Every conversation of the account that passes `filter` (rare, complete reads: erasure,
    /// an agent's removal policy), both status partitions.
    pub(crate) async fn conversations_where(
        &self,
        account: &str,
        statuses: &[ConversationStatus],
        filter: &str,
        names: &[(&str, &str)],
        values: &[(&str, AttributeValue)],
    ) -> Result<Vec<ConversationItem>> {
        let mut out = Vec::new();
        for st in statuses {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi2")
                .key_condition_expression("gsi2pk = :p")
                .filter_expression(filter)
                .expression_attribute_values(":p", s(keys::conversations_by_status(account, *st)));
            for (k, v) in names {
                q = q.expression_attribute_names(*k, *v);
            }
            for (k, v) in values {
                q = q.expression_attribute_values(*k, v.clone());
            }
            out.extend(self.query_all::<ConversationItem>(q).await?);
        }
        Ok(out)
    }
}

/// Merges newest-first reads of several partitions of one index into one page of at most
/// `limit` rows, and the key the next page continues below (`None`: nothing left). Each part is
/// the rows a partition gave and the key its reading stopped at (`None`: read to its end).
/// Everything at or above the highest stop has been read in every partition; below it one may
/// still have rows, so rows under it wait for the next page. A row met twice (it changed
/// partition between two reads) is kept once.
fn merge_newest_first<T>(
    parts: Vec<(Vec<T>, Option<String>)>,
    limit: usize,
    key: impl Fn(&T) -> &String,
) -> (Vec<T>, Option<String>) {
    let mut bound: Option<String> = None;
    let mut rows = Vec::new();
    for (found, read_to) in parts {
        rows.extend(found);
        bound = bound.max(read_to);
    }
    rows.sort_by(|a, b| key(b).cmp(key(a)));
    rows.dedup_by(|a, b| key(a) == key(b));
    if let Some(b) = &bound {
        rows.retain(|r| key(r) >= b);
    }
    rows.truncate(limit);
    if rows.len() == limit {
        // A full page ends at its last row, wherever the partitions were read to.
        bound = rows.last().map(|r| key(r).clone()).max(bound);
    }
    (rows, bound)
}

/// A conversation list's cursor: the activity key it continues below, bound to the account.
fn encode_list_cursor(account: &str, before: &str) -> String {
    let mut k = Item::new();
    k.insert("a".into(), s(keys::account(account)));
    k.insert("before".into(), s(before));
    encode_cursor(&k)
}

fn decode_list_cursor(c: &str, account: &str) -> std::result::Result<String, BadCursor> {
    let k = decode_cursor(c, "a", &keys::account(account))?;
    k.get("before")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or(BadCursor)
}

#[cfg(test)]
mod tests {
    use super::merge_newest_first;

    fn run(parts: &[(&[&str], Option<&str>)], limit: usize) -> (Vec<String>, Option<String>) {
        let parts = parts
            .iter()
            .map(|(rows, to)| {
                (
                    rows.iter().map(|r| (*r).to_owned()).collect(),
                    to.map(str::to_owned),
                )
            })
            .collect();
        merge_newest_first(parts, limit, |r: &String| r)
    }

    #[test]
    fn merged_pages_neither_skip_nor_repeat_rows() {
        // Open holds 9, 7, 5, 3; resolved holds 8, 2. Pages of two, each partition read for at
        // most two rows below the cursor, as the store does.
        let open = ["9", "7", "5", "3"];
        let resolved = ["8", "2"];
        let read = |rows: &[&'static str], before: Option<&str>| {
            let below: Vec<&str> = rows
                .iter()
                .copied()
                .filter(|r| before.is_none_or(|b| *r < b))
                .collect();
            let page: Vec<&str> = below.iter().copied().take(2).collect();
            let to = (below.len() > 2).then(|| page[1]);
            (page, to)
        };
        let mut seen = Vec::new();
        let mut before: Option<String> = None;
        for _ in 0..10 {
            let (o, ot) = read(&open, before.as_deref());
            let (r, rt) = read(&resolved, before.as_deref());
            let (rows, next) = run(&[(&o, ot), (&r, rt)], 2);
            assert!(rows.len() <= 2);
            seen.extend(rows);
            match next {
                Some(n) => before = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, ["9", "8", "7", "5", "3", "2"]);
    }

    #[test]
    fn rows_below_an_unfinished_partition_wait_and_a_row_met_twice_counts_once() {
        // Open stopped at 6 with more below; resolved was read to its end: its 4 waits.
        let (rows, next) = run(&[(&["9", "6"], Some("6")), (&["6", "4"], None)], 5);
        assert_eq!(rows, ["9", "6"]);
        assert_eq!(next.as_deref(), Some("6"));
        // Both read to their end: everything, no cursor.
        let (rows, next) = run(&[(&["9"], None), (&["4"], None)], 5);
        assert_eq!((rows.len(), next), (2, None));
    }
}
