//! The common crate of pagedesk.
//!
//! Pure domain logic (`domain`, `meta::event`, `meta::signature`) has no I/O and is unit-tested
//! on its own; the adapters (`store`, `queue`, `secrets`, `graph`) wrap the AWS SDK and the Graph
//! API behind the narrow operations the functions need.

pub mod api;
pub mod assignment;
pub mod auth;
pub mod automatic;
pub mod aws;
pub mod bot;
pub mod clock;
pub mod config;
pub mod connect;
pub mod domain;
pub mod error;
pub mod graph;
pub mod ids;
pub mod media;
pub mod meta;
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
