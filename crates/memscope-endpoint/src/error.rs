//! What can go wrong while serving.

use std::io;

/// Why the endpoint cannot start, or cannot answer one request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The address is not a loopback address, and serving beyond this machine was not
    /// asked for with a token.
    #[error("{0} is not a loopback address: serving it needs --allow-remote and a token (MEMSCOPE_TOKEN or --token-file)")]
    NotLoopback(String),
    /// `--allow-remote` without a token.
    #[error("--allow-remote needs a token: set MEMSCOPE_TOKEN or give --token-file")]
    NoToken,
    /// The token file cannot be read, or holds no token.
    #[error("cannot read the token from {path}: {reason}")]
    Token {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The address does not parse.
    #[error("{0:?} is not an address to listen on (for example 127.0.0.1:6060 or :0)")]
    BadAddress(String),
    /// Listening failed (the address is in use, say).
    #[error("cannot listen on {address}: {reason}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },
    /// The snapshot could not be laid out as a trace.
    #[error("cannot lay the snapshot out: {0}")]
    Snapshot(#[source] io::Error),
    /// The snapshot's trace could not be analysed.
    #[error("cannot analyse the snapshot: {0}")]
    Analysis(#[source] memscope_analyze::AnalyzeError),
    /// The profile could not be written.
    #[error("cannot write the profile: {0}")]
    Export(#[source] memscope_export::ExportError),
}
