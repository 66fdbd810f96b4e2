//! Why a module's symbols are missing or degraded.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

/// Why the symbolizer could not use (all of) a module's symbols.
///
/// Resolution never fails: an affected address degrades to `module+0xOFFSET` or loses its
/// file and line. These values say why, so a report can tell the user what to fix (install a
/// debug package, re-run against the binaries that were profiled).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SymbolWarning {
    /// The module file (or a debug file for it) could not be opened or mapped.
    #[error("cannot open {}", path.display())]
    Open {
        /// The file that could not be opened.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The file is not an ELF file that can be parsed.
    #[error("cannot parse {} as ELF", path.display())]
    Parse {
        /// The file that could not be parsed.
        path: PathBuf,
        /// The parser's reason.
        source: object::Error,
    },
    /// The file's DWARF could not be read; its symbol table is used instead.
    #[error("cannot read the DWARF debug info of {}", path.display())]
    Dwarf {
        /// The file holding the broken debug info.
        path: PathBuf,
        /// The DWARF parser's reason.
        source: gimli::Error,
    },
    /// The file on disk is not the one that was profiled (it was rebuilt or upgraded since),
    /// so its symbols would name the wrong functions and are not used.
    #[error(
        "{} has build id {}, but the profiled module had {}; its symbols are not used",
        path.display(),
        found.as_deref().map_or_else(|| "none".to_owned(), hex),
        hex(recorded)
    )]
    BuildIdMismatch {
        /// The file on disk.
        path: PathBuf,
        /// The build id the recorder saw in memory.
        recorded: Vec<u8>,
        /// The build id of the file on disk, if it has one.
        found: Option<Vec<u8>>,
    },
    /// A `.gnu_debuglink` target exists but its CRC differs, so it belongs to another build.
    #[error(
        "{} does not match the debug link's CRC ({expected:#010x}, found {found:#010x}); it is not used",
        path.display()
    )]
    DebugLinkCrcMismatch {
        /// The rejected debug file.
        path: PathBuf,
        /// The CRC stored in the module's `.gnu_debuglink`.
        expected: u32,
        /// The CRC of the debug file.
        found: u32,
    },
    /// Neither the module nor a separate debug file has DWARF, so frames have function names
    /// from the symbol table but no inlined frames, files or lines.
    #[error("no debug info found for {}; install its debug package for file and line", path.display())]
    NoDebugInfo {
        /// The module file.
        path: PathBuf,
    },
}

/// Lower-case hex, as `readelf -n` and the `.build-id` directories spell build ids.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
        out
    })
}
