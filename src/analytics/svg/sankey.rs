//! The flow diagram (Sankey) of referrals between sectors: sending sectors on the left,
//! receiving sectors on the right, one band per flow with its width proportional to the
//! referrals it carries, coloured by the sending sector.

use super::{close, colour_for, empty, escape, num, open, ChartOptions};
use crate::analytics::aggregates::{SectorFlow, SectorKey};

/// One flow of the diagram.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SankeyLink {
    /// The sending side's label (a sector code, or any short text).
    pub from: String,
    /// The receiving side's label.
    pub to: String,
    pub referrals: u64,
    /// Distinct residents, shown in the band's tooltip and the description when given.
    pub residents: Option<u64>,
}

impl From<&SectorFlow> for SankeyLink {
    fn from(f: &SectorFlow) -> Self {
        Self {
            from: f.from.code().to_owned(),
            to: f.to.code().to_owned(),
            referrals: f.referrals,
            residents: Some(f.residents),
        }
    }
}

/// The links of `flows`, one each.
pub fn sankey_links(flows: &[SectorFlow]) -> Vec<SankeyLink> {
    flows.iter().map(SankeyLink::from).collect()
}

/// The message of a diagram without flows.
pub const NO_FLOWS: &str = "No referrals in this period";

const LABEL_SPACE: f64 = 170.0;
const NODE_WIDTH: f64 = 14.0;
const TOP: f64 = 52.0;
const GAP: f64 = 16.0;
/// The room a node's two-line label needs.
const LABEL_HEIGHT: f64 = 32.0;
/// Bands at least this wide carry their count as text.
const LABELLED_BAND: f64 = 16.0;

/// Where a node sits.
struct Node {
    label: String,
    total: u64,
    y: f64,
    height: f64,
    /// The next free offset for a band inside the node.
    cursor: f64,
}

/// The order of labels: the four sectors in their usual order, other labels alphabetically,
/// `unknown` last.
fn rank(label: &str) -> (usize, String) {
    let known = ["housing", "welfare", "care", "employment"];
    match known.iter().position(|k| *k == label) {
        Some(i) => (i, String::new()),
        None if label == SectorKey::Unknown.code() => (known.len() + 1, String::new()),
        None => (known.len(), label.to_owned()),
    }
}

fn column(labels: Vec<(String, u64)>, scale: f64) -> (Vec<Node>, f64) {
    let mut y = TOP;
    let mut nodes = Vec::with_capacity(labels.len());
    for (label, total) in labels {
        let height = total as f64 * scale;
        nodes.push(Node {
            label,
            total,
            y,
            height,
            cursor: 0.0,
        });
        y += height.max(LABEL_HEIGHT) + GAP;
    }
    (nodes, y)
}

fn totals(links: &[&SankeyLink], side: impl Fn(&SankeyLink) -> &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for l in links {
        match out.iter_mut().find(|(k, _)| k == side(l)) {
            Some((_, n)) => *n += l.referrals,
            None => out.push((side(l).to_owned(), l.referrals)),
        }
    }
    out.sort_by_key(|(k, _)| rank(k));
    out
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What a band says in words: `housing → welfare: 12 referrals, 9 residents`.
fn describe(l: &SankeyLink) -> String {
    let mut s = format!(
        "{} → {}: {}",
        l.from,
        l.to,
        plural(l.referrals, "referral", "referrals")
    );
    if let Some(r) = l.residents {
        s.push_str(&format!(", {}", plural(r, "resident", "residents")));
    }
    s
}

/// The Sankey diagram of `links` as an SVG document fragment (an `<svg>` element), ready to
/// embed in HTML. Flows of zero referrals are left out; without any flow the chart says
/// [`NO_FLOWS`]. Band widths are exactly proportional to the referrals (one scale for the
/// whole chart); the chart grows in height with the number of sectors.
pub fn sankey_svg(links: &[SankeyLink], options: &ChartOptions) -> String {
    let mut links: Vec<&SankeyLink> = links.iter().filter(|l| l.referrals > 0).collect();
    if links.is_empty() {
        return empty(options, NO_FLOWS);
    }
    links.sort_by(|a, b| {
        rank(&a.from)
            .cmp(&rank(&b.from))
            .then_with(|| rank(&a.to).cmp(&rank(&b.to)))
    });
    let total: u64 = links.iter().map(|l| l.referrals).sum();
    let left = totals(&links, |l| &l.from);
    let right = totals(&links, |l| &l.to);
    let rows = left.len().max(right.len());
    // One scale for both columns: the busier column fills the plot height.
    let plot = (46.0 * rows as f64).max(220.0);
    let scale = (plot - GAP * (rows as f64 - 1.0)) / total as f64;
    let (mut sources, left_end) = column(left, scale);
    let (mut targets, right_end) = column(right, scale);

    let w = options.width();
    let x_left = LABEL_SPACE;
    let x_right = w - LABEL_SPACE - NODE_WIDTH;
    let note_space = if options.note.is_some() { 28.0 } else { 8.0 };
    let height = left_end.max(right_end) + note_space;

    let mut desc = format!(
        "Referrals from sending sectors (left) to receiving sectors (right), {} in all. ",
        plural(total, "referral", "referrals")
    );
    desc.push_str(
        &links
            .iter()
            .map(|l| describe(l))
            .collect::<Vec<_>>()
            .join("; "),
    );
    desc.push('.');

    let mut out = open(options, height, &desc);
    // One colour per label, the same on both sides.
    let mut labels: Vec<&str> = sources
        .iter()
        .chain(&targets)
        .map(|n| n.label.as_str())
        .collect();
    labels.sort_by_key(|l| rank(l));
    labels.dedup();
    let colour_of = |label: &str| -> &'static str {
        colour_for(
            label,
            labels.iter().position(|l| *l == label).unwrap_or_default(),
        )
    };
    let colours: Vec<&'static str> = links.iter().map(|l| colour_of(&l.from)).collect();
    let source_colours: Vec<&'static str> = sources.iter().map(|n| colour_of(&n.label)).collect();
    let target_colours: Vec<&'static str> = targets.iter().map(|n| colour_of(&n.label)).collect();

    // Bands: out of each source in the order of the targets, into each target in the order
    // of the sources (the sort above gives both).
    out.push_str("<g class=\"wb-links\" fill=\"none\">");
    let mut band_labels = String::new();
    for (l, colour) in links.iter().zip(&colours) {
        let width = l.referrals as f64 * scale;
        let (Some(s), Some(t)) = (
            sources.iter_mut().find(|n| n.label == l.from),
            targets.iter().position(|n| n.label == l.to),
        ) else {
            continue;
        };
        let y0 = s.y + s.cursor + width / 2.0;
        s.cursor += width;
        let t = &mut targets[t];
        let y1 = t.y + t.cursor + width / 2.0;
        t.cursor += width;
        let x0 = x_left + NODE_WIDTH;
        let x1 = x_right;
        let xm = (x0 + x1) / 2.0;
        out.push_str(&format!(
            "<path class=\"wb-link\" data-from=\"{from}\" data-to=\"{to}\" \
             data-referrals=\"{n}\" d=\"M{x0} {y0}C{xm} {y0} {xm} {y1} {x1} {y1}\" \
             stroke=\"{colour}\" stroke-opacity=\"0.45\" stroke-width=\"{sw}\">\
             <title>{title}</title></path>",
            from = escape(&l.from),
            to = escape(&l.to),
            n = l.referrals,
            x0 = num(x0),
            x1 = num(x1),
            xm = num(xm),
            y0 = num(y0),
            y1 = num(y1),
            sw = format_width(width),
            title = escape(&describe(l)),
        ));
        // The count where the band leaves its source: bands of one source never overlap
        // there (in the middle, crossing bands would put their counts on top of each other).
        if width >= LABELLED_BAND {
            band_labels.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" \
                 paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"3\">{}</text>",
                num(x0 + 6.0),
                num(y0 + 4.0),
                l.referrals
            ));
        }
    }
    out.push_str("</g>");

    out.push_str("<g class=\"wb-nodes\">");
    for (n, colour) in sources.iter().zip(&source_colours) {
        out.push_str(&node(n, x_left, colour, Side::Left));
    }
    for (n, colour) in targets.iter().zip(&target_colours) {
        out.push_str(&node(n, x_right, colour, Side::Right));
    }
    out.push_str("</g>");
    out.push_str(&format!("<g class=\"wb-band-labels\">{band_labels}</g>"));
    out.push_str(&format!(
        "<text class=\"wb-muted\" x=\"{}\" y=\"40\" text-anchor=\"end\">sending</text>\
         <text class=\"wb-muted\" x=\"{}\" y=\"40\">receiving</text>",
        num(x_left + NODE_WIDTH),
        num(x_right)
    ));
    out.push_str(&close(options, height));
    out
}

/// A band's width with enough digits that widths stay proportional to the counts.
fn format_width(w: f64) -> String {
    let s = format!("{w:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

fn node(n: &Node, x: f64, colour: &str, side: Side) -> String {
    let (tx, anchor) = match side {
        Side::Left => (x - 8.0, "end"),
        Side::Right => (x + NODE_WIDTH + 8.0, "start"),
    };
    let mid = n.y + n.height / 2.0;
    let label = escape(&n.label);
    let count = plural(n.total, "referral", "referrals");
    format!(
        "<g class=\"wb-node\" data-side=\"{side}\" data-label=\"{label}\" data-referrals=\"{total}\">\
         <rect x=\"{x}\" y=\"{y}\" width=\"{nw}\" height=\"{h}\" fill=\"{colour}\">\
         <title>{label}: {count}</title></rect>\
         <text x=\"{tx}\" y=\"{ty1}\" text-anchor=\"{anchor}\" font-weight=\"600\">{label}</text>\
         <text class=\"wb-muted\" x=\"{tx}\" y=\"{ty2}\" text-anchor=\"{anchor}\">{count}</text></g>",
        side = if side == Side::Left { "from" } else { "to" },
        total = n.total,
        x = num(x),
        y = num(n.y),
        nw = num(NODE_WIDTH),
        h = num(n.height.max(1.0)),
        tx = num(tx),
        ty1 = num(mid - 2.0),
        ty2 = num(mid + 13.0),
    )
}

#[cfg(test)]
mod tests {
    use super::super::check::parse;
    use super::*;
    use wijkbrug_adapters::model::Sector;

    fn link(from: &str, to: &str, n: u64) -> SankeyLink {
        SankeyLink {
            from: from.into(),
            to: to.into(),
            referrals: n,
            residents: Some(n.saturating_sub(1)),
        }
    }

    fn options() -> ChartOptions {
        ChartOptions::new("flows", "Referrals between sectors")
    }

    #[test]
    fn band_widths_are_proportional_to_the_referrals() {
        let links = [
            link("housing", "welfare", 40),
            link("welfare", "care", 10),
            link("care", "care", 5),
            link("employment", "welfare", 1),
            link("housing", "employment", 23),
        ];
        let svg = sankey_svg(&links, &options());
        let elements = parse(&svg);
        let bands: Vec<_> = elements
            .iter()
            .filter(|e| e.attr("class") == Some("wb-link"))
            .collect();
        assert_eq!(bands.len(), links.len());
        let ratios: Vec<f64> = bands
            .iter()
            .map(|b| {
                let w: f64 = b.attr("stroke-width").unwrap().parse().unwrap();
                let n: f64 = b.attr("data-referrals").unwrap().parse().unwrap();
                w / n
            })
            .collect();
        for r in &ratios {
            assert!(
                (r - ratios[0]).abs() / ratios[0] < 1e-3,
                "width per referral {r} vs {}",
                ratios[0]
            );
        }
        // Each band's data and tooltip say its counts.
        let care = bands
            .iter()
            .find(|b| b.attr("data-from") == Some("care"))
            .unwrap();
        assert_eq!(care.attr("data-to"), Some("care"));
        let titles: Vec<_> = elements.iter().filter(|e| e.name == "title").collect();
        assert!(titles
            .iter()
            .any(|t| t.text == "care → care: 5 referrals, 4 residents"));
    }

    #[test]
    fn nodes_are_the_sums_of_their_bands_with_labels_and_counts() {
        let links = [
            link("housing", "welfare", 40),
            link("housing", "care", 8),
            link("care", "welfare", 2),
        ];
        let svg = sankey_svg(&links, &options());
        let elements = parse(&svg);
        let node = |side: &str, label: &str| {
            elements
                .iter()
                .find(|e| e.attr("data-side") == Some(side) && e.attr("data-label") == Some(label))
                .unwrap_or_else(|| panic!("no {side} node {label}"))
                .attr("data-referrals")
                .unwrap()
                .to_owned()
        };
        assert_eq!(node("from", "housing"), "48");
        assert_eq!(node("from", "care"), "2");
        assert_eq!(node("to", "welfare"), "42");
        assert_eq!(node("to", "care"), "8");
        assert!(elements
            .iter()
            .any(|e| e.name == "text" && e.text == "48 referrals"));
        // Node heights follow the same scale as the bands.
        let rects: Vec<f64> = elements
            .iter()
            .filter(|e| e.name == "rect" && e.attr("fill") == Some("#009E73"))
            .map(|e| e.attr("height").unwrap().parse().unwrap())
            .collect();
        let band: f64 = elements
            .iter()
            .find(|e| {
                e.attr("data-from") == Some("housing") && e.attr("data-to") == Some("welfare")
            })
            .unwrap()
            .attr("stroke-width")
            .unwrap()
            .parse()
            .unwrap();
        assert!((rects[0] / 48.0 - band / 40.0).abs() < 0.01);
        // The description carries every flow in words.
        let desc = elements.iter().find(|e| e.name == "desc").unwrap();
        assert!(desc
            .text
            .contains("housing → welfare: 40 referrals, 39 residents"));
        assert!(desc.text.contains("50 referrals in all"));
    }

    #[test]
    fn no_flows_draws_the_empty_picture() {
        for links in [vec![], vec![link("housing", "care", 0)]] {
            let svg = sankey_svg(&links, &options());
            let elements = parse(&svg);
            assert!(elements.iter().any(|e| e.text == NO_FLOWS));
            assert!(!elements.iter().any(|e| e.attr("class") == Some("wb-link")));
        }
    }

    #[test]
    fn labels_are_escaped_and_ten_sectors_fit() {
        let names: Vec<String> = (0..10).map(|i| format!("sector <{i}> & \"co\"")).collect();
        let links: Vec<SankeyLink> = names
            .iter()
            .enumerate()
            .map(|(i, n)| link(n, &names[(i + 3) % names.len()], 1 + i as u64 * 7))
            .collect();
        let svg = sankey_svg(&links, &options().with_note("2 flows withheld <5"));
        let elements = parse(&svg);
        assert!(elements
            .iter()
            .any(|e| e.name == "text" && e.text == "sector <3> & \"co\""));
        assert!(elements.iter().any(|e| e.text == "2 flows withheld <5"));
        // Labels of one column do not overlap: nodes are at least a label's height apart.
        let mut ys: Vec<f64> = elements
            .iter()
            .filter(|e| e.name == "rect" && e.attr("x") == Some("170"))
            .map(|e| e.attr("y").unwrap().parse().unwrap())
            .collect();
        ys.sort_by(f64::total_cmp);
        assert_eq!(ys.len(), 10);
        for pair in ys.windows(2) {
            assert!(pair[1] - pair[0] >= LABEL_HEIGHT, "{ys:?}");
        }
        // The picture is as tall as its nodes need.
        let svg_el = &elements[0];
        let h: f64 = svg_el.attr("height").unwrap().parse().unwrap();
        assert!(h > ys[9] + LABEL_HEIGHT);
    }

    #[test]
    fn sector_flows_become_links_in_sector_order() {
        let flows = [
            SectorFlow {
                from: SectorKey::Unknown,
                to: SectorKey::Known(Sector::Care),
                referrals: 3,
                residents: 2,
            },
            SectorFlow {
                from: SectorKey::Known(Sector::Employment),
                to: SectorKey::Known(Sector::Housing),
                referrals: 9,
                residents: 9,
            },
        ];
        let links = sankey_links(&flows);
        assert_eq!(links[0].from, "unknown");
        let svg = sankey_svg(&links, &options());
        let elements = parse(&svg);
        let order: Vec<&str> = elements
            .iter()
            .filter(|e| e.attr("data-side") == Some("from"))
            .map(|e| e.attr("data-label").unwrap())
            .collect();
        assert_eq!(order, ["employment", "unknown"]);
        // Sector colours: employment's band in its colour, unknown in grey.
        assert!(
            elements
                .iter()
                .any(|e| e.attr("data-from") == Some("unknown")
                    && e.attr("stroke") == Some("#999999"))
        );
    }
}
