//! The Natter web app. For now a page that says what Natter is; the chat UI comes next.

use leptos::prelude::*;
use natter_shared::limits::MESSAGE_CHARS;

#[component]
fn App() -> impl IntoView {
    view! {
        <main class="placeholder">
            <h1>"Natter"</h1>
            <p>"Real-time chat. The web app is on its way; the REST API is live under /api."</p>
            <p class="hint">{format!("Messages hold up to {} characters.", MESSAGE_CHARS.end())}</p>
        </main>
    }
}

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
