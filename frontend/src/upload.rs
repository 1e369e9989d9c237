//! Uploads from the browser: `XMLHttpRequest`, since it reports the progress of a request
//! body (`fetch` does not), and can be cancelled.

use natter_shared::{Attachment, ErrorBody};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{ProgressEvent, XmlHttpRequest};

/// An upload under way. Dropping it drops its callbacks; [`Upload::cancel`] stops it.
pub struct Upload {
    xhr: XmlHttpRequest,
    _on_progress: Closure<dyn FnMut(ProgressEvent)>,
    _on_end: Closure<dyn FnMut()>,
}

impl Upload {
    /// Starts sending `file` as `token`'s upload. `progress` hears the share sent (0 to 1);
    /// `done` hears the stored file or why it was refused, once.
    pub fn start(
        token: &str,
        file: &web_sys::File,
        mut progress: impl FnMut(f64) + 'static,
        done: impl FnOnce(Result<Attachment, String>) + 'static,
    ) -> Result<Self, String> {
        let fail = |e: wasm_bindgen::JsValue| format!("the upload could not start: {e:?}");
        let xhr = XmlHttpRequest::new().map_err(fail)?;
        let name = String::from(js_sys::encode_uri_component(&file.name()));
        xhr.open_with_async("POST", &format!("/api/uploads?filename={name}"), true)
            .map_err(fail)?;
        xhr.set_request_header("Authorization", &format!("Bearer {token}"))
            .map_err(fail)?;
        let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |e: ProgressEvent| {
            if e.length_computable() && e.total() > 0.0 {
                progress(e.loaded() / e.total());
            }
        });
        xhr.upload()
            .map_err(fail)?
            .set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
        let answered = xhr.clone();
        let mut done = Some(done);
        let on_end = Closure::<dyn FnMut()>::new(move || {
            let Some(done) = done.take() else { return };
            let status = answered.status().unwrap_or(0);
            let text = answered.response_text().ok().flatten().unwrap_or_default();
            done(outcome(status, &text));
        });
        // `loadend` comes once, after success, failure or cancellation alike.
        xhr.set_onloadend(Some(on_end.as_ref().unchecked_ref()));
        xhr.send_with_opt_blob(Some(file)).map_err(fail)?;
        Ok(Self {
            xhr,
            _on_progress: on_progress,
            _on_end: on_end,
        })
    }

    /// Stops sending; `done` hears that it was cancelled.
    pub fn cancel(&self) {
        let _ = self.xhr.abort();
    }
}

/// What an upload's answer means.
pub fn outcome(status: u16, text: &str) -> Result<Attachment, String> {
    match status {
        0 => Err("cancelled, or the server could not be reached".into()),
        201 => serde_json::from_str(text).map_err(|e| format!("an unreadable answer: {e}")),
        _ => Err(serde_json::from_str::<ErrorBody>(text)
            .map(|e| e.message)
            .unwrap_or_else(|_| format!("the server answered {status}"))),
    }
}

/// A size for people: 532 B, 14.2 KB, 3.1 MB.
pub fn size(bytes: i64) -> String {
    let b = bytes as f64;
    if bytes < 1_000 {
        format!("{bytes} B")
    } else if bytes < 1_000_000 {
        format!("{:.1} KB", b / 1e3)
    } else if bytes < 1_000_000_000 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.1} GB", b / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(size(532), "532 B");
        assert_eq!(size(14_200), "14.2 KB");
        assert_eq!(size(3_100_000), "3.1 MB");
    }

    #[wasm_bindgen_test]
    fn a_refusal_says_why() {
        let refused = outcome(413, r#"{"error":"quota_exceeded","message":"full"}"#);
        assert_eq!(refused, Err("full".into()));
        assert!(outcome(0, "").is_err());
        assert!(outcome(500, "oops").is_err_and(|e| e.contains("500")));
    }
}
