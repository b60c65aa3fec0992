//! Partial batch failures for FIFO queues. Records of one message group are handled in order;
//! after a failure the rest of that group is reported failed without being run, so that order
//! holds when SQS redelivers. Other groups are independent and run concurrently.

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use futures::future::join_all;

pub fn group_of(m: &SqsMessage) -> String {
    m.attributes
        .get("MessageGroupId")
        .cloned()
        .unwrap_or_default()
}

pub async fn process_fifo<F, Fut, E>(records: Vec<SqsMessage>, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut groups: Vec<(String, Vec<SqsMessage>)> = Vec::new();
    for r in records {
        let g = group_of(&r);
        match groups.iter_mut().find(|(k, _)| *k == g) {
            Some((_, v)) => v.push(r),
            None => groups.push((g, vec![r])),
        }
    }
    let handle = &handle;
    let results = join_all(groups.into_iter().map(|(_, msgs)| async move {
        let mut failed = Vec::new();
        let mut broken = false;
        for m in msgs {
            let id = m.message_id.clone().unwrap_or_default();
            if broken {
                failed.push(id);
                continue;
            }
            if let Err(e) = handle(m).await {
                tracing::warn!(message_id = %id, error = %e, "record failed; it and the rest of its group will be retried");
                failed.push(id);
                broken = true;
            }
        }
        failed
    }))
    .await;
    let mut resp = SqsBatchResponse::default();
    for id in results.into_iter().flatten() {
        resp.add_failure(id);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, group: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(id.into());
        m.attributes.insert("MessageGroupId".into(), group.into());
        m
    }

    #[tokio::test]
    async fn a_failure_fails_the_rest_of_its_group_only() {
        let recs = vec![
            msg("a1", "a"),
            msg("b1", "b"),
            msg("a2", "a"),
            msg("a3", "a"),
            msg("b2", "b"),
        ];
        let ran = std::sync::Mutex::new(Vec::new());
        let resp = process_fifo(recs, |m| {
            let body = m.body.clone().unwrap_or_default();
            ran.lock().unwrap().push(body.clone());
            async move { if body == "a2" { Err("boom") } else { Ok(()) } }
        })
        .await;
        let failed: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed, ["a2", "a3"]);
        let ran = ran.into_inner().unwrap();
        assert!(
            !ran.contains(&"a3".to_string()),
            "a3 must not run after a2 failed"
        );
        assert!(ran.contains(&"b2".to_string()));
    }
}
