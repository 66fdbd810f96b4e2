//! Files that exports write: created beside their final name and moved into place only
//! once complete, so a failed export never leaves half a file nor destroys the one that
//! was there; created owner-only (0600), as traces are, since they tell what a program
//! did.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// An output being written; dropped without [`OutputFile::finish`], it is removed.
pub struct OutputFile {
    path: PathBuf,
    partial: PathBuf,
    file: Option<BufWriter<File>>,
}

impl OutputFile {
    /// Starts writing `path`. Fails at once (before any analysis) when it cannot be
    /// written: a missing directory, no permission, or a directory in the way.
    pub fn create(path: &Path) -> Result<OutputFile> {
        if path.is_dir() {
            bail!("cannot write {}: it is a directory", path.display());
        }
        let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        let partial = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(OutputFile { path: path.to_owned(), partial, file: Some(BufWriter::new(file)) })
    }

    /// Where to write.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.file.as_mut().expect("not finished yet")
    }

    /// Writes `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let path = self.path.display().to_string();
        self.writer().write_all(bytes).with_context(|| format!("cannot write {path}"))
    }

    /// Flushes and moves the file into place, replacing what was there.
    pub fn finish(mut self) -> Result<()> {
        let mut file = self.file.take().expect("finished once");
        let written = file.flush().and_then(|()| file.get_ref().sync_all());
        drop(file);
        written.with_context(|| format!("cannot write {}", self.path.display()))?;
        std::fs::rename(&self.partial, &self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
