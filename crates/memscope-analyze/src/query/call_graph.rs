//! A pprof-style call graph: functions with their flat and cum, and the calls between
//! them weighted by what flowed through each call.

use std::collections::{HashMap, HashSet};

use crate::group::{Granularity, Place};
use crate::query::top::{SampleType, Top};
use crate::snapshot::Snapshot;
use crate::stack_symbols::StackSymbols;

/// One function of a [`CallGraph`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallNode {
    /// The function.
    pub place: Place,
    /// What stacks ending in it count.
    pub flat: i64,
    /// What stacks through it count, each stack once.
    pub cum: i64,
}

/// A call from one node to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallEdge {
    /// Index of the calling node.
    pub caller: usize,
    /// Index of the called node.
    pub callee: usize,
    /// What the stacks through this call count, each stack once.
    pub weight: i64,
    /// True when the call passes through functions left out of the graph (pprof draws
    /// such an edge dashed).
    pub residual: bool,
}

/// Functions and calls, as pprof's `-dot` draws them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallGraph {
    /// What is counted.
    pub sample_type: SampleType,
    /// The moment, nanoseconds.
    pub time_ns: u64,
    /// The sum over all stacks.
    pub total: i64,
    /// The functions kept, most cum first.
    pub nodes: Vec<CallNode>,
    /// Calls between kept functions, heaviest first.
    pub edges: Vec<CallEdge>,
    /// Functions left out by the node limit.
    pub dropped_nodes: usize,
}

impl CallGraph {
    /// The graph of `snapshot` (whose stacks `symbols` must have resolved), keeping the
    /// `node_limit` functions with most cum (0: all).
    pub fn compute(
        snapshot: &Snapshot,
        symbols: &StackSymbols,
        sample_type: SampleType,
        node_limit: usize,
    ) -> CallGraph {
        let top = Top::compute(snapshot, symbols, sample_type, Granularity::Functions, true);
        let all = top.rows.len();
        let kept = if node_limit == 0 { all } else { node_limit.min(all) };
        let nodes: Vec<CallNode> = top
            .rows
            .into_iter()
            .take(kept)
            .map(|row| CallNode { place: row.place, flat: row.flat, cum: row.cum })
            .collect();
        let index: HashMap<(&str, Option<&str>), usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| ((node.place.function.as_str(), node.place.file.as_deref()), i))
            .collect();
        let mut weights: HashMap<(usize, usize, bool), i64> = HashMap::new();
        for (&stack, counts) in &snapshot.counts {
            let value = sample_type.value(counts);
            if value == 0 {
                continue;
            }
            let frames = symbols.frames(stack);
            let path = frames
                .iter()
                .rev()
                .map(|frame| index.get(&(frame.function.as_str(), frame.file.as_deref())).copied());
            for edge in calls(path) {
                *weights.entry(edge).or_default() += value;
            }
        }
        let mut edges: Vec<CallEdge> = weights
            .into_iter()
            .map(|((caller, callee, residual), weight)| CallEdge {
                caller,
                callee,
                weight,
                residual,
            })
            .collect();
        edges.sort_by(|a, b| {
            b.weight
                .abs()
                .cmp(&a.weight.abs())
                .then((a.caller, a.callee).cmp(&(b.caller, b.callee)))
        });
        CallGraph {
            sample_type,
            time_ns: top.time_ns,
            total: top.total,
            nodes,
            edges,
            dropped_nodes: all - kept,
        }
    }
}

/// The calls of one stack between kept nodes, outermost first, each once: `path` is the
/// stack's frames from the outermost, as node indexes (`None` for a function left out).
/// A recursive call of a function to itself is not an edge.
fn calls(path: impl Iterator<Item = Option<usize>>) -> HashSet<(usize, usize, bool)> {
    let mut edges = HashSet::new();
    let (mut caller, mut skipped) = (None, false);
    for node in path {
        let Some(node) = node else {
            skipped = true;
            continue;
        };
        if let Some(from) = caller.filter(|&from| from != node) {
            edges.insert((from, node, skipped));
        }
        caller = Some(node);
        skipped = false;
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_skip_left_out_functions_and_recursion() {
        let path = [Some(0), None, Some(1), Some(1), Some(2), Some(0)];

        let edges = calls(path.into_iter());

        let expected: HashSet<_> = [(0, 1, true), (1, 2, false), (2, 0, false)].into();
        assert_eq!(edges, expected);
    }
}
