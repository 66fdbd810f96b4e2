//! Opening a trace for a report: one place that turns damage into warnings, so every
//! report says the same about the same trace.

use std::path::Path;

use anyhow::Result;
use memscope_analyze::{Damage, Recording, TraceFile, TraceFiles};
use serde::Serialize;

use crate::output::ms;

/// Opens the trace file `path`, or the rotated series in directory `path`, warning on
/// stderr of the series' files left out.
pub fn open(path: &Path) -> Result<TraceFiles> {
    let files = TraceFiles::open(path)?;
    for note in files.notes() {
        eprintln!("memscope: warning: {}: {note}", path.display());
    }
    Ok(files)
}

/// An opened recording and the damage already reported on it.
pub struct Input<'a> {
    /// The recording.
    pub recording: Recording<'a>,
    warned: Vec<Damage>,
}

/// Opens the recording in `files` (one, or a series' oldest first), warning on stderr of
/// each damaged place found.
pub fn recording(files: &[TraceFile]) -> Result<Input<'_>> {
    let mut input = Input { recording: Recording::open_series(files)?, warned: Vec::new() };
    input.warn();
    Ok(input)
}

impl Input<'_> {
    /// Warns of damage not warned of yet: found on opening, or while decoding events.
    pub fn warn(&mut self) {
        for damage in self.recording.damage() {
            let known = |w: &Damage| {
                (&w.file, w.offset, &w.message) == (&damage.file, damage.offset, &damage.message)
            };
            if self.warned.iter().any(known) {
                continue;
            }
            eprintln!("memscope: warning: {}: {}", damage.file.display(), warning_text(&damage));
            self.warned.push(damage);
        }
    }
}

/// One damaged place, as the warning line says it after the trace's name:
/// `bytes 40000..52113 skipped: checksum mismatch in block at byte 40000; 2400 events
/// lost between 412.000 and 530.000 ms`.
pub fn warning_text(damage: &Damage) -> String {
    let what = if damage.length > 0 {
        format!("bytes {}..{} skipped: {}", damage.offset, damage.end(), damage.message)
    } else {
        damage.message.clone()
    };
    let events = match damage.events_lost {
        Some(0) => return format!("{what}; no events lost"),
        Some(1) => "1 event lost".to_owned(),
        Some(n) => format!("{n} events lost"),
        None => "an unknown number of events lost".to_owned(),
    };
    let when = match (damage.last_read_ns, damage.next_read_ns) {
        (Some(from), Some(to)) => format!(" between {} and {} ms", ms(from), ms(to)),
        (Some(from), None) => format!(" after {} ms", ms(from)),
        (None, Some(to)) => format!(" before {} ms", ms(to)),
        (None, None) => String::new(),
    };
    format!("{what}; {events}{when}")
}

/// One damaged place in `summary --json`.
#[derive(Serialize)]
pub struct DamageJson {
    file: std::path::PathBuf,
    offset: u64,
    length: u64,
    events_lost: Option<u64>,
    message: String,
    after_ms: Option<f64>,
    before_ms: Option<f64>,
}

impl From<&Damage> for DamageJson {
    fn from(damage: &Damage) -> Self {
        DamageJson {
            file: damage.file.clone(),
            offset: damage.offset,
            length: damage.length,
            events_lost: damage.events_lost,
            message: damage.message.clone(),
            after_ms: damage.last_read_ns.map(memscope_analyze::ns_to_ms),
            before_ms: damage.next_read_ns.map(memscope_analyze::ns_to_ms),
        }
    }
}
