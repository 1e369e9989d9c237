//! Times in the reader's own time zone, through the browser's `Date`.

use chrono::{DateTime, Utc};
use wasm_bindgen::JsValue;

fn date(at: DateTime<Utc>) -> js_sys::Date {
    js_sys::Date::new(&JsValue::from_f64(at.timestamp_millis() as f64))
}

/// The instant as an ISO 8601 string in UTC, for a `<time datetime>` (the browser's own
/// formatting: chrono's would add to the web app's size).
pub fn iso(at: DateTime<Utc>) -> String {
    String::from(date(at).to_iso_string())
}

/// `14:05` in local time, and the instant as [`iso`] writes it (for a `<time datetime>`).
pub fn clock_and_iso(at: DateTime<Utc>) -> (String, String) {
    let d = date(at);
    (
        format!("{:02}:{:02}", d.get_hours(), d.get_minutes()),
        String::from(d.to_iso_string()),
    )
}

/// The full local date and time, for a tooltip.
pub fn full(at: DateTime<Utc>) -> String {
    String::from(date(at).to_string())
}

/// [`full`] of an instant written by [`iso`] (a `<time datetime>`); `None` when it is not
/// one.
pub fn full_of_iso(iso: &str) -> Option<String> {
    let d = js_sys::Date::new(&JsValue::from_str(iso));
    (!d.get_time().is_nan()).then(|| String::from(d.to_string()))
}

/// A day in local time: year, month (0-11), day of the month.
fn local_day(d: &js_sys::Date) -> (u32, u32, u32) {
    (d.get_full_year(), d.get_month(), d.get_date())
}

/// Whole days from `a`'s local date to `b`'s.
fn days_between(a: (u32, u32, u32), b: (u32, u32, u32)) -> i64 {
    let midnight = |(y, m, d): (u32, u32, u32)| {
        js_sys::Date::new_with_year_month_day(y, m as i32, d as i32).get_time()
    };
    ((midnight(b) - midnight(a)) / 86_400_000.0).round() as i64
}

/// The local day of `at`, for grouping: equal for two times on one local day.
pub fn day_key(at: Option<DateTime<Utc>>) -> (u32, u32, u32) {
    let d = at.map_or_else(js_sys::Date::new_0, date);
    local_day(&d)
}

/// A day separator's label: "Today", "Yesterday", the weekday within the last week, the
/// full date before that.
pub fn day_label(at: Option<DateTime<Utc>>) -> String {
    let d = at.map_or_else(js_sys::Date::new_0, date);
    let ago = days_between(local_day(&d), local_day(&js_sys::Date::new_0()));
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let weekday = DAYS[d.get_day() as usize % 7];
    match ago {
        ..=0 => "Today".to_owned(),
        1 => "Yesterday".to_owned(),
        2..=6 => weekday.to_owned(),
        _ => format!(
            "{weekday} {} {} {}",
            d.get_date(),
            MONTHS[d.get_month() as usize % 12],
            d.get_full_year()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn day_labels_say_today_yesterday_the_weekday_then_the_date() {
        let now = DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap();
        assert_eq!(day_label(Some(now)), "Today");
        assert_eq!(
            day_label(None),
            "Today",
            "a message not stored yet is today's"
        );
        assert_eq!(
            day_label(Some(now - chrono::Duration::hours(24))),
            "Yesterday"
        );
        let three = day_label(Some(now - chrono::Duration::days(3)));
        assert!(!three.contains(' ') && three.ends_with("day"), "{three}");
        let old = day_label(Some(now - chrono::Duration::days(30)));
        assert!(old.split(' ').count() == 4, "{old}");
        assert_eq!(day_key(Some(now)), day_key(None));
    }

    #[wasm_bindgen_test]
    fn the_full_date_of_a_datetime_attribute_is_that_of_the_instant() {
        let at = DateTime::from_timestamp_millis(1_764_590_700_000).unwrap();
        let (clock, iso) = clock_and_iso(at);
        assert_eq!(iso, super::iso(at));
        assert_eq!(clock.len(), 5, "{clock}");
        assert_eq!(full_of_iso(&iso).as_deref(), Some(full(at).as_str()));
        assert!(full(at).contains(&clock), "{} has {clock}", full(at));
        assert_eq!(full_of_iso("not a date"), None);
    }
}
