//! Meta's side: webhook signatures, splitting a webhook batch into single events, and reading
//! one event into a typed value the router acts on.

pub mod event;
pub mod signature;
pub mod webhook;
