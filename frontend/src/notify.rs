//! Desktop notifications through the browser's Notification API: for a message that the
//! room's notification level asks for (every message, or those that mention you), while the
//! tab is hidden or another room is open. Permission is asked from a control, never on load.

use leptos::prelude::*;
use natter_shared::{Message, Notify, Room};
use web_sys::{Notification, NotificationOptions, NotificationPermission};

/// The longest text a notification shows of a message.
const BODY_CHARS: usize = 140;

/// Whether the browser has notifications at all (not in every context).
fn supported() -> bool {
    web_sys::window().is_some_and(|w| {
        js_sys::Reflect::has(&w, &wasm_bindgen::JsValue::from_str("Notification")).unwrap_or(false)
    })
}

/// What the user said so far: `granted`, `denied`, or `default` (not asked yet).
pub fn permission() -> NotificationPermission {
    if supported() {
        Notification::permission()
    } else {
        NotificationPermission::Denied
    }
}

/// Asks for permission (from a click); `then` gets the answer.
pub fn ask(then: impl Fn(NotificationPermission) + 'static) {
    if !supported() {
        return then(NotificationPermission::Denied);
    }
    let Ok(promise) = Notification::request_permission() else {
        return then(permission());
    };
    leptos::task::spawn_local(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        then(permission());
    });
}

/// Whether a message in `room` should notify, by the room's level: `mentioned` is whether
/// it mentions this user.
pub fn wanted(level: Notify, mentioned: bool) -> bool {
    match level {
        Notify::All => true,
        Notify::Mentions => mentioned,
        Notify::None => false,
    }
}

/// Shows `message` of `room` as a notification (one per room at a time: a newer one
/// replaces it). Choosing it brings the tab forward.
pub fn show(room: &Room, message: &Message) {
    if permission() != NotificationPermission::Granted {
        return;
    }
    let title = if room.kind.is_named() {
        format!("{} in #{}", message.author, room.name)
    } else {
        message.author.clone()
    };
    let mut body: String = message.body.chars().take(BODY_CHARS).collect();
    if message.body.chars().count() > BODY_CHARS {
        body.push('…');
    }
    let options = NotificationOptions::new();
    options.set_body(&body);
    options.set_tag(&format!("room-{}", room.id));
    if let Ok(shown) = Notification::new_with_options(&title, &options) {
        let focus = wasm_bindgen::closure::Closure::<dyn Fn()>::new(|| {
            if let Some(w) = web_sys::window() {
                let _ = w.focus();
            }
        });
        shown.set_onclick(Some(wasm_bindgen::JsCast::unchecked_ref(focus.as_ref())));
        focus.forget();
    }
}

/// The sidebar's control: shown until the user has answered the browser's question.
#[component]
pub fn NotificationsControl() -> impl IntoView {
    let state = RwSignal::new(permission());
    let ask_now = move |_| ask(move |answer| state.set(answer));
    view! {
        <Show when=move || state.get() == NotificationPermission::Default>
            <button type="button" class="ghost" id="enable-notifications" on:click=ask_now>
                "Turn on desktop notifications"
            </button>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn levels_decide_what_notifies() {
        assert!(wanted(Notify::All, false));
        assert!(wanted(Notify::Mentions, true));
        assert!(!wanted(Notify::Mentions, false));
        assert!(!wanted(Notify::None, true));
    }
}
