//! Pen frames on USB bulk endpoints: where a message ends, sans-IO.
//!
//! A pen is a vendor-specific interface (class 0xFF) with one bulk OUT and one bulk IN
//! endpoint. Each pen frame is one USB *message*: as many packets of the endpoint's maximum
//! packet size as it takes, ended by a short packet. A message whose length is an exact
//! multiple of the packet size is ended by a zero-length packet (ZLP), so both ends always
//! see where it stops, whatever the bus speed (64-byte packets at full speed, 512 at high).
//!
//! The host and the simulated pen's firmware side share this module: [`needs_zlp`] says when
//! a sender must add the ZLP, [`in_transfer_len`] how long a receive to ask for, and
//! [`Reassembler`] turns completed receive transfers back into frames, refusing (and skipping)
//! any message longer than [`MAX_PEN_FRAME`] without ever holding more than that.

use crate::pen::MAX_PEN_FRAME;

/// The default development VID:PID (pid.codes test range).
pub const DEFAULT_VID_PID: (u16, u16) = (0x1209, 0x0001);

/// The interface class of a pen: vendor specific.
pub const PEN_INTERFACE_CLASS: u8 = 0xff;

/// Whether a message of `len` bytes must be followed by a zero-length packet on an endpoint
/// whose packets hold `max_packet` bytes. An empty message is itself one ZLP.
pub fn needs_zlp(len: usize, max_packet: usize) -> bool {
    max_packet == 0 || len.is_multiple_of(max_packet)
}

/// How many bytes to ask for in each receive transfer: a whole number of packets, more than
/// the longest frame, so a valid frame (and its ZLP) always ends inside one transfer.
pub const fn in_transfer_len(max_packet: usize) -> usize {
    let max_packet = if max_packet == 0 { 1 } else { max_packet };
    (MAX_PEN_FRAME / max_packet + 1) * max_packet
}

/// What one completed receive transfer gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Reassembled<'a> {
    /// The message goes on in the next transfer (or the transfer was a stray ZLP).
    Incomplete,
    /// A whole frame.
    Frame(&'a [u8]),
    /// A message longer than [`MAX_PEN_FRAME`] ended here; it was dropped. `len` is its full
    /// length.
    TooLong {
        /// How long the dropped message was.
        len: usize,
    },
}

/// Joins receive transfers into frames. Holds at most [`MAX_PEN_FRAME`] bytes.
#[derive(Debug)]
pub struct Reassembler {
    buffer: [u8; MAX_PEN_FRAME],
    len: usize,
    /// Bytes seen of the current message beyond what fits, once it is known to be too long.
    dropped: usize,
    /// The frame handed out by the last call is cleared on the next.
    handed_out: bool,
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new()
    }
}

impl Reassembler {
    /// An empty reassembler.
    pub const fn new() -> Reassembler {
        Reassembler {
            buffer: [0; MAX_PEN_FRAME],
            len: 0,
            dropped: 0,
            handed_out: false,
        }
    }

    /// Takes the bytes of one completed receive transfer. `requested` is how many bytes the
    /// transfer asked for: a transfer that came back shorter ended on a short packet (or a
    /// ZLP), so the message ends with it; one that came back full may go on.
    pub fn push(&mut self, data: &[u8], requested: usize) -> Reassembled<'_> {
        if self.handed_out {
            self.len = 0;
            self.handed_out = false;
        }
        let room = MAX_PEN_FRAME - self.len;
        if self.dropped == 0 && data.len() <= room {
            self.buffer[self.len..self.len + data.len()].copy_from_slice(data);
            self.len += data.len();
        } else {
            self.dropped = self.dropped.saturating_add(self.len + data.len());
            self.len = 0;
        }
        let ended = data.len() < requested;
        if !ended {
            return Reassembled::Incomplete;
        }
        if self.dropped > 0 {
            let len = self.dropped;
            self.dropped = 0;
            return Reassembled::TooLong { len };
        }
        if self.len == 0 {
            return Reassembled::Incomplete;
        }
        self.handed_out = true;
        Reassembled::Frame(&self.buffer[..self.len])
    }

    /// Forgets a message half received (after the link was reset).
    pub fn clear(&mut self) {
        self.len = 0;
        self.dropped = 0;
        self.handed_out = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// The wire as a USB bus carries it: `message` in packets of `max_packet`, plus a ZLP
    /// where the sender must add one.
    fn packets(message: &[u8], max_packet: usize) -> Vec<Vec<u8>> {
        let mut packets: Vec<Vec<u8>> = message.chunks(max_packet).map(|c| c.to_vec()).collect();
        if needs_zlp(message.len(), max_packet) {
            packets.push(Vec::new());
        }
        packets
    }

    /// What the receiver's transfers complete with, as the host controller (or a FunctionFS
    /// read) delivers them: a transfer of `requested` bytes ends at a short packet or when
    /// full, never consuming a following ZLP.
    fn transfers(packets: &[Vec<u8>], max_packet: usize, requested: usize) -> Vec<Vec<u8>> {
        let mut done = Vec::new();
        let mut current: Vec<u8> = Vec::new();
        let mut open = false;
        for packet in packets {
            current.extend_from_slice(packet);
            open = true;
            if packet.len() < max_packet || current.len() >= requested {
                done.push(core::mem::take(&mut current));
                open = false;
            }
        }
        if open {
            done.push(current);
        }
        done
    }

    fn receive_all(
        messages: &[Vec<u8>],
        max_packet: usize,
        requested: usize,
    ) -> Vec<Result<Vec<u8>, usize>> {
        let wire: Vec<Vec<u8>> = messages
            .iter()
            .flat_map(|m| packets(m, max_packet))
            .collect();
        let mut reassembler = Reassembler::new();
        let mut out = Vec::new();
        for transfer in transfers(&wire, max_packet, requested) {
            match reassembler.push(&transfer, requested) {
                Reassembled::Incomplete => {}
                Reassembled::Frame(frame) => out.push(Ok(frame.to_vec())),
                Reassembled::TooLong { len } => out.push(Err(len)),
            }
        }
        out
    }

    const PACKET_SIZES: [usize; 5] = [8, 16, 64, 512, 1024];

    #[test]
    fn a_frame_on_a_packet_boundary_needs_a_zlp_and_arrives_whole() {
        assert!(needs_zlp(512, 512));
        assert!(needs_zlp(128, 64));
        assert!(!needs_zlp(100, 64));
        let frame = vec![7u8; 512];
        for requested in [512, in_transfer_len(512)] {
            assert_eq!(
                receive_all(core::slice::from_ref(&frame), 512, requested),
                vec![Ok(frame.clone())]
            );
        }
    }

    #[test]
    fn the_receive_length_holds_the_longest_frame_and_its_zlp() {
        for max_packet in PACKET_SIZES {
            let len = in_transfer_len(max_packet);
            assert_eq!(len % max_packet, 0);
            assert!(len > MAX_PEN_FRAME);
        }
    }

    #[test]
    fn an_oversized_message_is_refused_and_the_next_frame_still_arrives() {
        let messages = vec![vec![1u8; 2000], vec![2u8; 40]];
        assert_eq!(
            receive_all(&messages, 64, 64),
            vec![Err(2000), Ok(vec![2u8; 40])]
        );
        assert_eq!(
            receive_all(&messages, 512, in_transfer_len(512)),
            vec![Err(2000), Ok(vec![2u8; 40])]
        );
    }

    #[test]
    fn a_stray_zlp_is_no_frame() {
        let mut reassembler = Reassembler::new();
        assert_eq!(reassembler.push(&[], 512), Reassembled::Incomplete);
        assert_eq!(reassembler.push(&[5, 6], 512), Reassembled::Frame(&[5, 6]));
    }

    proptest! {
        #[test]
        fn frames_survive_any_split(
            messages in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 1..=MAX_PEN_FRAME), 1..8),
            packet in 0usize..PACKET_SIZES.len(),
            transfer_packets in 1usize..12,
        ) {
            let max_packet = PACKET_SIZES[packet];
            let requested = max_packet * transfer_packets;
            let expected: Vec<Result<Vec<u8>, usize>> =
                messages.iter().cloned().map(Ok).collect();
            prop_assert_eq!(receive_all(&messages, max_packet, requested), expected);
        }

        #[test]
        fn oversized_messages_never_reach_the_decoder(
            messages in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 1..3 * MAX_PEN_FRAME), 1..6),
            packet in 0usize..PACKET_SIZES.len(),
            transfer_packets in 1usize..12,
        ) {
            let max_packet = PACKET_SIZES[packet];
            let requested = max_packet * transfer_packets;
            let expected: Vec<Result<Vec<u8>, usize>> = messages
                .iter()
                .map(|m| if m.len() > MAX_PEN_FRAME { Err(m.len()) } else { Ok(m.clone()) })
                .collect();
            prop_assert_eq!(receive_all(&messages, max_packet, requested), expected);
        }
    }
}
