//! Charts and maps, drawn with `plotters` into SVG strings: weekly time series with school
//! holidays shaded and the current (incomplete) period marked, horizontal bar charts, and the
//! choropleth maps of the académies and départements ([`map`], its legend in [`legend`]).

use chrono::NaiveDate;
use plotters::prelude::*;

use crate::french;

mod legend;
mod map;
mod projection;

pub use legend::Scale;
pub use map::{map, AreaKey, Choropleth, SIZE as MAP_SIZE};

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing failed: {0}")]
pub struct ChartError(String);

fn err(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

const PALETTE: [RGBColor; 4] = [RGBColor(0, 0, 145), RGBColor(225, 0, 15), RGBColor(0, 130, 90), RGBColor(150, 90, 0)];

/// One line of a time series; `None` points are not drawn (suppressed or missing).
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend.
    pub label: String,
    /// (period start, value).
    pub points: Vec<(NaiveDate, Option<f64>)>,
}

/// A shaded span (school holidays).
#[derive(Debug, Clone)]
pub struct Span {
    /// First day.
    pub start: NaiveDate,
    /// Day after the last.
    pub end: NaiveDate,
    /// Shade index (one per holiday zone).
    pub shade: usize,
}

fn day_number(day: NaiveDate) -> i32 {
    i32::try_from((day - NaiveDate::default()).num_days()).unwrap_or(0)
}

fn from_day_number(n: i32) -> NaiveDate {
    NaiveDate::default() + chrono::TimeDelta::days(i64::from(n))
}

/// A line chart over dates, SVG. Points from `incomplete_from` on are drawn hollow and the span
/// labelled "en cours".
pub fn time_series(title: &str, series: &[Series], holidays: &[Span], incomplete_from: Option<NaiveDate>) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let days: Vec<i32> = series.iter().flat_map(|s| s.points.iter().map(|(d, _)| day_number(*d))).collect();
        let (first, last) =
            (days.iter().copied().min().unwrap_or(0), days.iter().copied().max().unwrap_or(1).max(days.iter().copied().min().unwrap_or(0) + 1));
        let top = series.iter().flat_map(|s| s.points.iter().filter_map(|p| p.1)).fold(0.0_f64, f64::max).max(1.0) * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(first..last + 7, 0.0..top)
            .map_err(err)?;
        for span in holidays {
            let shade = [RGBColor(255, 220, 150), RGBColor(190, 220, 255), RGBColor(200, 240, 200), RGBColor(230, 230, 230)][span.shade % 4];
            let (a, b) = (day_number(span.start).max(first), day_number(span.end).min(last + 7));
            if a < b {
                chart.draw_series(std::iter::once(Rectangle::new([(a, 0.0), (b, top)], shade.mix(0.6).filled()))).map_err(err)?;
            }
        }
        if let Some(from) = incomplete_from {
            let a = day_number(from).max(first);
            chart
                .draw_series(std::iter::once(Rectangle::new([(a, 0.0), (last + 7, top)], RGBColor(120, 120, 120).mix(0.15).filled())))
                .map_err(err)?;
            chart.draw_series(std::iter::once(Text::new("en cours", (a, top * 0.97), ("sans-serif", 12)))).map_err(err)?;
        }
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|n| french::short_date(from_day_number(*n)))
            .y_label_formatter(&|v| french::decimal(*v, 0))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let complete: Vec<(i32, f64)> =
                s.points.iter().filter(|(d, _)| incomplete_from.is_none_or(|f| *d < f)).filter_map(|(d, v)| v.map(|v| (day_number(*d), v))).collect();
            chart
                .draw_series(LineSeries::new(complete.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(s.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            chart.draw_series(complete.iter().map(|&(x, y)| Circle::new((x, y), 3, color.filled()))).map_err(err)?;
            let current: Vec<(i32, f64)> = s
                .points
                .iter()
                .filter(|(d, _)| incomplete_from.is_some_and(|f| *d >= f))
                .filter_map(|(d, v)| v.map(|v| (day_number(*d), v)))
                .collect();
            chart.draw_series(current.iter().map(|&(x, y)| Circle::new((x, y), 4, color.stroke_width(2)))).map_err(err)?;
        }
        if series.len() > 1 {
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Horizontal bars, one per label; `None` bars (hidden) read [`crate::suppress::hidden`].
pub fn bars(title: &str, bars: &[(String, Option<f64>)]) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let height = 60 + 26 * u32::try_from(bars.len().max(1)).unwrap_or(40);
        let root = SVGBackend::with_string(&mut svg, (700, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = bars.iter().filter_map(|b| b.1).fold(0.0_f64, f64::max).max(1.0) * 1.15;
        let n = i32::try_from(bars.len()).unwrap_or(0);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(230)
            .build_cartesian_2d(0.0..top, (0..n.max(1)).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(bars.len().max(1))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => bars.get(usize::try_from(*i).unwrap_or(usize::MAX)).map(|b| b.0.clone()).unwrap_or_default(),
                _ => String::new(),
            })
            .x_label_formatter(&|v| french::decimal(*v, 0))
            .draw()
            .map_err(err)?;
        for (i, (_, value)) in bars.iter().enumerate() {
            let i = i32::try_from(i).unwrap_or(0);
            match value {
                Some(v) => {
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(0.0, SegmentValue::Exact(i)), (*v, SegmentValue::Exact(i + 1))],
                            PALETTE[0].mix(0.8).filled(),
                        )))
                        .map_err(err)?;
                }
                None => {
                    chart
                        .draw_series(std::iter::once(Text::new(
                            crate::suppress::hidden(),
                            (top * 0.01, SegmentValue::CenterOf(i)),
                            ("sans-serif", 12),
                        )))
                        .map_err(err)?;
                }
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_labels() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let series = vec![Series {
            label: "2026-2027".into(),
            points: vec![(d("2026-09-07"), Some(10.0)), (d("2026-09-14"), None), (d("2026-09-21"), Some(30.0))],
        }];
        let svg =
            time_series("Visiteurs", &series, &[Span { start: d("2026-09-12"), end: d("2026-09-14"), shade: 1 }], Some(d("2026-09-21"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("Visiteurs") && svg.contains("en cours"), "{svg}");
        let svg = bars("Par profil", &[("ELEVE".into(), Some(3.0)), ("PARENT".into(), None)]).unwrap();
        assert!(svg.contains("ELEVE") && svg.contains("secret"), "{svg}");
    }
}
