use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use memscope_format::Trace;

use crate::error::AnalyzeError;

/// A trace file mapped into memory: pages are read as segments are decoded, so a
/// trace larger than RAM still analyses.
pub struct TraceFile {
    path: PathBuf,
    map: Option<Mmap>,
}

impl TraceFile {
    /// Opens and maps `path`.
    pub fn open(path: &Path) -> Result<TraceFile, AnalyzeError> {
        let open_error = |source| AnalyzeError::Open { path: path.to_owned(), source };
        let file = File::open(path).map_err(open_error)?;
        let len = file.metadata().map_err(open_error)?.len();
        // An empty file cannot be mapped; it is reported as an empty trace instead.
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only; a trace modified while mapped can only
            // yield damaged blocks, which the reader checks for.
            Some(unsafe { Mmap::map(&file) }.map_err(open_error)?)
        };
        Ok(TraceFile { path: path.to_owned(), map })
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Indexes the blocks; fails if nothing is readable.
    pub fn trace(&self) -> Result<Trace<'_>, AnalyzeError> {
        let bytes: &[u8] = self.map.as_deref().unwrap_or(&[]);
        Trace::parse(bytes).map_err(|source| AnalyzeError::Format { path: self.path.clone(), source })
    }
}
