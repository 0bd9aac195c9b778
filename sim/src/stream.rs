//! The stream transport: pen frames over a byte stream (a Unix socket standing in for USB),
//! as the out-of-process simulator speaks it.
//!
//! Every frame is a 2-byte little-endian length and then the frame, at most
//! [`MAX_PEN_FRAME`] bytes. The first frame the pen sends on a new connection is its serial
//! number in UTF-8: the stand-in for the USB serial-number string descriptor, which the host
//! reads before it opens the interface.
//!
//! [`FrameBuffer`] is the sans-IO half: bytes in, whole frames out, length checked before
//! anything is buffered for the frame.

use pen_protocol::pen::MAX_PEN_FRAME;

/// Length of the frame length prefix.
pub const STREAM_HEADER_LEN: usize = 2;

/// A frame longer than [`MAX_PEN_FRAME`] was announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamFrameTooLong {
    /// The announced length.
    pub len: usize,
}

/// Encodes one frame with its length prefix.
pub fn encode_stream_frame(frame: &[u8]) -> Vec<u8> {
    assert!(frame.len() <= MAX_PEN_FRAME, "pen frames fit MAX_PEN_FRAME");
    let mut bytes = Vec::with_capacity(STREAM_HEADER_LEN + frame.len());
    bytes.extend_from_slice(&(frame.len() as u16).to_le_bytes());
    bytes.extend_from_slice(frame);
    bytes
}

/// Collects stream bytes and hands out whole frames.
#[derive(Debug, Default)]
pub struct FrameBuffer {
    bytes: Vec<u8>,
}

impl FrameBuffer {
    /// An empty buffer.
    pub fn new() -> FrameBuffer {
        FrameBuffer::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// The next whole frame, if one has arrived. An oversized length is an error before its
    /// frame is waited for; the stream cannot be trusted after it.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, StreamFrameTooLong> {
        if self.bytes.len() < STREAM_HEADER_LEN {
            return Ok(None);
        }
        let len = usize::from(u16::from_le_bytes([self.bytes[0], self.bytes[1]]));
        if len > MAX_PEN_FRAME {
            return Err(StreamFrameTooLong { len });
        }
        if self.bytes.len() < STREAM_HEADER_LEN + len {
            return Ok(None);
        }
        let frame = self.bytes[STREAM_HEADER_LEN..STREAM_HEADER_LEN + len].to_vec();
        self.bytes.drain(..STREAM_HEADER_LEN + len);
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_come_out_whole_however_the_bytes_arrive() {
        let mut stream = encode_stream_frame(b"SIM-0001");
        stream.extend(encode_stream_frame(&[1, 2, 3]));
        let mut buffer = FrameBuffer::new();
        let mut frames = Vec::new();
        for byte in stream {
            buffer.push(&[byte]);
            while let Some(frame) = buffer.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames, [b"SIM-0001".to_vec(), vec![1, 2, 3]]);
    }

    #[test]
    fn an_oversized_length_is_refused_before_its_bytes_arrive() {
        let mut buffer = FrameBuffer::new();
        buffer.push(&(MAX_PEN_FRAME as u16 + 1).to_le_bytes());
        assert_eq!(
            buffer.next_frame(),
            Err(StreamFrameTooLong {
                len: MAX_PEN_FRAME + 1
            })
        );
    }

    proptest! {
        #[test]
        fn any_bytes_give_frames_or_an_error_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
            let mut buffer = FrameBuffer::new();
            buffer.push(&bytes);
            while let Ok(Some(frame)) = buffer.next_frame() {
                prop_assert!(frame.len() <= MAX_PEN_FRAME);
            }
        }
    }
}
