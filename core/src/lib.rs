//! pagedesk's pure layers, a crate of their own so the compiler holds the line: nothing here
//! can reach tokio, the AWS SDK or an HTTP client, because none is a dependency.
//!
//! - `domain`: the vocabulary and the rules (window, outbound, routing rules, business hours);
//! - `meta`: Meta's wire formats (webhook events and signatures, Graph error bodies,
//!   `signed_request`);
//! - `connect`: what connecting a Page needs and what a health check concludes;
//! - `access`: the agent API's roles and the claims a token must carry;
//! - `clock`, `ids`: time as a value (injectable) and id minting;
//! - `url_policy`: where a customer-configured URL may point.

pub mod access;
pub mod clock;
pub mod connect;
pub mod domain;
pub mod ids;
pub mod meta;
pub mod url_policy;
