//! Where an image's trace goes: one file, or a rotated series of files in a directory.
//!
//! A series starts a new file when the current one has passed its size limit, at a
//! segment boundary, so every file opens with a checkpoint and decodes on its own; once
//! there are more files than the series keeps, the oldest is deleted. Files are named
//! `000001`, `000002`, … in the order they were written; the last holds the end record.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::PathBuf;

use crate::session::create_private;

/// One file, a series, or nowhere.
pub enum Destination {
    /// The whole trace in one file.
    File(File),
    /// A rotated series in a directory.
    Series(Series),
    /// No file: only the live state is kept (`memscope run --mode live`).
    Nowhere,
}

/// A series of trace files in a directory.
pub struct Series {
    dir: PathBuf,
    /// A file is ended once it has this many bytes.
    pub max_bytes: u64,
    keep: usize,
    files: VecDeque<PathBuf>,
    next: u64,
}

impl Series {
    /// A series in `dir` (which exists), of files of about `max_bytes`, at most `keep`
    /// of them.
    pub fn new(dir: PathBuf, max_bytes: u64, keep: usize) -> Series {
        Series { dir, max_bytes, keep: keep.max(1), files: VecDeque::new(), next: 1 }
    }

    /// Creates the next file, and deletes the oldest ones beyond the count kept.
    pub(crate) fn next_file(&mut self) -> io::Result<File> {
        let (file, path) = create_private(&self.dir.join(format!("{:06}", self.next)))?;
        self.next += 1;
        self.files.push_back(path);
        while self.files.len() > self.keep {
            if let Some(oldest) = self.files.pop_front() {
                let _ = std::fs::remove_file(oldest);
            }
        }
        Ok(file)
    }
}
