//! Function names from the ELF symbol table, for code without DWARF.

use object::{Object, SymbolMap, SymbolMapEntry};

use super::elf_image::ElfImage;

/// A symbol with its name copied out of the file, so the table outlives the parse.
#[derive(Debug)]
struct NamedSymbol {
    address: u64,
    size: u64,
    name: Box<str>,
}

impl SymbolMapEntry for NamedSymbol {
    fn address(&self) -> u64 {
        self.address
    }

    fn size(&self) -> u64 {
        self.size
    }
}

/// The defined code and data symbols of one file, by ELF virtual address.
#[derive(Debug)]
pub(crate) struct SymbolTable {
    symbols: SymbolMap<NamedSymbol>,
}

impl SymbolTable {
    /// A table without symbols, for a module whose file could not be used.
    pub(crate) fn empty() -> Self {
        SymbolTable { symbols: SymbolMap::new(Vec::new()) }
    }

    /// The symbols of `image`: its `.symtab`, or its `.dynsym` when it has no `.symtab`.
    pub(crate) fn read(image: &ElfImage) -> Self {
        let Ok(object) = image.object() else {
            return SymbolTable::empty();
        };
        let symbols = object
            .symbol_map()
            .symbols()
            .iter()
            .map(|symbol| NamedSymbol {
                address: symbol.address(),
                size: symbol.size(),
                name: symbol.name().into(),
            })
            .collect();
        SymbolTable { symbols: SymbolMap::new(symbols) }
    }

    /// The raw (mangled) name of the symbol containing the virtual address `svma`.
    pub(crate) fn name_at(&self, svma: u64) -> Option<&str> {
        self.symbols.containing(svma).map(|symbol| &*symbol.name)
    }
}
