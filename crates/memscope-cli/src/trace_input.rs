//! Opening a trace for a report: one place that turns damage into a warning.

use std::path::Path;

use anyhow::Result;
use memscope_analyze::{Profile, TraceFile};

/// Loads `path`, warning on stderr where a damaged trace stops being readable.
pub fn load(path: &Path) -> Result<Profile> {
    let file = TraceFile::open(path)?;
    let profile = Profile::load(&file)?;
    if let Some(damage) = &profile.damage {
        eprintln!(
            "memscope: warning: {}: {}; {} events recovered before it",
            path.display(),
            damage.message,
            damage.events_recovered
        );
    }
    Ok(profile)
}
