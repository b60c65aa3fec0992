//! What functions hand each other through queues: the jobs' formats. They carry domain values
//! and references the store made (a `Message`, a `MessageRef`), never a row or a key.

pub mod queue;
