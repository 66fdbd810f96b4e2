//! Where separate debug files live, following the conventions GDB documents for build ids
//! and `.gnu_debuglink`.

use std::fs;
use std::path::{Path, PathBuf};

use super::elf_image::{DebugLink, ElfImage};
use super::warning::hex;
use super::SymbolWarning;

/// The default global debug directory of Debian, Fedora and most other distributions.
const SYSTEM_DEBUG_DIR: &str = "/usr/lib/debug";

/// Finds the separate debug file of a module below a list of global debug directories.
pub(crate) struct DebugSearch {
    roots: Vec<PathBuf>,
}

impl Default for DebugSearch {
    fn default() -> Self {
        DebugSearch::new(vec![PathBuf::from(SYSTEM_DEBUG_DIR)])
    }
}

impl DebugSearch {
    /// Searches below `roots` (each used like `/usr/lib/debug`).
    pub(crate) fn new(roots: Vec<PathBuf>) -> Self {
        DebugSearch { roots }
    }

    /// The debug file for `binary`: by build id first, because it identifies the build
    /// exactly, then by its debug link.
    pub(crate) fn find_for(
        &self,
        binary: &ElfImage,
        warnings: &mut Vec<SymbolWarning>,
    ) -> Option<ElfImage> {
        let by_build_id = binary.build_id.as_deref().and_then(|id| self.by_build_id(id, warnings));
        by_build_id.or_else(|| {
            let link = binary.debug_link.as_ref()?;
            self.by_debug_link(&binary.path, link, warnings)
        })
    }

    /// `ROOT/.build-id/ab/cdef….debug` for build id `abcdef…`, if its own build id agrees.
    pub(crate) fn by_build_id(
        &self,
        build_id: &[u8],
        warnings: &mut Vec<SymbolWarning>,
    ) -> Option<ElfImage> {
        let (first, rest) = build_id.split_first()?;
        let relative = format!(".build-id/{:02x}/{}.debug", first, hex(rest));
        self.roots.iter().find_map(|root| {
            let image = open_candidate(&root.join(&relative), warnings)?;
            let agrees = image.build_id.as_deref().is_none_or(|found| found == build_id);
            agrees.then_some(image)
        })
    }

    /// The debug link's file next to the binary, in its `.debug/` subdirectory, or under a
    /// root at the binary's directory path; the first whose CRC matches.
    fn by_debug_link(
        &self,
        binary_path: &Path,
        link: &DebugLink,
        warnings: &mut Vec<SymbolWarning>,
    ) -> Option<ElfImage> {
        // The loader reports paths through symlinks (/lib -> /usr/lib); debug files are
        // installed under the real directory.
        let binary_path = fs::canonicalize(binary_path).unwrap_or_else(|_| binary_path.into());
        let dir = binary_path.parent()?;
        let dir_below_root = dir.strip_prefix("/").unwrap_or(dir);
        let beside = [dir.to_path_buf(), dir.join(".debug")];
        let under_roots = self.roots.iter().map(|root| root.join(dir_below_root));
        beside
            .into_iter()
            .chain(under_roots)
            .map(|dir| dir.join(&link.file_name))
            .filter(|candidate| *candidate != binary_path)
            .find_map(|candidate| {
                let image = open_candidate(&candidate, warnings)?;
                let found = image.crc32();
                if found == link.crc {
                    return Some(image);
                }
                warnings.push(SymbolWarning::DebugLinkCrcMismatch {
                    path: candidate,
                    expected: link.crc,
                    found,
                });
                None
            })
    }
}

/// Opens a candidate debug file; a missing candidate is normal and not worth a warning.
fn open_candidate(path: &Path, warnings: &mut Vec<SymbolWarning>) -> Option<ElfImage> {
    if !path.is_file() {
        return None;
    }
    match ElfImage::open(path) {
        Ok(image) => Some(image),
        Err(warning) => {
            warnings.push(warning);
            None
        }
    }
}
