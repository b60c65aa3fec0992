//! What a function reads once at start-up (its configuration from the environment) and how it
//! logs.

pub mod config;
pub mod telemetry;
