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
    /// The graph of `snapshot` (whose stacks `symbols` must have resolved), keeping
    /// `node_limit` functions (0: all) as pprof's `-dot -nodecount` chooses them (see
    /// [`visual_choice`]).
    pub fn compute(
        snapshot: &Snapshot,
        symbols: &StackSymbols,
        sample_type: SampleType,
        node_limit: usize,
    ) -> CallGraph {
        let top = Top::compute(snapshot, symbols, sample_type, Granularity::Functions, true);
        let all: Vec<CallNode> = top
            .rows
            .into_iter()
            .map(|row| CallNode { place: row.place, flat: row.flat, cum: row.cum })
            .collect();
        let count = all.len();
        let calls = Calls { snapshot, symbols, sample_type };
        let nodes = if node_limit == 0 || node_limit >= count {
            all
        } else {
            let edges = calls.between(&all);
            visual_choice(all, &edges, node_limit)
        };
        let edges = calls.between(&nodes);
        CallGraph {
            sample_type,
            time_ns: top.time_ns,
            total: top.total,
            dropped_nodes: count - nodes.len(),
            nodes,
            edges,
        }
    }
}

/// What the edges between a set of nodes are made from.
struct Calls<'a> {
    snapshot: &'a Snapshot,
    symbols: &'a StackSymbols<'a>,
    sample_type: SampleType,
}

impl Calls<'_> {
    /// The calls between `nodes` (residual where they pass through others), heaviest
    /// first.
    fn between(&self, nodes: &[CallNode]) -> Vec<CallEdge> {
        let index: HashMap<(&str, Option<&str>), usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| ((node.place.function.as_str(), node.place.file.as_deref()), i))
            .collect();
        let mut weights: HashMap<(usize, usize, bool), i64> = HashMap::new();
        for (&stack, counts) in &self.snapshot.counts {
            let value = self.sample_type.value(counts);
            if value == 0 {
                continue;
            }
            let frames = self.symbols.frames(stack);
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
        edges
    }
}

/// The `limit` nodes a drawing should keep, as pprof's `-dot` picks them: not simply
/// those with most cum, which are the start-up chain (`_start`, `main`, …) every stack
/// passes through, but those where the flow branches, starts or ends. Each node scores
/// its cum times the entropy of its incoming calls plus that of its outgoing calls and
/// its own flat (an entry or a leaf counts 1 for the side it lacks), plus its flat; a
/// node that only passes everything on scores its flat. Kept in their order (most cum
/// first).
fn visual_choice(nodes: Vec<CallNode>, edges: &[CallEdge], limit: usize) -> Vec<CallNode> {
    let (mut incoming, mut outgoing) =
        (vec![Vec::new(); nodes.len()], vec![Vec::new(); nodes.len()]);
    for edge in edges {
        incoming[edge.callee].push(edge.weight);
        outgoing[edge.caller].push(edge.weight);
    }
    let side = |weights: &[i64], own: i64| match weights.is_empty() {
        true => 1.0,
        false => entropy(weights, own),
    };
    let score = |i: usize, node: &CallNode| {
        let spread = side(&incoming[i], 0) + side(&outgoing[i], node.flat);
        (spread * node.cum as f64) as i64 + node.flat
    };
    let mut ranked: Vec<(i64, usize)> =
        nodes.iter().enumerate().map(|(i, node)| (score(i, node), i)).collect();
    ranked.sort_by(|&(a_score, a), &(b_score, b)| {
        let (a_node, b_node) = (&nodes[a], &nodes[b]);
        b_score
            .unsigned_abs()
            .cmp(&a_score.unsigned_abs())
            .then_with(|| a_node.place.function.cmp(&b_node.place.function))
            .then_with(|| b_node.flat.unsigned_abs().cmp(&a_node.flat.unsigned_abs()))
    });
    let mut keep = vec![false; nodes.len()];
    ranked.into_iter().take(limit).for_each(|(_, i)| keep[i] = true);
    nodes.into_iter().zip(keep).filter_map(|(node, kept)| kept.then_some(node)).collect()
}

/// The information in how `weights` (and `own`, a node's flat) share their total, in
/// bits: 0 for one call that carries everything.
fn entropy(weights: &[i64], own: i64) -> f64 {
    let total = own + weights.iter().filter(|&&w| w > 0).sum::<i64>();
    if total == 0 {
        return 0.0;
    }
    let bits = |weight: i64| {
        let share = weight.unsigned_abs() as f64 / total as f64;
        if share > 0.0 {
            -share * share.log2()
        } else {
            0.0
        }
    };
    weights.iter().map(|&w| bits(w)).sum::<f64>() + if own > 0 { bits(own) } else { 0.0 }
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
