//! A memory-mapped ELF file and the few facts about it that decide where symbols come from.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use object::{Object, ObjectSection, SectionKind};

use super::SymbolWarning;

/// The target of a `.gnu_debuglink` section: a file name and the CRC32 of that file.
pub(crate) struct DebugLink {
    pub(crate) file_name: PathBuf,
    pub(crate) crc: u32,
}

/// A mapped ELF file (module or separate debug file).
///
/// The facts are read once at open time so that choosing between the module and its debug
/// files does not re-parse anything; the DWARF and symbol readers parse the mapping again,
/// which only reads the headers.
pub(crate) struct ElfImage {
    pub(crate) path: PathBuf,
    pub(crate) map: Arc<Mmap>,
    pub(crate) build_id: Option<Vec<u8>>,
    pub(crate) debug_link: Option<DebugLink>,
    /// Whether `.debug_info` has contents here (not stripped, not a `NOBITS` placeholder).
    pub(crate) has_dwarf: bool,
    /// Whether a full `.symtab` is present (stripped files only keep `.dynsym`).
    pub(crate) has_symtab: bool,
}

impl ElfImage {
    /// Maps and parses the file at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, SymbolWarning> {
        let open_error = |source| SymbolWarning::Open { path: path.to_owned(), source };
        let file = File::open(path).map_err(open_error)?;
        // SAFETY: the mapping is read-only and private. Binaries and debug files are replaced
        // (new inode) rather than rewritten in place by linkers and package managers, so the
        // bytes do not change under us; a file truncated in place would fault, not corrupt.
        let map = unsafe { Mmap::map(&file) }.map_err(open_error)?;
        let object = parse(path, &map)?;
        let debug_link = object.gnu_debuglink().ok().flatten().map(|(name, crc)| DebugLink {
            file_name: PathBuf::from(OsStr::from_bytes(name)),
            crc,
        });
        Ok(ElfImage {
            path: path.to_owned(),
            build_id: object.build_id().ok().flatten().map(<[u8]>::to_vec),
            debug_link,
            has_dwarf: has_dwarf(&object),
            has_symtab: object.symbol_table().is_some(),
            map: Arc::new(map),
        })
    }

    /// Parses the mapping again, for the readers of DWARF and symbols.
    pub(crate) fn object(&self) -> Result<object::File<'_>, SymbolWarning> {
        parse(&self.path, &self.map)
    }

    /// Rejects the file if the recorder saw a different build id for the profiled module.
    pub(crate) fn verify_build_id(self, recorded: Option<&[u8]>) -> Result<Self, SymbolWarning> {
        match recorded {
            Some(recorded) if self.build_id.as_deref() != Some(recorded) => {
                Err(SymbolWarning::BuildIdMismatch {
                    path: self.path,
                    recorded: recorded.to_vec(),
                    found: self.build_id,
                })
            }
            _ => Ok(self),
        }
    }

    /// The CRC32 that `.gnu_debuglink` stores for this file (the whole file's contents).
    pub(crate) fn crc32(&self) -> u32 {
        crc32fast::hash(&self.map)
    }
}

fn parse<'data>(path: &Path, data: &'data [u8]) -> Result<object::File<'data>, SymbolWarning> {
    object::File::parse(data)
        .map_err(|source| SymbolWarning::Parse { path: path.to_owned(), source })
}

fn has_dwarf(object: &object::File<'_>) -> bool {
    object.section_by_name(".debug_info").is_some_and(|section| {
        section.kind() != SectionKind::UninitializedData && section.size() > 0
    })
}
