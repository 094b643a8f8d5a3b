//! The pictures: rows of two panels (devices per server, requests per 100 ms) drawn with plotters.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::timeline::Series;

/// Font files tried for the text of the pictures (Debian's fonts-dejavu-core first).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Line colours: distinct on white, in server order.
const COLORS: &[RGBColor] = &[
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
];

/// One chart: a title, the meaning of its y axis, its lines, and marked moments.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Caption above the chart.
    pub title: String,
    /// Meaning of the y axis.
    pub y_desc: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Moments (seconds) drawn as dashed vertical lines, with their names in the legend.
    pub marks: Vec<(f64, String)>,
}

/// Loads the font once; plotters keeps a `'static` reference to it.
fn load_font() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let path = std::env::var("SCOUTLB_FLEET_FONT")
                .ok()
                .or_else(|| FONTS.iter().find(|p| Path::new(p).is_file()).map(|p| p.to_string()))
                .ok_or("no DejaVuSans.ttf found: apt-get install fonts-dejavu-core (or set SCOUTLB_FLEET_FONT to a .ttf file)")?;
            let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
            plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
                .map_err(|_| format!("{path} is not a font plotters can read"))
        })
        .clone()
}

/// Draws `rows` (each a pair of panels side by side) into a PNG at `path`.
pub fn write_png(path: &Path, title: &str, rows: &[(Panel, Panel)]) -> Result<(), String> {
    load_font()?;
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let height = 60 + 360 * rows.len() as u32;
    let root = BitMapBackend::new(path, (1400, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root.titled(title, ("sans-serif", 26)).map_err(|e| err(&e))?;
    let cells = root.split_evenly((rows.len(), 2));
    for (cell, panel) in cells.iter().zip(rows.iter().flat_map(|(a, b)| [a, b])) {
        draw_panel(cell, panel).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Text of a drawing error.
fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn draw_panel(area: &Area<'_>, panel: &Panel) -> Result<(), String> {
    let points = panel.series.iter().flat_map(|s| s.points.iter());
    let x_max = points.clone().map(|p| p.0).fold(1.0, f64::max);
    let y_max = points.map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the start")
        .y_desc(panel.y_desc.as_str())
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(text)?;
    for (i, s) in panel.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
            .map_err(text)?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    let mut named: Vec<&str> = Vec::new();
    for (t, name) in &panel.marks {
        // A moment something came back is grey, every other moment black; one legend entry per text.
        let color = if name.contains("back") {
            RGBColor(150, 150, 150)
        } else {
            BLACK
        };
        let line = chart
            .draw_series(DashedLineSeries::new(
                vec![(*t, 0.0), (*t, y_max)],
                6,
                4,
                color.stroke_width(1),
            ))
            .map_err(text)?;
        if !named.contains(&name.as_str()) {
            named.push(name);
            line.label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(1)));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(text)?;
    Ok(())
}
