//! The report's tables as CSV files, one per table, each with a header row and a last `total`
//! row. Withheld counts read `<5`; a withheld row's times are empty.

use super::tables::{Table, Tables};
use crate::analytics::distribution::{hours, Summary};
use crate::analytics::suppression::Published;

/// The CSV files: name and contents.
pub fn files(tables: &Tables) -> Vec<(&'static str, String)> {
    vec![
        ("flows.csv", flows(tables)),
        ("times.csv", times(tables)),
        ("consent_refusals.csv", refusals(tables)),
        ("deliveries.csv", deliveries(tables)),
    ]
}

/// One CSV line: fields quoted when they need it (none of ours should, but a partner id or a
/// label must never break a line).
fn line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect();
    format!("{}\n", quoted.join(","))
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

fn total<R>(t: &Table<R>) -> [String; 2] {
    [s(t.total_referrals), s(t.total_residents)]
}

fn flows(tables: &Tables) -> String {
    let mut out = line(&[
        s("from_sector"),
        s("to_sector"),
        s("referrals"),
        s("residents"),
    ]);
    for r in &tables.flows.rows {
        out.push_str(&line(&[s(r.from), s(r.to), s(r.referrals), s(r.residents)]));
    }
    let [n, p] = total(&tables.flows);
    out.push_str(&line(&[s("total"), s("total"), n, p]));
    out
}

fn hours_of(summary: Option<&Summary>, pick: fn(&Summary) -> f64) -> String {
    summary.map_or_else(String::new, |s| format!("{:.1}", hours(pick(s))))
}

fn times(tables: &Tables) -> String {
    let mut out = line(&[
        s("stage"),
        s("sector"),
        s("referrals"),
        s("residents"),
        s("median_hours"),
        s("p90_hours"),
    ]);
    for st in &tables.times {
        for r in &st.table.rows {
            out.push_str(&line(&[
                s(st.stage),
                s(r.sector),
                s(r.referrals),
                s(r.residents),
                hours_of(r.summary.as_ref(), |s| s.median),
                hours_of(r.summary.as_ref(), |s| s.p90),
            ]));
        }
        let [n, p] = total(&st.table);
        out.push_str(&line(&[
            s(st.stage),
            s("total"),
            n,
            p,
            hours_of(st.overall.as_ref(), |s| s.median),
            hours_of(st.overall.as_ref(), |s| s.p90),
        ]));
    }
    out
}

fn refusals(tables: &Tables) -> String {
    let mut out = line(&[s("sender"), s("sector"), s("referrals"), s("residents")]);
    for r in &tables.refusals.rows {
        out.push_str(&line(&[
            s(&r.sender),
            s(r.sector),
            s(r.referrals),
            s(r.residents),
        ]));
    }
    let [n, p] = total(&tables.refusals);
    out.push_str(&line(&[s("total"), s(""), n, p]));
    out
}

fn deliveries(tables: &Tables) -> String {
    let mut out = line(&[
        s("partner"),
        s("sector"),
        s("deliveries"),
        s("delivered"),
        s("with_failures"),
        s("dead_letters"),
        s("dead_letters_open"),
        s("pending"),
    ]);
    for d in &tables.deliveries {
        out.push_str(&line(&[
            s(&d.partner),
            s(d.sector),
            s(d.deliveries),
            s(d.delivered),
            s(d.with_failures),
            s(d.dead_letters),
            s(d.dead_now),
            s(d.pending),
        ]));
    }
    let t = &tables.deliveries_total;
    out.push_str(&line(&[
        s("total"),
        s(""),
        s(t.deliveries),
        s(t.delivered),
        s(t.with_failures),
        s(t.dead_letters),
        s(t.dead_now),
        s(t.pending),
    ]));
    out
}

/// A published count as a CSV field (for tests and callers that build their own files).
pub fn field(p: Published) -> String {
    p.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_that_need_it_are_quoted() {
        assert_eq!(
            line(&[s("a"), s("b,c"), s("d\"e")]),
            "a,\"b,c\",\"d\"\"e\"\n"
        );
        assert_eq!(field(Published::Withheld), "<5");
    }
}
