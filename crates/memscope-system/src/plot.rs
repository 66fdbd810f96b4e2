//! A chart of `watch` samples as SVG, drawn with `plotters`.

use plotters::prelude::*;

use crate::units::mib;
use crate::{Error, Sample};

/// Large enough for a 16:9 slide, small enough to open anywhere.
const SIZE: (u32, u32) = (960, 540);

/// Room above the highest point, so the top line does not run along the frame.
const HEADROOM: f64 = 1.1;

/// What to plot: a name for the legend, a colour, and the figure of a sample
/// (`None` where the sample lacks it).
type Series = (&'static str, RGBColor, fn(&Sample) -> Option<u64>);

const SERIES: [Series; 4] = [
    ("RSS", RGBColor(0xd6, 0x27, 0x28), |s| Some(s.rss_bytes)),
    ("PSS", RGBColor(0x1f, 0x77, 0xb4), |s| Some(s.pss_bytes)),
    ("swap", RGBColor(0x94, 0x67, 0xbd), |s| Some(s.swap_bytes)),
    ("cgroup", RGBColor(0x2c, 0xa0, 0x2c), |s| s.cgroup_bytes),
];

/// Draws RSS, PSS, swap and cgroup usage in MiB against seconds since the start.
pub fn render_svg(samples: &[Sample], title: &str) -> Result<String, Error> {
    let mut svg = String::new();
    draw(&mut svg, samples, title).map_err(Error::Plot)?;
    Ok(svg)
}

fn draw(
    svg: &mut String,
    samples: &[Sample],
    title: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let seconds = |sample: &Sample| sample.t_ms as f64 / 1000.0;
    let x_max = samples.last().map_or(0.0, seconds).max(0.1);
    let y_max = samples
        .iter()
        .flat_map(|sample| SERIES.iter().filter_map(|(_, _, value)| value(sample)))
        .map(mib)
        .fold(1.0, f64::max)
        * HEADROOM;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart.configure_mesh().x_desc("time (s)").y_desc("MiB").draw()?;
    for (label, color, value) in SERIES {
        let points =
            samples.iter().filter_map(|sample| Some((seconds(sample), mib(value(sample)?))));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
