//! Reports computed from snapshots: data only, printed elsewhere.

pub(crate) mod call_graph;
pub(crate) mod call_tree;
pub(crate) mod diff;
pub(crate) mod profile;
pub(crate) mod sizes;
pub(crate) mod temporaries;
pub(crate) mod top;
