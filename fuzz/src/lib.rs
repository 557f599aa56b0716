//! What every fuzz target shares: the test network's directory (the same partners and codes as
//! `adapters/tests/common`) and a decode that drains every record and renders every error, so
//! lazy decoders (the employment CSV reads row by row) are exercised to the end.

use wijkbrug_adapters::model::{AgbCode, MunicipalityCode, PartnerId, Sector};
use wijkbrug_adapters::{adapter_for, DecodeContext, Directory, DirectoryEntry, Format, Record};

fn entry(
    partner: &str,
    sector: Sector,
    agb: Option<&str>,
    municipality: Option<&str>,
) -> Option<DirectoryEntry> {
    Some(DirectoryEntry {
        partner: PartnerId::parse(partner).ok()?,
        sector,
        agb: match agb {
            Some(a) => Some(AgbCode::parse(a).ok()?),
            None => None,
        },
        municipality: match municipality {
            Some(m) => Some(MunicipalityCode::parse(m).ok()?),
            None => None,
        },
    })
}

/// The directory of the test network.
pub fn directory() -> Directory {
    let entries = [
        entry("woonstad-noord", Sector::Housing, None, None),
        entry("wijkteam-centrum", Sector::Welfare, None, Some("0384")),
        entry("zorggroep-oost", Sector::Welfare, Some("42420001"), None),
        entry("huisarts-de-linde", Sector::Care, Some("01001234"), None),
        entry("werkplein", Sector::Employment, None, None),
    ];
    Directory {
        entries: entries.into_iter().flatten().collect(),
        gateway_agb: AgbCode::parse("98765432").ok(),
    }
}

/// The context of a message `sender` (a partner id of the directory) sent.
pub fn ctx(sender: &str) -> DecodeContext {
    DecodeContext {
        sender: PartnerId::parse(sender).expect("the fuzz senders are valid partner ids"),
        directory: directory(),
    }
}

/// Decodes `input` as `format` from `sender`, reading every record and rendering every error
/// (what the gateway does with a partner's message). Returns how many records decoded.
pub fn decode_all(format: Format, input: &[u8], sender: &str) -> usize {
    let ctx = ctx(sender);
    let mut ok = 0;
    for r in adapter_for(format).decode(input, &ctx) {
        match r {
            Ok(Record::Referral(r)) => {
                ok += 1;
                std::hint::black_box(&r);
            }
            Ok(Record::Status(s)) => {
                ok += 1;
                std::hint::black_box(&s);
            }
            Err(e) => {
                std::hint::black_box(e.to_string());
            }
        }
    }
    ok
}
