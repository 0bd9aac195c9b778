//! Limits bundle files: verification never panics, and whatever verifies (only the genuine
//! seed can, the fuzzer holds no key) is for this pen, newer than its counter, and sane.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pen_protocol::limits::verify_bundle;
use pen_sim::keys::firmware_trusted_keys;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = verify_bundle(data, &firmware_trusted_keys(), "SIM-0001", Some(0)) {
        assert_eq!(body.serial.as_str(), "SIM-0001");
        assert!(body.counter > 0);
        assert!(body.limits.check().is_ok());
    }
});
