//! The entry point: runtime addresses in, frames out.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use rayon::prelude::*;

use super::debug_search::DebugSearch;
use super::module_index::ModuleIndex;
use super::module_symbols::ModuleSymbols;
use super::{Frame, ModuleRef, SymbolWarning};

/// Addresses per unit of parallel work: large enough that taking a context from the pool is
/// negligible, small enough that two threads share one big module.
const CHUNK_LEN: usize = 256;

/// Turns recorded return addresses into frames, opening each module's files at most once.
///
/// Modules are loaded lazily, on the first address that falls into them, and resolved
/// addresses are cached, so repeated calls to [`Symbolizer::resolve`] only do new work.
/// A `Symbolizer` is `Sync`: [`Symbolizer::resolve`] may be called from several threads.
pub struct Symbolizer {
    modules: Vec<ModuleSlot>,
    index: ModuleIndex,
    search: DebugSearch,
    cache: Mutex<HashMap<u64, Vec<Frame>>>,
}

/// A recorded module and, once one of its addresses was asked for, its symbols.
struct ModuleSlot {
    module: ModuleRef,
    symbols: OnceLock<ModuleSymbols>,
}

impl Symbolizer {
    /// A symbolizer for the modules a trace recorded, looking for separate debug files
    /// under `/usr/lib/debug`.
    ///
    /// Addresses are return addresses (every frame of a recorded stack is one, including the
    /// innermost, which returns into the caller of `malloc`), so each is looked up at
    /// `address - 1`, the call instruction, while frames report `address` itself.
    pub fn new(modules: Vec<ModuleRef>) -> Self {
        Symbolizer {
            index: ModuleIndex::new(&modules),
            modules: modules
                .into_iter()
                .map(|module| ModuleSlot { module, symbols: OnceLock::new() })
                .collect(),
            search: DebugSearch::default(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Looks for separate debug files under `dirs` instead of `/usr/lib/debug`: build-id
    /// files at `DIR/.build-id/xx/yyyy.debug`, debug links at `DIR/<module's dir>/<name>`.
    ///
    /// Debug links are also looked up beside the module and in its `.debug/` subdirectory,
    /// whatever `dirs` is.
    pub fn with_debug_dirs(mut self, dirs: Vec<PathBuf>) -> Self {
        self.search = DebugSearch::new(dirs);
        self
    }

    /// Resolves each unique address once, in parallel, caching results; returns the frames
    /// of every address, innermost first (an inlined callee before its caller).
    ///
    /// Never fails: an address in no module gets one frame `??+0xADDR` with module `?`, an
    /// address in a module without a symbol for it gets `module+0xOFFSET`.
    pub fn resolve(&self, addresses: &[u64]) -> HashMap<u64, Vec<Frame>> {
        let resolved: Vec<(u64, Vec<Frame>)> = self
            .plan(self.uncached(addresses))
            .into_par_iter()
            .flat_map_iter(|(module, chunk)| self.resolve_chunk(module, &chunk))
            .collect();
        let mut cache = self.cache();
        cache.extend(resolved);
        addresses
            .iter()
            .filter_map(|address| Some((*address, cache.get(address)?.clone())))
            .collect()
    }

    /// Why some addresses resolved to less than function, file and line, for the modules
    /// loaded so far (a module is loaded when one of its addresses is resolved).
    pub fn warnings(&self) -> Vec<&SymbolWarning> {
        self.modules
            .iter()
            .filter_map(|slot| slot.symbols.get())
            .flat_map(ModuleSymbols::warnings)
            .collect()
    }

    /// The addresses not resolved yet, sorted and without duplicates.
    fn uncached(&self, addresses: &[u64]) -> Vec<u64> {
        let cache = self.cache();
        let mut missing: Vec<u64> =
            addresses.iter().copied().filter(|address| !cache.contains_key(address)).collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// Groups sorted addresses by module and cuts each group into chunks; sorted chunks keep
    /// one compilation unit's lookups together in one context.
    fn plan(&self, addresses: Vec<u64>) -> Vec<(Option<usize>, Vec<u64>)> {
        let mut by_module: BTreeMap<Option<usize>, Vec<u64>> = BTreeMap::new();
        for address in addresses {
            by_module.entry(self.index.find(address)).or_default().push(address);
        }
        by_module
            .into_iter()
            .flat_map(|(module, addresses)| {
                addresses
                    .chunks(CHUNK_LEN)
                    .map(|chunk| (module, chunk.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn resolve_chunk(&self, module: Option<usize>, chunk: &[u64]) -> Vec<(u64, Vec<Frame>)> {
        match module {
            Some(index) => {
                let slot = &self.modules[index];
                let symbols =
                    slot.symbols.get_or_init(|| ModuleSymbols::load(&slot.module, &self.search));
                symbols.resolve(chunk)
            }
            None => chunk
                .iter()
                .map(|&address| (address, vec![Frame::outside_modules(address)]))
                .collect(),
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<u64, Vec<Frame>>> {
        // Entries are inserted whole, so a panic elsewhere cannot leave one half-written.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
