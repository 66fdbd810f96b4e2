//! What the HTML report shows, aggregated and pruned here rather than in the browser, so
//! that the page's size depends on the chosen limits, not on the trace: the chart's
//! points, and at each of a fixed number of moments the call tree nodes, functions and
//! stacks that count for something.

use std::collections::HashMap;

use memscope_analyze::{
    ns_to_ms, CallTree, EventFilter, Frame, Moment, Peak, Recording, SampleType, Snapshot,
    StackSymbols, Summary, Timeline, TreeNodeId, TreeValues,
};
use memscope_format::StackId;
use serde::Serialize;

/// The sample types of the report, in the order its arrays hold them.
const SAMPLE_TYPES: [SampleType; 4] = [
    SampleType::InuseSpace,
    SampleType::InuseObjects,
    SampleType::AllocSpace,
    SampleType::AllocObjects,
];

/// The limits that bound the report's size.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ReportOptions {
    /// Moments the page can show, spread evenly over the recording, the last of them the
    /// end; the peak comes on top.
    pub moments: usize,
    /// Points of the memory-over-time chart.
    pub chart_points: usize,
    /// A call tree node (flame graph frame) narrower than this share of its moment's
    /// total is folded into its parent's "other".
    pub min_share: f64,
    /// At most this many flame graph frames per moment and sample type.
    pub max_nodes: usize,
    /// Functions kept per moment and sample type: this many by flat and this many by
    /// cum.
    pub top_functions: usize,
    /// Stacks shown with their frames per moment, by live bytes.
    pub top_stacks: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            moments: 100,
            chart_points: 600,
            min_share: 0.001,
            max_nodes: 500,
            top_functions: 100,
            top_stacks: 20,
        }
    }
}

/// Everything the page shows, as it is embedded in it (JSON).
#[derive(Serialize)]
pub struct ReportModel {
    pub(crate) title: String,
    command: String,
    exe: String,
    pid: u32,
    start_unix_ms: u64,
    end_ms: f64,
    sample_types: [&'static str; 4],
    summary: Summary,
    chart: Chart,
    /// `[name, file]` per function.
    functions: Vec<(String, Option<String>)>,
    /// `[parent, function]` per flame graph node; node 0 is the root.
    nodes: Vec<(u32, u32)>,
    /// `[function, file, line, module]` per frame of the listed stacks.
    frames: Vec<(String, Option<String>, Option<u32>, String)>,
    /// Frame indexes per listed stack, innermost first.
    stacks: Vec<Vec<u32>>,
    moments: Vec<MomentView>,
    pruning: Pruning,
}

/// The memory-over-time chart: the highest live heap of each interval, and beside it the
/// highest RSS sampled in it.
#[derive(Serialize)]
struct Chart {
    interval_ms: f64,
    t_ms: Vec<f64>,
    heap: Vec<i64>,
    rss: Vec<Option<u64>>,
}

/// One moment the page can show.
#[derive(Serialize)]
struct MomentView {
    t_ms: f64,
    /// "peak", "end" or "" for one of the evenly spread moments.
    kind: &'static str,
    /// The total of each sample type.
    totals: [i64; 4],
    /// Per sample type: `node, total, self` triples of the frames kept, flattened, as
    /// changes from the moment before (`node, 0, 0`: no longer kept).
    tree: [Vec<i64>; 4],
    /// Per sample type: `function, flat, cum` triples, flattened, as changes from the
    /// moment before (`function, 0, 0`: no longer listed).
    functions: [Vec<i64>; 4],
    /// `stack, inuse_space, inuse_objects, alloc_space, alloc_objects`, flattened: the
    /// stacks with most live bytes.
    stacks: Vec<i64>,
}

/// What was left out, for the page to say.
#[derive(Serialize)]
struct Pruning {
    min_share: f64,
    max_nodes: usize,
    top_functions: usize,
    top_stacks: usize,
    distinct_stacks: usize,
    tree_nodes: usize,
    functions: usize,
    /// Views (moment and sample type) that had more frames over the share than
    /// `max_nodes`.
    capped_views: usize,
}

/// What the moment before kept, per sample type, so that a moment lists only what
/// changed: most of a flame graph stays the same from one moment to the next.
#[derive(Default)]
struct Previous {
    tree: [HashMap<i64, (i64, i64)>; 4],
    functions: [HashMap<i64, (i64, i64)>; 4],
}

/// The triples of `current` that differ from `previous`, and `key, 0, 0` for each key
/// of `previous` that `current` lacks; `previous` becomes `current`.
fn changes(previous: &mut HashMap<i64, (i64, i64)>, current: Vec<i64>) -> Vec<i64> {
    let current: HashMap<i64, (i64, i64)> =
        current.chunks_exact(3).map(|t| (t[0], (t[1], t[2]))).collect();
    let mut changed: Vec<(i64, (i64, i64))> = current
        .iter()
        .filter(|(key, value)| previous.get(key) != Some(value))
        .map(|(&key, &value)| (key, value))
        .collect();
    changed.extend(previous.keys().filter(|key| !current.contains_key(key)).map(|&k| (k, (0, 0))));
    changed.sort_unstable();
    *previous = current;
    changed.into_iter().flat_map(|(key, (a, b))| [key, a, b]).collect()
}

/// Global ids of what the moments refer to, given out as they are first used, and what
/// the moment before listed.
#[derive(Default)]
struct Ids {
    previous: Previous,
    nodes: HashMap<TreeNodeId, u32>,
    node_table: Vec<(u32, u32)>,
    functions: HashMap<u32, u32>,
    function_table: Vec<(String, Option<String>)>,
    stacks: HashMap<StackId, u32>,
    stack_table: Vec<Vec<u32>>,
    frames: HashMap<Frame, u32>,
    frame_table: Vec<(String, Option<String>, Option<u32>, String)>,
}

impl ReportModel {
    /// Aggregates `recording` for the report, counting the events `filter` keeps.
    /// `symbols` resolves every stack (the call tree needs them all).
    pub fn build(
        recording: &Recording,
        symbols: &mut StackSymbols,
        filter: &EventFilter,
        options: &ReportOptions,
    ) -> ReportModel {
        symbols.resolve_all();
        let symbols = &*symbols;
        // In id order, so that the same trace always makes the same page.
        let mut stacks: Vec<StackId> = symbols.stack_ids().collect();
        stacks.sort_unstable();
        let tree = CallTree::build(symbols, stacks);
        let meta = recording.meta();
        let end_ns = recording.end_ns();
        let mut ids = Ids::default();
        ids.node(&tree, TreeNodeId::ROOT);
        let mut capped_views = 0;
        let (chosen, kinds): (Vec<Moment>, Vec<&'static str>) =
            moments(recording, filter, options.moments).into_iter().unzip();
        let mut moments = Vec::with_capacity(chosen.len());
        let mut values = TreeValues::default();
        Snapshot::series(recording, &chosen, filter, |index, snapshot| {
            tree.values_into(snapshot, &mut values);
            let kind = kinds[index];
            let (view, capped) =
                moment_view(&tree, &values, snapshot, symbols, kind, options, &mut ids);
            capped_views += capped;
            moments.push(view);
        });
        let timeline = chart_timeline(recording, filter, options.chart_points);
        let command = meta.args.join(" ");
        ReportModel {
            title: format!("memscope: {}", if command.is_empty() { &meta.exe } else { &command }),
            command,
            exe: meta.exe.clone(),
            pid: meta.pid,
            start_unix_ms: meta.start_unix_ms,
            end_ms: ns_to_ms(end_ns),
            sample_types: SAMPLE_TYPES.map(SampleType::name),
            summary: Summary::compute(recording),
            chart: Chart {
                interval_ms: timeline.interval_ns as f64 / 1e6,
                t_ms: timeline.rows.iter().map(|r| ns_to_ms(r.start_ns)).collect(),
                heap: timeline.rows.iter().map(|r| r.bytes).collect(),
                rss: timeline.rows.iter().map(|r| r.rss_bytes).collect(),
            },
            pruning: Pruning {
                min_share: options.min_share,
                max_nodes: options.max_nodes,
                top_functions: options.top_functions,
                top_stacks: options.top_stacks,
                distinct_stacks: recording.stacks().len(),
                tree_nodes: tree.nodes().len() - 1,
                functions: tree.functions().len(),
                capped_views,
            },
            functions: ids.function_table,
            nodes: ids.node_table,
            frames: ids.frame_table,
            stacks: ids.stack_table,
            moments,
        }
    }
}

/// `count` moments spread evenly up to the end (the last one is the end), and the peak
/// in its place among them.
fn moments(
    recording: &Recording,
    filter: &EventFilter,
    count: usize,
) -> Vec<(Moment, &'static str)> {
    let end_ns = recording.end_ns();
    let count = count.max(1) as u64;
    let mut moments: Vec<(u64, Moment, &'static str)> = (1..count)
        .map(|i| end_ns / count * i + end_ns % count * i / count)
        .map(|t| (t, Moment::At(t), ""))
        .collect();
    moments.dedup_by_key(|(t, _, _)| *t);
    moments.retain(|(t, _, _)| *t < end_ns);
    moments.push((end_ns, Moment::End, "end"));
    let peak: Peak = Peak::find(recording, filter);
    let at = moments.partition_point(|(t, _, _)| *t < peak.time_ns);
    moments.insert(at, (peak.time_ns, Moment::Peak(peak), "peak"));
    moments.into_iter().map(|(_, moment, kind)| (moment, kind)).collect()
}

/// The timeline with at most `points` rows, each a whole number of microseconds.
fn chart_timeline(recording: &Recording, filter: &EventFilter, points: usize) -> Timeline {
    let interval_ns =
        recording.end_ns().div_ceil(points.max(1) as u64).div_ceil(1000).max(1) * 1000;
    Timeline::build(recording, interval_ns, filter)
        .unwrap_or(Timeline { interval_ns, rows: Vec::new() })
}

/// One moment's views; also says how many of its sample types hit `max_nodes`.
fn moment_view(
    tree: &CallTree,
    values: &TreeValues,
    snapshot: &Snapshot,
    symbols: &StackSymbols,
    kind: &'static str,
    options: &ReportOptions,
    ids: &mut Ids,
) -> (MomentView, usize) {
    let root = values.totals[0];
    let mut capped = 0;
    let mut trees = SAMPLE_TYPES.map(|sample_type| {
        let (kept, was_capped) = kept_nodes(tree, values, sample_type, options);
        capped += usize::from(was_capped);
        kept.iter()
            .flat_map(|&node| {
                let (total, own) = (values.totals[node.0 as usize], values.selves[node.0 as usize]);
                [
                    i64::from(ids.node(tree, node)),
                    sample_type.value(&total),
                    sample_type.value(&own),
                ]
            })
            .collect()
    });
    let function_values = tree.function_values(values);
    let mut functions = SAMPLE_TYPES.map(|sample_type| {
        let value = |index: usize, cum: bool| {
            let f = &function_values[index];
            sample_type.value(if cum { &f.cum } else { &f.flat })
        };
        let mut chosen: Vec<usize> = Vec::new();
        for cum in [false, true] {
            let mut ranked: Vec<usize> =
                (0..function_values.len()).filter(|&i| value(i, cum) != 0).collect();
            ranked.sort_by_key(|&i| (std::cmp::Reverse(value(i, cum).abs()), i));
            chosen.extend(ranked.into_iter().take(options.top_functions));
        }
        chosen.sort_unstable();
        chosen.dedup();
        chosen
            .into_iter()
            .flat_map(|i| {
                [i64::from(ids.function(tree, i as u32)), value(i, false), value(i, true)]
            })
            .collect()
    });
    for (index, (tree, functions)) in trees.iter_mut().zip(&mut functions).enumerate() {
        *tree = changes(&mut ids.previous.tree[index], std::mem::take(tree));
        *functions = changes(&mut ids.previous.functions[index], std::mem::take(functions));
    }
    let mut live = snapshot.live_stacks();
    live.truncate(options.top_stacks);
    let stacks = live
        .iter()
        .flat_map(|(stack, c)| {
            let id = ids.stack(symbols, *stack);
            [i64::from(id), c.live_bytes, c.live_blocks, c.alloc_bytes, c.alloc_blocks]
        })
        .collect();
    let view = MomentView {
        t_ms: ns_to_ms(snapshot.time_ns),
        kind,
        totals: SAMPLE_TYPES.map(|sample_type| sample_type.value(&root)),
        tree: trees,
        functions,
        stacks,
    };
    (view, capped)
}

/// The root and the nodes at least `min_share` of the total wide whose parents are
/// kept, the widest `max_nodes` of them; and whether that limit cut any.
fn kept_nodes(
    tree: &CallTree,
    values: &TreeValues,
    sample_type: SampleType,
    options: &ReportOptions,
) -> (Vec<TreeNodeId>, bool) {
    let value = |index: usize| sample_type.value(&values.totals[index]);
    let total = value(0);
    if total <= 0 {
        return (Vec::new(), false);
    }
    let threshold = (total as f64 * options.min_share).max(1.0);
    let mut kept = vec![false; tree.nodes().len()];
    kept[0] = true;
    let mut wide: Vec<(i64, usize)> = Vec::new();
    for (index, node) in tree.nodes().iter().enumerate().skip(1) {
        if kept[node.parent.0 as usize] && value(index) as f64 >= threshold {
            kept[index] = true;
            wide.push((value(index), index));
        }
    }
    // Widest first; a parent is at least as wide as its child and comes before it.
    wide.sort_by_key(|&(value, index)| (std::cmp::Reverse(value), index));
    let capped = wide.len() > options.max_nodes;
    wide.truncate(options.max_nodes);
    let mut nodes: Vec<TreeNodeId> = wide.into_iter().map(|(_, i)| TreeNodeId(i as u32)).collect();
    nodes.push(TreeNodeId::ROOT);
    nodes.sort_unstable();
    (nodes, capped)
}

impl Ids {
    /// The page's id of a tree node, and of its parents and function.
    fn node(&mut self, tree: &CallTree, node: TreeNodeId) -> u32 {
        if let Some(&id) = self.nodes.get(&node) {
            return id;
        }
        let entry = tree.nodes()[node.0 as usize];
        let (parent, function) = if node == TreeNodeId::ROOT {
            (0, 0)
        } else {
            (self.node(tree, entry.parent), self.function(tree, entry.function.0))
        };
        let id = self.node_table.len() as u32;
        self.node_table.push((parent, function));
        self.nodes.insert(node, id);
        id
    }

    fn function(&mut self, tree: &CallTree, function: u32) -> u32 {
        if let Some(&id) = self.functions.get(&function) {
            return id;
        }
        let place = &tree.functions()[function as usize];
        let id = self.function_table.len() as u32;
        self.function_table.push((place.function.clone(), place.file.clone()));
        self.functions.insert(function, id);
        id
    }

    fn stack(&mut self, symbols: &StackSymbols, stack: StackId) -> u32 {
        if let Some(&id) = self.stacks.get(&stack) {
            return id;
        }
        let frames = symbols.frames(stack).into_iter().map(|frame| self.frame(frame)).collect();
        let id = self.stack_table.len() as u32;
        self.stack_table.push(frames);
        self.stacks.insert(stack, id);
        id
    }

    fn frame(&mut self, frame: &Frame) -> u32 {
        if let Some(&id) = self.frames.get(frame) {
            return id;
        }
        let id = self.frame_table.len() as u32;
        self.frame_table.push((
            frame.function.clone(),
            frame.file.clone(),
            frame.line,
            frame.module.clone(),
        ));
        self.frames.insert(frame.clone(), id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_lists_what_changed_and_what_went() {
        let mut previous = HashMap::new();

        let first = changes(&mut previous, vec![1, 10, 5, 2, 20, 0]);
        let second = changes(&mut previous, vec![1, 10, 5, 3, 7, 7]);

        assert_eq!(first, [1, 10, 5, 2, 20, 0]);
        assert_eq!(second, [2, 0, 0, 3, 7, 7], "2 went, 3 came, 1 stayed as it was");
    }
}
