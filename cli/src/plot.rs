//! The calibration plot: error against depth with the tolerance band, as-found and as-left,
//! as a self-contained SVG (no fonts or libraries needed to make or view it).

use serde_json::Value;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// (depth, error) pairs of a record's `as_found` or `as_left` list.
fn errors(record: &Value, key: &str) -> Vec<(f64, f64)> {
    record[key]
        .as_array()
        .map(|samples| {
            samples
                .iter()
                .filter_map(|s| Some((s["target_um"].as_f64()?, s["error_um"].as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The SVG for a calibration record.
pub fn error_plot(record: &Value) -> String {
    let tolerance = record["tolerance_um"].as_f64().unwrap_or(10.0);
    let found = errors(record, "as_found");
    let left = errors(record, "as_left");
    let worst = found
        .iter()
        .chain(&left)
        .map(|(_, e)| e.abs())
        .fold(tolerance, f64::max);
    let y_span = (worst * 1.25).ceil();
    let x = |um: f64| LEFT + um / 1000.0 * (WIDTH - LEFT - RIGHT);
    let y = |err: f64| TOP + (y_span - err) / (2.0 * y_span) * (HEIGHT - TOP - BOTTOM);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let title = format!(
        "{} {}: error against depth ({})",
        record["certificate_id"].as_str().unwrap_or("calibration"),
        record["item"]["serial"].as_str().unwrap_or(""),
        record["result"].as_str().unwrap_or("")
    );
    svg += &format!(
        "<text x=\"{LEFT}\" y=\"22\" font-size=\"15\">{}</text>\n",
        escape(&title)
    );
    // The tolerance band.
    svg += &format!(
        "<rect class=\"tolerance\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#e6f4ea\" stroke=\"#7cb987\"/>\n",
        x(0.0),
        y(tolerance),
        x(1000.0) - x(0.0),
        y(-tolerance) - y(tolerance)
    );
    // Axes and grid.
    for um in (0..=1000).step_by(200) {
        let um = f64::from(um);
        svg += &format!(
            "<line x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#ddd\"/><text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{3}</text>\n",
            x(um),
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 16.0,
            um
        );
    }
    for err in [-y_span, -tolerance, 0.0, tolerance, y_span] {
        svg += &format!(
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#ddd\"/><text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{err:+.0}</text>\n",
            y(err),
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(err) + 4.0
        );
    }
    svg += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">depth (um)</text>\n",
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 12.0
    );
    svg += &format!(
        "<text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\">error (um), band +/-{tolerance} um</text>\n",
        (TOP + HEIGHT - BOTTOM) / 2.0,
        (TOP + HEIGHT - BOTTOM) / 2.0
    );
    for (class, color, points) in [
        ("as-found", "#d93025", &found),
        ("as-left", "#1a73e8", &left),
    ] {
        for (um, err) in points.iter() {
            svg += &format!(
                "<circle class=\"{class}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"><title>{class} {um} um: {err:+.1} um</title></circle>\n",
                x(*um),
                y(*err)
            );
        }
    }
    svg += &format!(
        "<circle cx=\"{0:.1}\" cy=\"{TOP}\" r=\"4\" fill=\"#d93025\"/><text x=\"{1:.1}\" y=\"{2:.1}\">as found</text>\n\
         <circle cx=\"{3:.1}\" cy=\"{TOP}\" r=\"4\" fill=\"#1a73e8\"/><text x=\"{4:.1}\" y=\"{2:.1}\">as left</text>\n",
        WIDTH - 200.0,
        WIDTH - 190.0,
        TOP + 4.0,
        WIDTH - 110.0,
        WIDTH - 100.0
    );
    svg += "</svg>\n";
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_plot_shows_the_band_and_both_sets_of_points() {
        let record = json!({
            "certificate_id": "CAL-000001",
            "item": {"serial": "SIM-0001"},
            "result": "pass",
            "tolerance_um": 10.0,
            "as_found": [{"target_um": 200, "error_um": 6.5}, {"target_um": 500, "error_um": -3.0}],
            "as_left": [{"target_um": 100, "error_um": 0.5}],
        });
        let svg = error_plot(&record);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("class=\"as-found\"").count(), 2);
        assert_eq!(svg.matches("class=\"as-left\"").count(), 1);
        assert_eq!(svg.matches("class=\"tolerance\"").count(), 1);
        assert!(svg.contains("CAL-000001 SIM-0001"));
    }
}
