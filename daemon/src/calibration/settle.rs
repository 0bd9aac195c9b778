//! When to believe a gauge: a reading is accepted once `needed` consecutive readings agree
//! within one digit, the way lab software reads dial indicators. Pure.

use std::collections::VecDeque;

use crate::gauge::Reading;

/// Collects readings until they settle.
#[derive(Debug, Clone)]
pub struct Settler {
    needed: usize,
    digit_nm: i64,
    recent: VecDeque<Reading>,
}

impl Settler {
    /// Accept after `needed` readings within `digit_nm` of each other.
    pub fn new(needed: usize, digit_nm: i64) -> Settler {
        Settler {
            needed: needed.max(1),
            digit_nm,
            recent: VecDeque::new(),
        }
    }

    /// Adds a reading; returns the settled value (the mean of the agreeing readings) once
    /// there is one.
    pub fn push(&mut self, reading: Reading) -> Option<Reading> {
        self.recent.push_back(reading);
        if self.recent.len() > self.needed {
            self.recent.pop_front();
        }
        if self.recent.len() < self.needed {
            return None;
        }
        let lo = self.recent.iter().map(|r| r.nm).min()?;
        let hi = self.recent.iter().map(|r| r.nm).max()?;
        if hi - lo > self.digit_nm {
            return None;
        }
        let sum: i64 = self.recent.iter().map(|r| r.nm).sum();
        Some(Reading {
            nm: sum / self.needed as i64,
        })
    }

    /// The last reading seen, for error messages.
    pub fn last(&self) -> Option<Reading> {
        self.recent.back().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(nm: i64) -> Reading {
        Reading { nm }
    }

    #[test]
    fn settles_when_n_readings_agree_within_a_digit() {
        let mut s = Settler::new(3, 1000);
        assert_eq!(s.push(r(100_000)), None);
        assert_eq!(s.push(r(300_000)), None);
        assert_eq!(s.push(r(480_000)), None);
        assert_eq!(s.push(r(497_000)), None); // 480 to 497: more than a digit apart
        assert_eq!(s.push(r(498_000)), None);
        assert_eq!(s.push(r(498_000)), Some(r(497_666)));
    }

    #[test]
    fn a_steady_gauge_settles_at_once() {
        let mut s = Settler::new(2, 1000);
        s.push(r(5_000));
        assert_eq!(s.push(r(6_000)), Some(r(5_500)));
        assert_eq!(s.last(), Some(r(6_000)));
    }
}
