//! The host side of the pen protocol as a sans-IO state machine: sequence numbers, in-flight
//! requests and their deadlines, and matching replies to requests.
//!
//! Time is passed in as a [`Duration`] since any fixed origin; nothing here reads a clock or
//! touches a link. The session task feeds it frames and the time, and carries out what it
//! returns.
//!
//! A reply is matched only by its sequence number. Once a request has timed out its number is
//! forgotten, so a late reply to it is reported as [`Incoming::Stale`] and never taken as the
//! answer to another request.

use std::time::Duration;

use pen_protocol::pen::{
    decode_pen_frame, encode_frame, FrameError, HostFrame, HostRequest, PenError, PenEvent,
    PenFrame, PenReply, MAX_PEN_FRAME,
};

/// Most requests that may await replies at once, per pen.
pub const MAX_IN_FLIGHT: usize = 16;

/// A request could not be started because [`MAX_IN_FLIGHT`] are already waiting. Carries
/// the tag back, so whoever waits on it can be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyInFlight<T>(pub T);

#[derive(Debug)]
struct InFlight<T> {
    seq: u32,
    deadline: Duration,
    tag: T,
}

/// What a frame from the pen turned out to be.
// Consumed as soon as it is made; boxing the large replies would allocate on every frame.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Incoming<T> {
    /// The reply to an in-flight request, with the tag it was started with.
    Reply {
        /// The request's sequence number.
        seq: u32,
        /// The caller's tag for the request.
        tag: T,
        /// The pen's answer.
        result: Result<PenReply, PenError>,
    },
    /// An unsolicited event.
    Event(PenEvent),
    /// A reply whose request is not in flight (timed out, or never sent): discarded.
    Stale {
        /// Its sequence number.
        seq: u32,
    },
    /// Bytes that are not a pen frame.
    Garbage(FrameError),
}

/// Tracks requests to one pen. `T` is whatever the caller needs back with the reply.
#[derive(Debug)]
pub struct RequestTracker<T> {
    next_seq: u32,
    in_flight: Vec<InFlight<T>>,
}

impl<T> Default for RequestTracker<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RequestTracker<T> {
    /// A tracker with nothing in flight.
    pub fn new() -> Self {
        RequestTracker {
            next_seq: 1,
            in_flight: Vec::new(),
        }
    }

    /// Starts `request`, due by `now + timeout`. Returns its sequence number and the frame
    /// bytes to send.
    pub fn start(
        &mut self,
        request: HostRequest,
        now: Duration,
        timeout: Duration,
        tag: T,
    ) -> Result<(u32, Vec<u8>), TooManyInFlight<T>> {
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            return Err(TooManyInFlight(tag));
        }
        let seq = self.next_seq;
        // Skip 0 on wrap-around so a zeroed frame is never a valid answer.
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        let mut buf = [0u8; MAX_PEN_FRAME];
        let bytes = encode_frame(&HostFrame { seq, request }, &mut buf)
            .expect("host frames fit MAX_PEN_FRAME")
            .to_vec();
        self.in_flight.push(InFlight {
            seq,
            deadline: now + timeout,
            tag,
        });
        Ok((seq, bytes))
    }

    /// Classifies one frame from the pen.
    pub fn on_frame(&mut self, bytes: &[u8]) -> Incoming<T> {
        match decode_pen_frame(bytes) {
            Err(error) => Incoming::Garbage(error),
            Ok(PenFrame::Event(event)) => Incoming::Event(event),
            Ok(PenFrame::Reply { seq, result }) => {
                match self.in_flight.iter().position(|f| f.seq == seq) {
                    Some(index) => Incoming::Reply {
                        seq,
                        tag: self.in_flight.swap_remove(index).tag,
                        result,
                    },
                    None => Incoming::Stale { seq },
                }
            }
        }
    }

    /// Removes and returns the tags of requests whose deadline has passed.
    pub fn expire(&mut self, now: Duration) -> Vec<T> {
        let mut expired = Vec::new();
        let mut index = 0;
        while index < self.in_flight.len() {
            if self.in_flight[index].deadline <= now {
                expired.push(self.in_flight.swap_remove(index).tag);
            } else {
                index += 1;
            }
        }
        expired
    }

    /// The earliest deadline among requests in flight.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.in_flight.iter().map(|f| f.deadline).min()
    }

    /// Removes and returns every tag in flight (the link is gone).
    pub fn fail_all(&mut self) -> Vec<T> {
        self.in_flight.drain(..).map(|f| f.tag).collect()
    }

    /// How many requests await replies.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pen_protocol::RawCounts;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn reply_bytes(seq: u32, result: Result<PenReply, PenError>) -> Vec<u8> {
        let mut buf = [0u8; MAX_PEN_FRAME];
        encode_frame(&PenFrame::Reply { seq, result }, &mut buf)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn replies_are_matched_by_seq_in_any_order() {
        let mut t = RequestTracker::new();
        let (a, _) = t.start(HostRequest::Status, ms(0), ms(100), "a").unwrap();
        let (b, _) = t
            .start(HostRequest::Heartbeat, ms(0), ms(100), "b")
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(
            t.on_frame(&reply_bytes(b, Ok(PenReply::Done))),
            Incoming::Reply {
                seq: b,
                tag: "b",
                result: Ok(PenReply::Done)
            }
        );
        assert!(matches!(
            t.on_frame(&reply_bytes(a, Ok(PenReply::Done))),
            Incoming::Reply { tag: "a", .. }
        ));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn a_late_reply_is_stale_and_never_answers_the_next_request() {
        let mut t = RequestTracker::new();
        let (first, _) = t
            .start(HostRequest::Status, ms(0), ms(100), "first")
            .unwrap();
        assert_eq!(t.expire(ms(99)), Vec::<&str>::new());
        assert_eq!(t.expire(ms(100)), vec!["first"]);
        let (second, _) = t
            .start(HostRequest::Status, ms(100), ms(100), "second")
            .unwrap();
        // The first request's reply arrives now, late.
        assert_eq!(
            t.on_frame(&reply_bytes(first, Ok(PenReply::Done))),
            Incoming::Stale { seq: first }
        );
        assert_eq!(t.in_flight(), 1);
        assert!(matches!(
            t.on_frame(&reply_bytes(second, Ok(PenReply::Done))),
            Incoming::Reply { tag: "second", .. }
        ));
    }

    #[test]
    fn in_flight_requests_are_bounded() {
        let mut t = RequestTracker::new();
        for i in 0..MAX_IN_FLIGHT {
            t.start(HostRequest::Heartbeat, ms(0), ms(10), i).unwrap();
        }
        assert_eq!(
            t.start(HostRequest::Heartbeat, ms(0), ms(10), 99),
            Err(TooManyInFlight(99))
        );
        assert_eq!(t.next_deadline(), Some(ms(10)));
        assert_eq!(t.fail_all().len(), MAX_IN_FLIGHT);
    }

    #[test]
    fn events_and_garbage_are_told_apart() {
        let mut t = RequestTracker::<()>::new();
        let mut buf = [0u8; MAX_PEN_FRAME];
        let event = PenEvent::PositionReached {
            move_seq: 3,
            position: RawCounts(10),
        };
        let bytes = encode_frame(&PenFrame::Event(event), &mut buf).unwrap();
        assert_eq!(t.on_frame(bytes), Incoming::Event(event));
        assert_eq!(
            t.on_frame(&[0xff; 3]),
            Incoming::Garbage(FrameError::Malformed)
        );
    }

    #[test]
    fn sequence_numbers_skip_zero_on_wrap() {
        let mut t = RequestTracker::new();
        t.next_seq = u32::MAX;
        let (last, _) = t.start(HostRequest::Heartbeat, ms(0), ms(1), ()).unwrap();
        let (next, _) = t.start(HostRequest::Heartbeat, ms(0), ms(1), ()).unwrap();
        assert_eq!((last, next), (u32::MAX, 1));
    }
}
