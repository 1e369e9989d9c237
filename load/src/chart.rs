//! The chart of latency against load, as SVG (no fonts or native libraries needed).

use plotters::prelude::*;
use std::path::Path;

/// One point: messages per second sent, and p50 / p99 latency in ms at that load.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Point {
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub fn latency_against_load(points: &[Point], title: &str, path: &Path) -> anyhow::Result<()> {
    let max_rate = points.iter().map(|p| p.rate).fold(1.0, f64::max) * 1.1;
    let max_ms = points.iter().map(|p| p.p99_ms).fold(1.0, f64::max) * 1.2;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_rate, 0.0..max_ms)?;
    chart
        .configure_mesh()
        .x_desc("messages per second into one room")
        .y_desc("end-to-end latency (ms)")
        .draw()?;
    let series = [
        (
            "p50",
            BLUE,
            points
                .iter()
                .map(|p| (p.rate, p.p50_ms))
                .collect::<Vec<_>>(),
        ),
        (
            "p99",
            RED,
            points
                .iter()
                .map(|p| (p.rate, p.p99_ms))
                .collect::<Vec<_>>(),
        ),
    ];
    for (name, color, data) in series {
        chart
            .draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(data.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}
