//! `pagedesk-local`: the whole bundle on this machine. Starts DynamoDB Local and moto, creates
//! the template's table, queues and secrets in them, serves the webhook API, the agent API and
//! the Meta simulator, runs the SQS event sources, and stops everything on Ctrl-C.
//!
//! Flags: `--ready-file <path>` writes the endpoints as JSON once everything is up (tests read
//! it); `--seed-demo` registers a demo Page so that a test message lands at once.

use pagedesk_local::stack::{Options, Stack};

#[tokio::main]
async fn main() {
    pagedesk_shared::runtime::telemetry::init();
    pagedesk_shared::adapters::tls::install_default_provider();
    let mut opts = Options::from_env();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ready-file" => opts.ready_file = args.next().map(Into::into),
            "--seed-demo" => opts.seed_demo = true,
            "--help" | "-h" => {
                println!(
                    "usage: pagedesk-local [--ready-file PATH] [--seed-demo]\nports and secrets: see README (PAGEDESK_* variables)"
                );
                return;
            }
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let stack = match Stack::start(opts).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pagedesk-local: {e}");
            std::process::exit(1);
        }
    };
    stack.print_banner();
    wait_for_stop().await;
    eprintln!("stopping pagedesk-local");
    drop(stack);
}

async fn wait_for_stop() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
