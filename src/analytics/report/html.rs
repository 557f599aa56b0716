//! The report as one self-contained HTML page: inline CSS, the charts as inline SVG, no
//! script and nothing fetched from elsewhere, so it can be mailed, archived and opened
//! offline. It explains its own method, the small-cell rule included.

use chrono::{DateTime, Utc};

use super::tables::{Table, Tables};
use super::Report;
use crate::analytics::distribution::{human, Summary};
use crate::analytics::suppression::{Published, MIN_RESIDENTS, SUPPRESSED};
use crate::analytics::svg::escape;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;\
max-width:62rem;margin:2rem auto;padding:0 1rem;line-height:1.45}\
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;\
border-bottom:1px solid #ddd;padding-bottom:.2rem}h3{font-size:1.05rem}\
.meta{color:#555;margin-top:0}table{border-collapse:collapse;margin:.6rem 0 1rem;\
font-variant-numeric:tabular-nums}th,td{border:1px solid #ccc;padding:.25rem .6rem;\
text-align:right}th:first-child,td:first-child,th.text,td.text{text-align:left}\
thead th{background:#f3f3f3}tr.total td{font-weight:600;background:#fafafa}\
.withheld{color:#8a4b00}.figures{display:flex;gap:1.5rem;flex-wrap:wrap;margin:1rem 0}\
.figure{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;min-width:10rem}\
.figure b{display:block;font-size:1.6rem}.chart svg{max-width:100%;height:auto}\
.note{background:#f6f6f6;border-left:4px solid #999;padding:.6rem 1rem}\
@media print{.chart{break-inside:avoid}}";

fn count(p: Published) -> String {
    match p {
        Published::Count(n) => n.to_string(),
        Published::Withheld => format!(
            "<span class=\"withheld\" title=\"withheld: fewer than {MIN_RESIDENTS} residents\">{}</span>",
            escape(SUPPRESSED)
        ),
    }
}

fn time(summary: Option<&Summary>, pick: fn(&Summary) -> f64) -> String {
    summary.map_or_else(|| "–".to_owned(), |s| escape(&human(pick(s))))
}

fn table_head(columns: &[(&str, bool)]) -> String {
    let cells: String = columns
        .iter()
        .map(|(c, text)| {
            if *text {
                format!("<th scope=\"col\" class=\"text\">{}</th>", escape(c))
            } else {
                format!("<th scope=\"col\">{}</th>", escape(c))
            }
        })
        .collect();
    format!("<thead><tr>{cells}</tr></thead>")
}

fn empty_row(columns: usize, text: &str) -> String {
    format!(
        "<tr><td class=\"text\" colspan=\"{columns}\">{}</td></tr>",
        escape(text)
    )
}

fn withheld_note<R>(t: &Table<R>) -> String {
    match t.withheld {
        0 => String::new(),
        n => format!(
            "<p class=\"meta\">{n} row(s) withheld ({}): see <a href=\"#method\">how to read \
             this report</a>.</p>",
            escape(SUPPRESSED)
        ),
    }
}

fn flows_table(t: &Tables) -> String {
    let mut out = String::from("<table id=\"flows\"><caption class=\"text\">Referrals by sending and receiving sector</caption>");
    out.push_str(&table_head(&[
        ("From sector", true),
        ("To sector", true),
        ("Referrals", false),
        ("Residents", false),
    ]));
    out.push_str("<tbody>");
    if t.flows.rows.is_empty() {
        out.push_str(&empty_row(4, "No routed referrals in this period."));
    }
    for r in &t.flows.rows {
        out.push_str(&format!(
            "<tr><td>{}</td><td class=\"text\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(r.from.code()),
            escape(r.to.code()),
            count(r.referrals),
            count(r.residents)
        ));
    }
    out.push_str(&format!(
        "<tr class=\"total\"><td colspan=\"2\">Total</td><td>{}</td><td>{}</td></tr></tbody></table>",
        count(t.flows.total_referrals),
        count(t.flows.total_residents)
    ));
    out.push_str(&withheld_note(&t.flows));
    out
}

fn times_tables(t: &Tables) -> String {
    let mut out = String::new();
    for st in &t.times {
        let name = match st.stage {
            crate::analytics::Stage::Acceptance => "Time to acceptance",
            crate::analytics::Stage::Completion => "Time to completion",
        };
        out.push_str(&format!(
            "<h3>{name}</h3><table id=\"times-{}\">",
            st.stage.code()
        ));
        out.push_str(&table_head(&[
            ("Receiving sector", true),
            ("Referrals", false),
            ("Residents", false),
            ("Median", false),
            ("90th percentile", false),
        ]));
        out.push_str("<tbody>");
        if st.table.rows.is_empty() {
            out.push_str(&empty_row(5, "None in this period."));
        }
        for r in &st.table.rows {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(r.sector.code()),
                count(r.referrals),
                count(r.residents),
                time(r.summary.as_ref(), |s| s.median),
                time(r.summary.as_ref(), |s| s.p90),
            ));
        }
        out.push_str(&format!(
            "<tr class=\"total\"><td>All sectors</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\
             </tbody></table>",
            count(st.table.total_referrals),
            count(st.table.total_residents),
            time(st.overall.as_ref(), |s| s.median),
            time(st.overall.as_ref(), |s| s.p90),
        ));
        out.push_str(&withheld_note(&st.table));
    }
    out
}

fn refusals_table(t: &Tables) -> String {
    let mut out = String::from("<table id=\"refusals\">");
    out.push_str(&table_head(&[
        ("Sender", true),
        ("Sector", true),
        ("Referrals", false),
        ("Residents", false),
    ]));
    out.push_str("<tbody>");
    if t.refusals.rows.is_empty() {
        out.push_str(&empty_row(4, "No consent refusals in this period."));
    }
    for r in &t.refusals.rows {
        out.push_str(&format!(
            "<tr><td>{}</td><td class=\"text\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(r.sender.as_str()),
            escape(r.sector.code()),
            count(r.referrals),
            count(r.residents)
        ));
    }
    out.push_str(&format!(
        "<tr class=\"total\"><td colspan=\"2\">Total</td><td>{}</td><td>{}</td></tr></tbody></table>",
        count(t.refusals.total_referrals),
        count(t.refusals.total_residents)
    ));
    out.push_str(&withheld_note(&t.refusals));
    out
}

fn deliveries_table(t: &Tables) -> String {
    let mut out = String::from("<table id=\"deliveries\">");
    out.push_str(&table_head(&[
        ("Partner", true),
        ("Sector", true),
        ("Deliveries", false),
        ("Delivered", false),
        ("Failed at least once", false),
        ("Dead letters", false),
        ("Dead letters still open", false),
        ("Still queued", false),
    ]));
    out.push_str("<tbody>");
    if t.deliveries.is_empty() {
        out.push_str(&empty_row(8, "No deliveries in this period."));
    }
    for d in &t.deliveries {
        out.push_str(&format!(
            "<tr><td>{}</td><td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            escape(d.partner.as_str()),
            escape(d.sector.code()),
            d.deliveries,
            d.delivered,
            d.with_failures,
            d.dead_letters,
            d.dead_now,
            d.pending
        ));
    }
    let s = &t.deliveries_total;
    out.push_str(&format!(
        "<tr class=\"total\"><td colspan=\"2\">Total</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td></tr></tbody></table>",
        s.deliveries, s.delivered, s.with_failures, s.dead_letters, s.dead_now, s.pending
    ));
    out
}

fn method(report: &Report) -> String {
    format!(
        "<h2 id=\"method\">How to read this report</h2>\
<p><b>Which referrals.</b> Every number is about the referrals the gateway <em>received</em> \
between {from} 00:00 and {to} 00:00 UTC (the last day included is {last}), followed up to the \
moment the report was made ({generated}). A referral received in this period and accepted \
after it counts in this period's times. Deliveries are those queued in the period.</p>\
<p><b>Sectors.</b> A partner's sector is the one in the gateway's configuration when the \
report was made; a partner no longer configured is shown as <code>unknown</code>. A flow is \
a referral routed from a partner of one sector to a partner of another (or the same) sector.</p>\
<p><b>Times.</b> From the moment the gateway received the referral to the receiving partner's \
first report of acceptance, or of completion. Referrals not accepted (or completed) yet are \
not in the times. The median is the middle time; the 90th percentile the time within which \
nine in ten were accepted (or completed). Charts use a logarithmic time axis.</p>\
<p><b>Residents.</b> Residents are counted once per row however many referrals are about \
them. A resident can be in more than one row, so a table's residents do not add up to its \
total. Residents are counted inside the database; this report holds no name, BSN, address, \
note or other personal data, and no referral id.</p>\
<div class=\"note\" id=\"suppression\"><p><b>Small numbers are withheld.</b> A row that \
counts fewer than {min} residents is withheld: its counts read <code>{mark}</code> and its \
times are not shown. Because a total minus the rows shown would give a lone withheld row \
away, rows are withheld together (<em>complementary suppression</em>): when fewer than two \
rows are withheld, or the withheld rows together count fewer than four referrals more than \
there are withheld rows, the smallest row still shown is withheld as well, until neither is \
the case. Subtracting the shown rows from the total then leaves every withheld row anywhere \
between 1 and at least 5 referrals. Every withheld row reads <code>{mark}</code>, whether it \
was small or withheld to protect a small one, so the two cannot be told apart. A total is \
withheld when its table counts fewer than {min} residents or its withheld rows cannot be \
protected. The charts are drawn from the rows shown only.</p>\
<p>The delivery table counts deliveries to partner systems, not residents, and is shown in \
full.</p></div>\
<p><b>Files.</b> The same tables as CSV: <code>flows.csv</code>, <code>times.csv</code> (hours), \
<code>consent_refusals.csv</code>, <code>deliveries.csv</code>, beside this page.</p>",
        from = report.period.from,
        to = report.period.to,
        last = report.period.last_day(),
        generated = escape(&stamp(report.generated_at)),
        min = MIN_RESIDENTS,
        mark = escape(SUPPRESSED),
    )
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The whole page.
pub fn page(report: &Report) -> String {
    let t = &report.tables;
    let title = format!("Learning report {}", report.period.label());
    let figure = |label: &str, value: String| {
        format!(
            "<div class=\"figure\"><b>{value}</b>{}</div>",
            escape(label)
        )
    };
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\
         <title>{title}</title><style>{STYLE}</style></head><body>\
         <header><h1>{title}</h1><p class=\"meta\">wijkbrug · referrals received {period} · \
         made {generated} · aggregated, no personal data, counts under {min} residents \
         withheld</p></header><main>",
        title = escape(&title),
        period = escape(&report.period.label()),
        generated = escape(&stamp(report.generated_at)),
        min = MIN_RESIDENTS,
    );
    out.push_str("<section id=\"summary\"><h2>At a glance</h2><div class=\"figures\">");
    out.push_str(&figure("referrals received", count(t.received)));
    out.push_str(&figure("residents", count(t.residents)));
    out.push_str(&figure(
        "routed to a partner",
        count(t.flows.total_referrals),
    ));
    out.push_str(&figure(
        "refused for want of consent",
        count(t.refusals.total_referrals),
    ));
    out.push_str("</div>");
    if t.is_empty() {
        out.push_str("<p><b>No referrals in this period.</b></p>");
    }
    out.push_str("</section>");

    out.push_str(&format!(
        "<section id=\"flows-section\"><h2>Flows between sectors</h2>\
         <div class=\"chart\">{}</div>{}</section>",
        report.flow_chart,
        flows_table(t)
    ));
    out.push_str(&format!(
        "<section id=\"times-section\"><h2>Time to acceptance and to completion</h2>\
         <div class=\"chart\">{}</div>{}</section>",
        report.time_chart,
        times_tables(t)
    ));
    out.push_str(&format!(
        "<section id=\"refusals-section\"><h2>Consent refusals</h2><p>Referrals that were \
         not shared because the resident's consent was missing (at intake, or revoked before \
         the receiver accepted), by sending partner.</p>{}</section>",
        refusals_table(t)
    ));
    out.push_str(&format!(
        "<section id=\"deliveries-section\"><h2>Delivery per partner</h2><p>Deliveries the \
         gateway queued for each partner's system in the period (referrals and status \
         notices), by what became of them.</p>{}</section>",
        deliveries_table(t)
    ));
    out.push_str(&method(report));
    out.push_str("</main></body></html>\n");
    out
}
