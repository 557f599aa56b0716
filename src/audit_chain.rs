//! Walking the audit chain kept in a store: `wijkbrug audit verify`, the audit-chain status
//! route and the dashboard all use [`check`].

use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::{BrokenLink, Verifier};
use crate::store::{Store, StoreError};

/// How many events are read at a time.
pub const PAGE: usize = 1000;

/// A chain head written down earlier (`<seq>:<64 hex digits>`, as `audit verify` prints it):
/// the chain must still hold event `seq` with exactly this hash. Anchors kept outside the
/// store catch what the chain alone cannot: deleting the newest events, or rewriting the
/// chain and recomputing every hash after an edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub seq: u64,
    pub hash: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an anchor is <seq>:<64 hex digits>, as `wijkbrug audit verify` prints the head")]
pub struct BadAnchor;

impl std::str::FromStr for Anchor {
    type Err = BadAnchor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (seq, hash) = s.trim().split_once(':').ok_or(BadAnchor)?;
        let seq: u64 = seq.parse().map_err(|_| BadAnchor)?;
        let mut out = [0u8; 32];
        if seq == 0 || hash.len() != 64 {
            return Err(BadAnchor);
        }
        hex::decode_to_slice(hash, &mut out).map_err(|_| BadAnchor)?;
        Ok(Self { seq, hash: out })
    }
}

/// The outcome of walking the chain from its first event to its last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChainCheck {
    /// Events checked and found linked (all of them when `intact`).
    pub events: u64,
    /// The hash of the last intact event (hex), if there is one: a value to anchor outside
    /// the store (written down, or sent elsewhere) so that deleting the newest events shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
    pub intact: bool,
    /// The first broken link's event number, when not intact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<u64>,
    /// Why it is broken (no event contents: numbers and a reason).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl std::fmt::Display for ChainCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.broken_at, &self.reason) {
            (Some(seq), Some(why)) => write!(f, "audit chain broken at event {seq}: {why}")?,
            _ => write!(f, "audit chain intact: {} events", self.events)?,
        }
        match self.head() {
            Some(head) if self.intact => write!(f, "\nhead: {head}"),
            _ => Ok(()),
        }
    }
}

impl ChainCheck {
    /// The head as an anchor to write down: `<seq>:<hash>` of the last intact event.
    pub fn head(&self) -> Option<String> {
        self.head_hash
            .as_ref()
            .map(|h| format!("{}:{h}", self.events))
    }
}

/// [`check`], then each anchor: an intact chain that no longer holds an anchored event, or
/// holds it with another hash, is broken there.
pub async fn check_with_anchors(
    store: &dyn Store,
    anchors: &[Anchor],
) -> Result<ChainCheck, StoreError> {
    let mut result = check(store).await?;
    if !result.intact {
        return Ok(result);
    }
    for anchor in anchors {
        let why = if anchor.seq > result.events {
            Some(format!(
                "the chain ends at event {} but event {} was anchored: the newest events were removed",
                result.events, anchor.seq
            ))
        } else {
            anchored(store, anchor).await?.map(|_| {
                format!(
                    "its hash differs from the anchored one: the chain was rewritten at or before event {}",
                    anchor.seq
                )
            })
        };
        if let Some(why) = why {
            result.intact = false;
            result.broken_at = Some(anchor.seq);
            result.reason = Some(why);
            return Ok(result);
        }
    }
    Ok(result)
}

/// How the store's event differs from an anchor.
enum Unlike {
    /// The store holds no event with the anchor's number.
    Gone,
    /// It holds one with another hash.
    OtherHash,
}

/// Whether the store still holds `anchor`'s event with the anchored hash (`None`), and if
/// not, how it differs.
async fn anchored(store: &dyn Store, anchor: &Anchor) -> Result<Option<Unlike>, StoreError> {
    let events = store.audit_events(anchor.seq.saturating_sub(1), 1).await?;
    Ok(match events.first() {
        Some(e) if e.seq == anchor.seq && e.hash == anchor.hash => None,
        Some(e) if e.seq == anchor.seq => Some(Unlike::OtherHash),
        _ => Some(Unlike::Gone),
    })
}

/// Walks the whole chain in pages of [`PAGE`] and reports the first broken link. A row that
/// cannot be read at all is a broken link too (found by reading one at a time near it).
/// `Err` only when the store cannot be read.
pub async fn check(store: &dyn Store) -> Result<ChainCheck, StoreError> {
    Ok(walk(store, Verifier::default(), None).await?.check)
}

/// Where an intact walk ended: the last event it verified and that event's hash, from which a
/// later walk can go on ([`check_from`]) instead of walking the whole chain again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resume {
    verifier: Verifier,
    head: [u8; 32],
}

/// A walk's outcome and how far it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walk {
    pub check: ChainCheck,
    /// Events this walk verified (all of them for a walk from the start; those appended since
    /// `from` for [`check_from`]).
    pub walked: u64,
    /// Where a later walk can go on from, when the chain was found intact.
    pub resume: Option<Resume>,
}

/// Walks the events appended after `from` (the whole chain when `from` is `None`): first
/// checks that the event `from` ended at is still there with the same hash (an anchor kept in
/// memory: removing the newest events, or rewriting the chain and recomputing the hashes up to
/// there, shows), then checks every later event's link. An edit of an older event that leaves
/// the later ones alone breaks a link that only a walk over it finds: [`check`] and walks
/// from `None` find it.
pub async fn check_from(store: &dyn Store, from: Option<&Resume>) -> Result<Walk, StoreError> {
    let Some(from) = from else {
        return walk(store, Verifier::default(), None).await;
    };
    let seq = from.verifier.count();
    let head = Anchor {
        seq,
        hash: from.head,
    };
    let why = match anchored(store, &head).await {
        Ok(None) => None,
        Ok(Some(Unlike::OtherHash)) => Some(format!(
            "its hash differs from the one found at the last walk: the chain was rewritten at or before event {seq}"
        )),
        Ok(Some(Unlike::Gone)) => Some(
            "the event is gone since the last walk, which ended there: events were removed"
                .to_owned(),
        ),
        Err(StoreError::Corrupt(why)) => Some(format!("the event cannot be read: {why}")),
        Err(e) => return Err(e),
    };
    if let Some(why) = why {
        return Ok(Walk {
            check: ChainCheck {
                events: seq.saturating_sub(1),
                head_hash: None,
                intact: false,
                broken_at: Some(seq),
                reason: Some(why),
            },
            walked: 0,
            resume: None,
        });
    }
    walk(store, from.verifier.clone(), Some(from.head)).await
}

/// Walks from `verifier` (which has verified the events up to its count, the last with hash
/// `head`) to the end of the chain.
async fn walk(
    store: &dyn Store,
    mut verifier: Verifier,
    mut head: Option<[u8; 32]>,
) -> Result<Walk, StoreError> {
    let start = verifier.count();
    let mut after = start;
    let mut limit = PAGE;
    let broken = |verifier: &Verifier, head: Option<[u8; 32]>, seq: u64, why: String| Walk {
        check: ChainCheck {
            events: verifier.count(),
            head_hash: head.map(hex::encode),
            intact: false,
            broken_at: Some(seq),
            reason: Some(why),
        },
        walked: verifier.count() - start,
        resume: None,
    };
    loop {
        let page = match store.audit_events(after, limit).await {
            Ok(p) => p,
            Err(StoreError::Corrupt(_)) if limit > 1 => {
                limit = 1;
                continue;
            }
            Err(StoreError::Corrupt(why)) => {
                let seq = verifier.count() + 1;
                return Ok(broken(
                    &verifier,
                    head,
                    seq,
                    format!("the event cannot be read: {why}"),
                ));
            }
            Err(e) => return Err(e),
        };
        let Some(last) = page.last() else {
            return Ok(Walk {
                check: ChainCheck {
                    events: verifier.count(),
                    head_hash: head.map(hex::encode),
                    intact: true,
                    broken_at: None,
                    reason: None,
                },
                walked: verifier.count() - start,
                resume: head.map(|head| Resume {
                    verifier: verifier.clone(),
                    head,
                }),
            });
        };
        after = last.seq;
        let (checked, checked_head, outcome) = verify_page(verifier, head, page).await?;
        verifier = checked;
        head = checked_head;
        if let Err(b) = outcome {
            return Ok(broken(&verifier, head, b.seq, b.why));
        }
    }
}

/// Checks one page's events in order, from `verifier` and the `head` before them; the
/// verifier and head after them, and the first broken link if there is one.
///
/// Verifying is CPU work (a canonical encoding and a hash per event, 4 to 9 microseconds
/// each): it runs on a blocking thread, so a walk of a long chain does not hold one of the
/// runtime's workers, which serve the partners' requests, for a page at a time (two workers
/// on two cores: half of the gateway's request capacity while the watcher walks).
async fn verify_page(
    mut verifier: Verifier,
    mut head: Option<[u8; 32]>,
    page: Vec<crate::audit::AuditEvent>,
) -> Result<(Verifier, Option<[u8; 32]>, Result<(), BrokenLink>), StoreError> {
    tokio::task::spawn_blocking(move || {
        for event in &page {
            if let Err(b) = verifier.push(event) {
                return (verifier, head, Err(b));
            }
            head = Some(event.hash);
        }
        (verifier, head, Ok(()))
    })
    .await
    .map_err(|e| StoreError::Unavailable(format!("the audit chain's walk stopped: {e}")))
}
