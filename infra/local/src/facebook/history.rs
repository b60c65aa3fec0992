//! The Pages' message history the simulator's Conversations API lists: old conversations a
//! test adds, and messages whose webhook Meta never sent.

use serde_json::{Value, json};

use super::{Accounts, OldConversation, OldMessage, Thread};

impl Accounts {
    pub fn add_history(&mut self, page: &str, c: OldConversation) -> Value {
        self.counter += 1;
        let id = format!("t_{:015}", self.counter);
        let mut messages = Vec::new();
        for m in c.messages {
            self.counter += 1;
            messages.push((format!("m_hist_{:015}", self.counter), m));
        }
        self.threads
            .entry(page.to_owned())
            .or_default()
            .push(Thread {
                id: id.clone(),
                psid: c.psid,
                messages,
            });
        json!({"id": id})
    }

    /// A person's message that reaches the Page's history (the Conversations API) at `now_ms`
    /// but whose webhook Meta never sends: appended to their thread (a new one if they have
    /// none). Answers its mid.
    pub fn append_history(&mut self, page: &str, psid: &str, text: &str, now_ms: i64) -> String {
        self.counter += 1;
        let mid = format!("m_hist_{:015}", self.counter);
        // Graph's own spelling of a time, to the second.
        let at = pagedesk_shared::clock::rfc3339(now_ms);
        let created_time = format!("{}+0000", at.get(..19).unwrap_or_default());
        let message = OldMessage {
            from: "user".into(),
            text: text.to_owned(),
            created_time,
        };
        let threads = self.threads.entry(page.to_owned()).or_default();
        match threads.iter_mut().find(|t| t.psid == psid) {
            Some(t) => t.messages.push((mid.clone(), message)),
            None => {
                self.counter += 1;
                threads.push(Thread {
                    id: format!("t_{:015}", self.counter),
                    psid: psid.to_owned(),
                    messages: vec![(mid.clone(), message)],
                });
            }
        }
        mid
    }

    /// When a message of the Page's history was sent, to the millisecond as a webhook tells it:
    /// the Conversations API's `created_time` keeps only the second (this simulator puts the
    /// dropped part at 437 ms, so the two never agree by accident).
    pub fn history_time_ms(&self, mid: &str) -> Option<i64> {
        self.threads
            .values()
            .flatten()
            .flat_map(|t| &t.messages)
            .find(|(id, _)| id == mid)
            .and_then(|(_, m)| pagedesk_shared::clock::parse_graph_time(Some(&m.created_time)))
            .map(|s| s + 437)
    }
}
