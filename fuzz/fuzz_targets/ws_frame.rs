//! A client's WebSocket text frame, as the server reads it: JSON into `ClientFrame`, then the
//! checks a `send` goes through. Nothing may panic, and what parses must survive a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natter_shared::ws::ClientFrame;
use natter_shared::{ClientId, MessageBody};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
        return;
    };
    if let ClientFrame::Send {
        body, client_id, ..
    } = &frame
    {
        if let Ok(parsed) = MessageBody::parse(body.clone()) {
            assert!(!parsed.as_str().trim().is_empty());
        }
        if let Some(id) = client_id {
            let _ = ClientId::parse(id.clone());
        }
    }
    let again = serde_json::to_string(&frame).ok();
    let back = again.and_then(|json| serde_json::from_str::<ClientFrame>(&json).ok());
    assert_eq!(back.as_ref(), Some(&frame), "a parsed frame survives a round trip");
});
