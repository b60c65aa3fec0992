//! The common crate of pagedesk: the store, the adapters (AWS, Graph, HTTP), the services the
//! functions share, and the API's helpers.
//!
//! The pure layers (`domain`, `meta`, `connect`, `clock`, `ids`) live in `pagedesk-core`, which
//! builds without tokio, the AWS SDK or reqwest; they are re-exported here under their own
//! names so a function names one crate.

pub use pagedesk_core::{clock, connect, domain, ids, meta};

pub mod ai_agent;
pub mod api;
pub mod assignment;
pub mod auth;
pub mod automatic;
pub mod aws;

pub mod config;
pub mod error;
pub mod graph;
pub mod media;
pub mod message_ref;
pub mod page_cache;
pub mod queue;
pub mod s3;
pub mod safe_url;

pub mod secrets;
pub mod spill;
pub mod sqs_batch;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod views;

pub use error::{Error, Result};
