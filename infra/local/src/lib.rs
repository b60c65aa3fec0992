//! The local stack of pagedesk (see `main.rs` for what it starts).

pub mod aws;
pub mod emulators;
pub mod facebook;
pub mod fault;
pub mod host;
pub mod iam;
pub mod idle;
pub mod provision;
pub mod sim;
pub mod stack;
pub mod stream;
pub mod template;
pub mod web;
