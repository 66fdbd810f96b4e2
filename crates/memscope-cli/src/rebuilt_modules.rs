//! Warnings of modules rebuilt since they were recorded: their frames read
//! `module+0xOFFSET`, and without a warning a user takes that for missing debug info.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use memscope_analyze::{StackSymbols, SymbolWarning};

/// The modules a report has warned of, so each is named once per report, however many
/// recordings (`diff BASE NEW`) or rounds of symbolization it takes.
#[derive(Default)]
pub struct RebuiltModules {
    warned: BTreeSet<PathBuf>,
}

impl RebuiltModules {
    /// Warns on stderr, once per report, of each module `symbols` resolved frames in whose
    /// file on disk has another build id than the recorded one.
    pub fn warn(&mut self, symbols: &StackSymbols) {
        for warning in symbols.warnings() {
            let SymbolWarning::BuildIdMismatch { path, .. } = warning else { continue };
            if self.warned.insert(path.clone()) {
                eprintln!("memscope: warning: {}", warning_text(path));
            }
        }
    }
}

/// `/tmp/vec: the file on disk has another build id than when it was recorded
/// (rebuilt?); its frames read vec+0x…`: frames are named as the module's name and the
/// offset, as the symbolizer names them when it does not trust the file.
fn warning_text(path: &Path) -> String {
    let name = path.file_name().unwrap_or(path.as_os_str()).to_string_lossy();
    format!(
        "{}: the file on disk has another build id than when it was recorded (rebuilt?); \
         its frames read {name}+0x…",
        path.display()
    )
}
