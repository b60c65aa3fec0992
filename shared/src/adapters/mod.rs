//! Everything that talks to the world outside the process: the AWS SDK's configuration and
//! clients, TLS, S3 and the media bucket's layout, the Graph API client, Secrets Manager, SQS
//! batches, JWT verification, the URL policy's resolver. They depend on the pure layers and
//! `runtime`, never on the store or the services (`shared/tests/layers.rs` holds the line).

pub mod auth;
pub mod aws;
pub mod bucket;
pub mod graph;
pub mod s3;
pub mod safe_url;
pub mod secrets;
pub mod sqs_batch;
pub mod tls;
