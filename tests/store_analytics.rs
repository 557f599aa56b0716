//! The store's analytics aggregates on a real store (a SQLite file, or PostgreSQL with
//! `WIJKBRUG_TEST_STORE=postgres`): referrals with known histories in and around a window, and
//! the counts, distinct residents and times the queries give back.

mod common;

use common::store_fixtures::{partner, received_referral, step};

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use wijkbrug::analytics::{PartnerSectors, SectorKey, Stage, TimeWindow};
use wijkbrug::store::{Intake, NewReferral, Store};
use wijkbrug_adapters::model::{Actor, ReferralId, ReferralStatus, Sector};

/// Hours after the window's start (2026-01-01).
fn h(hours: f64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
        + chrono::Duration::microseconds((hours * 3_600_000_000.0) as i64)
}

fn window() -> TimeWindow {
    TimeWindow::new(h(0.0), h(24.0 * 31.0)).unwrap()
}

fn sectors() -> PartnerSectors {
    PartnerSectors::new([
        (partner("woonstad-noord"), Sector::Housing),
        (partner("wijkteam-centrum"), Sector::Welfare),
        (partner("werkplein"), Sector::Employment),
        (partner("huisarts-de-linde"), Sector::Care),
    ])
}

/// A referral about `bsn` from `sender`, received at `received`: routed to `receiver`, or
/// refused for want of consent when there is none.
fn referral(
    sender: &str,
    receiver: Option<&str>,
    bsn: &str,
    received: DateTime<Utc>,
) -> NewReferral {
    received_referral(sender, receiver, Some(bsn), "R", received)
}

async fn put(store: &dyn Store, r: NewReferral) -> ReferralId {
    let id = r.referral.id;
    store
        .intake(Intake {
            sender: r.referral.request.source.partner.clone(),
            idempotency_key: None,
            referrals: vec![r],
        })
        .await
        .unwrap();
    id
}

/// Walks a routed referral through delivered → accepted (→ in progress → completed), at the
/// given hours after the window's start.
async fn progress(store: &dyn Store, id: ReferralId, by: &str, accepted: f64, done: Option<f64>) {
    let mut steps = vec![
        (ReferralStatus::Delivered, accepted - 0.5, Actor::Gateway),
        (
            ReferralStatus::Accepted,
            accepted,
            Actor::Partner(partner(by)),
        ),
    ];
    if let Some(done) = done {
        steps.push((
            ReferralStatus::InProgress,
            (accepted + done) / 2.0,
            Actor::Partner(partner(by)),
        ));
        steps.push((ReferralStatus::Completed, done, Actor::Partner(partner(by))));
    }
    for (to, at, actor) in steps {
        let outcome = store
            .apply_transition(id, step(to, h(at), actor), vec![])
            .await
            .unwrap();
        assert!(
            matches!(outcome, wijkbrug::store::TransitionOutcome::Applied(_)),
            "{outcome:?}"
        );
    }
}

#[tokio::test]
async fn flows_times_refusals_and_totals_of_a_window() {
    let db = common::db::TestDb::new().await;
    let store = db.open().await;
    let s: &dyn Store = &*store;
    const A: &str = "999900006";
    const B: &str = "999900018";
    const C: &str = "999900043";

    // In the window: housing → welfare three times, about two residents (A twice).
    let hw1 = put(
        s,
        referral("woonstad-noord", Some("wijkteam-centrum"), A, h(0.0)),
    )
    .await;
    let hw2 = put(
        s,
        referral("woonstad-noord", Some("wijkteam-centrum"), A, h(10.0)),
    )
    .await;
    let hw3 = put(
        s,
        referral("woonstad-noord", Some("wijkteam-centrum"), B, h(20.0)),
    )
    .await;
    // employment → welfare once (B); care → a partner the map does not know (C).
    let ew = put(
        s,
        referral("werkplein", Some("wijkteam-centrum"), B, h(30.0)),
    )
    .await;
    put(
        s,
        referral("huisarts-de-linde", Some("elders-zorg"), C, h(40.0)),
    )
    .await;
    // Refused for want of consent: werkplein about C twice, woonstad-noord about A once.
    put(s, referral("werkplein", None, C, h(50.0))).await;
    put(s, referral("werkplein", None, C, h(51.0))).await;
    put(s, referral("woonstad-noord", None, A, h(52.0))).await;
    // Outside: just before the window and exactly at its end.
    let before = put(
        s,
        referral("woonstad-noord", Some("wijkteam-centrum"), C, h(-0.001)),
    )
    .await;
    put(
        s,
        referral(
            "woonstad-noord",
            Some("wijkteam-centrum"),
            C,
            h(24.0 * 31.0),
        ),
    )
    .await;

    // Acceptance after 2 h, 4 h and 12 h; the first completed after 3 days, after the window
    // closed (it still counts: the cohort is by receipt). The one before the window too.
    progress(s, hw1, "wijkteam-centrum", 2.0, Some(72.0)).await;
    progress(s, hw2, "wijkteam-centrum", 14.0, None).await;
    progress(s, ew, "wijkteam-centrum", 42.0, Some(24.0 * 40.0)).await;
    progress(s, before, "wijkteam-centrum", 1.0, Some(5.0)).await;
    // 36 h 7 min 20 s: times over a day are kept to ten minutes (36 h 10 min).
    progress(
        s,
        hw3,
        "wijkteam-centrum",
        20.0 + 36.0 + 7.0 / 60.0 + 20.0 / 3600.0,
        None,
    )
    .await;

    let w = window();
    let map = sectors();
    let flows = s.sector_flows(&w, &map).await.unwrap();
    let flat: Vec<_> = flows
        .iter()
        .map(|f| (f.from.code(), f.to.code(), f.referrals, f.residents))
        .collect();
    assert_eq!(
        flat,
        vec![
            ("housing", "welfare", 3, 2),
            ("care", "unknown", 1, 1),
            ("employment", "welfare", 1, 1),
        ]
    );

    let durations = s.stage_durations(&w, &map).await.unwrap();
    let of = |stage: Stage| {
        durations
            .iter()
            .find(|d| d.sector == SectorKey::Known(Sector::Welfare) && d.stage == stage)
            .unwrap()
    };
    let acceptance = of(Stage::Acceptance);
    assert_eq!(
        acceptance.seconds,
        vec![7_200.0, 14_400.0, 43_200.0, 36.0 * 3_600.0 + 600.0]
    );
    assert_eq!(acceptance.residents, 2);
    let completion = of(Stage::Completion);
    assert_eq!(
        completion.seconds,
        vec![72.0 * 3_600.0, (24.0 * 40.0 - 30.0) * 3_600.0]
    );
    assert_eq!(completion.residents, 2);
    assert_eq!(durations.len(), 2, "only welfare accepted anything");

    let refusals = s.consent_refusals(&w, &map).await.unwrap();
    let flat: Vec<_> = refusals
        .iter()
        .map(|r| (r.sender.as_str(), r.sector, r.referrals, r.residents))
        .collect();
    assert_eq!(
        flat,
        vec![
            ("woonstad-noord", SectorKey::Known(Sector::Housing), 1, 1),
            ("werkplein", SectorKey::Known(Sector::Employment), 2, 1),
        ]
    );

    let totals = s.period_totals(&w).await.unwrap();
    assert_eq!(totals.referrals, 8);
    assert_eq!(totals.residents, 3);
    assert_eq!(
        totals.routed,
        flows.iter().map(|f| f.referrals).sum::<u64>()
    );
    assert_eq!(totals.routed_residents, 3);
    assert_eq!(totals.consent_refused, 3);
    assert_eq!(totals.refused_residents, 2);
    assert_eq!((totals.accepted, totals.accepted_residents), (4, 2));
    assert_eq!((totals.completed, totals.completed_residents), (2, 2));

    // All at once, from one snapshot: the same numbers.
    let all = s.period_aggregates(&w, &map).await.unwrap();
    assert_eq!(all.totals, totals);
    assert_eq!(all.flows, s.sector_flows(&w, &map).await.unwrap());
    assert_eq!(all.durations, durations);
    assert_eq!(all.refusals, refusals);
    assert_eq!(all.deliveries, s.delivery_outcomes(&w, &map).await.unwrap());
    assert_eq!(all.window, w);

    // An empty window answers empty, not an error.
    let empty = TimeWindow::new(h(-100.0), h(-50.0)).unwrap();
    assert!(s.sector_flows(&empty, &map).await.unwrap().is_empty());
    assert!(s.stage_durations(&empty, &map).await.unwrap().is_empty());
    assert_eq!(s.period_totals(&empty).await.unwrap().referrals, 0);
    // Without a sector map every partner is of an unknown sector.
    let flows = s
        .sector_flows(&w, &PartnerSectors::default())
        .await
        .unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!((flows[0].referrals, flows[0].residents), (5, 3));
    s.close().await;
}

#[tokio::test]
async fn times_under_an_hour_keep_their_seconds() {
    // A referral taken up within seconds (as in the demo) is not rounded away to 0 or 1 min.
    let db = common::db::TestDb::new().await;
    let store = db.open().await;
    let s: &dyn Store = &*store;
    let received = h(10.0);
    let id = put(
        s,
        referral(
            "woonstad-noord",
            Some("wijkteam-centrum"),
            "999900006",
            received,
        ),
    )
    .await;
    let after = |secs: f64| received + chrono::Duration::milliseconds((secs * 1000.0) as i64);
    let team = || Actor::Partner(partner("wijkteam-centrum"));
    for (to, at, by) in [
        (ReferralStatus::Delivered, after(2.0), Actor::Gateway),
        (ReferralStatus::Accepted, after(7.4), team()),
        (ReferralStatus::InProgress, after(20.0), team()),
        (ReferralStatus::Completed, after(42.6), team()),
    ] {
        s.apply_transition(id, step(to, at, by), vec![])
            .await
            .unwrap();
    }
    let durations = s.stage_durations(&window(), &sectors()).await.unwrap();
    let of = |stage: Stage| {
        durations
            .iter()
            .find(|d| d.stage == stage)
            .unwrap()
            .seconds
            .clone()
    };
    assert_eq!(of(Stage::Acceptance), vec![7.0]);
    assert_eq!(of(Stage::Completion), vec![43.0]);
}

#[tokio::test]
async fn delivery_outcomes_per_partner() {
    let db = common::db::TestDb::new().await;
    let store = db.open().await;
    let s: &dyn Store = &*store;
    let start = wijkbrug::store::now() - chrono::Duration::hours(1);
    for (i, bsn) in ["999900006", "999900018", "999900043"].iter().enumerate() {
        put(
            s,
            referral(
                "woonstad-noord",
                Some("wijkteam-centrum"),
                bsn,
                start + chrono::Duration::seconds(i as i64),
            ),
        )
        .await;
    }
    // Due now: the rows were queued at intake.
    let now = wijkbrug::store::now();
    let lease = Duration::from_secs(60);
    let recipients = [partner("wijkteam-centrum")];
    let claimed = s.claim_due("w", &recipients, now, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    // First: delivered at once. Second: fails once, then delivered. Third: a dead letter.
    assert!(s.complete(claimed[0].row, "w", now).await.unwrap());
    assert!(s
        .retry_later(claimed[1].row, "w", now, "HTTP 503 busy")
        .await
        .unwrap());
    assert!(s
        .dead_letter(claimed[2].row, "w", "HTTP 500 broken", now, vec![])
        .await
        .unwrap());
    let again = s.claim_due("w", &recipients, now, lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert!(s.complete(again[0].row, "w", now).await.unwrap());

    let w = TimeWindow::new(
        start - chrono::Duration::days(1),
        now + chrono::Duration::days(1),
    )
    .unwrap();
    let out = s.delivery_outcomes(&w, &sectors()).await.unwrap();
    assert_eq!(out.len(), 1, "{out:?}");
    let d = &out[0];
    assert_eq!(d.partner.as_str(), "wijkteam-centrum");
    assert_eq!(d.sector, SectorKey::Known(Sector::Welfare));
    assert_eq!(
        (
            d.deliveries,
            d.delivered,
            d.with_failures,
            d.dead_letters,
            d.dead_now,
            d.pending
        ),
        (3, 2, 2, 1, 1, 0)
    );
    // Operations retry the dead letter: no longer open, still counted as a dead letter.
    assert!(s
        .retry_dead_letter(claimed[2].row, "ops", now)
        .await
        .unwrap());
    let d = &s.delivery_outcomes(&w, &sectors()).await.unwrap()[0];
    assert_eq!((d.dead_letters, d.dead_now, d.pending), (1, 0, 1));
    s.close().await;
}
