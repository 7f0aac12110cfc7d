//! SVG charts beside the Markdown report: grouped horizontal bars (throughput, CPU per request,
//! latency percentiles) and cumulative distributions (propagation).
//!
//! Written by hand rather than through a plotting crate: the charts are a few rectangles,
//! polylines and `<text>` elements, and text in SVG is laid out by whatever displays it, so no
//! font stack (fontconfig, TrueType parsing) needs to be built into the harness for it.

use std::fmt::Write as _;

const WIDTH: f64 = 860.0;
const LABEL_WIDTH: f64 = 290.0;
const RIGHT_MARGIN: f64 = 70.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 44.0;
const BAR_HEIGHT: f64 = 16.0;
const GROUP_GAP: f64 = 10.0;
/// One colour per series, distinguishable in print and for the common colour blindnesses
/// (Okabe–Ito).
const COLOURS: [&str; 6] = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"];

/// One horizontal bar per row and series; `series` names the bars of a row (a legend is drawn
/// when there are several). Values are in `unit`.
pub fn bars(title: &str, unit: &str, series: &[&str], rows: &[(String, Vec<f64>)]) -> String {
    let per_row = series.len().max(1) as f64;
    let plot_height = rows.len() as f64 * (per_row * BAR_HEIGHT + GROUP_GAP);
    let height = TOP + plot_height + BOTTOM;
    let max = rows.iter().flat_map(|(_, values)| values.iter().copied()).fold(0.0, f64::max);
    let (step, top) = axis(max);
    let plot_width = WIDTH - LABEL_WIDTH - RIGHT_MARGIN;
    let x = |v: f64| LABEL_WIDTH + v / top * plot_width;
    let mut svg = open(title, height);
    x_grid(&mut svg, step, top, plot_height, x);
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text>"#,
        LABEL_WIDTH + plot_width / 2.0,
        height - 10.0,
        escape(unit)
    );
    for (r, (label, values)) in rows.iter().enumerate() {
        let row_top = TOP + r as f64 * (per_row * BAR_HEIGHT + GROUP_GAP) + GROUP_GAP / 2.0;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="12">{}</text>"#,
            LABEL_WIDTH - 8.0,
            row_top + per_row * BAR_HEIGHT / 2.0 + 4.0,
            escape(label)
        );
        for (s, value) in values.iter().enumerate() {
            let y = row_top + s as f64 * BAR_HEIGHT;
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
                LABEL_WIDTH,
                y + 1.0,
                (x(*value) - LABEL_WIDTH).max(0.5),
                BAR_HEIGHT - 2.0,
                COLOURS[s % COLOURS.len()],
                x(*value) + 4.0,
                y + BAR_HEIGHT - 4.0,
                number(*value)
            );
        }
    }
    if series.len() > 1 {
        legend(&mut svg, series);
    }
    svg.push_str("</svg>\n");
    svg
}

/// Cumulative distributions of each series' samples (any order), in `unit`.
pub fn cdf(title: &str, unit: &str, series: &[(String, Vec<f64>)]) -> String {
    let height = 360.0;
    let plot_height = height - TOP - BOTTOM;
    let left = 60.0;
    let plot_width = WIDTH - left - RIGHT_MARGIN;
    let max = series.iter().flat_map(|(_, samples)| samples.iter().copied()).fold(0.0, f64::max);
    let (step, top) = axis(max);
    let x = |v: f64| left + v / top * plot_width;
    let y = |fraction: f64| TOP + (1.0 - fraction) * plot_height;
    let mut svg = open(title, height);
    x_grid(&mut svg, step, top, plot_height, x);
    for fraction in [0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0] {
        let _ = write!(
            svg,
            r##"<line x1="{left}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#eee"/><text x="{2}" y="{3:.1}" text-anchor="end" font-size="11">{4}</text>"##,
            y(fraction),
            left + plot_width,
            left - 6.0,
            y(fraction) + 4.0,
            fraction
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text>"#,
        left + plot_width / 2.0,
        height - 10.0,
        escape(unit)
    );
    for (s, (_, samples)) in series.iter().enumerate() {
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        // A step function: at each sample the fraction at or below it.
        let mut points = format!("{:.1},{:.1}", x(0.0), y(0.0));
        for (i, v) in sorted.iter().enumerate() {
            let _ = write!(
                points,
                " {:.1},{:.1} {:.1},{:.1}",
                x(*v),
                y(i as f64 / n),
                x(*v),
                y((i + 1) as f64 / n)
            );
        }
        let _ = write!(
            svg,
            r#"<polyline points="{points}" fill="none" stroke="{}" stroke-width="2"/>"#,
            COLOURS[s % COLOURS.len()]
        );
    }
    let names: Vec<&str> = series.iter().map(|(name, _)| name.as_str()).collect();
    legend(&mut svg, &names);
    svg.push_str("</svg>\n");
    svg
}

fn open(title: &str, height: f64) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="{:.1}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    )
}

/// The value axis: a vertical grid line and its label at each tick up to `top`.
fn x_grid(svg: &mut String, step: f64, top: f64, plot_height: f64, x: impl Fn(f64) -> f64) {
    let mut tick = 0.0;
    while tick <= top + step / 2.0 {
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2:.1}" stroke="#ddd"/><text x="{0:.1}" y="{3:.1}" text-anchor="middle" font-size="11">{4}</text>"##,
            x(tick),
            TOP,
            TOP + plot_height,
            TOP + plot_height + 14.0,
            number(tick)
        );
        tick += step;
    }
}

fn legend(svg: &mut String, names: &[&str]) {
    let mut x = LABEL_WIDTH.min(60.0);
    for (s, name) in names.iter().enumerate() {
        let _ = write!(
            svg,
            r#"<rect x="{x:.1}" y="32" width="10" height="10" fill="{}"/><text x="{:.1}" y="41" font-size="11">{}</text>"#,
            COLOURS[s % COLOURS.len()],
            x + 14.0,
            escape(name)
        );
        x += 24.0 + 6.5 * name.len() as f64;
    }
}

/// A tick step of 1, 2 or 5 times a power of ten giving about five ticks, and the axis end.
fn axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 1.0);
    }
    let rough = max / 5.0;
    let power = 10f64.powf(rough.log10().floor());
    let step =
        [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= rough).unwrap_or(power * 10.0);
    (step, (max / step).ceil() * step)
}

/// A compact number: integers as such, small values with up to three decimals.
fn number(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_a_round_tick_above_the_maximum() {
        assert_eq!(axis(43_000.0), (10_000.0, 50_000.0));
        assert_eq!(axis(0.87), (0.2, 1.0));
        assert_eq!(axis(7.0), (2.0, 8.0));
        assert_eq!(axis(0.0), (1.0, 1.0));
    }

    #[test]
    fn charts_are_well_formed_and_escape_their_text() {
        let rows = vec![("a <b> & c".to_owned(), vec![1.0, 2.5]), ("d".to_owned(), vec![3.0, 0.0])];
        let svg = bars("t", "requests/s", &["x", "y"], &rows);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("a &lt;b&gt; &amp; c") && !svg.contains("<b>"));
        assert_eq!(svg.matches("<rect").count(), 1 + 4 + 2, "background, bars, legend");
        let svg = cdf("t", "ms", &[("p".to_owned(), vec![3.0, 1.0, 2.0])]);
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(1234.7), "1235");
    }
}
