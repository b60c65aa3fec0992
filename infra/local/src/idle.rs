//! Whether the local stack has finished what it was given: every event-source queue drained
//! (no message visible, in flight or delayed), the table's stream read up to now, and no batch,
//! scheduled run or simulated Meta delivery in progress. Tests that assert something did *not* happen wait for this
//! (`GET /_local/idle`) instead of sleeping and hoping the stack was quick enough.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock};

use aws_sdk_sqs::types::QueueAttributeName;

static BUSY: AtomicUsize = AtomicUsize::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);
/// Stream pollers: whether one runs, and each one's cycles begun and ended (a cycle reads every
/// shard once and hands what it read to the function).
static STREAMS: AtomicUsize = AtomicUsize::new(0);
static CYCLES_BEGUN: AtomicU64 = AtomicU64::new(0);
static CYCLES_ENDED: AtomicU64 = AtomicU64::new(0);

/// A stream poller's cycle begins; its number.
pub fn stream_cycle_start() -> u64 {
    STREAMS.store(1, SeqCst);
    CYCLES_BEGUN.fetch_add(1, SeqCst) + 1
}

pub fn stream_cycle_end(cycle: u64) {
    CYCLES_ENDED.fetch_max(cycle, SeqCst);
}

/// Waits until a stream cycle that began after this call has ended (a write made before the
/// call has then been read and handed to the function), or 5 s. `false` if it did not come.
async fn stream_caught_up() -> bool {
    if STREAMS.load(SeqCst) == 0 {
        return true;
    }
    let after = CYCLES_BEGUN.load(SeqCst) + 1;
    for _ in 0..500 {
        if CYCLES_ENDED.load(SeqCst) >= after {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    false
}

/// Work in progress, from creation to drop.
pub struct Busy(());

impl Busy {
    pub fn start() -> Busy {
        BUSY.fetch_add(1, SeqCst);
        Busy(())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        // Counted done before it stops being busy, so a check that saw it busy or not yet
        // started sees the count move.
        DONE.fetch_add(1, SeqCst);
        BUSY.fetch_sub(1, SeqCst);
    }
}

fn queues() -> &'static Mutex<Vec<(aws_sdk_sqs::Client, String)>> {
    static QUEUES: OnceLock<Mutex<Vec<(aws_sdk_sqs::Client, String)>>> = OnceLock::new();
    QUEUES.get_or_init(|| Mutex::new(Vec::new()))
}

/// A queue an event source polls: idle needs it empty.
pub fn watch(sqs: &aws_sdk_sqs::Client, queue_url: &str) {
    if let Ok(mut q) = queues().lock()
        && !q.iter().any(|(_, u)| u == queue_url)
    {
        q.push((sqs.clone(), queue_url.to_owned()));
    }
}

/// `{"idle", "busy", "messages"}`: idle only if nothing was busy before and after every queue
/// was found empty, and nothing finished in between (work that started and ended between two
/// looks could have queued a message into a queue already looked at).
/// With `ignore_delayed`, messages waiting out a delay (the deferred queue's retries of events
/// whose target has not arrived) do not count: "everything that could run has run".
pub async fn report(ignore_delayed: bool) -> serde_json::Value {
    // The table's stream first: what was written before this look has reached the function.
    let streamed = stream_caught_up().await;
    let done = DONE.load(SeqCst);
    let busy = BUSY.load(SeqCst);
    let watched: Vec<(aws_sdk_sqs::Client, String)> =
        queues().lock().map(|q| q.clone()).unwrap_or_default();
    let mut messages: u64 = 0;
    let mut error = None;
    let mut counted = vec![
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ];
    if !ignore_delayed {
        counted.push(QueueAttributeName::ApproximateNumberOfMessagesDelayed);
    }
    for (sqs, url) in &watched {
        let out = sqs
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(counted.clone()))
            .send()
            .await;
        match out {
            Ok(o) => {
                messages += o
                    .attributes
                    .iter()
                    .flatten()
                    .filter_map(|(_, v)| v.parse::<u64>().ok())
                    .sum::<u64>()
            }
            Err(e) => error = Some(e.into_service_error().to_string()),
        }
    }
    let idle = streamed
        && busy == 0
        && messages == 0
        && error.is_none()
        && BUSY.load(SeqCst) == 0
        && DONE.load(SeqCst) == done;
    serde_json::json!({"idle": idle, "busy": busy, "messages": messages, "error": error})
}
