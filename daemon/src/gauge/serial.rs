//! Gauges on a serial line (USB serial adapters, virtual COM ports, or the simulator's pty).
//!
//! One request, one CR-terminated reply, with a timeout. Before each request the input is
//! flushed, so a reply that arrived after an earlier timeout cannot pass for the answer to
//! the next question.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use tokio_serial::{DataBits, Parity, SerialPort, SerialPortBuilderExt, SerialStream, StopBits};

use super::reply::{
    parse_identity, parse_mitutoyo_reading, parse_sylvac_date, parse_sylvac_reading, Date,
    GaugeError, Reading,
};
use super::{Gauge, GaugeInfo};
use crate::calibration::analysis::GaugeCharacter;

/// How long a gauge has to answer one request (a reply takes ~20 ms at 4800 baud).
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest reply line accepted.
const MAX_REPLY: usize = 64;

/// Which protocol the gauge speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Sylvac: 4800 baud 7E2; `?`, `ID?`, `LCAL?`.
    Sylvac,
    /// Mitutoyo virtual COM: 9600 8N1; `1` asks for a reading, `01A+0000.123` comes back.
    Mitutoyo,
}

/// A gauge on a serial port.
pub struct SerialGauge {
    port: SerialStream,
    path: String,
    dialect: Dialect,
    /// For gauges that cannot report their calibration date: the date the technician gave.
    given_date: Option<Date>,
}

impl SerialGauge {
    /// Opens `path` with the dialect's line settings.
    pub fn open(
        path: &str,
        dialect: Dialect,
        given_date: Option<Date>,
    ) -> Result<Self, GaugeError> {
        let builder = match dialect {
            Dialect::Sylvac => tokio_serial::new(path, 4800)
                .data_bits(DataBits::Seven)
                .parity(Parity::Even)
                .stop_bits(StopBits::Two),
            Dialect::Mitutoyo => tokio_serial::new(path, 9600)
                .data_bits(DataBits::Eight)
                .parity(Parity::None)
                .stop_bits(StopBits::One),
        };
        let port = builder.open_native_async().map_err(|e| GaugeError::Open {
            port: path.to_string(),
            reason: e.to_string(),
        })?;
        Ok(SerialGauge {
            port,
            path: path.to_string(),
            dialect,
            given_date,
        })
    }

    async fn request(&mut self, command: &str) -> Result<String, GaugeError> {
        // Anything waiting now is stale: a late reply to an earlier request.
        let _ = self.port.clear(tokio_serial::ClearBuffer::Input);
        let mut line = command.as_bytes().to_vec();
        line.push(b'\r');
        self.port
            .write_all(&line)
            .await
            .map_err(|_| GaugeError::Disconnected)?;
        let mut reply = Vec::new();
        let read = async {
            loop {
                let mut byte = [0u8; 1];
                match self.port.read(&mut byte).await {
                    Ok(0) | Err(_) => return Err(GaugeError::Disconnected),
                    Ok(_) if byte[0] == b'\r' => return Ok(()),
                    Ok(_) if byte[0] == b'\n' => {}
                    Ok(_) => reply.push(byte[0] & 0x7f),
                }
                if reply.len() > MAX_REPLY {
                    return Err(GaugeError::Garbled {
                        reply: String::from_utf8_lossy(&reply).escape_debug().to_string(),
                        expected: "a short reply ending in CR",
                    });
                }
            }
        };
        match timeout(REPLY_TIMEOUT, read).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(GaugeError::NoReply {
                    ms: REPLY_TIMEOUT.as_millis() as u64,
                })
            }
        }
        Ok(String::from_utf8_lossy(&reply).into_owned())
    }
}

impl Gauge for SerialGauge {
    async fn info(&mut self) -> Result<GaugeInfo, GaugeError> {
        match self.dialect {
            Dialect::Sylvac => {
                let model = parse_identity(&self.request("ID?").await?)?;
                let calibrated = parse_sylvac_date(&self.request("LCAL?").await?)?;
                Ok(GaugeInfo {
                    model: format!("Sylvac {model}"),
                    port: self.path.clone(),
                    calibrated: Some(calibrated),
                    character: GaugeCharacter {
                        mpe_um: 2.0,
                        resolution_um: 1.0,
                    },
                })
            }
            Dialect::Mitutoyo => Ok(GaugeInfo {
                model: "Mitutoyo (virtual COM)".into(),
                port: self.path.clone(),
                calibrated: self.given_date,
                character: GaugeCharacter {
                    mpe_um: 3.0,
                    resolution_um: 1.0,
                },
            }),
        }
    }

    async fn read(&mut self) -> Result<Reading, GaugeError> {
        match self.dialect {
            Dialect::Sylvac => parse_sylvac_reading(&self.request("?").await?),
            Dialect::Mitutoyo => parse_mitutoyo_reading(&self.request("1").await?),
        }
    }
}
