//! What can go wrong starting or serving.

use std::io;

/// Why memscope could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration does not parse, or holds a value out of range.
    #[error("memscope configuration: {0}")]
    Config(String),
    /// Recording was started already in this process, with another configuration.
    #[error("memscope is already recording in this process")]
    AlreadyRecording,
    /// The global allocator is not `memscope::Profiler`, or the recorder could not start.
    #[error("memscope cannot record: {0}")]
    CannotRecord(String),
    /// The trace or dump file could not be created.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The endpoint could not start.
    #[error(transparent)]
    Serve(#[from] memscope_endpoint::EndpointError),
}
