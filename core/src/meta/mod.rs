//! Meta's wire formats, without I/O: webhook signatures, splitting a webhook batch into single
//! events, reading one event into a typed value the router acts on, Graph's error bodies, and
//! the `signed_request` of Meta's callbacks.

pub mod event;
pub mod graph_error;
pub mod signature;
pub mod signed_request;
pub mod webhook;
