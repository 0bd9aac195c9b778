//! Events a subscribed client receives, unasked, between replies.

use alloc::string::String;

use serde::{Deserialize, Serialize};

use crate::units::DepthUm;

/// One event frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventFrame {
    /// Something happened.
    Event(Event),
    /// The subscriber fell behind and this many events were dropped for it. Nothing is
    /// dropped silently: this frame comes where they would have been.
    Missed {
        /// How many.
        count: u64,
    },
}

/// Something that happened to a pen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A pen finished connecting and is ready.
    PenConnected {
        /// Its serial.
        serial: String,
    },
    /// A pen went away.
    PenDisconnected {
        /// Its serial.
        serial: String,
    },
    /// A client opened a treatment session.
    SessionOpened {
        /// The pen.
        serial: String,
        /// The client's name.
        client_name: String,
    },
    /// A treatment session ended; the pen was stopped and retracted.
    SessionClosed {
        /// The pen.
        serial: String,
        /// Why: closed by the client, client gone, heartbeat lost, shutdown.
        reason: String,
    },
    /// A setpoint was reached.
    DepthReached {
        /// The pen.
        serial: String,
        /// The depth.
        depth: DepthUm,
    },
    /// The needling motor started.
    NeedlingStarted {
        /// The pen.
        serial: String,
        /// Strokes per second.
        strokes_per_s: u16,
    },
    /// The needling motor stopped.
    NeedlingStopped {
        /// The pen.
        serial: String,
    },
    /// The pen faulted, or its watchdog retracted it.
    Fault {
        /// The pen.
        serial: String,
        /// What happened, in words.
        reason: String,
    },
    /// Progress of a bench calibration.
    CalibrationProgress {
        /// The pen.
        serial: String,
        /// The step, in words.
        step: String,
        /// Percent done, 0..=100.
        percent: u8,
    },
    /// A bench calibration ended, passed or not; the pen is retracted.
    CalibrationFinished {
        /// The pen.
        serial: String,
        /// Whether the pen passed and now carries the new table.
        passed: bool,
        /// The stored record's number.
        record_id: u64,
        /// The outcome in a sentence.
        summary: String,
    },
}

impl Event {
    /// The pen the event concerns.
    pub fn serial(&self) -> &str {
        match self {
            Event::PenConnected { serial }
            | Event::PenDisconnected { serial }
            | Event::SessionOpened { serial, .. }
            | Event::SessionClosed { serial, .. }
            | Event::DepthReached { serial, .. }
            | Event::NeedlingStarted { serial, .. }
            | Event::NeedlingStopped { serial }
            | Event::Fault { serial, .. }
            | Event::CalibrationProgress { serial, .. }
            | Event::CalibrationFinished { serial, .. } => serial,
        }
    }
}
