//! The recorder's description of one mapped module.

use std::ops::Range;
use std::path::PathBuf;

/// A module (executable or shared library) mapped into the profiled process, as the recorder
/// saw it.
///
/// The symbolizer trusts these facts over anything on disk: addresses are assigned to modules
/// by `ranges`, and a file whose build id differs from `build_id` is not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleRef {
    /// Path of the file as the dynamic loader reported it.
    ///
    /// The loader reports an empty name for the main executable; the caller must substitute
    /// the target of `/proc/PID/exe` (recorded while the process was alive), since an empty
    /// path cannot be opened.
    pub path: PathBuf,
    /// GNU build id from the module's in-memory `PT_NOTE`, if it had one.
    pub build_id: Option<Vec<u8>>,
    /// `dlpi_addr`: runtime address = ELF virtual address + `load_bias`.
    pub load_bias: u64,
    /// Runtime address ranges of the module's `PT_LOAD` segments.
    pub ranges: Vec<Range<u64>>,
}

impl ModuleRef {
    /// The file name shown in frames ("libc.so.6"), or the whole path when it has none.
    pub(crate) fn display_name(&self) -> String {
        self.path.file_name().unwrap_or(self.path.as_os_str()).to_string_lossy().into_owned()
    }
}
