//! The agent API's helpers: stored rows as the API shows them, and HTTP responses with the
//! error body. No I/O.

pub mod api;
pub mod views;
