//! Opening a trace for a report: one place that turns damage into a warning.

use std::path::Path;

use anyhow::Result;
use memscope_analyze::{Recording, TraceFile};

/// Maps `path`.
pub fn open(path: &Path) -> Result<TraceFile> {
    Ok(TraceFile::open(path)?)
}

/// An opened recording and the damage already reported on it.
pub struct Input<'a> {
    /// The recording.
    pub recording: Recording<'a>,
    warned: Option<String>,
}

/// Opens the recording in `file`, warning on stderr where a damaged trace stops being
/// readable.
pub fn recording(file: &TraceFile) -> Result<Input<'_>> {
    let mut input = Input { recording: Recording::open(file)?, warned: None };
    input.warn();
    Ok(input)
}

impl Input<'_> {
    /// Warns of damage not warned of yet: found on opening, or while decoding events.
    pub fn warn(&mut self) {
        let Some(damage) = self.recording.damage() else { return };
        if self.warned.as_ref() == Some(&damage.message) {
            return;
        }
        eprintln!(
            "memscope: warning: {}: {}; {} events recovered before it",
            self.recording.path().display(),
            damage.message,
            damage.events_recovered
        );
        self.warned = Some(damage.message);
    }
}
