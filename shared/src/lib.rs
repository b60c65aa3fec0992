//! The common crate of pagedesk, one folder per layer; each depends only on the layers above
//! it in this list:
//!
//! - `runtime`: configuration read once at start-up, logs (and `error`, the crate's error);
//! - `contracts`: the formats functions hand each other (queue jobs, message references);
//! - `adapters`: AWS, TLS, S3, Graph, secrets, JWT verification, the URL policy;
//! - `store`: DynamoDB, which owns its rows and their keys;
//! - `services`: assignment, automatic messages, AI-agent deliveries, media;
//! - `http`: the agent API's views and responses.
//!
//! The pure layers (`domain`, `meta`, `access`, `connect`, `clock`, `ids`, `url_policy`) live in `pagedesk-core`, which
//! builds without tokio, the AWS SDK or reqwest; they are re-exported here under their own
//! names so a function names one crate.

pub use pagedesk_core::{access, clock, connect, domain, ids, meta, url_policy};

pub mod adapters;
pub mod contracts;
pub mod error;
pub mod http;
pub mod runtime;
pub mod services;
pub mod store;

pub use error::{Error, Result};
