//! addr2line contexts for one module, shared by the resolving threads.

use std::sync::{Arc, Mutex, PoisonError};

use addr2line::Context;

use super::dwarf_sections::DwarfReader;

/// The DWARF of one module plus the addr2line contexts built over it.
///
/// `addr2line::Context` parses units lazily through `OnceCell`s, so it is `Send` but not
/// `Sync`: two threads cannot look up in one context at once. Each resolving thread takes
/// a context out of the pool for a whole chunk of addresses and puts it back afterwards, so
/// a module ends up with at most one context per thread that worked on it, while the
/// section bytes (`Arc<Dwarf>` over the mapping) are shared by all of them.
pub(crate) struct ContextPool {
    dwarf: Arc<gimli::Dwarf<DwarfReader>>,
    idle: Mutex<Vec<Context<DwarfReader>>>,
}

impl ContextPool {
    /// Builds the first context right away, so that broken DWARF is reported at load time.
    pub(crate) fn new(dwarf: gimli::Dwarf<DwarfReader>) -> Result<Self, gimli::Error> {
        let dwarf = Arc::new(dwarf);
        let first = Context::from_arc_dwarf(dwarf.clone())?;
        Ok(ContextPool { dwarf, idle: Mutex::new(vec![first]) })
    }

    /// Runs `lookup` with a context of its own; `None` if a new context could not be built
    /// (which cannot happen once the first one was).
    pub(crate) fn with_context<T>(
        &self,
        lookup: impl FnOnce(&Context<DwarfReader>) -> T,
    ) -> Option<T> {
        let idle = self.idle().pop();
        let context = match idle {
            Some(context) => context,
            None => Context::from_arc_dwarf(self.dwarf.clone()).ok()?,
        };
        let result = lookup(&context);
        self.idle().push(context);
        Some(result)
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Context<DwarfReader>>> {
        // A panicking lookup cannot leave the list of idle contexts half-updated.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
