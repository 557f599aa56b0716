//! The dashboard's referral list on PostgreSQL reads one status through an index that starts
//! with the status, also when the rows of that status are the older ones ([`page_sql`]). With
//! the status as an equality the planner walked the newest rows by `referrals_by_received`
//! and filtered them, costing the two paths as if every status were spread evenly over time.
//! Run on the PostgreSQL server the other tests use, in a database of its own, on rows laid out
//! as a running gateway leaves them: the completed referrals older, the newest still open.

use sqlx::{Connection, PgConnection};
use wijkbrug_adapters::model::{PartnerId, ReferralId, ReferralStatus};

use super::dashboard::numbered;
use super::write_path_plans::{plan_text, Scratch};
use crate::store::dashboard::{ReferralFilter, ReferralKey, Side};
use crate::store::sqlite::dashboard::{page_sql, Bind, Toward};

/// The plan PostgreSQL chooses for `filter`'s page from `key` toward `toward`, its values
/// bound (a custom plan, as the list's reads get).
async fn plan(
    conn: &mut PgConnection,
    filter: &ReferralFilter,
    key: Option<ReferralKey>,
    toward: Toward,
) -> String {
    let sql = page_sql(filter, key, toward, 51);
    let text = format!("EXPLAIN {}", numbered(&sql.text));
    let mut query = sqlx::query_as::<_, (String,)>(&text);
    for b in sql.binds {
        query = match b {
            Bind::Text(t) => query.bind(t),
            Bind::Time(t) => query.bind(t),
            Bind::Id(id) => query.bind(id.as_uuid()),
        };
    }
    plan_text(query.fetch_all(&mut *conn).await.unwrap())
}

#[tokio::test]
async fn a_status_page_reads_the_status_index_when_that_status_is_the_older_rows() {
    let (_scratch, mut conn) = Scratch::migrated("list_plans").await;
    // 3,000 completed referrals in January, then 3,000 accepted ones in March, between two
    // partners both ways; statistics read, as autovacuum would.
    sqlx::raw_sql(
        "INSERT INTO referrals (id, sender, source_ref, receiver, status, request, shared, \
          shared_categories, shared_removed, received_at, updated_at) \
         SELECT gen_random_uuid(), pair[1], 'ref-' || i, pair[2], \
                CASE WHEN i <= 3000 THEN 'completed' ELSE 'accepted' END, '{}', '{}', '', '', \
                t, t \
         FROM generate_series(1, 6000) AS i, \
              LATERAL (SELECT CASE WHEN i % 2 = 0 \
                THEN ARRAY['woonstad-noord', 'werkplein'] \
                ELSE ARRAY['werkplein', 'woonstad-noord'] END AS pair) AS partners, \
              LATERAL (SELECT CASE WHEN i <= 3000 \
                THEN timestamptz '2026-01-01 00:00Z' + i * interval '1 minute' \
                ELSE timestamptz '2026-03-01 00:00Z' + i * interval '1 minute' END AS t) AS at; \
         ANALYZE referrals",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let completed = Some(ReferralStatus::Completed);
    let in_january = ReferralKey {
        received_at: "2026-01-02T00:00:00Z".parse().unwrap(),
        id: ReferralId::from_parts(1_767_312_000_000, [7; 10]),
    };
    let sender = || Some(PartnerId::parse("woonstad-noord").unwrap());
    // What, the filter, its lanes, the indexes a lane may read.
    let cases: [(&str, ReferralFilter, usize, &[&str]); 3] = [
        (
            "one status",
            ReferralFilter {
                status: completed,
                ..Default::default()
            },
            1,
            &["referrals_by_status"],
        ),
        (
            "one status of one sender",
            ReferralFilter {
                status: completed,
                partner: sender(),
                side: Side::Sender,
                ..Default::default()
            },
            1,
            &["referrals_by_sender_status"],
        ),
        (
            "one status of a partner on either side",
            ReferralFilter {
                status: completed,
                partner: sender(),
                side: Side::Either,
                ..Default::default()
            },
            2,
            // A keyed page's row comparison leaves the planner expecting about one row from
            // either index a lane may read; `referrals_by_status` with the partner as a filter
            // still reads only that status's rows.
            &[
                "referrals_by_sender_status",
                "referrals_by_receiver_status",
                "referrals_by_status",
            ],
        ),
    ];
    for (what, filter, lanes, indexes) in cases {
        let mut pages = vec![(None, Toward::Older)];
        for toward in [Toward::Older, Toward::Newer, Toward::NewerOrSame] {
            pages.push((Some(in_january), toward));
        }
        for (key, toward) in pages {
            let plan = plan(&mut conn, &filter, key, toward).await;
            let reads: Vec<&str> = plan
                .lines()
                .filter_map(|l| l.split(" using ").nth(1))
                .filter_map(|l| l.split(" on referrals").next())
                .collect();
            assert!(
                reads.len() == lanes && reads.iter().all(|r| indexes.contains(r)),
                "{what}, {toward:?} from {key:?}: expected {indexes:?}:\n{plan}"
            );
            assert!(
                !plan.contains("Filter: (status"),
                "{what}, {toward:?} from {key:?}: the index gives the status:\n{plan}"
            );
            // One lane: the index gives the order. Two: only the union of a page's worth
            // from each is sorted.
            assert!(
                lanes > 1 || !plan.contains("Sort"),
                "{what}, {toward:?} from {key:?}: the index gives the order:\n{plan}"
            );
        }
    }
    conn.close().await.unwrap();
}
