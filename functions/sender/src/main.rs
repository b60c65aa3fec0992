use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use pagedesk_sender::Sender;
use pagedesk_shared::adapters::aws::Clients;
use pagedesk_shared::clock::SystemClock;
use pagedesk_shared::runtime::config::{FunctionConfig, SenderConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    pagedesk_shared::runtime::telemetry::init();
    let cfg = SenderConfig::from_env()?;
    let clients = Clients::from_env();
    let sender = Sender::new(cfg, &clients, Arc::new(SystemClock));
    let sender = &sender;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(sender.handle_batch(ev.payload).await)
    }))
    .await
}
