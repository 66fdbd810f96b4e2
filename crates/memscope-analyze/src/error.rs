use std::io;
use std::path::PathBuf;

use memscope_format::FormatError;

/// Why a trace cannot be analysed at all. Damage after a readable prefix is not an
/// error: it is reported in [`crate::Profile::damage`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    /// The trace file cannot be opened or mapped.
    #[error("cannot open trace {}", path.display())]
    Open {
        /// The trace.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The trace is not readable from its first byte.
    #[error("{}", path.display())]
    Format {
        /// The trace.
        path: PathBuf,
        /// What is wrong.
        source: FormatError,
    },
}
