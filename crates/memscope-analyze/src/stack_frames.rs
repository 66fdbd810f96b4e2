//! Turns the stacks a report shows into symbolized frames.

use std::collections::HashMap;
use std::path::PathBuf;

use memscope_format::StackId;

use crate::profile::Profile;
use crate::symbols::{Frame, ModuleRef, Symbolizer};

/// The kernel's vDSO has no file to read symbols from.
fn is_file_backed(path: &str) -> bool {
    !path.is_empty() && !path.starts_with("linux-vdso") && !path.starts_with('[')
}

/// Symbolizes `stacks` of `profile`: each stack's frames, innermost first, with
/// inlined functions as frames of their own.
pub fn stack_frames(profile: &Profile, stacks: &[StackId]) -> HashMap<StackId, Vec<Frame>> {
    let modules = profile
        .modules
        .iter()
        .filter(|m| is_file_backed(&m.path))
        .map(|m| ModuleRef {
            path: PathBuf::from(&m.path),
            build_id: (!m.build_id.is_empty()).then(|| m.build_id.clone()),
            load_bias: m.load_bias,
            ranges: m.ranges.clone(),
        })
        .collect();
    let symbolizer = Symbolizer::new(modules);
    let mut addresses: Vec<u64> =
        stacks.iter().filter_map(|id| profile.stacks.get(id)).flatten().copied().collect();
    addresses.sort_unstable();
    addresses.dedup();
    let resolved = symbolizer.resolve(&addresses);
    stacks
        .iter()
        .map(|id| {
            let frames = profile
                .stacks
                .get(id)
                .into_iter()
                .flatten()
                .flat_map(|address| resolved.get(address).cloned().unwrap_or_default())
                .collect();
            (*id, frames)
        })
        .collect()
}
