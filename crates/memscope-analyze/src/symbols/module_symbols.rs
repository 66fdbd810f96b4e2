//! Everything known about one module's symbols: its DWARF, its symbol table, and why parts
//! may be missing.

use std::borrow::Cow;

use addr2line::Context;

use super::context_pool::ContextPool;
use super::debug_search::DebugSearch;
use super::dwarf_sections::{load_dwarf, DwarfReader};
use super::elf_image::ElfImage;
use super::symbol_table::SymbolTable;
use super::{Frame, ModuleRef, SymbolWarning};

/// The loaded symbols of one module, built on first use and shared by all threads.
pub(crate) struct ModuleSymbols {
    name: String,
    load_bias: u64,
    dwarf: Option<ContextPool>,
    symbols: SymbolTable,
    warnings: Vec<SymbolWarning>,
}

impl ModuleSymbols {
    /// Opens the module's file and its separate debug file, if any, and reads DWARF from the
    /// first of them that has it and symbols from the first that has a full `.symtab`.
    pub(crate) fn load(module: &ModuleRef, search: &DebugSearch) -> Self {
        let mut warnings = Vec::new();
        let (binary, debug) = open_images(module, search, &mut warnings);
        let images = [binary.as_ref(), debug.as_ref()];
        let dwarf = match images.into_iter().flatten().find(|image| image.has_dwarf) {
            Some(image) => load_context_pool(image, &mut warnings),
            None => {
                if let Some(binary) = &binary {
                    warnings.push(SymbolWarning::NoDebugInfo { path: binary.path.clone() });
                }
                None
            }
        };
        // A full .symtab anywhere beats the binary's exported-only .dynsym.
        let symbol_image = images.into_iter().flatten().find(|image| image.has_symtab);
        let symbols =
            symbol_image.or(binary.as_ref()).map_or_else(SymbolTable::empty, SymbolTable::read);
        ModuleSymbols {
            name: module.display_name(),
            load_bias: module.load_bias,
            dwarf,
            symbols,
            warnings,
        }
    }

    /// Why some of this module's addresses resolve to less than file, line and function.
    pub(crate) fn warnings(&self) -> &[SymbolWarning] {
        &self.warnings
    }

    /// Resolves `addresses` (return addresses inside this module) with one addr2line
    /// context for the whole batch.
    pub(crate) fn resolve(&self, addresses: &[u64]) -> Vec<(u64, Vec<Frame>)> {
        let resolve_all = |context: Option<&Context<DwarfReader>>| {
            addresses.iter().map(|&address| (address, self.frames(context, address))).collect()
        };
        self.dwarf
            .as_ref()
            .and_then(|pool| pool.with_context(|context| resolve_all(Some(context))))
            .unwrap_or_else(|| resolve_all(None))
    }

    /// The frames of one return address, innermost first.
    fn frames(&self, context: Option<&Context<DwarfReader>>, address: u64) -> Vec<Frame> {
        let offset = address.wrapping_sub(self.load_bias);
        // A return address points after the call; the call itself is one byte before, and
        // that byte has the caller's line and inlining.
        let probe = offset.saturating_sub(1);
        let mut frames = context
            .map_or_else(Vec::new, |context| dwarf_frames(context, probe).unwrap_or_default());
        if frames.is_empty() {
            frames.push(RawFrame::default());
        }
        let outermost = frames.len() - 1;
        frames
            .into_iter()
            .enumerate()
            .map(|(index, raw)| {
                // The symbol table names the real (outermost) function only.
                let symbol = (index == outermost).then(|| self.symbols.name_at(probe)).flatten();
                let function = best_name(raw.function, symbol.map(demangle));
                Frame {
                    function: function.unwrap_or_else(|| format!("{}+{offset:#x}", self.name)),
                    file: raw.file,
                    line: raw.line,
                    module: self.name.clone(),
                    address,
                }
            })
            .collect()
    }
}

/// A frame as DWARF describes it, before names are filled in from the symbol table.
#[derive(Default)]
struct RawFrame {
    function: Option<String>,
    file: Option<String>,
    line: Option<u32>,
}

/// The DWARF frames (inlined functions first) at virtual address `probe`.
fn dwarf_frames(context: &Context<DwarfReader>, probe: u64) -> Result<Vec<RawFrame>, gimli::Error> {
    // Split DWARF (.dwo) units are not loaded; their addresses fall back to symbols.
    let mut iter = context.find_frames(probe).skip_all_loads()?;
    let mut frames = Vec::new();
    while let Some(frame) = iter.next()? {
        let function = frame.function.as_ref().and_then(|name| name.demangle().ok());
        let location = frame.location.as_ref();
        frames.push(RawFrame {
            function: function.map(Cow::into_owned),
            file: location.and_then(|location| location.file).map(str::to_owned),
            line: location.and_then(|location| location.line),
        });
    }
    Ok(frames)
}

/// The function's name from DWARF, or from the symbol table where DWARF has none or
/// only the unqualified name the symbol's path ends with: builds with line tables only
/// (`debug = "line-tables-only"`, `-gline-tables-only`) name `two_allocations` what the
/// symbol table calls `tests::two_allocations`.
fn best_name(dwarf: Option<String>, symbol: Option<String>) -> Option<String> {
    match (dwarf, symbol) {
        (Some(short), Some(full))
            if full.strip_suffix(short.as_str()).is_some_and(|path| path.ends_with("::")) =>
        {
            Some(full)
        }
        (dwarf, symbol) => dwarf.or(symbol),
    }
}

/// Demangles a symbol-table name, whose language is unknown (Rust is tried before C++).
fn demangle(name: &str) -> String {
    addr2line::demangle_auto(Cow::Borrowed(name), None).into_owned()
}

/// The module's file, if it is the profiled build, and its separate debug file, if needed.
///
/// When the file is missing or rebuilt, the debug file named by the recorded build id is
/// still used, since it describes exactly the profiled build (and a rebuild found so is
/// not warned of).
fn open_images(
    module: &ModuleRef,
    search: &DebugSearch,
    warnings: &mut Vec<SymbolWarning>,
) -> (Option<ElfImage>, Option<ElfImage>) {
    let recorded_id = module.build_id.as_deref();
    match ElfImage::open(&module.path).and_then(|binary| binary.verify_build_id(recorded_id)) {
        Ok(binary) if binary.has_dwarf => (Some(binary), None),
        Ok(binary) => {
            let debug = search.find_for(&binary, warnings);
            (Some(binary), debug)
        }
        Err(warning) => {
            let first = warnings.len();
            let debug = recorded_id.and_then(|id| search.by_build_id(id, warnings));
            // The recorded build's debug file names a rebuilt module's frames as they
            // were, so its rebuild is then nothing to warn of.
            let rebuilt = matches!(warning, SymbolWarning::BuildIdMismatch { .. });
            if debug.is_none() || !rebuilt {
                warnings.insert(first, warning);
            }
            (None, debug)
        }
    }
}

fn load_context_pool(image: &ElfImage, warnings: &mut Vec<SymbolWarning>) -> Option<ContextPool> {
    let pool = load_dwarf(image).and_then(|dwarf| {
        ContextPool::new(dwarf)
            .map_err(|source| SymbolWarning::Dwarf { path: image.path.clone(), source })
    });
    match pool {
        Ok(pool) => Some(pool),
        Err(warning) => {
            warnings.push(warning);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::best_name;

    fn name(dwarf: Option<&str>, symbol: Option<&str>) -> Option<String> {
        best_name(dwarf.map(str::to_owned), symbol.map(str::to_owned))
    }

    #[test]
    fn the_symbol_s_path_completes_a_short_dwarf_name() {
        assert_eq!(
            name(Some("two_allocations"), Some("tests::two_allocations")).as_deref(),
            Some("tests::two_allocations")
        );
        assert_eq!(
            name(Some("alloc"), Some("my_alloc")).as_deref(),
            Some("alloc"),
            "only a whole path segment"
        );
        assert_eq!(name(Some("ns::f(int)"), Some("ns::f(int)")).as_deref(), Some("ns::f(int)"));
        assert_eq!(name(None, Some("main")).as_deref(), Some("main"));
        assert_eq!(name(Some("main"), None).as_deref(), Some("main"));
    }
}
