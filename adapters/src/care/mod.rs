//! Placeholder until the adapter lands: every call reports that the format is not available.

use crate::adapter::{
    Adapter, DecodeContext, DecodeError, Directory, EncodeError, Format, OutgoingReferral,
    OutgoingStatus, Records,
};

/// The FhirR4 adapter.
#[derive(Clone, Copy, Debug, Default)]
pub struct FhirR4;

impl Adapter for FhirR4 {
    fn format(&self) -> Format {
        Format::FhirR4
    }

    fn decode<'a>(&'a self, _input: &'a [u8], _ctx: &'a DecodeContext) -> Records<'a> {
        Box::new(std::iter::once(Err(DecodeError::document(
            "not available yet",
        ))))
    }

    fn encode_referral(
        &self,
        _referral: OutgoingReferral<'_>,
        _directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError> {
        Err(EncodeError::Unsupported {
            format: self.format(),
            what: "anything yet".into(),
        })
    }

    fn encode_status(
        &self,
        _status: OutgoingStatus<'_>,
        _directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError> {
        Err(EncodeError::Unsupported {
            format: self.format(),
            what: "anything yet".into(),
        })
    }
}
