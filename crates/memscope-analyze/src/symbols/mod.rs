//! Symbolization: recorded runtime addresses to function, file and line.
//!
//! The recorder stores raw return addresses plus, for every mapped module, its path, build
//! id, load bias and segment ranges ([`ModuleRef`]). [`Symbolizer`] maps each address to its
//! module, subtracts the load bias and looks the result up in the module's DWARF (inlined
//! functions become frames of their own) or, without DWARF, in its ELF symbol table.
//!
//! Debug info is taken from the module itself or from a separate debug file found by build
//! id (`/usr/lib/debug/.build-id/xx/yyyy.debug`) or by `.gnu_debuglink` (CRC checked). The
//! loading layer (`elf_image`, `debug_search`, `dwarf_sections`, `symbol_table`) is separate
//! from the lookup (`module_symbols`, `context_pool`) and from the parallel driver
//! (`symbolizer`).

mod context_pool;
mod debug_search;
mod dwarf_sections;
mod elf_image;
mod frame;
mod module_index;
mod module_ref;
mod module_symbols;
mod symbol_table;
mod symbolizer;
mod warning;

pub use self::frame::Frame;
pub use self::module_ref::ModuleRef;
pub use self::symbolizer::Symbolizer;
pub use self::warning::SymbolWarning;
