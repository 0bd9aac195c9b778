//! Signed limits bundles: what a field service engineer flashes into a pen.
//!
//! A bundle is bytes: `postcard(LimitsBundle { key_id, body, signature })`, where `body` is
//! `postcard(LimitsBody)` and `signature` is Ed25519 over [`LIMITS_DOMAIN`] followed by
//! `body`. The body is decoded only after the signature over its bytes has verified, with
//! strict verification, by a trusted key that is not retired. [`verify_bundle`] is the one
//! implementation of every check; the daemon and the pen's firmware both call it, so a
//! daemon bypassed or compromised still meets the same checks in the pen.
//!
//! Fail closed: every way a bundle can be wrong has its own [`LimitsError`], and nothing
//! about it is trusted until all checks pass.

use core::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::pen::ShortText;
use crate::units::{StrokeRate, CEILING_UM};

/// What the signature covers, before the body: so a signature made for anything else can
/// never pass for a limits signature.
pub const LIMITS_DOMAIN: &[u8] = b"pen-limits-bundle-v1\0";

/// Largest bundle file accepted, bytes; checked before anything is decoded.
pub const MAX_BUNDLE_LEN: usize = 256;

/// Largest signed body, bytes.
pub const MAX_BODY_LEN: usize = 128;

/// A signing key's id: the first 8 bytes of SHA-256 of its public key.
pub type KeyId = [u8; 8];

/// The id of the key with public bytes `public`.
pub fn key_id(public: &[u8; 32]) -> KeyId {
    let digest = Sha256::digest(public);
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    id
}

/// The limits a pen enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct Limits {
    /// Deepest calibrated depth allowed, micrometres; at most [`CEILING_UM`].
    pub max_depth_um: u16,
    /// Slowest stroke rate allowed, strokes per second.
    pub stroke_rate_min: u16,
    /// Fastest stroke rate allowed, strokes per second.
    pub stroke_rate_max: u16,
    /// The oldest a calibration may be before the pen gets no depth, days.
    pub calibration_interval_days: u16,
}

impl Limits {
    /// The limits of a pen that holds no bundle: the hard ceiling, the motor's full stroke
    /// range, and a year between calibrations.
    pub const DEFAULT: Limits = Limits {
        max_depth_um: CEILING_UM,
        stroke_rate_min: StrokeRate::MIN,
        stroke_rate_max: StrokeRate::MAX,
        calibration_interval_days: 365,
    };

    /// Checks the limits make sense and stay under the hard ceiling.
    pub fn check(&self) -> Result<(), LimitsError> {
        if self.max_depth_um > CEILING_UM {
            return Err(LimitsError::OverCeiling {
                max_depth_um: self.max_depth_um,
            });
        }
        let rates_ok = self.stroke_rate_min >= StrokeRate::MIN
            && self.stroke_rate_max <= StrokeRate::MAX
            && self.stroke_rate_min <= self.stroke_rate_max;
        if !rates_ok || self.calibration_interval_days == 0 {
            return Err(LimitsError::Nonsense);
        }
        Ok(())
    }
}

/// The signed content of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct LimitsBody {
    /// The one pen this bundle is for.
    pub serial: ShortText,
    /// The limits.
    pub limits: Limits,
    /// Strictly increasing per pen: a bundle whose counter is not above the pen's is a
    /// rollback and refused (equal too).
    pub counter: u32,
    /// When it was issued, seconds since the Unix epoch.
    pub issued_unix_s: u64,
    /// The signing key's id (also outside, to find the key; both must agree).
    pub key_id: KeyId,
}

/// A bundle as stored and sent: the body still as bytes until its signature is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct LimitsBundle {
    /// Which key signed it.
    pub key_id: KeyId,
    /// `postcard(LimitsBody)`.
    pub body: heapless::Vec<u8, MAX_BODY_LEN>,
    /// Ed25519 over `LIMITS_DOMAIN || body`; 64 bytes, or empty when unsigned.
    pub signature: heapless::Vec<u8, 64>,
}

/// A public key the verifier may trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedKey {
    /// The public key.
    pub public: [u8; 32],
    /// Retired: still known, no longer accepted.
    pub retired: bool,
}

/// Why a bundle was refused. Each has its own words; none lets anything be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum LimitsError {
    /// More bytes than a bundle can have.
    Oversized {
        /// The length seen.
        len: u32,
    },
    /// Not a whole bundle (cut short, or not a bundle at all).
    Truncated,
    /// A bundle that carries no signature.
    MissingSignature,
    /// Signed by a key this verifier does not know.
    UnknownKey {
        /// The key id named.
        key_id: KeyId,
    },
    /// Signed by a key that has been retired.
    RetiredKey {
        /// The key id named.
        key_id: KeyId,
    },
    /// The signature does not verify.
    BadSignature,
    /// The signed body is not a valid limits body, or names another key than the bundle.
    Malformed,
    /// Made for another pen.
    WrongSerial,
    /// Not newer than the pen's current limits.
    Rollback {
        /// The bundle's counter.
        bundle: u32,
        /// The pen's counter.
        pen: u32,
    },
    /// A maximum depth over the hard ceiling.
    OverCeiling {
        /// The maximum asked for.
        max_depth_um: u16,
    },
    /// Limits that make no sense (stroke rates reversed or out of the motor's range, a zero
    /// calibration interval).
    Nonsense,
}

fn hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

impl fmt::Display for LimitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitsError::Oversized { len } => write!(
                f,
                "the file has {len} bytes, more than a limits bundle ({MAX_BUNDLE_LEN}); it is not a bundle"
            ),
            LimitsError::Truncated => {
                write!(f, "the file is not a whole limits bundle (cut short, or something else)")
            }
            LimitsError::MissingSignature => write!(f, "the bundle is not signed"),
            LimitsError::UnknownKey { key_id } => {
                write!(f, "the bundle is signed by key ")?;
                hex(key_id, f)?;
                write!(f, ", which is not trusted here")
            }
            LimitsError::RetiredKey { key_id } => {
                write!(f, "the bundle is signed by key ")?;
                hex(key_id, f)?;
                write!(f, ", which has been retired; ask for a bundle signed with the current key")
            }
            LimitsError::BadSignature => {
                write!(f, "the signature does not verify: the bundle was altered or forged")
            }
            LimitsError::Malformed => write!(f, "the signed content is not a valid limits body"),
            LimitsError::WrongSerial => write!(f, "the bundle was made for another pen"),
            LimitsError::Rollback { bundle, pen } => write!(
                f,
                "the bundle's counter {bundle} is not above the pen's {pen}: a rollback to older limits"
            ),
            LimitsError::OverCeiling { max_depth_um } => write!(
                f,
                "the bundle's maximum depth of {max_depth_um} um is over the {CEILING_UM} um ceiling"
            ),
            LimitsError::Nonsense => write!(
                f,
                "the bundle's limits make no sense (stroke rates reversed or out of range, or no calibration interval)"
            ),
        }
    }
}

/// Verifies `bytes` as a limits bundle for the pen `serial` whose current counter is
/// `pen_counter` (`None`: not checked, e.g. re-reading a pen's stored bundle), against
/// `trusted` keys. Returns the body only when every check passes.
pub fn verify_bundle(
    bytes: &[u8],
    trusted: &[TrustedKey],
    serial: &str,
    pen_counter: Option<u32>,
) -> Result<LimitsBody, LimitsError> {
    if bytes.len() > MAX_BUNDLE_LEN {
        return Err(LimitsError::Oversized {
            len: bytes.len() as u32,
        });
    }
    let (bundle, rest): (LimitsBundle, _) =
        postcard::take_from_bytes(bytes).map_err(|_| LimitsError::Truncated)?;
    if !rest.is_empty() {
        return Err(LimitsError::Truncated);
    }
    if bundle.signature.is_empty() {
        return Err(LimitsError::MissingSignature);
    }
    let signature: [u8; 64] = bundle
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| LimitsError::BadSignature)?;
    let key = trusted
        .iter()
        .find(|k| key_id(&k.public) == bundle.key_id)
        .ok_or(LimitsError::UnknownKey {
            key_id: bundle.key_id,
        })?;
    if key.retired {
        return Err(LimitsError::RetiredKey {
            key_id: bundle.key_id,
        });
    }
    let verifying = VerifyingKey::from_bytes(&key.public).map_err(|_| LimitsError::BadSignature)?;
    let mut message = [0u8; LIMITS_DOMAIN.len() + MAX_BODY_LEN];
    let len = LIMITS_DOMAIN.len() + bundle.body.len();
    message[..LIMITS_DOMAIN.len()].copy_from_slice(LIMITS_DOMAIN);
    message[LIMITS_DOMAIN.len()..len].copy_from_slice(&bundle.body);
    verifying
        .verify_strict(&message[..len], &Signature::from_bytes(&signature))
        .map_err(|_| LimitsError::BadSignature)?;
    // Only now is the content looked at.
    let (body, rest): (LimitsBody, _) =
        postcard::take_from_bytes(&bundle.body).map_err(|_| LimitsError::Malformed)?;
    if !rest.is_empty() || body.key_id != bundle.key_id {
        return Err(LimitsError::Malformed);
    }
    if body.serial.as_str() != serial {
        return Err(LimitsError::WrongSerial);
    }
    if let Some(pen) = pen_counter {
        if body.counter <= pen {
            return Err(LimitsError::Rollback {
                bundle: body.counter,
                pen,
            });
        }
    }
    body.limits.check()?;
    Ok(body)
}

/// Signs `body` with the Ed25519 key whose 32 secret bytes are `secret`, giving the bundle
/// file's bytes.
#[cfg(feature = "alloc")]
pub fn sign_bundle(body: &LimitsBody, secret: &[u8; 32]) -> alloc::vec::Vec<u8> {
    use ed25519_dalek::{Signer, SigningKey};
    let signing = SigningKey::from_bytes(secret);
    let body_bytes = postcard::to_allocvec(body).expect("a body serialises");
    let mut message = alloc::vec::Vec::from(LIMITS_DOMAIN);
    message.extend_from_slice(&body_bytes);
    let signature = signing.sign(&message).to_bytes();
    let bundle = LimitsBundle {
        key_id: body.key_id,
        body: heapless::Vec::from_slice(&body_bytes).expect("a body fits MAX_BODY_LEN"),
        signature: heapless::Vec::from_slice(&signature).expect("64 bytes"),
    };
    postcard::to_allocvec(&bundle).expect("a bundle serialises")
}

/// The public key of the secret key `secret`.
pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(secret)
        .verifying_key()
        .to_bytes()
}

/// Key files: one line of text, `pen-limits ed25519 public|secret <64 hex digits>`.
#[cfg(feature = "alloc")]
pub mod keyfile {
    use alloc::format;
    use alloc::string::String;

    /// The text of a public key file.
    pub fn format_public(public: &[u8; 32]) -> String {
        format!("pen-limits ed25519 public {}\n", hex(public))
    }

    /// The text of a secret key file.
    pub fn format_secret(secret: &[u8; 32]) -> String {
        format!("pen-limits ed25519 secret {}\n", hex(secret))
    }

    /// The key in a public key file's text.
    pub fn parse_public(text: &str) -> Option<[u8; 32]> {
        parse(text, "public")
    }

    /// The key in a secret key file's text.
    pub fn parse_secret(text: &str) -> Option<[u8; 32]> {
        parse(text, "secret")
    }

    /// Lower-case hex of `bytes`.
    pub fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn parse(text: &str, kind: &str) -> Option<[u8; 32]> {
        let mut words = text.split_whitespace();
        if words.next()? != "pen-limits" || words.next()? != "ed25519" || words.next()? != kind {
            return None;
        }
        let digits = words.next()?;
        if words.next().is_some() || digits.len() != 64 {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(digits.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: [u8; 32] = [7; 32];
    const OTHER: [u8; 32] = [9; 32];

    fn body(counter: u32, max: u16) -> LimitsBody {
        LimitsBody {
            serial: "SIM-0001".try_into().unwrap(),
            limits: Limits {
                max_depth_um: max,
                ..Limits::DEFAULT
            },
            counter,
            issued_unix_s: 1_800_000_000,
            key_id: key_id(&public_key(&SECRET)),
        }
    }

    fn trusted() -> [TrustedKey; 1] {
        [TrustedKey {
            public: public_key(&SECRET),
            retired: false,
        }]
    }

    #[test]
    fn a_good_bundle_verifies() {
        let bytes = sign_bundle(&body(3, 800), &SECRET);
        let verified = verify_bundle(&bytes, &trusted(), "SIM-0001", Some(2)).unwrap();
        assert_eq!(verified.limits.max_depth_um, 800);
    }

    #[test]
    fn every_way_to_be_wrong_has_its_own_refusal() {
        let good = sign_bundle(&body(3, 800), &SECRET);
        let check = |bytes: &[u8], keys: &[TrustedKey], serial: &str, counter: u32| {
            verify_bundle(bytes, keys, serial, Some(counter)).unwrap_err()
        };
        assert_eq!(
            check(&good, &trusted(), "SIM-0001", 3),
            LimitsError::Rollback { bundle: 3, pen: 3 }
        );
        assert_eq!(
            check(&good, &trusted(), "SIM-0002", 0),
            LimitsError::WrongSerial
        );
        assert_eq!(
            check(&good, &[], "SIM-0001", 0),
            LimitsError::UnknownKey {
                key_id: key_id(&public_key(&SECRET))
            }
        );
        let retired = [TrustedKey {
            retired: true,
            ..trusted()[0]
        }];
        assert!(matches!(
            check(&good, &retired, "SIM-0001", 0),
            LimitsError::RetiredKey { .. }
        ));
        assert_eq!(
            check(&good[..good.len() - 5], &trusted(), "SIM-0001", 0),
            LimitsError::Truncated
        );
        assert_eq!(
            check(&[0u8; 300], &trusted(), "SIM-0001", 0),
            LimitsError::Oversized { len: 300 }
        );
        let over = sign_bundle(&body(3, 1001), &SECRET);
        assert_eq!(
            check(&over, &trusted(), "SIM-0001", 0),
            LimitsError::OverCeiling { max_depth_um: 1001 }
        );
        // A forged bundle: signed by another key under the trusted key's id.
        let forged = sign_bundle(&body(3, 1000), &OTHER);
        assert_eq!(
            check(&forged, &trusted(), "SIM-0001", 0),
            LimitsError::BadSignature
        );
        // Unsigned.
        let mut bundle: LimitsBundle = postcard::from_bytes(&good).unwrap();
        bundle.signature.clear();
        let unsigned = postcard::to_allocvec(&bundle).unwrap();
        assert_eq!(
            check(&unsigned, &trusted(), "SIM-0001", 0),
            LimitsError::MissingSignature
        );
        // One bit of the body flipped.
        let mut bundle: LimitsBundle = postcard::from_bytes(&good).unwrap();
        bundle.body[5] ^= 1;
        let altered = postcard::to_allocvec(&bundle).unwrap();
        assert_eq!(
            check(&altered, &trusted(), "SIM-0001", 0),
            LimitsError::BadSignature
        );
    }

    #[test]
    fn key_files_round_trip() {
        let text = keyfile::format_public(&public_key(&SECRET));
        assert_eq!(keyfile::parse_public(&text), Some(public_key(&SECRET)));
        assert_eq!(keyfile::parse_secret(&text), None);
        assert_eq!(
            keyfile::parse_secret(&keyfile::format_secret(&SECRET)),
            Some(SECRET)
        );
        assert_eq!(keyfile::parse_public("pen-limits ed25519 public 00"), None);
    }

    proptest! {
        #[test]
        fn no_bytes_but_a_signed_bundle_verify(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            prop_assert!(verify_bundle(&bytes, &trusted(), "SIM-0001", None).is_err());
        }

        #[test]
        fn any_single_byte_changed_is_refused(index in 0usize..200, flip in 1u8..=255) {
            let good = sign_bundle(&body(3, 800), &SECRET);
            let mut bytes = good.clone();
            let i = index % bytes.len();
            bytes[i] ^= flip;
            prop_assert!(verify_bundle(&bytes, &trusted(), "SIM-0001", None).is_err());
        }
    }
}
