//! The client side of `pend`: the [`Client`] API that `penctl` and clinic apps use, and the
//! depth notation people type.
//!
//! ```no_run
//! # async fn example() -> Result<(), penctl::ClientError> {
//! use std::time::Duration;
//! let mut client = penctl::Client::connect("/run/user/1000/pend/pend.sock").await?;
//! let pens = client.list_pens().await?;
//! let serial = &pens[0].serial;
//! client.open_session(serial, "my clinic app", Duration::ZERO).await?;
//! match client.set_depth(serial, penctl::parse_depth("0.5mm").unwrap(), true).await {
//!     Ok(done) => println!("{} at {}", done.serial, done.depth),
//!     Err(penctl::ClientError::Api(refusal)) if refusal.kind.is_safety_refusal() => {
//!         eprintln!("refused: {refusal}");
//!     }
//!     Err(other) => return Err(other),
//! }
//! client.close_session(serial).await?; // or just exit: the pen is retracted either way
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod client;
mod depth;
pub mod exit;

pub use client::{Client, ClientError, DEFAULT_CALL_TIMEOUT, EVENT_BACKLOG};
pub use depth::{parse_depth, DepthParseError};
pub use pen_protocol::api;
