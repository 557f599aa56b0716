//! `wijkbrug translate`: run a message through one adapter's decoder and another's encoder,
//! offline, exactly as the gateway would. What integrators use to try their mapping.

use sha2::{Digest, Sha256};
use wijkbrug_adapters::adapter::{OutgoingReferral, OutgoingStatus};
use wijkbrug_adapters::model::{ReferralId, ReferralRef, ReferralRequest};
use wijkbrug_adapters::{adapter_for, DecodeContext, Directory, Format, Record};

/// One translated record.
pub struct Translated {
    pub bytes: Vec<u8>,
    pub kind: &'static str,
}

/// The translated records and notes for stderr.
pub struct Translation {
    pub records: Vec<Translated>,
    pub notes: Vec<String>,
}

/// A problem with the input, as one line for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(pub String);

/// Decodes `input` as `from` and encodes every record as `to`.
///
/// A referral that carries no gateway id gets one derived from its content (its requested-at
/// time and a hash of its sender and reference), so the same input always translates the same.
pub fn translate(
    input: &[u8],
    from: Format,
    to: Format,
    ctx: &DecodeContext,
) -> Result<Translation, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let encoder = adapter_for(to);
    for (n, record) in adapter_for(from).decode(input, ctx).enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(Problem(e.to_string()));
                continue;
            }
        };
        let encoded = match &record {
            Record::Referral(r) => {
                let id = r.gateway_id.unwrap_or_else(|| derived_id(&r.request));
                encoder
                    .encode_referral(
                        OutgoingReferral {
                            id,
                            request: &r.request,
                        },
                        &ctx.directory,
                    )
                    .map(|bytes| Translated {
                        bytes,
                        kind: "referral",
                    })
            }
            Record::Status(u) => {
                let id = match &u.referral {
                    ReferralRef::Id(id) => *id,
                    ReferralRef::External(reference) => {
                        notes.push(format!(
                            "note: record {} names its referral by the partner's reference only; the running gateway looks the referral up, offline the output carries a stand-in id derived from the reference",
                            n + 1
                        ));
                        stand_in_id(&ctx.sender, reference)
                    }
                };
                let placeholder = placeholder_request(ctx, &u.referral);
                encoder
                    .encode_status(
                        OutgoingStatus {
                            id,
                            request: &placeholder,
                            update: u,
                        },
                        &ctx.directory,
                    )
                    .map(|bytes| Translated {
                        bytes,
                        kind: "status",
                    })
            }
        };
        match encoded {
            Ok(t) => out.push(t),
            Err(e) => problems.push(Problem(format!("record {}: {e}", n + 1))),
        }
    }
    if problems.is_empty() {
        Ok(Translation {
            records: out,
            notes,
        })
    } else {
        Err(problems)
    }
}

/// A deterministic UUID v7 for a referral that has no gateway id yet.
pub fn derived_id(r: &ReferralRequest) -> ReferralId {
    let millis = u64::try_from(r.requested_at.timestamp_millis()).unwrap_or(0);
    ReferralId::from_parts(
        millis,
        digest10(r.source.partner.as_str(), r.source.reference.as_str()),
    )
}

/// A stand-in id for a status update that names its referral by reference only.
fn stand_in_id(
    sender: &wijkbrug_adapters::model::PartnerId,
    reference: &wijkbrug_adapters::model::ExternalRef,
) -> ReferralId {
    ReferralId::from_parts(0, digest10(sender.as_str(), reference.as_str()))
}

/// The first 10 bytes of SHA-256 over `a`, a zero byte and `b`: the random part of a
/// deterministic id.
fn digest10(a: &str, b: &str) -> [u8; 10] {
    let digest = Sha256::new()
        .chain_update(a.as_bytes())
        .chain_update([0])
        .chain_update(b.as_bytes())
        .finalize();
    let mut out = [0u8; 10];
    out.copy_from_slice(&digest[..10]);
    out
}

/// Offline, a status update is translated without the referral it is about: the encoders get
/// a minimal stand-in (the sender as source, no resident data). Formats that must repeat the
/// resident's data in a status message (iWmo) will say what is missing.
fn placeholder_request(ctx: &DecodeContext, r: &ReferralRef) -> ReferralRequest {
    use wijkbrug_adapters::model::*;
    let reference = match r {
        ReferralRef::External(e) => e.clone(),
        ReferralRef::Id(id) => ExternalRef::parse(&id.to_string()).unwrap_or_else(|_| {
            ExternalRef::parse("unknown").expect("literal is a valid reference")
        }),
    };
    ReferralRequest {
        source: Source {
            partner: ctx.sender.clone(),
            reference,
        },
        target: Target::Partner(ctx.sender.clone()),
        urgency: Urgency::Routine,
        requested_at: chrono::DateTime::UNIX_EPOCH,
        resident: Resident::default(),
        needs: Vec::new(),
        note: None,
        finance: None,
    }
}

/// Joins several translated records into one output where the format allows it: JSON formats
/// as a JSON array, CSV as one header with all rows. iWmo carries one message a file.
pub fn join(to: Format, records: &[Translated]) -> Result<Vec<u8>, String> {
    match records {
        [] => Ok(Vec::new()),
        [one] => Ok(one.bytes.clone()),
        many => match to {
            Format::FhirR4 | Format::HousingSignal | Format::CaseJson => {
                let values: Result<Vec<serde_json::Value>, _> =
                    many.iter().map(|t| serde_json::from_slice(&t.bytes)).collect();
                let values = values.map_err(|e| format!("internal: encoder wrote invalid JSON: {e}"))?;
                let mut out = serde_json::to_vec_pretty(&values).map_err(|e| e.to_string())?;
                out.push(b'\n');
                Ok(out)
            }
            Format::EmploymentCsv => {
                let mut out = many[0].bytes.clone();
                for t in &many[1..] {
                    // Every encoded file starts with the same one-line header.
                    let body = t
                        .bytes
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(&t.bytes[..0], |i| &t.bytes[i + 1..]);
                    out.extend_from_slice(body);
                }
                Ok(out)
            }
            Format::Iwmo32 => Err(format!(
                "the input holds {} records and iwmo-3.2 carries one message a file: use --out-dir DIR to write one file a record",
                many.len()
            )),
        },
    }
}

/// The directory to translate with, and the default sender for a format.
pub fn default_sender(
    partners: &[crate::directory::KnownPartner],
    from: Format,
    input: &[u8],
) -> String {
    if from == Format::CaseJson {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(input) {
            let doc = if v.is_array() { &v[0] } else { &v };
            if let Some(p) = doc.pointer("/source/partner").and_then(|p| p.as_str()) {
                return p.to_owned();
            }
        }
    }
    partners
        .iter()
        .find(|p| p.adapter == from)
        .map_or_else(|| "integrator".to_owned(), |p| p.entry.partner.to_string())
}

/// An empty directory (for callers that have no configuration).
pub fn empty_directory() -> Directory {
    Directory::default()
}
