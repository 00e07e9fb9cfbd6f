//! Drawing helpers shared by every experiment's charts: canvas, font, line
//! charts with error bars, heat maps, weight tiles. Sizes and fonts are
//! constants here; every function returns `Result` and presents its drawing.
//! The charts of one experiment live with it (e.g. `depth_study::charts`).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::TrainError;

pub(crate) const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans.ttf");
const PANEL: (u32, u32) = (640, 440);
const TITLE_SIZE: u32 = 22;
const LABEL_SIZE: u32 = 15;
pub(crate) const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

pub(crate) type Series = (String, Vec<(f64, f64)>);

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES)
            .unwrap_or_else(|_| panic!("the bundled DejaVuSans.ttf is a valid font"));
    });
}

pub(crate) fn plot_error(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Plot {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// A canvas of `cols` x `rows` panels.
pub(crate) fn canvas(path: &Path, cols: u32, rows: u32) -> DrawingArea<BitMapBackend<'_>, Shift> {
    register_font();
    BitMapBackend::new(path, (PANEL.0 * cols, PANEL.1 * rows)).into_drawing_area()
}

pub(crate) struct Axes<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x: (f64, f64),
    pub y: (f64, f64),
    pub log_y: bool,
    /// A dashed horizontal reference line (e.g. chance accuracy) and its label.
    pub reference: Option<(f64, &'a str)>,
    /// Per series (same order), vertical error bars as (x, low, middle, high).
    pub error_bars: &'a [Vec<(f64, f64, f64, f64)>],
}

pub(crate) fn draw_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    axes: &Axes,
    series: &[Series],
) -> Result<(), String> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(axes.title, (FONT, TITLE_SIZE))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64);
    macro_rules! finish {
        ($chart:expr) => {{
            let mut chart = $chart;
            let log_y = axes.log_y;
            chart
                .configure_mesh()
                // Whole-number ticks only: layers and epochs have no halves.
                .x_label_formatter(&|x: &f64| {
                    if (x - x.round()).abs() < 1e-9 {
                        format!("{x:.0}")
                    } else {
                        String::new()
                    }
                })
                .y_label_formatter(&|y: &f64| if log_y { format!("{y:.0e}") } else { format!("{y:.1}") })
                .x_desc(axes.x_label)
                .y_desc(axes.y_label)
                .label_style((FONT, LABEL_SIZE))
                .axis_desc_style((FONT, LABEL_SIZE))
                .draw()
                .map_err(|e| e.to_string())?;
            if let Some((y, label)) = axes.reference {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(axes.x.0, y), (axes.x.1, y)],
                        6,
                        4,
                        BLACK.mix(0.6).stroke_width(1),
                    ))
                    .map_err(|e| e.to_string())?
                    .label(label)
                    .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLACK.mix(0.6)));
            }
            for (i, (name, points)) in series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                chart
                    .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| e.to_string())?;
                if let Some(bars) = axes.error_bars.get(i) {
                    chart
                        .draw_series(
                            bars.iter().map(|&(x, lo, mid, hi)| {
                                ErrorBar::new_vertical(x, lo, mid, hi, color.stroke_width(2), 8)
                            }),
                        )
                        .map_err(|e| e.to_string())?;
                }
            }
            chart
                .configure_series_labels()
                .label_font((FONT, LABEL_SIZE))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .position(SeriesLabelPosition::LowerLeft)
                .draw()
                .map_err(|e| e.to_string())?;
        }};
    }
    if axes.log_y {
        finish!(
            builder
                .build_cartesian_2d(axes.x.0..axes.x.1, (axes.y.0..axes.y.1).log_scale())
                .map_err(|e| e.to_string())?
        );
    } else {
        finish!(
            builder
                .build_cartesian_2d(axes.x.0..axes.x.1, axes.y.0..axes.y.1)
                .map_err(|e| e.to_string())?
        );
    }
    Ok(())
}

/// A single line chart (e.g. a loss history).
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), TrainError> {
    let root = canvas(path, 1, 1);
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let (min_x, max_x) = bounds(series.iter().flat_map(|(_, p)| p.iter().map(|p| p.0)));
    let (min_y, max_y) = bounds(series.iter().flat_map(|(_, p)| p.iter().map(|p| p.1)));
    let pad = ((max_y - min_y) * 0.05).max(1e-9);
    let axes = Axes {
        title,
        x_label,
        y_label,
        x: (min_x, max_x.max(min_x + 1.0)),
        y: (min_y - pad, max_y + pad),
        log_y: false,
        reference: None,
        error_bars: &[],
    };
    draw_lines(&root, &axes, series).map_err(|e| plot_error(path, e))?;
    root.present().map_err(|e| plot_error(path, e))
}

/// First-layer weights as a grid of colour tiles, like the assignment's
/// `show_net_weights`: each hidden unit's 3,072 weights drawn as a 32x32 RGB
/// image, scaled to 0..255 over all units.
///
/// `pixel(unit, channel, row, col)` returns that unit's weight for a pixel.
pub fn weight_tiles(
    path: &Path,
    units: usize,
    pixel: impl Fn(usize, usize, usize, usize) -> f64,
) -> Result<(), TrainError> {
    const TILE: u32 = 32;
    const SCALE: u32 = 3;
    const GAP: u32 = 2;
    let per_row = (units as f64).sqrt().ceil().max(1.0) as u32;
    let rows = (units as u32).div_ceil(per_row).max(1);
    let side = TILE * SCALE + GAP;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for u in 0..units {
        for c in 0..3 {
            for r in 0..32 {
                for col in 0..32 {
                    let v = pixel(u, c, r, col);
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
        }
    }
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let root = BitMapBackend::new(path, (per_row * side + GAP, rows * side + GAP)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    for u in 0..units {
        let (ty, tx) = (u as u32 / per_row, u as u32 % per_row);
        for r in 0..32 {
            for col in 0..32 {
                let level = |c| (255.0 * (pixel(u, c, r, col) - lo) / span).round().clamp(0.0, 255.0) as u8;
                let color = RGBColor(level(0), level(1), level(2));
                let x0 = (GAP + tx * side + col as u32 * SCALE) as i32;
                let y0 = (GAP + ty * side + r as u32 * SCALE) as i32;
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + SCALE as i32, y0 + SCALE as i32)],
                    color.filled(),
                ))
                .map_err(|e| plot_error(path, e))?;
            }
        }
    }
    root.present().map_err(|e| plot_error(path, e))
}

/// A heat map of `values[row][col]` (e.g. validation accuracy over hidden size
/// × learning rate), each cell labelled with its value in percent; row 0 is
/// drawn at the bottom.
pub fn heatmap(
    path: &Path,
    title: &str,
    row_label: &str,
    row_names: &[String],
    col_label: &str,
    col_names: &[String],
    values: &[Vec<Option<f64>>],
) -> Result<(), TrainError> {
    let labels = HeatmapLabels {
        title,
        row_label,
        row_names,
        col_label,
        col_names,
    };
    heatmap_with(path, &labels, values, &HeatmapOverlay::default())
}

/// What a heat map's axes and title say.
pub struct HeatmapLabels<'a> {
    pub title: &'a str,
    pub row_label: &'a str,
    pub row_names: &'a [String],
    pub col_label: &'a str,
    pub col_names: &'a [String],
}

/// Marks drawn over a heat map's cells, in cell units: x runs from 0 (the
/// left edge of the first column) to the number of columns, y from 0 (the
/// bottom edge of row 0) to the number of rows.
#[derive(Debug, Clone, Default)]
pub struct HeatmapOverlay {
    /// A black line through one point per column, at the column's centre and
    /// this height (clamped to the map); `None` leaves the column out.
    pub line: Vec<Option<f64>>,
    /// A white dashed vertical line at this x.
    pub vertical: Option<f64>,
}

/// [`heatmap`] with an overlay.
pub fn heatmap_with(
    path: &Path,
    labels: &HeatmapLabels,
    values: &[Vec<Option<f64>>],
    overlay: &HeatmapOverlay,
) -> Result<(), TrainError> {
    let HeatmapLabels {
        title,
        row_label,
        row_names,
        col_label,
        col_names,
    } = *labels;
    // One panel, grown for maps with many cells so their labels stay legible.
    let (rows, cols) = (row_names.len(), col_names.len());
    let size = (PANEL.0.max(90 * cols as u32 + 160), PANEL.1.max(34 * rows as u32 + 140));
    register_font();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
    let (lo, hi) = bounds(values.iter().flatten().flatten().copied());
    let span = (hi - lo).max(1e-12);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, TITLE_SIZE))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70)
        // A segmented `0..n` has n + 1 segments (both ends count): `0..cols - 1` gives `cols` cells.
        .build_cartesian_2d(
            (0..cols.saturating_sub(1)).into_segmented(),
            (0..rows.saturating_sub(1)).into_segmented(),
        )
        .map_err(|e| plot_error(path, e))?;
    let name_of = |names: &[String], v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(cols)
        .y_labels(rows)
        .x_label_formatter(&|v| name_of(col_names, v))
        .y_label_formatter(&|v| name_of(row_names, v))
        .x_desc(col_label)
        .y_desc(row_label)
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, LABEL_SIZE))
        .draw()
        .map_err(|e| plot_error(path, e))?;
    for (r, row) in values.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            let Some(v) = value else { continue };
            let t = (v - lo) / span;
            let color = RGBColor(
                (255.0 * (1.0 - t)) as u8,
                (200.0 * t + 40.0) as u8,
                (120.0 + 100.0 * t) as u8,
            );
            // A cell spans from the start of its segment to the start of the next;
            // the last segment has no next, so its far edge is `Last`.
            let edge = |i: usize, n: usize| {
                if i < n {
                    SegmentValue::Exact(i)
                } else {
                    SegmentValue::Last
                }
            };
            let (near, far) = ((edge(c, cols), edge(r, rows)), (edge(c + 1, cols), edge(r + 1, rows)));
            chart
                .draw_series([Rectangle::new([near, far], color.filled())])
                .map_err(|e| plot_error(path, e))?;
            chart
                .draw_series([Text::new(
                    format!("{:.1}", 100.0 * v),
                    (SegmentValue::CenterOf(c), SegmentValue::CenterOf(r)),
                    (FONT, LABEL_SIZE),
                )])
                .map_err(|e| plot_error(path, e))?;
        }
    }
    // Cell units to pixels: edge i of n is where segment i starts (the last
    // edge is the axis's end), linear between edges.
    let edge = |i: usize, n: usize| if i < n { SegmentValue::Exact(i) } else { SegmentValue::Last };
    let to_pixels = |x: f64, y: f64| {
        let along = |v: f64, n: usize, pixel: &dyn Fn(usize) -> i32| {
            let v = v.clamp(0.0, n as f64);
            let i = (v.floor() as usize).min(n.saturating_sub(1));
            let (a, b) = (f64::from(pixel(i)), f64::from(pixel(i + 1)));
            (a + (v - i as f64) * (b - a)).round() as i32
        };
        let px = along(x, cols, &|i| chart.backend_coord(&(edge(i, cols), SegmentValue::Exact(0))).0);
        let py = along(y, rows, &|i| chart.backend_coord(&(SegmentValue::Exact(0), edge(i, rows))).1);
        (px, py)
    };
    let points: Vec<(i32, i32)> = overlay
        .line
        .iter()
        .enumerate()
        .filter_map(|(c, y)| y.map(|y| to_pixels(c as f64 + 0.5, y)))
        .collect();
    let line_style = ShapeStyle {
        color: BLACK.to_rgba(),
        filled: true,
        stroke_width: 3,
    };
    root.draw(&PathElement::new(points.clone(), line_style))
        .map_err(|e| plot_error(path, e))?;
    for point in points {
        root.draw(&Circle::new(point, 5, line_style))
            .map_err(|e| plot_error(path, e))?;
    }
    if let Some(x) = overlay.vertical {
        let dashes = ShapeStyle {
            color: WHITE.to_rgba(),
            filled: true,
            stroke_width: 3,
        };
        let ends = [to_pixels(x, 0.0), to_pixels(x, rows as f64)];
        root.draw(&plotters::element::DashedPathElement::new(ends, 10, 6, dashes))
            .map_err(|e| plot_error(path, e))?;
    }
    root.present().map_err(|e| plot_error(path, e))
}

pub(crate) fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

pub(crate) fn max_y(series: &[Series]) -> f64 {
    bounds(series.iter().flat_map(|(_, p)| p.iter().map(|p| p.1))).1
}
