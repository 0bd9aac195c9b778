//! The stream transport (a pen in another process): the frame buffer never panics, never
//! hands out a frame over the limit, and never grows its buffer without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pen_protocol::pen::MAX_PEN_FRAME;
use pen_sim::stream::FrameBuffer;

fuzz_target!(|data: &[u8]| {
    let mut buffer = FrameBuffer::new();
    for chunk in data.chunks(7) {
        buffer.push(chunk);
        loop {
            match buffer.next_frame() {
                Ok(Some(frame)) => assert!(frame.len() <= MAX_PEN_FRAME),
                Ok(None) | Err(_) => break,
            }
        }
    }
});
