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

/// One chart: a title, the meaning of its axes, its lines, and marked moments.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Caption above the chart.
    pub title: String,
    /// Meaning of the y axis.
    pub y_desc: String,
    /// The moment (seconds since the start) the x axis counts from, such as the failure.
    pub origin: f64,
    /// Where the x axis begins, in seconds from `origin` (negative: a little before it).
    pub from: f64,
    /// Meaning of the x axis, such as "seconds since B was killed".
    pub x_desc: String,
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

/// The name of the line of devices connected nowhere; drawn black and thick.
pub const OFFLINE: &str = "devices offline";

/// Width of the legend beside each chart, in pixels: the legend never covers a line.
const LEGEND_WIDTH: u32 = 230;

/// Draws `rows` (each a pair of panels side by side) into a PNG at `path`.
pub fn write_png(path: &Path, title: &str, rows: &[(Panel, Panel)]) -> Result<(), String> {
    load_font()?;
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let height = 60 + 360 * rows.len() as u32;
    let root = BitMapBackend::new(path, (1800, height)).into_drawing_area();
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

/// The colour and stroke width of series `i` named `name`.
fn style(i: usize, name: &str) -> (RGBColor, u32) {
    if name == OFFLINE {
        (BLACK, 3)
    } else {
        (COLORS[i % COLORS.len()], 2)
    }
}

/// The colour of a marked moment: grey when something came back, black otherwise.
fn mark_color(name: &str) -> RGBColor {
    if name.contains("back") {
        RGBColor(150, 150, 150)
    } else {
        BLACK
    }
}

fn draw_panel(area: &Area<'_>, panel: &Panel) -> Result<(), String> {
    let (width, _) = area.dim_in_pixel();
    let (plot, legend) = area.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
    // Every point and mark on the axis of the panel: seconds from its origin, from `from` on.
    let shift = |x: f64| x - panel.origin;
    let series: Vec<Vec<(f64, f64)>> = panel
        .series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .map(|&(x, y)| (shift(x), y))
                .filter(|&(x, _)| x >= panel.from)
                .collect()
        })
        .collect();
    let x_max = series.iter().flatten().map(|p| p.0).fold(panel.from + 1.0, f64::max);
    let y_max = series.iter().flatten().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&plot)
        .caption(&panel.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(panel.from..x_max, 0.0..y_max)
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc(panel.x_desc.as_str())
        .y_desc(panel.y_desc.as_str())
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(text)?;
    for (i, (s, points)) in panel.series.iter().zip(&series).enumerate() {
        let (color, width) = style(i, &s.name);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(width)))
            .map_err(text)?;
    }
    let mut named: Vec<&str> = Vec::new();
    for (t, name) in &panel.marks {
        let x = shift(*t);
        if x < panel.from {
            continue;
        }
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x, 0.0), (x, y_max)],
                6,
                4,
                mark_color(name).stroke_width(1),
            ))
            .map_err(text)?;
        if !named.contains(&name.as_str()) {
            named.push(name);
        }
    }

    // The legend, beside the chart: one line per series, then the marked moments.
    let font = ("sans-serif", 14).into_font();
    let mut y = 60;
    for (i, s) in panel.series.iter().enumerate() {
        let (color, width) = style(i, &s.name);
        legend
            .draw(&PathElement::new(vec![(4, y), (28, y)], color.stroke_width(width)))
            .map_err(text)?;
        legend
            .draw(&Text::new(s.name.clone(), (34, y - 8), font.clone()))
            .map_err(text)?;
        y += 22;
    }
    for name in named {
        let color = mark_color(name);
        for x in [4, 14, 24] {
            legend
                .draw(&PathElement::new(vec![(x, y), (x + 6, y)], color.stroke_width(1)))
                .map_err(text)?;
        }
        for (j, line) in wrap(name, 26).iter().enumerate() {
            legend
                .draw(&Text::new(line.clone(), (34, y - 8 + 18 * j as i32), font.clone()))
                .map_err(text)?;
            if j > 0 {
                y += 18;
            }
        }
        y += 22;
    }
    Ok(())
}

/// `text` in lines of at most about `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}
