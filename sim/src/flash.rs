//! What a simulated pen keeps in flash: its calibration table and its limits bundle. The
//! `pen-sim` binary stores this image in a file, rewritten atomically.

use pen_protocol::limits::MAX_BUNDLE_LEN;
use pen_protocol::CalibrationTable;
use serde::{Deserialize, Serialize};

/// The flash contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashImage {
    /// The committed calibration table.
    pub calibration: Option<CalibrationTable>,
    /// The committed limits bundle's bytes.
    pub limits: Option<heapless::Vec<u8, MAX_BUNDLE_LEN>>,
}
