//! How policy refusals reach clients: each refusal becomes an [`ApiError`] with a safety kind
//! and the policy's own words.

use pen_protocol::api::{ApiError, ErrorKind};

use crate::policy::Refusal;

impl From<&Refusal> for ApiError {
    fn from(refusal: &Refusal) -> ApiError {
        let kind = match refusal {
            Refusal::OverHardCeiling { .. }
            | Refusal::OverUsableCeiling { .. }
            | Refusal::MapsBeyondCeiling { .. } => ErrorKind::OverCeiling,
            Refusal::NotCalibrated
            | Refusal::InvalidCalibration(_)
            | Refusal::CalibrationDateUnknown
            | Refusal::CalibrationExpired { .. } => ErrorKind::NotCalibrated,
            Refusal::OutsideCalibratedRange { .. } => ErrorKind::OutsideCalibratedRange,
            Refusal::OverLimit { .. } => ErrorKind::OutsideLimits,
        };
        ApiError::new(kind, refusal.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_a_safety_refusal() {
        let refusals = [
            Refusal::OverHardCeiling { requested_um: 1200 },
            Refusal::NotCalibrated,
            Refusal::OutsideCalibratedRange {
                requested_um: 5,
                shallowest_um: 10,
                deepest_um: 900,
            },
        ];
        for refusal in &refusals {
            let error = ApiError::from(refusal);
            assert!(error.kind.is_safety_refusal(), "{refusal:?}");
            assert_eq!(error.message, refusal.to_string());
        }
    }
}
