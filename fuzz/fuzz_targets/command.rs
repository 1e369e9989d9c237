//! A message body as the chat bot reads it: `/now`, `/sms USER`, anything else. Nothing may
//! panic; a body that is no command is never taken for one; completion agrees with parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natter_shared::commands;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = commands::parse(body);
    if !body.starts_with('/') {
        assert!(parsed.is_none(), "only a leading slash makes a command");
    }
    if let Some(Err(e)) = &parsed {
        assert!(!e.message.is_empty(), "a refusal says why");
    }
    for spec in commands::complete(body) {
        assert!(spec.usage().starts_with('/'));
    }
});
