//! The simulated manufacturer's limits-signing keys.
//!
//! SIMULATION ONLY: the secret halves are published here so tests and demos can sign
//! bundles for simulated pens. Real pens embed their manufacturer's public keys only.
//!
//! The simulated firmware trusts both keys, so key rotation can be exercised: the daemon may
//! retire the 2026 key while pens still accept either.

use pen_protocol::limits::{public_key, TrustedKey};

/// The 2026 signing key's secret (simulation only).
pub const SIM_KEY_2026: [u8; 32] = *b"sim manufacturer limits key 2026";
/// The 2027 signing key's secret (simulation only).
pub const SIM_KEY_2027: [u8; 32] = *b"sim manufacturer limits key 2027";

/// The keys the simulated firmware trusts.
pub fn firmware_trusted_keys() -> [TrustedKey; 2] {
    [SIM_KEY_2026, SIM_KEY_2027].map(|secret| TrustedKey {
        public: public_key(&secret),
        retired: false,
    })
}
