//! Charts and maps, drawn with `plotters` into SVG strings: weekly time series with school
//! holidays shaded and the current (incomplete) period marked, a target line and dated notes
//! ([`Marks`]), horizontal bar charts, and the
//! choropleth maps of the académies and départements ([`map`], its legend in [`legend`]).

use chrono::NaiveDate;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// What a time series may carry besides its lines: a target (dashed horizontal line with its
/// label, up to its date) and dated notes (vertical markers with their text).
#[derive(Debug, Clone, Default)]
pub struct Marks {
    /// (value, date, label).
    pub target: Option<(f64, NaiveDate, String)>,
    /// (date, text).
    pub notes: Vec<(NaiveDate, String)>,
    /// The y axis reads percentages (`60 %`).
    pub percent: bool,
}

/// Decimals of a value axis reaching `top`, so that its six labels differ (a share of refusals
/// under 1 % would otherwise read 0, 0, 0, 1, 1, 1).
fn axis_decimals(top: f64) -> usize {
    if top >= 10.0 {
        0
    } else if top >= 1.0 {
        1
    } else {
        2
    }
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
    time_series_marked(title, series, holidays, incomplete_from, &Marks::default())
}

/// [`time_series`] with a target line and dated notes. The x axis reaches the target's date
/// when it lies within a year of the first point; notes outside the axis are not drawn.
#[allow(clippy::too_many_lines)] // one chart, drawn layer by layer
pub fn time_series_marked(
    title: &str,
    series: &[Series],
    holidays: &[Span],
    incomplete_from: Option<NaiveDate>,
    marks: &Marks,
) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let days: Vec<i32> = series.iter().flat_map(|s| s.points.iter().map(|(d, _)| day_number(*d))).collect();
        let (first, mut last) =
            (days.iter().copied().min().unwrap_or(0), days.iter().copied().max().unwrap_or(1).max(days.iter().copied().min().unwrap_or(0) + 1));
        let data_last = last;
        if let Some((_, by, _)) = &marks.target {
            let by = day_number(*by) - 7;
            if by > last && by - first <= 366 {
                last = by;
            }
        }
        let highest = series.iter().flat_map(|s| s.points.iter().filter_map(|p| p.1)).fold(0.0_f64, f64::max);
        let top = highest.max(marks.target.as_ref().map_or(0.0, |t| t.0)).max(1.0) * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            // Room for the last date label, centred on the axis' end.
            .margin_right(36)
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
                .draw_series(std::iter::once(Rectangle::new([(a, 0.0), (data_last + 7, top)], RGBColor(120, 120, 120).mix(0.15).filled())))
                .map_err(err)?;
            chart.draw_series(std::iter::once(Text::new("en cours", (a, top * 0.97), ("sans-serif", 12)))).map_err(err)?;
        }
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|n| french::short_date(from_day_number(*n)))
            .y_label_formatter(&|v| {
                let value = french::decimal(*v, axis_decimals(top));
                if marks.percent {
                    format!("{value}\u{a0}%")
                } else {
                    value
                }
            })
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        let grey = RGBColor(90, 90, 90);
        for (i, (day, text)) in marks.notes.iter().enumerate() {
            let x = day_number(*day);
            if x < first || x > last + 7 {
                continue;
            }
            chart.draw_series(DashedLineSeries::new([(x, 0.0), (x, top)], 3, 3, grey.stroke_width(1))).map_err(err)?;
            // Notes a few weeks apart would overlap: their labels step down, clear of a high
            // target line.
            let band = if marks.target.as_ref().is_some_and(|t| t.0 > top * 0.6) { 0.5 } else { 0.9 };
            #[allow(clippy::cast_precision_loss)] // a small index
            let height = top * (band - 0.07 * (i % 4) as f64);
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{} {text}", french::short_date(*day)),
                    (x + 1, height),
                    ("sans-serif", 11).into_font().color(&grey),
                )))
                .map_err(err)?;
        }
        if let Some((value, by, label)) = &marks.target {
            let end = day_number(*by).clamp(first, last + 7);
            let target = RGBColor(0, 130, 90);
            chart
                .draw_series(DashedLineSeries::new([(first, *value), (end, *value)], 8, 5, target.stroke_width(2)))
                .map_err(err)?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], target.stroke_width(2)));
            let anchor = Pos::new(HPos::Right, VPos::Bottom);
            let style = ("sans-serif", 12).into_font().color(&target).pos(anchor);
            chart.draw_series(std::iter::once(Text::new(label.clone(), (end, value + top * 0.01), style))).map_err(err)?;
        }
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
        if series.len() > 1 || marks.target.is_some() {
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

    #[test]
    fn a_small_share_reads_with_decimals_on_its_axis() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let series = vec![Series { label: "refusés".into(), points: vec![(d("2026-11-30"), Some(0.0)), (d("2026-12-07"), Some(0.9))] }];
        let svg = time_series("Part des événements refusés (%)", &series, &[], None).unwrap();
        let texts: std::collections::BTreeSet<&str> = svg.split('>').filter_map(|part| part.split('<').next()).map(str::trim).collect();
        let labels: Vec<&str> = ["0,0", "0,2", "0,4", "0,6", "0,8", "1,0"].into_iter().filter(|l| texts.contains(l)).collect();
        assert!(labels.len() >= 4, "distinct labels under 1 %: {labels:?} among {texts:?}");
        assert_eq!(axis_decimals(250.0), 0);
        assert_eq!(axis_decimals(0.5), 2);
    }

    #[test]
    fn a_target_and_notes_are_drawn_with_their_labels() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let series = vec![Series { label: "taux cumulé".into(), points: vec![(d("2026-09-07"), Some(10.0)), (d("2026-09-14"), Some(20.0))] }];
        let marks = Marks {
            target: Some((60.0, d("2027-06-30"), "objectif 60 % au 30 juin 2027".into())),
            notes: vec![(d("2026-09-10"), "Formation des directeurs".into()), (d("2030-01-01"), "hors de l'axe".into())],
            percent: true,
        };
        let svg = time_series_marked("Taux de déploiement", &series, &[], None, &marks).unwrap();
        assert!(svg.contains("objectif 60 % au 30 juin 2027") && svg.contains("Formation des directeurs"), "{svg}");
        assert!(!svg.contains("hors de l&apos;axe") && !svg.contains("hors de l'axe"), "a note outside the axis is left out");
    }
}
