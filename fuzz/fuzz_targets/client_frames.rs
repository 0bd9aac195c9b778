//! Client frames from a hostile client: the length prefix and the payload decoders never
//! panic, and a decoded request re-encodes to the same payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pen_protocol::api::{decode_request, decode_server_frame, encode_client_frame, payload_len};

fuzz_target!(|data: &[u8]| {
    if data.len() >= 4 {
        let header: [u8; 4] = data[..4].try_into().unwrap();
        let _ = payload_len(header);
    }
    if let Ok(request) = decode_request(data) {
        let frame = encode_client_frame(&request).unwrap();
        assert_eq!(&frame[4..], data);
    }
    let _ = decode_server_frame(data);
});
