//! Which recorded module contains a runtime address.

use std::ops::Range;

use super::ModuleRef;

/// The `PT_LOAD` ranges of all modules, sorted by start for binary search.
pub(crate) struct ModuleIndex {
    ranges: Vec<(Range<u64>, usize)>,
}

impl ModuleIndex {
    /// Indexes `modules`; the values returned by [`ModuleIndex::find`] are indices into it.
    pub(crate) fn new(modules: &[ModuleRef]) -> Self {
        let mut ranges: Vec<_> = modules
            .iter()
            .enumerate()
            .flat_map(|(index, module)| {
                module.ranges.iter().map(move |range| (range.clone(), index))
            })
            .filter(|(range, _)| !range.is_empty())
            .collect();
        ranges.sort_by_key(|(range, _)| range.start);
        ModuleIndex { ranges }
    }

    /// The index of the module with a segment containing `address`.
    pub(crate) fn find(&self, address: u64) -> Option<usize> {
        let after = self.ranges.partition_point(|(range, _)| range.start <= address);
        let (range, index) = self.ranges.get(after.checked_sub(1)?)?;
        range.contains(&address).then_some(*index)
    }
}
