//! Routing: which partner gets a referral whose sender named a sector rather than a partner.
//! Rules from `config/routing.toml`, first match wins; no match is a refusal, never a drop.
//!
//! A rule matches a referral sent by a partner of sector `from` to sector `to` when all of
//! its conditions hold:
//!
//! - `to_sector` (required) equals `to`, the sector the sender named;
//! - `from_sector`, if given, equals `from`, the sending partner's sector;
//! - `domain`, if given, is the life domain of *any* of the referral's needs;
//! - `postcode`, if given, contains the resident's postcode. Only a referral that carries the
//!   resident's address has one: a rule with a postcode area never matches a referral without
//!   an address.
//!
//! Rules are tried in file order and the first that matches names the partner, so put the
//! narrow rules (a domain, an area) before the broad ones (only `to_sector`).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;
use wijkbrug_adapters::model::{LifeDomain, PartnerId, Postcode, ReferralRequest, Sector};

/// One routing rule (a `[[rule]]` in `config/routing.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The sector the sender named.
    pub to_sector: Sector,
    /// Only referrals from partners of this sector.
    pub from_sector: Option<Sector>,
    /// Only referrals with a need in this life domain.
    pub domain: Option<LifeDomain>,
    /// Only residents living in this postcode area.
    pub postcode: Option<PostcodeArea>,
    /// The partner the referral goes to.
    pub partner: PartnerId,
}

impl Rule {
    /// Whether this rule sends `request` (from sector `from`, for sector `to`) to its partner.
    pub fn matches(&self, request: &ReferralRequest, from: Sector, to: Sector) -> bool {
        self.to_sector == to
            && self.from_sector.is_none_or(|s| s == from)
            && self
                .domain
                .is_none_or(|d| request.needs.iter().any(|n| n.domain == d))
            && self
                .postcode
                .is_none_or(|area| resident_postcode(request).is_some_and(|p| area.contains(p)))
    }
}

fn resident_postcode(request: &ReferralRequest) -> Option<&Postcode> {
    request
        .resident
        .contact
        .as_ref()
        .and_then(|c| c.address.as_ref())
        .map(|a| &a.postcode)
}

/// A range of 4-digit postcode numbers, inclusive: written `"1000-1099"`, or as a prefix of 1
/// to 4 digits (`"1011"` is 1011 only, `"10"` is 1000 to 1099).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostcodeArea {
    pub first: u16,
    pub last: u16,
}

impl PostcodeArea {
    /// Whether the postcode's 4 digits fall in the area.
    pub fn contains(self, postcode: &Postcode) -> bool {
        postcode
            .as_str()
            .get(..4)
            .and_then(|d| d.parse::<u16>().ok())
            .is_some_and(|n| (self.first..=self.last).contains(&n))
    }
}

/// Why a postcode area does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be a range of 4-digit postcode numbers like \"1000-1099\" (first not above last), or a prefix of 1 to 4 digits like \"1011\"")]
pub struct BadPostcodeArea;

impl FromStr for PostcodeArea {
    type Err = BadPostcodeArea;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = |t: &str, min: usize, max: usize| {
            (min..=max).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
        };
        if let Some((a, b)) = s.split_once('-') {
            if !digits(a, 4, 4) || !digits(b, 4, 4) {
                return Err(BadPostcodeArea);
            }
            let first = a.parse().map_err(|_| BadPostcodeArea)?;
            let last = b.parse().map_err(|_| BadPostcodeArea)?;
            if first > last {
                return Err(BadPostcodeArea);
            }
            return Ok(Self { first, last });
        }
        if !digits(s, 1, 4) {
            return Err(BadPostcodeArea);
        }
        let prefix: u16 = s.parse().map_err(|_| BadPostcodeArea)?;
        let scale = 10u16.pow(4 - s.len() as u32);
        Ok(Self {
            first: prefix * scale,
            last: prefix * scale + (scale - 1),
        })
    }
}

impl fmt::Display for PostcodeArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:04}", self.first, self.last)
    }
}

/// The routing rules, in file order.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    pub rules: Vec<Rule>,
}

/// No rule matched.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("no routing rule sends a referral from the {from} sector to the {to} sector for these needs; ask the gateway's operators to add one")]
pub struct NoRoute {
    pub from: Sector,
    pub to: Sector,
}

impl RoutingTable {
    pub fn new(rules: Vec<Rule>) -> Self {
        Self { rules }
    }

    /// The partner a referral for sector `to` goes to, sent by a partner of sector `from`:
    /// the partner of the first rule that matches (see the module documentation). A rule
    /// naming the sender itself is passed over: a referral never goes back to where it came
    /// from.
    pub fn route(
        &self,
        request: &ReferralRequest,
        from: Sector,
        to: Sector,
    ) -> Result<PartnerId, NoRoute> {
        self.rules
            .iter()
            .filter(|r| r.partner != request.source.partner)
            .find(|r| r.matches(request, from, to))
            .map(|r| r.partner.clone())
            .ok_or(NoRoute { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use wijkbrug_adapters::model::{
        Address, Contact, ExternalRef, HouseNumber, Need, Resident, Severity, Source, Target,
        Urgency,
    };

    fn request(domains: &[LifeDomain], postcode: Option<&str>) -> ReferralRequest {
        ReferralRequest {
            source: Source {
                partner: PartnerId::parse("woonstad-noord").unwrap(),
                reference: ExternalRef::parse("REF-1").unwrap(),
            },
            target: Target::Sector(Sector::Welfare),
            urgency: Urgency::Routine,
            requested_at: Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap(),
            resident: Resident {
                identity: None,
                contact: postcode.map(|p| Contact {
                    address: Some(Address {
                        postcode: Postcode::parse(p).unwrap(),
                        house_number: HouseNumber::new(12).unwrap(),
                        house_letter: None,
                        house_number_addition: None,
                        street: None,
                        town: None,
                    }),
                    phone: None,
                    email: None,
                }),
            },
            needs: domains
                .iter()
                .map(|d| Need::new(*d, Severity::new(2).unwrap()))
                .collect(),
            note: None,
            finance: None,
        }
    }

    fn rule(to: Sector, partner: &str) -> Rule {
        Rule {
            to_sector: to,
            from_sector: None,
            domain: None,
            postcode: None,
            partner: PartnerId::parse(partner).unwrap(),
        }
    }

    fn routed(table: &RoutingTable, req: &ReferralRequest, from: Sector, to: Sector) -> String {
        table.route(req, from, to).unwrap().to_string()
    }

    #[test]
    fn a_sector_rule_takes_every_referral_for_that_sector() {
        let table = RoutingTable::new(vec![
            rule(Sector::Employment, "werkplein"),
            rule(Sector::Welfare, "wijkteam-centrum"),
        ]);
        let req = request(&[LifeDomain::Finances], None);
        assert_eq!(
            routed(&table, &req, Sector::Housing, Sector::Welfare),
            "wijkteam-centrum"
        );
    }

    #[test]
    fn no_matching_rule_is_a_refusal_naming_both_sectors() {
        let table = RoutingTable::new(vec![rule(Sector::Employment, "werkplein")]);
        let req = request(&[LifeDomain::Finances], None);
        assert_eq!(
            table.route(&req, Sector::Housing, Sector::Care),
            Err(NoRoute {
                from: Sector::Housing,
                to: Sector::Care
            })
        );
    }

    #[test]
    fn a_from_sector_rule_only_takes_referrals_from_that_sector() {
        let table = RoutingTable::new(vec![
            Rule {
                from_sector: Some(Sector::Housing),
                ..rule(Sector::Welfare, "schuldhulp")
            },
            rule(Sector::Welfare, "wijkteam-centrum"),
        ]);
        let req = request(&[LifeDomain::Finances], None);
        assert_eq!(
            routed(&table, &req, Sector::Housing, Sector::Welfare),
            "schuldhulp"
        );
        assert_eq!(
            routed(&table, &req, Sector::Care, Sector::Welfare),
            "wijkteam-centrum"
        );
    }

    #[test]
    fn a_domain_rule_matches_when_any_need_is_in_that_domain() {
        let table = RoutingTable::new(vec![
            Rule {
                domain: Some(LifeDomain::DailyLiving),
                ..rule(Sector::Care, "thuiszorg-oost")
            },
            rule(Sector::Care, "huisarts-de-linde"),
        ]);
        let both = request(&[LifeDomain::MentalHealth, LifeDomain::DailyLiving], None);
        let mental = request(&[LifeDomain::MentalHealth], None);
        assert_eq!(
            routed(&table, &both, Sector::Welfare, Sector::Care),
            "thuiszorg-oost"
        );
        assert_eq!(
            routed(&table, &mental, Sector::Welfare, Sector::Care),
            "huisarts-de-linde"
        );
    }

    #[test]
    fn a_postcode_rule_matches_only_residents_with_an_address_in_the_area() {
        let table = RoutingTable::new(vec![
            Rule {
                postcode: Some("1000-1099".parse().unwrap()),
                ..rule(Sector::Welfare, "wijkteam-centrum")
            },
            rule(Sector::Welfare, "wijkteam-zuid"),
        ]);
        let inside = request(&[LifeDomain::Housing], Some("1011AB"));
        let outside = request(&[LifeDomain::Housing], Some("1100ZZ"));
        let unknown = request(&[LifeDomain::Housing], None);
        let to = |r| routed(&table, r, Sector::Housing, Sector::Welfare);
        assert_eq!(to(&inside), "wijkteam-centrum");
        assert_eq!(to(&outside), "wijkteam-zuid");
        assert_eq!(to(&unknown), "wijkteam-zuid");
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let table = RoutingTable::new(vec![
            rule(Sector::Housing, "woonstad-oost"),
            rule(Sector::Housing, "woonstad-zuid"),
        ]);
        let req = request(&[LifeDomain::Housing], None);
        assert_eq!(
            routed(&table, &req, Sector::Welfare, Sector::Housing),
            "woonstad-oost"
        );
    }

    #[test]
    fn postcode_areas_parse_as_ranges_or_prefixes() {
        assert_eq!(
            "1000-1099".parse(),
            Ok(PostcodeArea {
                first: 1000,
                last: 1099
            })
        );
        assert_eq!(
            "1011".parse(),
            Ok(PostcodeArea {
                first: 1011,
                last: 1011
            })
        );
        assert_eq!(
            "10".parse(),
            Ok(PostcodeArea {
                first: 1000,
                last: 1099
            })
        );
        for bad in [
            "",
            "1099-1000",
            "100-1099",
            "10000",
            "1a",
            "1000-",
            "1000-1099-2000",
        ] {
            assert_eq!(bad.parse::<PostcodeArea>(), Err(BadPostcodeArea), "{bad}");
        }
        let area: PostcodeArea = "1011".parse().unwrap();
        assert!(area.contains(&Postcode::parse("1011AB").unwrap()));
        assert!(!area.contains(&Postcode::parse("1012AB").unwrap()));
    }

    #[test]
    fn a_rule_naming_the_sender_is_passed_over() {
        let gp = PartnerId::parse("huisarts-de-linde").unwrap();
        let nurse = PartnerId::parse("thuiszorg-oost").unwrap();
        let rule = |partner: &PartnerId| Rule {
            to_sector: Sector::Care,
            from_sector: None,
            domain: None,
            postcode: None,
            partner: partner.clone(),
        };
        let table = RoutingTable::new(vec![rule(&gp), rule(&nurse)]);
        let mut r = request(&[LifeDomain::PhysicalHealth], None);
        r.source.partner = gp.clone();
        assert_eq!(table.route(&r, Sector::Care, Sector::Care), Ok(nurse));
        let only_gp = RoutingTable::new(vec![rule(&gp)]);
        assert!(only_gp.route(&r, Sector::Care, Sector::Care).is_err());
    }
}
