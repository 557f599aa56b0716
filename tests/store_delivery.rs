//! The store's delivery side (leases, dead letters, the mailbox) on a real SQLite file in a
//! temporary directory, or with `WIJKBRUG_TEST_STORE=postgres` on a PostgreSQL database of the
//! test's own. Time is passed in: a lease "expires" by asking with a later `now`, never by
//! sleeping.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::db::{TestDb, TestStore};
use common::store_fixtures::{new_id, now, partner, request, routed_referral, step};
use uuid::Uuid;
use wijkbrug::store::{ConsentId, Intake, Lease, NewReferral, OutboxItem, OutboxKind};
use wijkbrug_adapters::model::{Actor, ReasonText, ReferralId, ReferralStatus, Transition};

const SENDER: &str = "woonstad-noord";
const RECEIVER: &str = "wijkteam-noord";
const OTHER: &str = "schuldhulp-noord";
const LEASE: Duration = Duration::from_secs(60);

fn in_secs(secs: i64) -> DateTime<Utc> {
    now() + chrono::Duration::seconds(secs)
}

fn referral_row(id: ReferralId, recipient: &str) -> OutboxItem {
    OutboxItem {
        referral: id,
        recipient: partner(recipient),
        kind: OutboxKind::Referral,
    }
}

fn status_row(id: ReferralId, recipient: &str, transition: u32) -> OutboxItem {
    OutboxItem {
        referral: id,
        recipient: partner(recipient),
        kind: OutboxKind::Status { transition },
    }
}

/// A routed referral with consent, its copy to deliver to `receiver`.
fn routed_to(reference: &str, receiver: &str) -> NewReferral {
    let id = new_id();
    routed_referral(
        id,
        request(reference),
        receiver,
        Some(ConsentId(Uuid::now_v7())),
    )
}

fn routed(reference: &str) -> NewReferral {
    routed_to(reference, RECEIVER)
}

/// The test's store and, beside it, a raw connection to its database.
struct Opened {
    store: TestStore,
    raw: common::db::Raw,
    _db: TestDb,
}

impl std::ops::Deref for Opened {
    type Target = TestStore;

    fn deref(&self) -> &TestStore {
        &self.store
    }
}

async fn open() -> Opened {
    let db = TestDb::new().await;
    let store = db.open().await;
    Opened {
        store,
        raw: db.raw().await,
        _db: db,
    }
}

/// Stores the referrals (from the sender) and answers their ids.
async fn store_referrals(store: &TestStore, referrals: Vec<NewReferral>) -> Vec<ReferralId> {
    let ids = referrals.iter().map(|r| r.referral.id).collect();
    store
        .intake(Intake {
            sender: partner(SENDER),
            idempotency_key: None,
            referrals,
        })
        .await
        .unwrap();
    ids
}

async fn claim(store: &TestStore, worker: &str, now: DateTime<Utc>) -> Vec<Lease> {
    store
        .claim_due(
            worker,
            &[partner(RECEIVER), partner(SENDER)],
            now,
            LEASE,
            100,
        )
        .await
        .unwrap()
}

async fn status(store: &TestStore, id: ReferralId) -> ReferralStatus {
    store
        .referral(id)
        .await
        .unwrap()
        .unwrap()
        .referral
        .history
        .current()
}

async fn last_step(store: &TestStore, id: ReferralId) -> Transition {
    let stored = store.referral(id).await.unwrap().unwrap();
    stored
        .referral
        .history
        .transitions()
        .last()
        .unwrap()
        .clone()
}

/// An outbox row as it is stored: state, attempts, locked_by, last_error.
async fn row(store: &Opened, id: i64) -> (String, i64, Option<String>, Option<String>) {
    store
        .raw
        .fetch_one(
            "SELECT state, attempts, locked_by, last_error FROM outbox WHERE id = ?",
            &[id.into()],
        )
        .await
}

#[tokio::test]
async fn a_claim_leases_the_due_rows_and_counts_the_attempt() {
    let store = open().await;
    let ids = store_referrals(&store, vec![routed("C-1"), routed("C-2")]).await;

    let leases = claim(&store, "worker-a", now()).await;

    assert_eq!(leases.len(), 2);
    for (lease, id) in leases.iter().zip(&ids) {
        assert_eq!(lease.item, referral_row(*id, RECEIVER));
        assert_eq!(lease.attempts, 1);
        assert!(lease.created_at <= now());
        let (state, attempts, locked_by, _) = row(&store, lease.row).await;
        assert_eq!(
            (state.as_str(), attempts, locked_by.as_deref()),
            ("pending", 1, Some("worker-a"))
        );
    }
}

#[tokio::test]
async fn a_claim_takes_only_rows_for_the_given_recipients_up_to_the_limit() {
    let store = open().await;
    store_referrals(
        &store,
        vec![routed("L-1"), routed("L-2"), routed_to("L-3", OTHER)],
    )
    .await;

    let one = store
        .claim_due("w", &[partner(RECEIVER)], now(), LEASE, 1)
        .await
        .unwrap();
    let other = store
        .claim_due("w", &[partner(OTHER)], now(), LEASE, 10)
        .await
        .unwrap();
    let none = store.claim_due("w", &[], now(), LEASE, 10).await.unwrap();

    assert_eq!(one.len(), 1);
    assert_eq!(one[0].item.recipient, partner(RECEIVER));
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].item.recipient, partner(OTHER));
    assert!(none.is_empty());
}

#[tokio::test]
async fn a_claim_over_several_recipients_takes_the_oldest_rows_of_them_all_in_order() {
    let store = open().await;
    store_referrals(
        &store,
        vec![
            routed_to("M-1", OTHER),
            routed("M-2"),
            routed_to("M-3", OTHER),
            routed("M-4"),
            routed_to("M-5", OTHER),
        ],
    )
    .await;
    let both = [partner(RECEIVER), partner(OTHER)];

    let first = store.claim_due("w", &both, now(), LEASE, 3).await.unwrap();
    let rest = store.claim_due("w", &both, now(), LEASE, 10).await.unwrap();

    let recipients = |leases: &[Lease]| {
        leases
            .iter()
            .map(|l| l.item.recipient.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(recipients(&first), [OTHER, RECEIVER, OTHER]);
    assert!(first.windows(2).all(|w| w[0].row < w[1].row));
    assert_eq!(recipients(&rest), [RECEIVER, OTHER]);
    assert!(first.iter().all(|f| rest.iter().all(|r| f.row < r.row)));
}

#[tokio::test]
async fn leased_rows_are_not_claimed_again_until_the_lease_expires() {
    let store = open().await;
    store_referrals(&store, vec![routed("E-1")]).await;

    let first = claim(&store, "worker-a", now()).await;
    let during = claim(&store, "worker-b", in_secs(30)).await;
    let after = claim(&store, "worker-b", in_secs(61)).await;

    assert_eq!(first.len(), 1);
    assert!(during.is_empty());
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].row, first[0].row);
    assert_eq!(after[0].attempts, 2);
    // The lease moved: the first worker can no longer finish the row.
    assert!(!store
        .complete(first[0].row, "worker-a", now())
        .await
        .unwrap());
    assert!(store
        .complete(after[0].row, "worker-b", now())
        .await
        .unwrap());
}

#[tokio::test]
async fn only_the_lease_holder_can_finish_a_row() {
    let store = open().await;
    let [id] = store_referrals(&store, vec![routed("H-1")]).await[..] else {
        panic!()
    };
    let lease = claim(&store, "worker-a", now()).await.remove(0);
    let before = row(&store, lease.row).await;

    assert!(!store.complete(lease.row, "worker-b", now()).await.unwrap());
    assert!(!store
        .retry_later(lease.row, "worker-b", in_secs(10), "503")
        .await
        .unwrap());
    assert!(!store
        .dead_letter(lease.row, "worker-b", "410 gone", now(), vec![])
        .await
        .unwrap());
    let missing = step(ReferralStatus::ConsentMissing, now(), Actor::Gateway);
    assert!(!store
        .cancel_delivery(lease.row, "worker-b", missing, vec![])
        .await
        .unwrap());

    assert_eq!(row(&store, lease.row).await, before);
    assert_eq!(status(&store, id).await, ReferralStatus::Routed);
    assert!(store.dead_letters(None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_completed_referral_row_makes_the_referral_delivered() {
    let store = open().await;
    let [id] = store_referrals(&store, vec![routed("D-1")]).await[..] else {
        panic!()
    };
    let lease = claim(&store, "worker-a", now()).await.remove(0);
    let done_at = now();

    assert!(store
        .complete(lease.row, "worker-a", done_at)
        .await
        .unwrap());

    assert_eq!(
        last_step(&store, id).await,
        step(ReferralStatus::Delivered, done_at, Actor::Gateway)
    );
    assert_eq!(row(&store, lease.row).await.0, "delivered");
    // Done is done: not again, and never claimed again.
    assert!(!store.complete(lease.row, "worker-a", now()).await.unwrap());
    assert!(claim(&store, "worker-a", in_secs(3600)).await.is_empty());
}

#[tokio::test]
async fn a_row_delivered_after_its_referral_was_cancelled_is_only_marked() {
    let store = open().await;
    let [id] = store_referrals(&store, vec![routed("D-2")]).await[..] else {
        panic!()
    };
    let lease = claim(&store, "worker-a", now()).await.remove(0);
    let cancelled = step(
        ReferralStatus::Cancelled,
        now(),
        Actor::Partner(partner(SENDER)),
    );
    store.apply_transition(id, cancelled, vec![]).await.unwrap();

    assert!(store.complete(lease.row, "worker-a", now()).await.unwrap());

    assert_eq!(status(&store, id).await, ReferralStatus::Cancelled);
    assert_eq!(row(&store, lease.row).await.0, "delivered");
}

#[tokio::test]
async fn a_second_row_for_the_same_referral_and_recipient_waits_for_the_first() {
    let store = open().await;
    let mut new = routed("O-1");
    let id = new.referral.id;
    new.outbox.push(status_row(id, RECEIVER, 1));
    new.outbox.push(status_row(id, SENDER, 1));
    store_referrals(&store, vec![new]).await;

    let first = claim(&store, "worker-a", now()).await;
    // The sender's notice does not wait for the receiver's rows.
    assert_eq!(
        first.iter().map(|l| l.item.clone()).collect::<Vec<_>>(),
        [referral_row(id, RECEIVER), status_row(id, SENDER, 1)]
    );
    // Not while the first is pending, even once its lease has expired (then the first is
    // claimed again, not the second).
    let retaken = claim(&store, "worker-b", in_secs(120)).await;
    assert_eq!(
        retaken.iter().map(|l| l.row).collect::<Vec<_>>(),
        first.iter().map(|l| l.row).collect::<Vec<_>>()
    );

    assert!(store
        .complete(first[0].row, "worker-b", now())
        .await
        .unwrap());
    let second = claim(&store, "worker-a", now()).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].item, status_row(id, RECEIVER, 1));
}

#[tokio::test]
async fn a_retried_row_waits_until_its_next_attempt() {
    let store = open().await;
    store_referrals(&store, vec![routed("R-1")]).await;
    let lease = claim(&store, "worker-a", now()).await.remove(0);

    assert!(store
        .retry_later(lease.row, "worker-a", in_secs(300), "503 unavailable")
        .await
        .unwrap());

    let (state, attempts, locked_by, error) = row(&store, lease.row).await;
    assert_eq!(
        (state.as_str(), attempts, locked_by, error.as_deref()),
        ("pending", 1, None, Some("503 unavailable"))
    );
    assert!(claim(&store, "worker-a", in_secs(200)).await.is_empty());
    let again = claim(&store, "worker-b", in_secs(301)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
}

#[tokio::test]
async fn a_dead_letter_makes_the_referral_undeliverable_notifies_the_sender_and_is_listed() {
    let store = open().await;
    let [id] = store_referrals(&store, vec![routed("X-1")]).await[..] else {
        panic!()
    };
    let lease = claim(&store, "worker-a", now()).await.remove(0);
    let failed_at = now();
    // The store fills in the index of the undeliverable transition.
    let notice = status_row(id, SENDER, 0);

    assert!(store
        .dead_letter(lease.row, "worker-a", "410 gone", failed_at, vec![notice])
        .await
        .unwrap());

    let mut undeliverable = step(ReferralStatus::Undeliverable, failed_at, Actor::Gateway);
    undeliverable.reason = Some(ReasonText::parse("410 gone").unwrap());
    undeliverable.reason_code = Some("undeliverable".to_owned());
    assert_eq!(last_step(&store, id).await, undeliverable);
    assert_eq!(
        store.outbox_for(id).await.unwrap(),
        [referral_row(id, RECEIVER), status_row(id, SENDER, 2)]
    );
    let dead = store.dead_letters(None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].row, lease.row);
    assert_eq!(dead[0].item, referral_row(id, RECEIVER));
    assert_eq!(dead[0].attempts, 1);
    assert_eq!(dead[0].last_error, "410 gone");
    assert_eq!(dead[0].failed_at, failed_at);
    assert_eq!(dead[0].created_at, lease.created_at);
    // The notice goes out; the dead row does not.
    let next = claim(&store, "worker-a", in_secs(1)).await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].item, status_row(id, SENDER, 2));
}

#[tokio::test]
async fn dead_letters_are_listed_newest_first_in_pages() {
    let store = open().await;
    store_referrals(
        &store,
        vec![routed("P-1"), routed("P-2"), routed("P-3"), routed("P-4")],
    )
    .await;
    let leases = claim(&store, "w", now()).await;
    // Failed in another order than queued: 3rd, 1st, 4th, 2nd.
    for (i, n) in [2, 0, 3, 1].into_iter().enumerate() {
        let failed_at = in_secs(i64::try_from(i).unwrap());
        assert!(store
            .dead_letter(leases[n].row, "w", "timeout", failed_at, vec![])
            .await
            .unwrap());
    }
    let expected: Vec<i64> = [1, 3, 0, 2].into_iter().map(|n| leases[n].row).collect();

    let first = store.dead_letters(None, 2).await.unwrap();
    let second = store.dead_letters(Some(first[1].row), 2).await.unwrap();
    let rest = store.dead_letters(Some(second[1].row), 2).await.unwrap();

    let listed: Vec<i64> = first.iter().chain(&second).map(|d| d.row).collect();
    assert_eq!(listed, expected);
    assert!(rest.is_empty());
}

#[tokio::test]
async fn a_retried_dead_letter_is_routed_again_and_claimable() {
    let store = open().await;
    let [id] = store_referrals(&store, vec![routed("Y-1")]).await[..] else {
        panic!()
    };
    let lease = claim(&store, "worker-a", now()).await.remove(0);
    store
        .dead_letter(lease.row, "worker-a", "410 gone", now(), vec![])
        .await
        .unwrap();
    let retried_at = now();

    assert!(store
        .retry_dead_letter(lease.row, "desk-1", retried_at)
        .await
        .unwrap());

    assert_eq!(
        last_step(&store, id).await,
        step(
            ReferralStatus::Routed,
            retried_at,
            Actor::Operator("desk-1".to_owned())
        )
    );
    assert!(store.dead_letters(None, 10).await.unwrap().is_empty());
    // Not twice: it is no longer a dead letter.
    assert!(!store
        .retry_dead_letter(lease.row, "desk-1", now())
        .await
        .unwrap());
    let again = claim(&store, "worker-b", in_secs(1)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].row, lease.row);
    assert_eq!(again[0].attempts, 1);
    assert!(store.complete(lease.row, "worker-b", now()).await.unwrap());
    assert_eq!(status(&store, id).await, ReferralStatus::Delivered);
}

#[tokio::test]
async fn a_discarded_dead_letter_cancels_the_referral() {
    let store = open().await;
    let [id] = store_referrals(&store, vec![routed("Z-1")]).await[..] else {
        panic!()
    };
    let lease = claim(&store, "worker-a", now()).await.remove(0);
    store
        .dead_letter(lease.row, "worker-a", "410 gone", now(), vec![])
        .await
        .unwrap();
    let discarded_at = now();

    assert!(store
        .discard_dead_letter(lease.row, "desk-1", discarded_at)
        .await
        .unwrap());

    assert_eq!(
        last_step(&store, id).await,
        step(
            ReferralStatus::Cancelled,
            discarded_at,
            Actor::Operator("desk-1".to_owned())
        )
    );
    assert_eq!(row(&store, lease.row).await.0, "discarded");
    assert!(store.dead_letters(None, 10).await.unwrap().is_empty());
    assert!(!store
        .discard_dead_letter(lease.row, "desk-1", now())
        .await
        .unwrap());
    assert!(!store
        .retry_dead_letter(lease.row, "desk-1", now())
        .await
        .unwrap());
    assert!(claim(&store, "worker-a", in_secs(3600)).await.is_empty());
}

#[tokio::test]
async fn only_dead_letters_can_be_retried_or_discarded() {
    let store = open().await;
    let [id] = store_referrals(&store, vec![routed("N-1")]).await[..] else {
        panic!()
    };
    let lease = claim(&store, "worker-a", now()).await.remove(0);

    assert!(!store
        .retry_dead_letter(lease.row, "desk-1", now())
        .await
        .unwrap());
    assert!(!store
        .discard_dead_letter(lease.row, "desk-1", now())
        .await
        .unwrap());
    assert!(!store
        .retry_dead_letter(9999, "desk-1", now())
        .await
        .unwrap());

    assert_eq!(row(&store, lease.row).await.0, "pending");
    assert_eq!(status(&store, id).await, ReferralStatus::Routed);
}

#[tokio::test]
async fn a_cancelled_delivery_records_consent_missing_and_notifies_the_sender() {
    let store = open().await;
    let [id] = store_referrals(&store, vec![routed("K-1")]).await[..] else {
        panic!()
    };
    let lease = claim(&store, "worker-a", now()).await.remove(0);
    let mut missing = step(ReferralStatus::ConsentMissing, now(), Actor::Gateway);
    missing.reason = Some(ReasonText::parse("the consent was revoked").unwrap());
    missing.reason_code = Some("consent-missing".to_owned());

    assert!(store
        .cancel_delivery(
            lease.row,
            "worker-a",
            missing.clone(),
            vec![status_row(id, SENDER, 0)]
        )
        .await
        .unwrap());

    assert_eq!(last_step(&store, id).await, missing);
    assert_eq!(row(&store, lease.row).await.0, "cancelled");
    assert_eq!(
        store.outbox_for(id).await.unwrap(),
        [referral_row(id, RECEIVER), status_row(id, SENDER, 2)]
    );
    assert!(store.dead_letters(None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_mailbox_offers_hides_offers_again_and_takes_acks() {
    let store = open().await;
    let ids = store_referrals(&store, vec![routed("M-1"), routed("M-2")]).await;
    let visibility = Duration::from_secs(30);
    let receiver = partner(RECEIVER);

    let offered = store
        .mailbox_offer(&receiver, None, now(), visibility, 10)
        .await
        .unwrap();
    assert_eq!(
        offered.iter().map(|l| l.item.clone()).collect::<Vec<_>>(),
        [
            referral_row(ids[0], RECEIVER),
            referral_row(ids[1], RECEIVER)
        ]
    );
    assert!(offered.iter().all(|l| l.attempts == 1));
    // Hidden while offered, and never to a push worker.
    assert!(store
        .mailbox_offer(&receiver, None, in_secs(10), visibility, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(claim(&store, "worker-a", in_secs(10)).await.is_empty());
    // The cursor skips what the partner has already seen.
    let after_first = store
        .mailbox_offer(&receiver, Some(offered[0].row), in_secs(31), visibility, 10)
        .await
        .unwrap();
    assert_eq!(after_first.len(), 1);
    assert_eq!(after_first[0].row, offered[1].row);
    assert_eq!(after_first[0].attempts, 2);

    // Another partner cannot acknowledge the receiver's row, nor see it.
    let other = partner(OTHER);
    assert!(!store
        .mailbox_ack(&other, offered[0].row, now())
        .await
        .unwrap());
    assert!(store
        .mailbox_offer(&other, None, in_secs(100), visibility, 10)
        .await
        .unwrap()
        .is_empty());

    // An ack after the visibility expired is still taken while the row is pending.
    let acked_at = in_secs(100);
    assert!(store
        .mailbox_ack(&receiver, offered[0].row, acked_at)
        .await
        .unwrap());
    assert_eq!(
        last_step(&store, ids[0]).await,
        step(ReferralStatus::Delivered, acked_at, Actor::Gateway)
    );
    assert!(!store
        .mailbox_ack(&receiver, offered[0].row, acked_at)
        .await
        .unwrap());
    let left = store
        .mailbox_offer(&receiver, None, in_secs(100), visibility, 10)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].row, offered[1].row);
    assert_eq!(status(&store, ids[1]).await, ReferralStatus::Routed);
}

#[tokio::test]
async fn the_mailbox_offers_one_row_per_referral_at_a_time() {
    let store = open().await;
    let mut new = routed("M-3");
    let id = new.referral.id;
    new.outbox.push(status_row(id, RECEIVER, 1));
    store_referrals(&store, vec![new]).await;
    let receiver = partner(RECEIVER);
    let visibility = Duration::from_secs(30);

    let first = store
        .mailbox_offer(&receiver, None, now(), visibility, 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].item, referral_row(id, RECEIVER));
    // A row that was never offered cannot be acknowledged.
    assert!(!store
        .mailbox_ack(&receiver, first[0].row + 1, now())
        .await
        .unwrap());

    assert!(store
        .mailbox_ack(&receiver, first[0].row, now())
        .await
        .unwrap());
    let second = store
        .mailbox_offer(&receiver, Some(first[0].row), now(), visibility, 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].item, status_row(id, RECEIVER, 1));
}

#[tokio::test]
async fn concurrent_claims_never_hand_out_the_same_row() {
    let opened = open().await;
    let referrals = (0..50).map(|n| routed(&format!("Q-{n}"))).collect();
    store_referrals(&opened, referrals).await;
    let store = opened.shared();

    let workers: Vec<_> = ["worker-a", "worker-b"]
        .into_iter()
        .map(|worker| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut rows = Vec::new();
                loop {
                    let leases = store
                        .claim_due(worker, &[partner(RECEIVER)], now(), LEASE, 3)
                        .await
                        .unwrap();
                    if leases.is_empty() {
                        return rows;
                    }
                    rows.extend(leases.into_iter().map(|l| l.row));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }

    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 50);
    assert_eq!(distinct.len(), 50);
}

#[tokio::test]
async fn referral_counts_and_the_outbox_backlog_per_recipient() {
    let store = open().await;
    assert!(store.referral_counts().await.unwrap().is_empty());
    assert!(store.outbox_backlog(now()).await.unwrap().is_empty());
    let ids = store_referrals(
        &store,
        vec![
            routed("M-1"),
            routed("M-2"),
            routed("M-3"),
            routed_to("M-4", OTHER),
        ],
    )
    .await;
    let queued_by = now();

    // One delivered, one dead, one retried later; the row for OTHER stays due.
    let leases = claim(&store, "w", now()).await;
    assert_eq!(leases.len(), 3);
    let of = |id: ReferralId| leases.iter().find(|l| l.item.referral == id).unwrap().row;
    assert!(store.complete(of(ids[0]), "w", now()).await.unwrap());
    assert!(store
        .dead_letter(of(ids[1]), "w", "HTTP 400 Bad Request", now(), vec![])
        .await
        .unwrap());
    assert!(store
        .retry_later(of(ids[2]), "w", in_secs(600), "HTTP 503")
        .await
        .unwrap());

    let mut counts: Vec<(ReferralStatus, String, u64)> = store
        .referral_counts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.status, c.receiver.unwrap().to_string(), c.count))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [
            (ReferralStatus::Routed, OTHER.to_owned(), 1),
            (ReferralStatus::Routed, RECEIVER.to_owned(), 1),
            (ReferralStatus::Delivered, RECEIVER.to_owned(), 1),
            (ReferralStatus::Undeliverable, RECEIVER.to_owned(), 1),
        ]
    );

    let at = now();
    let backlog = store.outbox_backlog(at).await.unwrap();
    let recipients: Vec<&str> = backlog.iter().map(|b| b.recipient.as_str()).collect();
    assert_eq!(recipients, [OTHER, RECEIVER]);
    let other = &backlog[0];
    assert_eq!((other.pending, other.due, other.dead), (1, 1, 0));
    let queued = other.oldest_due_queued_at.unwrap();
    assert!(queued <= queued_by && queued <= at);
    let receiver = &backlog[1];
    // The retried row is pending but not due; the dead letter counts as dead.
    assert_eq!((receiver.pending, receiver.due, receiver.dead), (1, 0, 1));
    assert_eq!(receiver.oldest_due_queued_at, None);
    // Ten minutes on, the retried row is due too.
    let later = store.outbox_backlog(in_secs(601)).await.unwrap();
    assert_eq!((later[1].pending, later[1].due), (1, 1));
    assert!(later[1].oldest_due_queued_at.unwrap() <= queued_by);
}
