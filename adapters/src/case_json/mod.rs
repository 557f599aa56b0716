//! Placeholder until the adapter lands: every call reports that the format is not available.

use crate::adapter::{
    Adapter, DecodeContext, DecodeError, Directory, EncodeError, Format, OutgoingReferral,
    OutgoingStatus, Records,
};

/// The CaseJson adapter.
#[derive(Clone, Copy, Debug, Default)]
pub struct CaseJson;

impl Adapter for CaseJson {
    fn format(&self) -> Format {
        Format::CaseJson
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
