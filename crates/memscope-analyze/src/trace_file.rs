use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, UncheckedAdvice};
use memscope_format::{BlockRef, Trace};

use crate::error::AnalyzeError;

/// A trace file. It is mapped for indexing (the map's pages are let go of as the
/// checksums are verified) and for the small blocks, while events blocks, nearly all of
/// the file, are fetched with positioned reads: the kernel maps whole page-cache folios
/// on a fault, so pages read through the map pile up in the process. This way a trace
/// larger than RAM still analyses, and the resident size is what the analysis holds, not
/// the trace's size.
pub struct TraceFile {
    path: PathBuf,
    file: File,
    map: Option<Mmap>,
}

impl TraceFile {
    /// Opens and maps `path`.
    pub fn open(path: &Path) -> Result<TraceFile, AnalyzeError> {
        let open_error = |source| AnalyzeError::Open { path: path.to_owned(), source };
        let file = File::open(path).map_err(open_error)?;
        let metadata = file.metadata().map_err(open_error)?;
        if metadata.is_dir() {
            // Mapping a directory fails with ENODEV, "No such device", which says nothing.
            return Err(open_error(io::Error::other("it is a directory, not a trace file")));
        }
        let len = metadata.len();
        // An empty file cannot be mapped; it is reported as an empty trace instead.
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only; a trace modified while mapped can only
            // yield damaged blocks, which the reader checks for.
            Some(unsafe { Mmap::map(&file) }.map_err(open_error)?)
        };
        Ok(TraceFile { path: path.to_owned(), file, map })
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Indexes the blocks, letting go of each one's pages once its checksum is verified;
    /// fails if nothing is readable.
    pub fn trace(&self) -> Result<Trace<'_>, AnalyzeError> {
        let bytes: &[u8] = self.map.as_deref().unwrap_or(&[]);
        let mut released = PendingRelease::default();
        let trace = Trace::parse_with(bytes, |range| released.add(self, range));
        released.flush(self);
        trace.map_err(|source| AnalyzeError::Format { path: self.path.clone(), source })
    }

    /// The stored (compressed) payload of `block`, read with a positioned read.
    pub(crate) fn read_payload(&self, block: &BlockRef) -> io::Result<Vec<u8>> {
        let mut payload = vec![0; block.compressed_len as usize];
        self.file.read_exact_at(&mut payload, block.payload_offset())?;
        Ok(payload)
    }

    /// Drops the pages of `range` from this process; touching them again reads them back
    /// from the page cache or the file.
    fn release(&self, range: Range<u64>) {
        let Some(map) = &self.map else { return };
        let start = range.start.min(map.len() as u64) as usize;
        let end = range.end.min(map.len() as u64) as usize;
        // SAFETY: the map is a read-only mapping of a file that nothing writes through,
        // so dropped pages come back from the file with the same bytes; slices into it
        // stay valid. (madvise only ever affects whole pages: memmap2 widens the range.)
        // A failure only means the pages stay resident.
        let _ =
            unsafe { map.unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start) };
    }
}

/// Adjacent ranges gathered into one release per few MiB, not one system call per block.
#[derive(Default)]
struct PendingRelease {
    range: Option<Range<u64>>,
}

impl PendingRelease {
    const BATCH: u64 = 8 << 20;

    fn add(&mut self, file: &TraceFile, range: Range<u64>) {
        let pending = self.range.get_or_insert(range.start..range.start);
        pending.end = range.end;
        if pending.end - pending.start >= Self::BATCH {
            self.flush(file);
        }
    }

    fn flush(&mut self, file: &TraceFile) {
        if let Some(range) = self.range.take() {
            file.release(range);
        }
    }
}
