//! The call graph in Graphviz's DOT language, laid out as `go tool pprof -dot` draws
//! it, and SVG or PNG from it through Graphviz's `dot`.

use std::io::{ErrorKind, Write};
use std::process::{Command, Stdio};

use memscope_analyze::{CallGraph, CallNode, SampleType};

use crate::error::ExportError;
use crate::value_text::value_text;

/// The formats a call graph is written in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DotFormat {
    /// Graphviz's language, written without Graphviz.
    Dot,
    /// SVG drawn by `dot -Tsvg`.
    Svg,
    /// PNG drawn by `dot -Tpng`.
    Png,
}

impl DotFormat {
    /// The format's name, as a file's extension says it.
    pub fn name(self) -> &'static str {
        match self {
            DotFormat::Dot => "dot",
            DotFormat::Svg => "svg",
            DotFormat::Png => "png",
        }
    }
}

/// Writes `graph` as DOT: a box per function, its font growing with flat, labelled with
/// name, flat and cum; an edge per call, labelled with what flowed through it (dashed
/// where it skips functions left out); and a legend box with `legend`'s lines above
/// what the graph shows.
pub fn write_dot(
    out: &mut impl Write,
    graph: &CallGraph,
    legend: &[String],
) -> Result<(), ExportError> {
    out.write_all(dot_text(graph, legend).as_bytes()).map_err(ExportError::write("call graph"))
}

/// Fails unless Graphviz's `dot` can be run, when `format` needs it: a check worth
/// making before the analysis that the drawing would follow.
pub fn check_dot(format: DotFormat) -> Result<(), ExportError> {
    if format == DotFormat::Dot {
        return Ok(());
    }
    match Command::new("dot").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => {
            Err(ExportError::DotMissing { format: format.name() })
        }
        Err(source) => Err(ExportError::Write { what: "call graph", source }),
    }
}

/// Draws DOT `text` as `format` with Graphviz's `dot` (DOT itself is returned as is).
pub fn render_dot(text: &str, format: DotFormat) -> Result<Vec<u8>, ExportError> {
    if format == DotFormat::Dot {
        return Ok(text.as_bytes().to_vec());
    }
    let spawned = Command::new("dot")
        .arg(format!("-T{}", format.name()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            return Err(ExportError::DotMissing { format: format.name() })
        }
        Err(source) => return Err(ExportError::Write { what: "call graph", source }),
    };
    let mut stdin = child.stdin.take().expect("stdin was piped");
    // dot reads all of its input before it writes, so writing first cannot deadlock.
    let fed = stdin.write_all(text.as_bytes());
    drop(stdin);
    let output = child.wait_with_output().map_err(ExportError::write("call graph"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr.lines().next().unwrap_or("no message").to_owned();
        return Err(ExportError::DotFailed { status: output.status.to_string(), message });
    }
    fed.map_err(ExportError::write("call graph"))?;
    Ok(output.stdout)
}

fn dot_text(graph: &CallGraph, legend: &[String]) -> String {
    let kind = graph.sample_type;
    let value = |v: i64| value_text(v, kind);
    let percent = |v: i64| percent(v, graph.total);
    let mut text =
        String::from("digraph \"memscope\" {\nnode [style=filled fillcolor=\"#f8f8f8\"]\n");
    let shown: i64 = graph.nodes.iter().map(|n| n.flat).sum();
    let mut lines = legend.to_vec();
    lines.push(format!("Type: {}", kind.name()));
    lines.push(format!(
        "Showing nodes accounting for {}, {} of {} total",
        value(shown),
        percent(shown),
        value(graph.total)
    ));
    if graph.dropped_nodes > 0 {
        lines.push(format!("Dropped {} nodes (--nodecount)", graph.dropped_nodes));
    }
    let legend: String = lines.iter().map(|line| format!("{}\\l", quote(line))).collect();
    text.push_str(&format!(
        "subgraph cluster_L {{ \"legend\" [shape=box fontsize=16 label=\"{legend}\"] }}\n"
    ));
    let max_flat = graph.nodes.iter().map(|n| n.flat.abs()).max().unwrap_or(0);
    for (index, node) in graph.nodes.iter().enumerate() {
        text.push_str(&node_line(index, node, max_flat, graph.total, kind));
    }
    for edge in &graph.edges {
        let share = fraction(edge.weight, graph.total);
        let style = if edge.residual { " style=dotted" } else { "" };
        text.push_str(&format!(
            "N{} -> N{} [label=\" {}\" weight={} penwidth={:.2} color=\"{}\" tooltip=\"{} -> {} ({})\"{style}]\n",
            edge.caller + 1,
            edge.callee + 1,
            value(edge.weight),
            1 + (share * 99.0) as i64,
            1.0 + share * 5.0,
            color(share),
            quote(&graph.nodes[edge.caller].place.function),
            quote(&graph.nodes[edge.callee].place.function),
            value(edge.weight),
        ));
    }
    text.push_str("}\n");
    text
}

/// One node: pprof's font size grows from 8 to 24 points with the square root of the
/// node's share of the largest flat.
fn node_line(index: usize, node: &CallNode, max_flat: i64, total: i64, kind: SampleType) -> String {
    let value = |v: i64| value_text(v, kind);
    let font = if max_flat > 0 && node.flat != 0 {
        8 + (16.0 * (node.flat.abs() as f64 / max_flat as f64).sqrt()).ceil() as i64
    } else {
        8
    };
    let flat = if node.flat == 0 {
        "0".to_owned()
    } else {
        format!("{} ({})", value(node.flat), percent(node.flat, total))
    };
    let cum = format!("{} ({})", value(node.cum), percent(node.cum, total));
    let share = fraction(node.cum, total);
    format!(
        "N{id} [label=\"{name}\\n{flat}\\nof {cum}\" id=\"node{id}\" fontsize={font} shape=box tooltip=\"{tooltip} ({cum_value})\" color=\"{color}\" fillcolor=\"{fill}\"]\n",
        id = index + 1,
        name = quote(&node.place.function),
        tooltip = quote(&node.place.function),
        cum_value = value(node.cum),
        color = color(share),
        fill = fill(share),
    )
}

fn fraction(value: i64, total: i64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (value as f64 / total as f64).abs().min(1.0)
    }
}

fn percent(value: i64, total: i64) -> String {
    if total == 0 {
        "-".to_owned()
    } else {
        format!("{:.2}%", value as f64 * 100.0 / total as f64)
    }
}

/// From grey to pprof's dark red as `share` grows.
fn color(share: f64) -> String {
    let mix = |from: f64, to: f64| (from + (to - from) * share.sqrt()) as u8;
    format!("#{:02x}{:02x}{:02x}", mix(178.0, 178.0), mix(178.0, 0.0), mix(178.0, 0.0))
}

fn fill(share: f64) -> String {
    let mix = |from: f64, to: f64| (from + (to - from) * share.sqrt()) as u8;
    format!("#{:02x}{:02x}{:02x}", mix(237.0, 237.0), mix(237.0, 213.0), mix(237.0, 213.0))
}

/// Text inside a DOT string.
fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', " ")
}
