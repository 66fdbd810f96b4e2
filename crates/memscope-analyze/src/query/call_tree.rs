//! The call tree of a recording's stacks, as a flame graph draws it: one node per
//! distinct path of functions from the outermost frame. It is built once and then
//! evaluated at any number of snapshots, which is how a report shows many moments
//! without symbolizing or walking stacks again.

use std::collections::HashMap;

use memscope_format::StackId;

use crate::counts::StackCounts;
use crate::group::Place;
use crate::snapshot::Snapshot;
use crate::stack_symbols::StackSymbols;

/// Index of a node of a [`CallTree`]; the root is [`TreeNodeId::ROOT`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TreeNodeId(pub u32);

impl TreeNodeId {
    /// The root, above every outermost frame.
    pub const ROOT: TreeNodeId = TreeNodeId(0);
}

/// Index of a function in [`CallTree::functions`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionId(pub u32);

/// One node: a function called along one path.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TreeNode {
    /// The caller's node (the root's parent is the root).
    pub parent: TreeNodeId,
    /// The function (meaningless for the root).
    pub function: FunctionId,
    /// True when no node above this one is of the same function: its total then counts
    /// towards the function's cum (recursion counts a stack once).
    pub outermost_of_function: bool,
}

/// Stacks merged by their path of functions, outermost first.
#[derive(Clone, Debug, Default)]
pub struct CallTree {
    functions: Vec<Place>,
    nodes: Vec<TreeNode>,
    leaves: HashMap<StackId, TreeNodeId>,
    /// The same, indexed by stack id, when ids are dense (the recorder numbers stacks
    /// from 1): evaluating a snapshot looks every stack up, and an index is several
    /// times faster than hashing a million ids.
    dense_leaves: Vec<u32>,
}

/// No leaf in `dense_leaves`.
const NO_LEAF: u32 = u32::MAX;

/// What a [`CallTree`]'s nodes count at one snapshot.
#[derive(Clone, Debug, Default)]
pub struct TreeValues {
    /// Per node: what every stack through the node counts (the root's is the total).
    pub totals: Vec<StackCounts>,
    /// Per node: what stacks ending there count.
    pub selves: Vec<StackCounts>,
}

/// A function's flat and cum at one snapshot.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionValues {
    /// What stacks ending in the function count.
    pub flat: StackCounts,
    /// What stacks through it count, each stack once.
    pub cum: StackCounts,
}

impl CallTree {
    /// The tree of `stacks`, which `symbols` must have resolved. Functions are told
    /// apart by name and file, as `top` tells them apart.
    pub fn build(symbols: &StackSymbols, stacks: impl IntoIterator<Item = StackId>) -> CallTree {
        let root = TreeNode {
            parent: TreeNodeId::ROOT,
            function: FunctionId(0),
            outermost_of_function: false,
        };
        let mut tree = CallTree { nodes: vec![root], ..CallTree::default() };
        let mut function_ids: HashMap<(String, Option<String>), FunctionId> = HashMap::new();
        let mut children: HashMap<(TreeNodeId, FunctionId), TreeNodeId> = HashMap::new();
        let mut on_path: Vec<FunctionId> = Vec::new();
        for stack in stacks {
            let (mut node, frames) = (TreeNodeId::ROOT, symbols.frames(stack));
            on_path.clear();
            for frame in frames.iter().rev() {
                let key = (frame.function.clone(), frame.file.clone());
                let next_function = FunctionId(function_ids.len() as u32);
                let function = *function_ids.entry(key).or_insert_with(|| {
                    tree.functions.push(Place {
                        function: frame.function.clone(),
                        file: frame.file.clone(),
                        line: None,
                    });
                    next_function
                });
                let outermost = !on_path.contains(&function);
                on_path.push(function);
                let next = TreeNodeId(tree.nodes.len() as u32);
                node = *children.entry((node, function)).or_insert_with(|| {
                    tree.nodes.push(TreeNode {
                        parent: node,
                        function,
                        outermost_of_function: outermost,
                    });
                    next
                });
            }
            tree.leaves.insert(stack, node);
        }
        let highest = tree.leaves.keys().map(|stack| stack.0 as usize).max().unwrap_or(0);
        if highest <= 2 * tree.leaves.len() + 1024 {
            tree.dense_leaves = vec![NO_LEAF; highest + 1];
            for (stack, node) in &tree.leaves {
                tree.dense_leaves[stack.0 as usize] = node.0;
            }
        }
        tree
    }

    /// The functions, by [`FunctionId`].
    pub fn functions(&self) -> &[Place] {
        &self.functions
    }

    /// The nodes, by [`TreeNodeId`]; a node always comes after its parent.
    pub fn nodes(&self) -> &[TreeNode] {
        &self.nodes
    }

    /// The node where `stack` ends, if the tree was built with it.
    pub fn leaf(&self, stack: StackId) -> Option<TreeNodeId> {
        if self.dense_leaves.is_empty() {
            return self.leaves.get(&stack).copied();
        }
        let node = *self.dense_leaves.get(stack.0 as usize)?;
        (node != NO_LEAF).then_some(TreeNodeId(node))
    }

    /// What each node counts in `snapshot`. Stacks the tree was not built with are left
    /// out.
    pub fn values(&self, snapshot: &Snapshot) -> TreeValues {
        let mut values = TreeValues::default();
        self.values_into(snapshot, &mut values);
        values
    }

    /// [`CallTree::values`] into `values`, whose memory is used again: a report that
    /// evaluates a tree of a million nodes at a hundred moments would otherwise spend a
    /// good part of its time having fresh pages zeroed.
    pub fn values_into(&self, snapshot: &Snapshot, values: &mut TreeValues) {
        let TreeValues { totals, selves } = values;
        selves.clear();
        selves.resize(self.nodes.len(), StackCounts::default());
        for (stack, counts) in &snapshot.counts {
            if let Some(leaf) = self.leaf(*stack) {
                selves[leaf.0 as usize].add(counts);
            }
        }
        totals.clone_from(selves);
        for index in (1..self.nodes.len()).rev() {
            let (parent, total) = (self.nodes[index].parent.0 as usize, totals[index]);
            totals[parent].add(&total);
        }
    }

    /// Each function's flat and cum in `values`, by [`FunctionId`].
    pub fn function_values(&self, values: &TreeValues) -> Vec<FunctionValues> {
        let mut functions = vec![FunctionValues::default(); self.functions.len()];
        for (index, node) in self.nodes.iter().enumerate().skip(1) {
            let function = &mut functions[node.function.0 as usize];
            function.flat.add(&values.selves[index]);
            if node.outermost_of_function {
                function.cum.add(&values.totals[index]);
            }
        }
        functions
    }
}
