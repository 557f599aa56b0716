//! The dashboard overview's figures "since a time" checked against plain counts over the rows
//! (the store takes whole hours from per-hour counts kept by triggers, migration
//! `0010_dashboard_hourly.sql`, and counts only the part of an hour at `since`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use wijkbrug::store::Store;

use super::db::TestDb;

/// Times to read the overview from around `times`: each time's hour, a quarter and a bit
/// into it, a microsecond before its end, and the next hour, plus far before and after.
pub fn sinces_around(times: &[DateTime<Utc>]) -> Vec<DateTime<Utc>> {
    let mut out = vec![
        DateTime::from_timestamp(0, 0).unwrap(),
        DateTime::from_timestamp(4_102_444_800, 0).unwrap(),
    ];
    for t in times {
        let hour = t.duration_trunc(Duration::hours(1)).unwrap();
        out.extend([
            hour,
            hour + Duration::seconds(15 * 60 + 7) + Duration::microseconds(250),
            hour + Duration::hours(1) - Duration::microseconds(1),
            hour + Duration::hours(1),
            *t,
        ]);
    }
    out.sort();
    out.dedup();
    out
}

/// The figures since each of `sinces` equal counting the rows: referrals received, of them
/// now `consent_missing`, and deliveries per recipient (the partners listed with a delivery
/// since are exactly those with a delivered row since).
pub async fn assert_since_figures_agree(db: &TestDb, store: &dyn Store, sinces: &[DateTime<Utc>]) {
    let raw = db.raw().await;
    // SQLite keeps times as text that sorts as the times do; PostgreSQL as timestamptz.
    let at = if raw.is_postgres() {
        "CAST(? AS timestamptz)"
    } else {
        "?"
    };
    for since in sinces {
        let overview = store.ops_overview(*since, Utc::now()).await.unwrap();
        let text = since.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let (received, refused): (i64, i64) = raw
            .fetch_one(
                &format!(
                    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'consent_missing' \
                     THEN 1 ELSE 0 END), 0) FROM referrals WHERE received_at >= {at}"
                ),
                &[text.clone().into()],
            )
            .await;
        assert_eq!(
            (overview.received_since, overview.consent_refusals_since),
            (received as u64, refused as u64),
            "received and consent_missing since {text}"
        );
        let delivered: Vec<(String, i64)> = raw
            .fetch_all(
                &format!(
                    "SELECT recipient, COUNT(*) FROM outbox \
                     WHERE state = 'delivered' AND delivered_at >= {at} GROUP BY recipient"
                ),
                &[text.clone().into()],
            )
            .await;
        let want: BTreeMap<String, u64> =
            delivered.into_iter().map(|(r, n)| (r, n as u64)).collect();
        let got: BTreeMap<String, u64> = overview
            .partners
            .iter()
            .filter(|p| p.delivered_since > 0)
            .map(|p| (p.recipient.as_str().to_owned(), p.delivered_since))
            .collect();
        assert_eq!(got, want, "deliveries per recipient since {text}");
        // A partner is listed only for a delivery since or an open or dead row, as before.
        let open: Vec<(String,)> = raw
            .fetch_all(
                "SELECT DISTINCT recipient FROM outbox WHERE state IN ('pending', 'dead')",
                &[],
            )
            .await;
        for p in &overview.partners {
            let name = p.recipient.as_str();
            assert!(
                want.contains_key(name) || open.iter().any(|(r,)| r == name),
                "{name} listed without a delivery since {text} or an open row"
            );
        }
    }
    raw.close().await;
}
