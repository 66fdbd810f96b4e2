//! Why an export could not be written.

use std::io;

/// What went wrong while writing an export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Writing the output failed.
    #[error("cannot write the {what}")]
    Write {
        /// What was being written: "pprof profile", "flame graph", ...
        what: &'static str,
        /// What the OS said.
        source: io::Error,
    },
    /// Graphviz's `dot`, needed to draw SVG or PNG, is not installed.
    #[error("drawing the call graph as {format} needs Graphviz's `dot`, which is not on PATH (Debian: apt-get install graphviz); write FILE.dot to get the graph without it")]
    DotMissing {
        /// "svg" or "png".
        format: &'static str,
    },
    /// `dot` ran but failed.
    #[error("Graphviz's dot failed ({status}): {message}")]
    DotFailed {
        /// Its exit status.
        status: String,
        /// The first line it printed on stderr.
        message: String,
    },
}

impl ExportError {
    /// A write failure of `what`.
    pub(crate) fn write(what: &'static str) -> impl FnOnce(io::Error) -> ExportError {
        move |source| ExportError::Write { what, source }
    }
}
