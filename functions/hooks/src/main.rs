use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use pagedesk_hooks::{Hooks, StreamEvent};
use pagedesk_shared::adapters::aws::Clients;
use pagedesk_shared::clock::SystemClock;
use pagedesk_shared::runtime::config::{FunctionConfig, HooksConfig};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pagedesk_shared::runtime::telemetry::init();
    let cfg = HooksConfig::from_env()?;
    let clients = Clients::from_env();
    let hooks = Hooks::new(cfg, &clients, Arc::new(SystemClock));
    let hooks = &hooks;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Value>| async move {
        // The stream's records and the queues' come to one handler; `eventSource` tells them
        // apart.
        let source = ev.payload["Records"][0]["eventSource"]
            .as_str()
            .unwrap_or("");
        if source == "aws:dynamodb" {
            let batch: StreamEvent = serde_json::from_value(ev.payload)?;
            hooks.handle_stream(batch).await?;
            return Ok::<Value, Error>(Value::Null);
        }
        let batch: SqsEvent = serde_json::from_value(ev.payload)?;
        Ok(serde_json::to_value(hooks.handle_sqs(batch).await)?)
    }))
    .await
}
