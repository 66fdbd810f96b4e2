//! Flame graphs as interactive SVG, drawn by the `inferno` crate from folded stacks
//! (see [`crate::collapsed_lines`]), and differential ones: two sets of folded stacks
//! drawn as the second, coloured by what changed from the first.

use std::io::Write;

use inferno::flamegraph::{self, color, Options};
use memscope_analyze::SampleType;

use crate::error::ExportError;

/// What a flame graph says above itself.
#[derive(Clone, Debug)]
pub struct FlameGraphTitle {
    /// The title line.
    pub title: String,
    /// The line under it (the trace and the moment).
    pub subtitle: String,
    /// What the widths count.
    pub sample_type: SampleType,
}

/// Draws `lines` (folded stacks) as a flame graph. With no lines, the SVG says there is
/// nothing to draw.
pub fn write_flame_graph(
    out: &mut impl Write,
    lines: &[String],
    title: &FlameGraphTitle,
) -> Result<(), ExportError> {
    if lines.is_empty() {
        return write_empty(out, title);
    }
    let mut options = options(title);
    flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), out)
        .map_err(ExportError::write("flame graph"))
}

/// Draws `after` as a flame graph whose colours say how each frame changed since
/// `before`: red where it grew, blue where it shrank (stacks gone in `after` have no
/// width, as in Brendan Gregg's differential flame graphs).
pub fn write_diff_flame_graph(
    out: &mut impl Write,
    before: &[String],
    after: &[String],
    title: &FlameGraphTitle,
) -> Result<(), ExportError> {
    let mut merged = Vec::new();
    let (before, after) = (before.join("\n"), after.join("\n"));
    let diff = inferno::differential::Options::default();
    inferno::differential::from_readers(diff, before.as_bytes(), after.as_bytes(), &mut merged)
        .map_err(ExportError::write("differential stacks"))?;
    let merged = String::from_utf8_lossy(&merged);
    // Stacks in both with no width in `after` draw nothing; so does an empty `after`.
    let drawn = merged.lines().filter(|line| !line.ends_with(" 0")).count();
    if drawn == 0 {
        return write_empty(out, title);
    }
    let mut options = options(title);
    flamegraph::from_lines(&mut options, merged.lines(), out)
        .map_err(ExportError::write("flame graph"))
}

fn options(title: &FlameGraphTitle) -> Options<'static> {
    let mut options = Options::default();
    options.title = title.title.clone();
    options.subtitle = Some(title.subtitle.clone());
    options.count_name = if title.sample_type.is_bytes() { "bytes" } else { "blocks" }.to_owned();
    options.name_type = "Function:".to_owned();
    options.colors = color::Palette::Basic(color::BasicPalette::Mem);
    options.hash = true;
    options
}

/// A well-formed SVG with the title and a line saying there is nothing to draw.
fn write_empty(out: &mut impl Write, title: &FlameGraphTitle) -> Result<(), ExportError> {
    let svg = format!(
        "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg version=\"1.1\" width=\"1200\" height=\"90\" xmlns=\"http://www.w3.org/2000/svg\">\n<text x=\"600\" y=\"24\" text-anchor=\"middle\" font-size=\"17\">{}</text>\n<text x=\"600\" y=\"48\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n<text x=\"600\" y=\"72\" text-anchor=\"middle\" font-size=\"12\">no {} to draw</text>\n</svg>\n",
        escape_xml(&title.title),
        escape_xml(&title.subtitle),
        title.sample_type.name()
    );
    out.write_all(svg.as_bytes()).map_err(ExportError::write("flame graph"))
}

/// Text for XML content and attributes.
pub(crate) fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
