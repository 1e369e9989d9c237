//! The Natter web app: a Leptos single-page app. `api` speaks REST, `socket` the WebSocket,
//! `timeline`, `state` and `chat` hold the state, `window` picks the rows drawn, `components` draw it.

pub mod api;
pub mod chat;
pub mod components;
pub mod notify;
pub mod paged;
pub mod session;
pub mod socket;
pub mod state;
pub mod time;
pub mod timeline;
pub mod upload;
pub mod window;

use components::app::App;

/// Mounts the app on the page's body, in place of the loading screen that `index.html`
/// shows while the `.wasm` arrives.
pub fn start() {
    console_error_panic_hook::set_once();
    if let Some(loading) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("loading"))
    {
        loading.remove();
    }
    leptos::mount::mount_to_body(App);
    // When the app became usable, for the figures of a first visit (docs/BENCHMARKS.md).
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark("natter-mounted");
    }
}
