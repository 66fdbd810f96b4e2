//! `top`: functions (or lines) ranked by what they hold or allocated, with pprof's flat
//! and cum.

use std::collections::HashSet;

use crate::counts::StackCounts;
use crate::group::{FrameKey, Granularity, Groups, Place};
use crate::snapshot::Snapshot;
use crate::stack_symbols::StackSymbols;

/// What is counted, in pprof's names.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum SampleType {
    /// Bytes live at the moment.
    #[default]
    InuseSpace,
    /// Blocks live at the moment.
    InuseObjects,
    /// Bytes allocated up to the moment.
    AllocSpace,
    /// Blocks allocated up to the moment.
    AllocObjects,
}

impl SampleType {
    /// pprof's name: `inuse_space`, `inuse_objects`, `alloc_space` or `alloc_objects`.
    pub fn name(self) -> &'static str {
        match self {
            SampleType::InuseSpace => "inuse_space",
            SampleType::InuseObjects => "inuse_objects",
            SampleType::AllocSpace => "alloc_space",
            SampleType::AllocObjects => "alloc_objects",
        }
    }

    /// True for the sample types counted in bytes.
    pub fn is_bytes(self) -> bool {
        matches!(self, SampleType::InuseSpace | SampleType::AllocSpace)
    }

    /// This sample type's figure in `counts`.
    pub fn value(self, counts: &StackCounts) -> i64 {
        match self {
            SampleType::InuseSpace => counts.live_bytes,
            SampleType::InuseObjects => counts.live_blocks,
            SampleType::AllocSpace => counts.alloc_bytes,
            SampleType::AllocObjects => counts.alloc_blocks,
        }
    }
}

/// One row of [`Top`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopRow {
    /// The function or line.
    pub place: Place,
    /// What stacks ending in this row hold.
    pub flat: i64,
    /// What stacks through this row hold, each stack counted once.
    pub cum: i64,
}

/// Rows ranked by flat (or cum), and the total they are shares of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Top {
    /// What is counted.
    pub sample_type: SampleType,
    /// The moment, nanoseconds.
    pub time_ns: u64,
    /// The sum over all stacks.
    pub total: i64,
    /// The rows, largest magnitude first.
    pub rows: Vec<TopRow>,
}

/// Flat and cum of one row.
#[derive(Copy, Clone, Default)]
struct FlatCum {
    flat: i64,
    cum: i64,
}

impl Top {
    /// Ranks the stacks of `snapshot`, whose stacks `symbols` must have resolved.
    pub fn compute(
        snapshot: &Snapshot,
        symbols: &StackSymbols,
        sample_type: SampleType,
        granularity: Granularity,
        by_cum: bool,
    ) -> Top {
        let mut groups: Groups<FlatCum> = Groups::new(granularity);
        let mut total = 0;
        for (&stack, counts) in &snapshot.counts {
            let value = sample_type.value(counts);
            if value == 0 {
                continue;
            }
            total += value;
            let frames = symbols.frames(stack);
            let Some(&leaf) = frames.first() else { continue };
            groups.entry(leaf).value.flat += value;
            let mut seen = HashSet::new();
            for frame in
                frames.iter().copied().filter(|frame| seen.insert(FrameKey::of(frame, granularity)))
            {
                let group = groups.entry(frame);
                group.value.cum += value;
                group.vote(frame.line, value);
            }
        }
        let mut rows: Vec<TopRow> = groups
            .into_rows()
            .map(|row| TopRow { place: row.place, flat: row.value.flat, cum: row.value.cum })
            .collect();
        // By magnitude, as pprof ranks: under a thread filter, a thread that frees other
        // threads' blocks has negative rows, and its largest must come first.
        let rank = |row: &TopRow| {
            let (flat, cum) = (row.flat.unsigned_abs(), row.cum.unsigned_abs());
            if by_cum {
                (cum, flat)
            } else {
                (flat, cum)
            }
        };
        rows.sort_by(|a, b| rank(b).cmp(&rank(a)).then_with(|| a.place.cmp(&b.place)));
        Top { sample_type, time_ns: snapshot.time_ns, total, rows }
    }
}
