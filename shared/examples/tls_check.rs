//! Manual check that the compiled-in roots reach a public HTTPS endpoint through reqwest and
//! the AWS SDK's client: `cargo run -p pagedesk-shared --example tls_check [https://host]`.
//! Any HTTP answer from the SDK call proves the handshake; a `DispatchFailure` would not.

#[tokio::main]
async fn main() {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "https://index.crates.io".into());
    let c = pagedesk_shared::adapters::tls::reqwest_builder()
        .build()
        .expect("client");
    let r = c.get(format!("{base}/config.json")).send().await;
    println!("reqwest: {:?}", r.map(|r| r.status()));
    // SAFETY of the test: dummy credentials, a host that is not AWS; only the handshake matters.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "x");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "y");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ENDPOINT_URL", &base);
    }
    let cfg = pagedesk_shared::adapters::aws::sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    match sqs.list_queues().send().await {
        Ok(_) => println!("sdk: answered"),
        Err(aws_sdk_sqs::error::SdkError::DispatchFailure(e)) => {
            println!("sdk: no connection: {e:?}")
        }
        Err(e) => println!("sdk: HTTP answer reached (TLS fine): {}", e),
    }
}
