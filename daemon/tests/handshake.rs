//! The daemon refuses pens whose firmware speaks another protocol version or schema.
//!
//! The pen here is the real simulated firmware behind a link that rewrites its identity, as a
//! pen with other firmware would present itself.

use std::time::Duration;

use pen_protocol::api::{ErrorKind, PenState};
use pen_protocol::pen::{
    decode_pen_frame, encode_frame, PenFrame, PenIdentity, PenReply, MAX_PEN_FRAME,
};
use pen_sim::SimPenConfig;
use pend::link::sim::SimLink;
use pend::link::{LinkError, PenLink};
use pend::registry::Registry;
use pend::session::{PenCommand, SessionConfig};
use tokio::sync::oneshot;

struct OtherFirmware {
    inner: SimLink,
    alter: fn(&mut PenIdentity),
}

impl PenLink for OtherFirmware {
    async fn send(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        self.inner.send(frame).await
    }

    async fn recv(&mut self) -> Result<Vec<u8>, LinkError> {
        let bytes = self.inner.recv().await?;
        let Ok(PenFrame::Reply {
            seq,
            result: Ok(PenReply::Identity(mut identity)),
        }) = decode_pen_frame(&bytes)
        else {
            return Ok(bytes);
        };
        (self.alter)(&mut identity);
        let mut buf = [0u8; MAX_PEN_FRAME];
        let frame = PenFrame::Reply {
            seq,
            result: Ok(PenReply::Identity(identity)),
        };
        Ok(encode_frame(&frame, &mut buf).unwrap().to_vec())
    }

    fn serial(&self) -> &str {
        self.inner.serial()
    }

    fn describe(&self) -> String {
        "sim (other firmware)".into()
    }
}

async fn state_of_pen_with(alter: fn(&mut PenIdentity)) -> (PenState, Registry) {
    let registry = Registry::new(SessionConfig::default());
    let inner = SimLink::spawn(SimPenConfig {
        serial: "ODD-1".into(),
        seed: 1,
        factory_calibrated_at_unix_s: 1_700_000_000,
    });
    registry.attach(OtherFirmware { inner, alter });
    registry.settle(Duration::from_secs(5)).await;
    let state = registry.list()[0].state.clone();
    (state, registry)
}

fn reason(state: &PenState) -> &str {
    match state {
        PenState::Incompatible { reason } => reason,
        other => panic!("expected Incompatible, got {other:?}"),
    }
}

#[tokio::test]
async fn a_pen_speaking_another_protocol_version_is_refused() {
    let (state, registry) = state_of_pen_with(|id| id.protocol_version = 2).await;
    assert!(
        reason(&state).contains("pen speaks protocol v2"),
        "{state:?}"
    );

    // And it takes no depth.
    let (reply, answer) = oneshot::channel();
    registry
        .resolve("ODD-1")
        .unwrap()
        .send(PenCommand::SetDepth {
            connection: 1,
            depth_um: 100,
            wait: false,
            reply,
        })
        .unwrap();
    let error = answer.await.unwrap().unwrap_err();
    assert_eq!(error.kind, ErrorKind::PenNotReady);
    assert!(
        error.message.contains("firmware does not match"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn a_pen_with_another_schema_under_the_same_version_is_refused() {
    let (state, _registry) = state_of_pen_with(|id| id.schema_fingerprint ^= 1).await;
    assert!(reason(&state).contains("message schema"), "{state:?}");
}

#[tokio::test]
async fn a_pen_whose_serial_differs_from_its_connection_is_refused() {
    let (state, _registry) = state_of_pen_with(|id| {
        id.serial = "SOMEONE-ELSE".try_into().unwrap();
    })
    .await;
    assert!(reason(&state).contains("SOMEONE-ELSE"), "{state:?}");
}

#[tokio::test]
async fn the_unaltered_sim_pen_is_accepted() {
    let (state, _registry) = state_of_pen_with(|_| {}).await;
    assert_eq!(state, PenState::Ready);
}
