use std::io;
use std::path::PathBuf;

use memscope_format::FormatError;

/// Why a trace cannot be analysed at all. Damage after a readable prefix is not an
/// error: it is reported in [`crate::Recording::damage`].
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
    /// A focus, ignore or alloc-fn pattern is not a valid regular expression.
    #[error("invalid {which} regex `{pattern}`: {reason}")]
    Pattern {
        /// `focus`, `ignore` or `alloc-fn`.
        which: &'static str,
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A timeline interval that is zero or would make too many rows.
    #[error("an interval of {interval_ns} ns makes {rows} timeline rows; at most {max_rows} are allowed")]
    Interval {
        /// The interval asked for.
        interval_ns: u64,
        /// Rows it would make.
        rows: u64,
        /// The most a timeline may have.
        max_rows: u64,
    },
}
