use thiserror::Error;

/// Errors of the shared adapters. Each variant says which side failed so callers can decide
/// whether a retry can help (`is_transient`).
#[derive(Debug, Error)]
pub enum Error {
    #[error("configuration: {0}")]
    Config(String),
    #[error("dynamodb {op}: {message}")]
    Dynamo { op: &'static str, message: String },
    #[error("sqs {op}: {message}")]
    Sqs { op: &'static str, message: String },
    #[error("s3 {op}: {message}")]
    S3 { op: &'static str, message: String },
    #[error("secrets manager {op}: {message}")]
    Secrets { op: &'static str, message: String },
    #[error("graph api: {0}")]
    Graph(#[from] pagedesk_core::meta::graph_error::GraphError),
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl Error {
    pub fn dynamo(op: &'static str, e: impl std::fmt::Display) -> Self {
        Error::Dynamo {
            op,
            message: e.to_string(),
        }
    }
    pub fn sqs(op: &'static str, e: impl std::fmt::Display) -> Self {
        Error::Sqs {
            op,
            message: e.to_string(),
        }
    }
    pub fn s3(op: &'static str, e: impl std::fmt::Display) -> Self {
        Error::S3 {
            op,
            message: e.to_string(),
        }
    }
    pub fn secrets(op: &'static str, e: impl std::fmt::Display) -> Self {
        Error::Secrets {
            op,
            message: e.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
