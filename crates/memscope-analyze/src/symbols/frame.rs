//! One symbolized frame, the output of the symbolizer.

use serde::Serialize;

/// One frame of a symbolized address. Inlined functions are frames of their own, innermost
/// first.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Frame {
    /// Demangled function name, or `module+0xOFFSET` when no symbol is known (`OFFSET` is the
    /// address minus the module's load bias), or `??+0xADDRESS` when no module contains it.
    pub function: String,
    /// Source file, as the debug info names it (usually absolute).
    pub file: Option<String>,
    /// Source line; for an inlined function's caller, the line of the inlined call.
    pub line: Option<u32>,
    /// File name of the module, e.g. "libc.so.6", or "?" when no module contains the address.
    pub module: String,
    /// The runtime address that was looked up (the same for all inlined frames of one address).
    pub address: u64,
}

impl Frame {
    /// The frame for an address that no recorded module contains.
    pub(crate) fn outside_modules(address: u64) -> Self {
        Frame {
            function: format!("??+{address:#x}"),
            file: None,
            line: None,
            module: "?".to_owned(),
            address,
        }
    }
}
