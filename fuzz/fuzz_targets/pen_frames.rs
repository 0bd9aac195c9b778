//! Pen frames from a hostile peer: decoding never panics, and what decodes re-encodes to the
//! same bytes (postcard has one encoding per value, so anything else is a decoder accepting
//! what it should not). The host's request tracker survives anything, too.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pen_protocol::pen::{decode_host_frame, decode_pen_frame, encode_frame, MAX_PEN_FRAME};
use pend::pen_conn::RequestTracker;

fuzz_target!(|data: &[u8]| {
    let mut buf = [0u8; MAX_PEN_FRAME];
    if let Ok(frame) = decode_host_frame(data) {
        assert_eq!(encode_frame(&frame, &mut buf).unwrap(), data);
    }
    if let Ok(frame) = decode_pen_frame(data) {
        assert_eq!(encode_frame(&frame, &mut buf).unwrap(), data);
    }
    let mut tracker = RequestTracker::<()>::new();
    let _ = tracker.start(
        pen_protocol::pen::HostRequest::Heartbeat,
        Duration::ZERO,
        Duration::from_millis(10),
        (),
    );
    let _ = tracker.on_frame(data);
});
