//! Creating output files without destroying what is at their path, and without letting
//! another process swap the file between a check and the open.
//!
//! - [`create_private`] is for what memscope records (samples, traces): the file is
//!   created new with `O_EXCL`, owner-only, and `O_NOFOLLOW`, so an existing file is
//!   never truncated and a symlink at the path is never followed, even one planted
//!   while memscope starts; either is a clear error.
//! - [`Replacement`] is for exports (profiles, charts, reports): it writes a new
//!   owner-only file next to the path and renames it over a regular file there once
//!   complete, as other tools' `-o` does. The rename replaces the name, never a
//!   symlink's target; a reader never sees half a file, and a failed export (dropped
//!   before [`Replacement::commit`]) leaves nothing behind and the old file as it was.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Creates `path` new, owner-only (0600), never following a symlink there.
pub fn create_private(path: &Path) -> Result<File> {
    let opened = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    match opened {
        Ok(file) => Ok(file),
        Err(err) if err.kind() == ErrorKind::AlreadyExists => bail!(
            "{} already exists{}; memscope does not overwrite it: remove it or give another name",
            path.display(),
            what_is_there(path)
        ),
        Err(err) => Err(err).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// " (a symlink)" or " (a directory)", for a message about what is at `path`.
fn what_is_there(path: &Path) -> &'static str {
    match std::fs::symlink_metadata(path).map(|m| m.file_type()) {
        Ok(kind) if kind.is_symlink() => " (a symlink)",
        Ok(kind) if kind.is_dir() => " (a directory)",
        _ => "",
    }
}

/// The system's error alone: tempfile adds the temporary file's own name (" at path
/// ..."), which would only confuse a message about the path the user gave, and keeps
/// the system's error where it cannot be reached but through its text.
fn without_temporary_name(err: io::Error) -> io::Error {
    let text = err.to_string();
    match text.split_once(" at path ") {
        Some((cause, _)) => io::Error::new(err.kind(), cause.to_owned()),
        None => err,
    }
}

/// A file being written beside its final path, put in place by [`Replacement::commit`].
pub struct Replacement {
    file: BufWriter<tempfile::NamedTempFile>,
    path: PathBuf,
}

impl Replacement {
    /// Starts writing what will replace `path`. Fails at once if `path` names anything
    /// but a regular file (or nothing), so that a long run does not end in an error.
    pub fn new(path: &Path) -> Result<Replacement> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_file() {
                bail!(
                    "{}{} is not a regular file; memscope replaces only regular files",
                    path.display(),
                    what_is_there(path)
                );
            }
        }
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let file = tempfile::Builder::new()
            .prefix(".memscope-")
            .tempfile_in(dir)
            .map_err(without_temporary_name)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Replacement { file: BufWriter::new(file), path: path.to_owned() })
    }

    /// Flushes what was written and renames it over the path.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        let file = self.file.into_inner().map_err(|err| err.into_error());
        file.with_context(|| format!("cannot write {}", path.display()))?
            .persist(&path)
            .map_err(|err| err.error)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// Writes `bytes`, with the path in the error.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let path = &self.path;
        self.file.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))
    }
}

impl Write for Replacement {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.file.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
