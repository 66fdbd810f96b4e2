//! DWARF sections read straight out of the mapped file, shareable across threads.

use std::ops::{Deref, Range};
use std::sync::Arc;

use memmap2::Mmap;
use object::{CompressionFormat, Object, ObjectSection};

use super::elf_image::ElfImage;
use super::SymbolWarning;

/// The `gimli::Reader` used for all DWARF: zero-copy over the mapping, `Send + Sync`, and
/// owning its bytes, so a parsed `gimli::Dwarf` needs no borrow of the file and can live in
/// the symbolizer's cache.
pub(crate) type DwarfReader = gimli::EndianReader<gimli::RunTimeEndian, SectionBytes>;

/// The bytes of one DWARF section.
#[derive(Clone, Debug)]
pub(crate) enum SectionBytes {
    /// An uncompressed section, a range of the mapped file.
    Mapped { map: Arc<Mmap>, range: Range<usize> },
    /// A compressed (`SHF_COMPRESSED`) section, inflated once into memory. Kept in its
    /// `Vec`: an `Arc<[u8]>` would copy it, and libc's debug sections run to megabytes.
    Inflated(Arc<Vec<u8>>),
}

impl Deref for SectionBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            SectionBytes::Mapped { map, range } => &map[range.clone()],
            SectionBytes::Inflated(bytes) => bytes,
        }
    }
}

// SAFETY: both variants point into a heap or mmap allocation owned through an `Arc`, which
// does not move when the `SectionBytes` (or a clone of it) moves, and clones share the same
// allocation, so the slice address is stable as `StableDeref` and `CloneStableDeref` require.
unsafe impl gimli::StableDeref for SectionBytes {}
// SAFETY: see above; a clone derefs to the same bytes at the same address.
unsafe impl gimli::CloneStableDeref for SectionBytes {}

/// Reads all DWARF sections of `image` into a `gimli::Dwarf`.
pub(crate) fn load_dwarf(image: &ElfImage) -> Result<gimli::Dwarf<DwarfReader>, SymbolWarning> {
    let object = image.object()?;
    let endian = if object.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    gimli::Dwarf::load(|id| {
        let bytes = section_bytes(image, &object, id.name())?;
        Ok(gimli::EndianReader::new(bytes, endian))
    })
}

/// The bytes of the section called `name`, empty when the file has no such section.
fn section_bytes(
    image: &ElfImage,
    object: &object::File<'_>,
    name: &str,
) -> Result<SectionBytes, SymbolWarning> {
    let parse_error = |source| SymbolWarning::Parse { path: image.path.clone(), source };
    let Some(section) = object.section_by_name(name) else {
        return Ok(SectionBytes::Mapped { map: image.map.clone(), range: 0..0 });
    };
    let file_range = section.compressed_file_range().map_err(parse_error)?;
    if file_range.format != CompressionFormat::None {
        let inflated = section.uncompressed_data().map_err(parse_error)?;
        return Ok(SectionBytes::Inflated(Arc::new(inflated.into_owned())));
    }
    // `data` checks that the section lies inside the file, so the range below is valid and
    // its start fits in `usize`.
    let len = section.data().map_err(parse_error)?.len();
    let start = file_range.offset as usize;
    Ok(SectionBytes::Mapped { map: image.map.clone(), range: start..start + len })
}
