//! JSON request lines from any language: parsing never panics, and a parsed request
//! survives a round trip through JSON unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pen_protocol::api::ClientRequest;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<ClientRequest>(data) {
        let text = serde_json::to_vec(&request).unwrap();
        let again: ClientRequest = serde_json::from_slice(&text).unwrap();
        assert_eq!(again, request);
    }
});
