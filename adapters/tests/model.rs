//! The case model's cross-field behaviour: minimisation per data category.

mod common;

use common::*;
use proptest::prelude::*;
use wijkbrug_adapters::model::*;

fn only(c: DataCategory) -> CategorySet {
    [c].into_iter().collect()
}

fn full() -> ReferralRequest {
    sample_request("woonstad-noord", Target::Sector(Sector::Welfare))
}

#[test]
fn the_sample_holds_data_in_every_category() {
    assert_eq!(full().categories_present(), CategorySet::all());
}

#[test]
fn minimising_to_everything_changes_nothing() {
    let r = full();
    let (m, removed) = r.minimise(CategorySet::all());
    assert_eq!(m, r);
    assert!(removed.is_empty());
}

#[test]
fn minimising_to_nothing_keeps_only_the_envelope() {
    let r = full();
    let (m, removed) = r.minimise(CategorySet::empty());
    assert_eq!(removed, CategorySet::all());
    assert_eq!(m.source, r.source);
    assert_eq!(m.target, r.target);
    assert_eq!(m.urgency, r.urgency);
    assert_eq!(m.requested_at, r.requested_at);
    assert_eq!(m.resident, Resident::default());
    assert!(m.needs.is_empty() && m.note.is_none() && m.finance.is_none());
}

#[test]
fn identity_alone_keeps_the_identity_and_nothing_else() {
    let (m, removed) = full().minimise(only(DataCategory::Identity));
    assert!(m.resident.identity.is_some());
    assert!(m.resident.contact.is_none());
    assert!(m.needs.is_empty());
    assert_eq!(
        removed,
        CategorySet::all().difference(only(DataCategory::Identity))
    );
}

#[test]
fn contact_alone_keeps_the_contact_details() {
    let (m, _) = full().minimise(only(DataCategory::Contact));
    assert!(m.resident.identity.is_none());
    assert_eq!(m.resident.contact, full().resident.contact);
}

#[test]
fn needs_without_health_drops_health_needs_and_all_notes() {
    let (m, removed) = full().minimise(only(DataCategory::Needs));
    assert_eq!(m.needs.len(), 1);
    assert_eq!(m.needs[0].domain, LifeDomain::Finances);
    assert!(m.needs[0].note.is_none(), "notes are their own category");
    assert!(m.note.is_none());
    assert!(removed.contains(DataCategory::Health));
    assert!(removed.contains(DataCategory::Notes));
}

#[test]
fn health_alone_keeps_only_health_needs() {
    let (m, _) = full().minimise(only(DataCategory::Health));
    assert_eq!(m.needs.len(), 1);
    assert_eq!(m.needs[0].domain, LifeDomain::MentalHealth);
}

#[test]
fn notes_travel_only_with_their_need() {
    let set: CategorySet = [DataCategory::Needs, DataCategory::Notes]
        .into_iter()
        .collect();
    let (m, removed) = full().minimise(set);
    assert_eq!(m.needs.len(), 1);
    assert!(m.needs[0].note.is_some());
    assert!(m.note.is_some());
    assert!(!removed.contains(DataCategory::Notes));
    let (m, _) = full().minimise(only(DataCategory::Notes));
    assert!(m.needs.is_empty(), "a note without its need is not shared");
    assert!(m.note.is_some());
}

#[test]
fn finance_alone_keeps_the_arrears() {
    let (m, _) = full().minimise(only(DataCategory::Finance));
    assert_eq!(m.finance, full().finance);
    assert!(m.resident.identity.is_none() && m.needs.is_empty());
}

proptest! {
    #[test]
    fn a_minimised_referral_holds_no_category_outside_the_allowed_set(
        r in request(), bits in 0u8..64
    ) {
        let allowed: CategorySet = DataCategory::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, c)| c)
            .collect();
        let (m, removed) = r.minimise(allowed);
        prop_assert!(m.categories_present().difference(allowed).is_empty());
        prop_assert_eq!(removed, r.categories_present().difference(allowed));
        // Minimising twice changes nothing more.
        prop_assert_eq!(m.minimise(allowed).0, m);
    }
}
