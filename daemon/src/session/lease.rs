//! Who holds a pen's treatment session, who waits for it, and when leases run out.
//!
//! Pure bookkeeping: instants come in as arguments, nothing here reads a clock or does I/O.
//! `R` is whatever a waiting client is answered through.

use std::collections::VecDeque;
use std::time::Duration;

use pen_protocol::api::SessionHolder;
use tokio::time::Instant;

/// Most clients that may wait in line for one pen.
pub const MAX_WAITERS: usize = 8;

/// What a lease is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseKind {
    /// A treatment: kept alive by the client's heartbeats.
    Treatment,
    /// A bench calibration run by the daemon for the client: no time limit, ended by the
    /// calibration finishing or the client's connection closing.
    Calibration,
}

/// A held session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The connection that holds it.
    pub connection: u64,
    /// Who that is.
    pub holder: SessionHolder,
    /// When it runs out unless renewed.
    pub expires: Instant,
    /// What for.
    pub kind: LeaseKind,
}

/// A client waiting in line.
#[derive(Debug)]
pub struct Waiter<R> {
    /// Its connection.
    pub connection: u64,
    /// Who it is.
    pub holder: SessionHolder,
    /// When it stops waiting.
    pub deadline: Instant,
    /// How to answer it.
    pub reply: R,
}

/// What became of a request to open a session.
#[derive(Debug)]
pub enum Opened<R> {
    /// The session is the caller's (new, or renewed if it already held it).
    Granted(R),
    /// Someone else holds it; the caller waits in line.
    Queued,
    /// Someone else holds it and the caller would not (or could not) wait.
    InUse(R, SessionHolder),
}

/// The session bookkeeping of one pen.
#[derive(Debug)]
pub struct LeaseBook<R> {
    lease_for: Duration,
    held: Option<Lease>,
    waiting: VecDeque<Waiter<R>>,
}

impl<R> LeaseBook<R> {
    /// Leases that last `lease_for` past their last renewal.
    pub fn new(lease_for: Duration) -> Self {
        LeaseBook {
            lease_for,
            held: None,
            waiting: VecDeque::new(),
        }
    }

    /// How long a lease lasts past its last renewal.
    pub fn lease_for(&self) -> Duration {
        self.lease_for
    }

    /// The current lease.
    pub fn held(&self) -> Option<&Lease> {
        self.held.as_ref()
    }

    /// Whether `connection` holds the session.
    pub fn holds(&self, connection: u64) -> bool {
        self.held
            .as_ref()
            .is_some_and(|l| l.connection == connection)
    }

    /// Whether `connection` holds the pen for `kind`.
    pub fn holds_for(&self, connection: u64, kind: LeaseKind) -> bool {
        self.held
            .as_ref()
            .is_some_and(|l| l.connection == connection && l.kind == kind)
    }

    /// Takes the pen for a calibration if nobody holds it (no waiting in line).
    pub fn take_for_calibration(
        &mut self,
        connection: u64,
        holder: SessionHolder,
        now: Instant,
    ) -> Result<(), SessionHolder> {
        match &self.held {
            Some(lease) => Err(lease.holder.clone()),
            None => {
                self.held = Some(Lease {
                    connection,
                    holder,
                    expires: now,
                    kind: LeaseKind::Calibration,
                });
                Ok(())
            }
        }
    }

    /// `connection` asks for the session, waiting until `wait_until` if it is taken.
    pub fn open(
        &mut self,
        connection: u64,
        holder: SessionHolder,
        now: Instant,
        wait_until: Instant,
        reply: R,
    ) -> Opened<R> {
        match &mut self.held {
            None => {
                self.held = Some(Lease {
                    connection,
                    holder,
                    expires: now + self.lease_for,
                    kind: LeaseKind::Treatment,
                });
                Opened::Granted(reply)
            }
            Some(lease) if lease.connection == connection && lease.kind == LeaseKind::Treatment => {
                lease.expires = now + self.lease_for;
                lease.holder = holder;
                Opened::Granted(reply)
            }
            Some(lease) => {
                if wait_until > now && self.waiting.len() < MAX_WAITERS {
                    self.waiting.push_back(Waiter {
                        connection,
                        holder,
                        deadline: wait_until,
                        reply,
                    });
                    Opened::Queued
                } else {
                    Opened::InUse(reply, lease.holder.clone())
                }
            }
        }
    }

    /// Renews the treatment lease if `connection` holds it.
    pub fn renew(&mut self, connection: u64, now: Instant) -> bool {
        match &mut self.held {
            Some(lease) if lease.connection == connection && lease.kind == LeaseKind::Treatment => {
                lease.expires = now + self.lease_for;
                true
            }
            _ => false,
        }
    }

    /// Ends the lease if `connection` holds it, and drops its place in line if it waits
    /// (the connection is gone or gave up).
    pub fn release(&mut self, connection: u64) -> Option<Lease> {
        self.waiting.retain(|w| w.connection != connection);
        if self.holds(connection) {
            self.held.take()
        } else {
            None
        }
    }

    /// Ends the lease whoever holds it (shutdown, pen gone or faulted).
    pub fn revoke(&mut self) -> Option<Lease> {
        self.held.take()
    }

    /// The lease if it ran out by `now` (it is ended), and the waiters whose patience did.
    pub fn expire(&mut self, now: Instant) -> (Option<Lease>, Vec<Waiter<R>>) {
        let lapsed = match &self.held {
            Some(lease) if lease.kind == LeaseKind::Treatment && lease.expires <= now => {
                self.held.take()
            }
            _ => None,
        };
        let mut gave_up = Vec::new();
        let mut index = 0;
        while index < self.waiting.len() {
            if self.waiting[index].deadline <= now {
                gave_up.extend(self.waiting.remove(index));
            } else {
                index += 1;
            }
        }
        (lapsed, gave_up)
    }

    /// When [`LeaseBook::expire`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let lease = self
            .held
            .as_ref()
            .filter(|l| l.kind == LeaseKind::Treatment)
            .map(|l| l.expires);
        let waiter = self.waiting.iter().map(|w| w.deadline).min();
        match (lease, waiter) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Hands a free session to the first in line, if any.
    pub fn grant_next(&mut self, now: Instant) -> Option<R> {
        if self.held.is_some() {
            return None;
        }
        let waiter = self.waiting.pop_front()?;
        self.held = Some(Lease {
            connection: waiter.connection,
            holder: waiter.holder,
            expires: now + self.lease_for,
            kind: LeaseKind::Treatment,
        });
        Some(waiter.reply)
    }

    /// Empties the line (the pen cannot be used), returning the waiters to answer.
    pub fn drain_waiters(&mut self) -> Vec<Waiter<R>> {
        self.waiting.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(name: &str) -> SessionHolder {
        SessionHolder {
            client_name: name.into(),
            uid: 1000,
            pid: 42,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn one_holder_at_a_time() {
        let t = Instant::now();
        let mut book = LeaseBook::new(ms(1000));
        assert!(matches!(
            book.open(1, who("a"), t, t, "a"),
            Opened::Granted("a")
        ));
        match book.open(2, who("b"), t, t, "b") {
            Opened::InUse("b", holder) => assert_eq!(holder.client_name, "a"),
            other => panic!("{other:?}"),
        }
        assert!(book.holds(1) && !book.holds(2));
    }

    #[test]
    fn a_lease_lapses_without_renewal_and_not_with_it() {
        let t = Instant::now();
        let mut book = LeaseBook::<()>::new(ms(1000));
        book.open(1, who("a"), t, t, ());
        assert!(book.renew(1, t + ms(900)));
        assert!(book.expire(t + ms(1899)).0.is_none());
        let (lapsed, _) = book.expire(t + ms(1900));
        assert_eq!(lapsed.map(|l| l.connection), Some(1));
        assert!(book.held().is_none());
    }

    #[test]
    fn waiters_get_the_pen_in_turn_or_give_up() {
        let t = Instant::now();
        let mut book = LeaseBook::new(ms(1000));
        book.open(1, who("a"), t, t, "a");
        assert!(matches!(
            book.open(2, who("b"), t, t + ms(500), "b"),
            Opened::Queued
        ));
        assert!(matches!(
            book.open(3, who("c"), t, t + ms(100), "c"),
            Opened::Queued
        ));
        assert_eq!(book.next_deadline(), Some(t + ms(100)));
        let (_, gave_up) = book.expire(t + ms(100));
        assert_eq!(gave_up.iter().map(|w| w.reply).collect::<Vec<_>>(), ["c"]);
        assert!(book.release(1).is_some());
        assert_eq!(book.grant_next(t + ms(200)), Some("b"));
        assert!(book.holds(2));
    }

    #[test]
    fn a_departed_connection_leaves_the_line() {
        let t = Instant::now();
        let mut book = LeaseBook::new(ms(1000));
        book.open(1, who("a"), t, t, "a");
        book.open(2, who("b"), t, t + ms(500), "b");
        assert!(book.release(2).is_none());
        book.release(1);
        assert_eq!(book.grant_next(t), None);
    }

    #[test]
    fn a_calibration_lease_never_lapses_and_is_not_a_treatment() {
        let t = Instant::now();
        let mut book = LeaseBook::<&str>::new(ms(1000));
        assert!(book.take_for_calibration(1, who("bench"), t).is_ok());
        assert!(book.expire(t + ms(60_000)).0.is_none());
        assert!(book.holds_for(1, LeaseKind::Calibration));
        assert!(!book.holds_for(1, LeaseKind::Treatment));
        assert!(!book.renew(1, t));
        assert!(matches!(
            book.open(1, who("bench"), t, t, "x"),
            Opened::InUse("x", _)
        ));
        assert_eq!(
            book.take_for_calibration(2, who("other"), t)
                .unwrap_err()
                .client_name,
            "bench"
        );
    }

    #[test]
    fn the_line_is_bounded() {
        let t = Instant::now();
        let mut book = LeaseBook::new(ms(1000));
        book.open(0, who("holder"), t, t, 0);
        for c in 1..=MAX_WAITERS as u64 {
            assert!(matches!(
                book.open(c, who("w"), t, t + ms(500), c),
                Opened::Queued
            ));
        }
        assert!(matches!(
            book.open(99, who("late"), t, t + ms(500), 99),
            Opened::InUse(99, _)
        ));
    }
}
