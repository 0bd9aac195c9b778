//! USB message reassembly (a pen on USB): whatever transfers arrive, in whatever sizes, the
//! reassembler never panics, never hands out a frame over the limit or an empty one, and a
//! frame it hands out is exactly the bytes of the transfers since the last message ended.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pen_protocol::pen::MAX_PEN_FRAME;
use pen_protocol::usb::{Reassembled, Reassembler};

fuzz_target!(|data: &[u8]| {
    let mut reassembler = Reassembler::new();
    let mut since_end: Vec<u8> = Vec::new();
    let mut rest = data;
    // Each transfer: one byte of length (times 8), one byte saying whether it came back
    // full, then its bytes.
    while let [len, full, tail @ ..] = rest {
        let len = (*len as usize * 8).min(tail.len());
        let (transfer, after) = tail.split_at(len);
        rest = after;
        let requested = if full & 1 == 1 { transfer.len() } else { transfer.len() + 1 };
        since_end.extend_from_slice(transfer);
        match reassembler.push(transfer, requested) {
            Reassembled::Incomplete => {
                if requested > transfer.len() {
                    assert!(since_end.is_empty(), "a message ended but nothing came out");
                }
            }
            Reassembled::Frame(frame) => {
                assert!(!frame.is_empty() && frame.len() <= MAX_PEN_FRAME);
                assert_eq!(frame, &since_end[..]);
                since_end.clear();
            }
            Reassembled::TooLong { len } => {
                assert!(len > MAX_PEN_FRAME);
                assert_eq!(len, since_end.len());
                since_end.clear();
            }
        }
    }
});
