//! Times in the reader's own time zone, through the browser's `Date`.

use chrono::{DateTime, Utc};
use wasm_bindgen::JsValue;

fn date(at: DateTime<Utc>) -> js_sys::Date {
    js_sys::Date::new(&JsValue::from_f64(at.timestamp_millis() as f64))
}

/// `14:05` in local time.
pub fn clock(at: DateTime<Utc>) -> String {
    let d = date(at);
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

/// The full local date and time, for a tooltip.
pub fn full(at: DateTime<Utc>) -> String {
    String::from(date(at).to_string())
}
