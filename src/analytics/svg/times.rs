//! The distribution of the time from receipt to acceptance and to completion, per receiving
//! sector: one box plot per sector and stage on a logarithmic time axis (seconds to weeks), so
//! a day's wait and a month's are both readable. The box spans the middle half (25th to 75th
//! percentile), the whisker the shortest to the longest time, a thick line marks the median
//! and a diamond the 90th percentile; the median and 90th percentile are also written out.

use std::collections::BTreeMap;

use super::{close, empty, escape, num, open, ChartOptions};
use crate::analytics::aggregates::{Stage, StageDurations};
use crate::analytics::distribution::{human, Summary};

/// One sector's row of the chart.
#[derive(Clone, PartialEq, Debug)]
pub struct TimeRow {
    /// The receiving side's label (a sector code, or any short text).
    pub label: String,
    /// Time from receipt to acceptance, if any referral was accepted.
    pub acceptance: Option<Summary>,
    /// Time from receipt to completion, if any referral was completed.
    pub completion: Option<Summary>,
}

impl TimeRow {
    fn stage(&self, stage: Stage) -> Option<&Summary> {
        match stage {
            Stage::Acceptance => self.acceptance.as_ref(),
            Stage::Completion => self.completion.as_ref(),
        }
    }
}

/// The rows of `durations`: one per sector, in sector order, each with its two stages.
pub fn time_rows(durations: &[StageDurations]) -> Vec<TimeRow> {
    let mut by_sector: BTreeMap<_, TimeRow> = BTreeMap::new();
    for d in durations {
        let row = by_sector.entry(d.sector).or_insert_with(|| TimeRow {
            label: d.sector.code().to_owned(),
            acceptance: None,
            completion: None,
        });
        let summary = Summary::of(&d.seconds);
        match d.stage {
            Stage::Acceptance => row.acceptance = summary,
            Stage::Completion => row.completion = summary,
        }
    }
    by_sector.into_values().collect()
}

/// The message of a chart without times.
pub const NO_TIMES: &str = "No accepted or completed referrals in this period";

const LABEL_SPACE: f64 = 120.0;
const TEXT_SPACE: f64 = 250.0;
const TOP: f64 = 64.0;
const BOX_ROW: f64 = 24.0;
const GROUP_GAP: f64 = 14.0;
const AXIS_SPACE: f64 = 44.0;
/// The least room between two tick labels.
const MIN_TICK_GAP: f64 = 40.0;

/// The colour of each stage.
fn colour(stage: Stage) -> &'static str {
    match stage {
        Stage::Acceptance => "#0072B2",
        Stage::Completion => "#009E73",
    }
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Acceptance => "to acceptance",
        Stage::Completion => "to completion",
    }
}

/// Tick marks of the time axis: seconds and their labels.
const TICKS: [(f64, &str); 15] = [
    (1.0, "1 s"),
    (10.0, "10 s"),
    (60.0, "1 min"),
    (600.0, "10 min"),
    (3_600.0, "1 h"),
    (6.0 * 3_600.0, "6 h"),
    (86_400.0, "1 d"),
    (3.0 * 86_400.0, "3 d"),
    (7.0 * 86_400.0, "1 wk"),
    (14.0 * 86_400.0, "2 wk"),
    (28.0 * 86_400.0, "4 wk"),
    (91.0 * 86_400.0, "13 wk"),
    (182.0 * 86_400.0, "26 wk"),
    (364.0 * 86_400.0, "52 wk"),
    (728.0 * 86_400.0, "104 wk"),
];

/// The time axis: from the tick at or below the shortest time to the tick at or above the
/// longest, logarithmic in between.
struct Axis {
    lo: f64,
    hi: f64,
    x0: f64,
    x1: f64,
}

impl Axis {
    fn new(min: f64, max: f64, x0: f64, x1: f64) -> Self {
        let min = min.max(TICKS[0].0);
        let max = max.max(min);
        let lo = TICKS
            .iter()
            .rev()
            .find(|(t, _)| *t <= min)
            .map_or(TICKS[0].0, |(t, _)| *t);
        let hi = TICKS
            .iter()
            .find(|(t, _)| *t >= max && *t > lo)
            .map_or(max * 1.25, |(t, _)| *t);
        Self { lo, hi, x0, x1 }
    }

    fn x(&self, seconds: f64) -> f64 {
        let s = seconds.clamp(self.lo, self.hi);
        let f = (s.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10());
        self.x0 + f * (self.x1 - self.x0)
    }

    fn ticks(&self) -> impl Iterator<Item = &'static (f64, &'static str)> + '_ {
        TICKS.iter().filter(|(t, _)| *t >= self.lo && *t <= self.hi)
    }
}

/// The box plots of `rows` as an SVG document fragment (an `<svg>` element). Rows without
/// any time are left out; without any time at all the chart says [`NO_TIMES`]. Times under a
/// second are drawn at one second (the axis starts there).
pub fn time_distribution_svg(rows: &[TimeRow], options: &ChartOptions) -> String {
    let rows: Vec<&TimeRow> = rows
        .iter()
        .filter(|r| r.acceptance.is_some() || r.completion.is_some())
        .collect();
    if rows.is_empty() {
        return empty(options, NO_TIMES);
    }
    let summaries = rows
        .iter()
        .flat_map(|r| Stage::ALL.into_iter().filter_map(|s| r.stage(s)));
    let (min, max) = summaries.fold((f64::INFINITY, 0.0f64), |(lo, hi), s| {
        (lo.min(s.min), hi.max(s.max))
    });
    let w = options.width();
    let axis = Axis::new(min, max, LABEL_SPACE, w - TEXT_SPACE);
    let group = BOX_ROW * 2.0 + GROUP_GAP;
    let plot_bottom = TOP + group * rows.len() as f64 - GROUP_GAP + 6.0;
    let note_space = if options.note.is_some() { 24.0 } else { 4.0 };
    let height = plot_bottom + AXIS_SPACE + note_space;

    let mut desc = String::from(
        "Time from receipt to acceptance and to completion per receiving sector \
         (logarithmic axis). ",
    );
    let mut parts = Vec::new();
    for r in &rows {
        for stage in Stage::ALL {
            match r.stage(stage) {
                Some(s) => parts.push(format!(
                    "{} {}: median {}, 90th percentile {}, {} referrals",
                    r.label,
                    stage_name(stage),
                    human(s.median),
                    human(s.p90),
                    s.n
                )),
                None => parts.push(format!("{} {}: none", r.label, stage_name(stage))),
            }
        }
    }
    desc.push_str(&parts.join("; "));
    desc.push('.');

    let mut out = open(options, height, &desc);
    // Legend.
    let mut lx = 16.0;
    for stage in Stage::ALL {
        out.push_str(&format!(
            "<rect x=\"{}\" y=\"36\" width=\"12\" height=\"12\" fill=\"{c}\" fill-opacity=\"0.35\" \
             stroke=\"{c}\"/><text x=\"{}\" y=\"46\">{}</text>",
            num(lx),
            num(lx + 17.0),
            stage_name(stage),
            c = colour(stage),
        ));
        lx += 130.0;
    }
    out.push_str(&format!(
        "<text class=\"wb-muted\" x=\"{}\" y=\"46\">box: middle half · line: median · \
         ◆: p90 · whisker: min–max</text>",
        num(lx)
    ));

    // Grid and axis.
    out.push_str("<g class=\"wb-axis\">");
    // Ticks close together on the log scale (1, 2 and 4 weeks) would print over each other:
    // a tick is drawn only with room for its label.
    let mut last = f64::NEG_INFINITY;
    for (t, label) in axis.ticks() {
        let x = axis.x(*t);
        if x - last < MIN_TICK_GAP {
            continue;
        }
        last = x;
        let x = num(x);
        out.push_str(&format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#e3e3e3\"/>\
             <text class=\"wb-muted\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            num(TOP - 8.0),
            num(plot_bottom),
            num(plot_bottom + 16.0),
        ));
    }
    out.push_str(&format!(
        "<text class=\"wb-muted\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">time since the \
         referral was received</text></g>",
        num((axis.x0 + axis.x1) / 2.0),
        num(plot_bottom + 34.0),
    ));

    for (i, r) in rows.iter().enumerate() {
        let top = TOP + group * i as f64;
        out.push_str(&format!(
            "<g class=\"wb-sector\" data-label=\"{label}\">\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-weight=\"600\">{label}</text>",
            num(LABEL_SPACE - 12.0),
            num(top + BOX_ROW + 4.0),
            label = escape(&r.label),
        ));
        for (j, stage) in Stage::ALL.into_iter().enumerate() {
            let mid = top + BOX_ROW * j as f64 + BOX_ROW / 2.0;
            out.push_str(&match r.stage(stage) {
                Some(s) => boxplot(&axis, s, stage, mid, &r.label),
                None => format!(
                    "<text class=\"wb-muted\" x=\"{}\" y=\"{}\">none {}</text>",
                    num(axis.x0 + 4.0),
                    num(mid + 4.0),
                    stage_name(stage)
                ),
            });
        }
        out.push_str("</g>");
    }
    out.push_str(&close(options, height));
    out
}

fn boxplot(axis: &Axis, s: &Summary, stage: Stage, mid: f64, label: &str) -> String {
    let c = colour(stage);
    let half = 7.0;
    let (xmin, x25, xmed, x75, x90, xmax) = (
        axis.x(s.min),
        axis.x(s.p25),
        axis.x(s.median),
        axis.x(s.p75),
        axis.x(s.p90),
        axis.x(s.max),
    );
    let title = format!(
        "{label} {}: median {}, 90th percentile {}, middle half {} to {}, {} referrals",
        stage_name(stage),
        human(s.median),
        human(s.p90),
        human(s.p25),
        human(s.p75),
        s.n
    );
    format!(
        "<g class=\"wb-box\" data-stage=\"{stage}\" data-n=\"{n}\" data-median=\"{median}\" \
         data-p90=\"{p90}\"><title>{title}</title>\
         <line x1=\"{xmin}\" y1=\"{y}\" x2=\"{xmax}\" y2=\"{y}\" stroke=\"{c}\"/>\
         <line x1=\"{xmin}\" y1=\"{ya}\" x2=\"{xmin}\" y2=\"{yb}\" stroke=\"{c}\"/>\
         <line x1=\"{xmax}\" y1=\"{ya}\" x2=\"{xmax}\" y2=\"{yb}\" stroke=\"{c}\"/>\
         <rect x=\"{x25}\" y=\"{top}\" width=\"{bw}\" height=\"{bh}\" fill=\"{c}\" \
         fill-opacity=\"0.35\" stroke=\"{c}\"/>\
         <line class=\"wb-median\" x1=\"{xmed}\" y1=\"{top}\" x2=\"{xmed}\" y2=\"{bottom}\" \
         stroke=\"#111\" stroke-width=\"3\"/>\
         <path class=\"wb-p90\" d=\"M{x90} {pt}L{pr} {y}L{x90} {pb}L{pl} {y}Z\" fill=\"#111\"/>\
         <text x=\"{tx}\" y=\"{ty}\">median {hm} · p90 {hp} (n={n})</text></g>",
        stage = stage.code(),
        n = s.n,
        median = num(s.median),
        p90 = num(s.p90),
        title = escape(&title),
        xmin = num(xmin),
        xmax = num(xmax),
        x25 = num(x25),
        xmed = num(xmed),
        x90 = num(x90),
        y = num(mid),
        ya = num(mid - 4.0),
        yb = num(mid + 4.0),
        top = num(mid - half),
        bottom = num(mid + half),
        bw = num((x75 - x25).max(1.0)),
        bh = num(half * 2.0),
        pt = num(mid - 5.0),
        pb = num(mid + 5.0),
        pl = num(x90 - 4.0),
        pr = num(x90 + 4.0),
        tx = num(axis.x1 + 12.0),
        ty = num(mid + 4.0),
        hm = escape(&human(s.median)),
        hp = escape(&human(s.p90)),
    )
}

#[cfg(test)]
mod tests {
    use super::super::check::parse;
    use super::*;
    use crate::analytics::aggregates::SectorKey;
    use wijkbrug_adapters::model::Sector;

    const H: f64 = 3_600.0;
    const D: f64 = 86_400.0;

    fn durations(sector: Sector, stage: Stage, seconds: &[f64]) -> StageDurations {
        StageDurations {
            sector: SectorKey::Known(sector),
            stage,
            residents: seconds.len() as u64,
            seconds: seconds.to_vec(),
        }
    }

    fn options() -> ChartOptions {
        ChartOptions::new("times", "Time to acceptance and completion")
    }

    #[test]
    fn each_sector_has_a_box_per_stage_with_median_and_p90_marked() {
        let rows = time_rows(&[
            durations(
                Sector::Care,
                Stage::Completion,
                &[3.0 * D, 10.0 * D, 20.0 * D],
            ),
            durations(
                Sector::Welfare,
                Stage::Acceptance,
                &[2.0 * H, 4.0 * H, 30.0 * H],
            ),
            durations(
                Sector::Care,
                Stage::Acceptance,
                &[H, 2.0 * H, 5.0 * H, 6.0 * H],
            ),
        ]);
        assert_eq!(
            rows.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(),
            ["welfare", "care"]
        );
        let svg = time_distribution_svg(&rows, &options());
        let elements = parse(&svg);
        let boxes: Vec<_> = elements
            .iter()
            .filter(|e| e.attr("class") == Some("wb-box"))
            .collect();
        assert_eq!(boxes.len(), 3);
        let care_acceptance = boxes
            .iter()
            .find(|b| b.attr("data-stage") == Some("acceptance") && b.attr("data-n") == Some("4"))
            .unwrap();
        assert_eq!(care_acceptance.attr("data-median"), Some("12600"));
        assert!(elements
            .iter()
            .any(|e| e.name == "text" && e.text == "median 4.0 h · p90 24.8 h (n=3)"));
        assert!(elements
            .iter()
            .any(|e| e.name == "text" && e.text == "none to completion"));
        assert_eq!(
            elements
                .iter()
                .filter(|e| e.attr("class") == Some("wb-median"))
                .count(),
            3
        );
        assert_eq!(
            elements
                .iter()
                .filter(|e| e.attr("class") == Some("wb-p90"))
                .count(),
            3
        );
    }

    #[test]
    fn the_axis_is_logarithmic_and_spans_the_data() {
        let axis = Axis::new(2.0 * H, 20.0 * D, 100.0, 500.0);
        assert_eq!(axis.lo, H);
        assert_eq!(axis.hi, 28.0 * D);
        // Equal ratios take equal distances.
        let a = axis.x(2.0 * H) - axis.x(H);
        let b = axis.x(4.0 * D) - axis.x(2.0 * D);
        assert!((a - b).abs() < 1e-9);
        assert_eq!(axis.x(H), 100.0);
        assert_eq!(axis.x(28.0 * D), 500.0);
        // Sub-second times sit at the axis's start; one value still gets a span.
        let tiny = Axis::new(0.001, 0.002, 0.0, 1.0);
        assert_eq!((tiny.lo, tiny.hi), (1.0, 10.0));
        let same = Axis::new(H, H, 0.0, 1.0);
        assert!(same.hi > same.lo);
    }

    #[test]
    fn the_median_line_sits_where_the_axis_puts_the_median() {
        let rows = time_rows(&[durations(
            Sector::Housing,
            Stage::Acceptance,
            &[H, 10.0 * H, 100.0 * H],
        )]);
        let svg = time_distribution_svg(&rows, &options());
        let elements = parse(&svg);
        let tick = |label: &str| -> f64 {
            elements
                .iter()
                .find(|e| e.name == "text" && e.text == label)
                .unwrap_or_else(|| panic!("no tick {label}"))
                .attr("x")
                .unwrap()
                .parse()
                .unwrap()
        };
        let median: f64 = elements
            .iter()
            .find(|e| e.attr("class") == Some("wb-median"))
            .unwrap()
            .attr("x1")
            .unwrap()
            .parse()
            .unwrap();
        // 10 h lies between the 6 h and 1 d ticks, at log10(10/6)/log10(24/6) of the way.
        let (a, b) = (tick("6 h"), tick("1 d"));
        let expected = a + (b - a) * (10.0f64 / 6.0).log10() / 4.0f64.log10();
        assert!((median - expected).abs() < 0.05, "{median} vs {expected}");
    }

    #[test]
    fn tick_labels_keep_their_distance() {
        let rows = time_rows(&[durations(
            Sector::Care,
            Stage::Completion,
            &[600.0, 4.0 * 7.0 * D, 80.0 * D],
        )]);
        let svg = time_distribution_svg(&rows, &options());
        let elements = parse(&svg);
        let mut xs: Vec<f64> = elements
            .iter()
            .filter(|e| e.name == "text" && e.attr("text-anchor") == Some("middle"))
            .filter(|e| TICKS.iter().any(|(_, l)| *l == e.text))
            .map(|e| e.attr("x").unwrap().parse().unwrap())
            .collect();
        xs.sort_by(f64::total_cmp);
        assert!(xs.len() >= 4, "{xs:?}");
        for pair in xs.windows(2) {
            assert!(pair[1] - pair[0] >= MIN_TICK_GAP, "{xs:?}");
        }
    }

    #[test]
    fn no_times_draw_the_empty_picture() {
        let rows = [TimeRow {
            label: "care".into(),
            acceptance: None,
            completion: None,
        }];
        for rows in [&rows[..], &[]] {
            let svg = time_distribution_svg(rows, &options());
            let elements = parse(&svg);
            assert!(elements.iter().any(|e| e.text == NO_TIMES));
        }
    }

    #[test]
    fn labels_are_escaped() {
        let rows = [TimeRow {
            label: "<b>&".into(),
            acceptance: Summary::of(&[5.0]),
            completion: None,
        }];
        let svg = time_distribution_svg(&rows, &options().with_note("withheld: <5"));
        let elements = parse(&svg);
        assert!(elements
            .iter()
            .any(|e| e.name == "text" && e.text == "<b>&"));
        assert!(elements.iter().any(|e| e.text == "withheld: <5"));
    }
}
