//! Reports computed from snapshots: data only, printed elsewhere.

pub(crate) mod diff;
pub(crate) mod top;
