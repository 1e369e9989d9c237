//! The top: the sign-in page for visitors; for a signed-in user, the sidebar and the route
//! (`/`, `/rooms/NAME`, `/dm/USERNAME`, `/c/ID`, `/directory`) in the main pane.

use crate::api;
use crate::chat::{Chat, use_chat};
use crate::components::account::AccountPage;
use crate::components::admin::AdminPage;
use crate::components::auth_page::AuthPage;
use crate::components::directory::Directory;
use crate::components::pane::Pane;
use crate::components::sidebar::Sidebar;
use crate::session::{Session, use_session};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::{use_location, use_params_map};
use leptos_router::path;
use natter_shared::{RoomId, RoomKind, RoomName};

#[component]
pub fn App() -> impl IntoView {
    let session = Session::restore();
    provide_context(session);
    view! {
        <Router>
            <Show when=move || session.is_signed_in() fallback=|| view! { <AuthPage /> }>
                <Shell />
            </Show>
        </Router>
    }
}

/// The signed-in app. Its state lives as long as the session: signing out drops it.
#[component]
fn Shell() -> impl IntoView {
    let chat = Chat::start(use_session());
    provide_context(chat);
    let back = window_event_listener(leptos::ev::visibilitychange, move |_| chat.back_in_view());
    let switching = RwSignal::new(false);
    let keys = window_event_listener(leptos::ev::keydown, move |ev| {
        if crate::components::switcher::wants_switcher(&ev) {
            ev.prevent_default();
            switching.update(|open| *open = !*open);
        } else if crate::components::search::wants_search(&ev) {
            ev.prevent_default();
            crate::components::search::focus_search();
        }
    });
    on_cleanup(move || {
        back.remove();
        keys.remove();
        chat.stop();
    });
    // On a phone the sidebar and the pane take turns: any path but `/` shows the pane.
    let location = use_location();
    let has_room = move || location.pathname.with(|p| p != "/");
    view! {
        <div class="shell" class:has-room=has_room>
            // The router would take the click as a navigation: the focus is moved here.
            <a class="skip-link" id="skip-link" href="#main"
                on:click=|ev: leptos::ev::MouseEvent| {
                    ev.prevent_default();
                    let main = web_sys::window()
                        .and_then(|w| w.document())
                        .and_then(|d| d.get_element_by_id("main"))
                        .and_then(|el| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el).ok());
                    if let Some(main) = main {
                        let _ = main.focus();
                    }
                }>"Skip to the conversation"</a>
            <Sidebar />
            <main class="pane" id="main" tabindex="-1">
                <Banner />
                <Routes fallback=|| view! { <p class="empty">"There is nothing here."</p> }>
                    <Route path=path!("/") view=Welcome />
                    <Route path=path!("/rooms/:name") view=RoomByName />
                    <Route path=path!("/dm/:username") view=DirectByName />
                    <Route path=path!("/c/:id") view=ConversationById />
                    <Route path=path!("/directory") view=Directory />
                    <Route path=path!("/search") view=crate::components::search::SearchResults />
                    <Route path=path!("/admin") view=AdminPage />
                    <Route path=path!("/account") view=AccountPage />
                </Routes>
            </main>
            <crate::components::messages::Viewer />
            <crate::components::switcher::Switcher open=switching />
        </div>
    }
}

/// A passing problem, until dismissed.
#[component]
fn Banner() -> impl IntoView {
    let chat = use_chat();
    move || {
        chat.banner.get().map(|text| {
            view! {
                <div class="banner" role="alert">
                    <span>{text}</span>
                    <button type="button" class="ghost" on:click=move |_| chat.banner.set(None)>
                        "Dismiss"
                    </button>
                </div>
            }
        })
    }
}

#[component]
fn Welcome() -> impl IntoView {
    let chat = use_chat();
    chat.active.set(None);
    view! {
        <div class="empty welcome">
            <h2>"Welcome to Natter"</h2>
            <p>"Pick a room on the left, create one, or start a direct conversation."</p>
            <p class="hint">"In a room, type " <kbd>"/help"</kbd> " for the chat commands."</p>
        </div>
    }
}

/// `/rooms/NAME`: the user's room of that name (any case); else the public room of that name,
/// joined (a link to a public room is an invitation); else an offer to create it.
#[component]
fn RoomByName() -> impl IntoView {
    let chat = use_chat();
    let session = use_session();
    let params = use_params_map();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let found: Memo<Option<RoomId>> = Memo::new(move |_| {
        let key = name.get().to_lowercase();
        chat.rooms.with(|rooms| {
            rooms
                .iter()
                .find(|r| r.kind.is_named() && r.name.to_lowercase() == key)
                .map(|r| r.id)
        })
    });
    // The name looked up in the directory, and whether no public room has it.
    let looked = RwSignal::new(None::<String>);
    let missing = RwSignal::new(false);
    // The name of the room shown last: if it goes (the user was removed or left), it is not
    // joined again behind their back.
    let shown = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let wanted = name.get();
        if let Some(id) = found.get() {
            shown.set(Some(wanted));
            chat.open(id);
            return;
        }
        if shown.get_untracked().as_ref() == Some(&wanted) {
            return;
        }
        if !chat.rooms_loaded.get() || looked.get_untracked().as_ref() == Some(&wanted) {
            return;
        }
        looked.set(Some(wanted.clone()));
        missing.set(false);
        let token = session.token().unwrap_or_default();
        spawn_local(async move {
            let key = wanted.to_lowercase();
            let room = match api::directory(&token, &wanted, None).await {
                Ok((rooms, _)) => rooms.into_iter().find(|r| r.name.to_lowercase() == key),
                Err(e) => return chat.failed(&e),
            };
            match room {
                Some(room) => match api::join(&token, room.id).await {
                    Ok(room) => chat.add_room(room),
                    Err(e) => chat.failed(&e),
                },
                None => missing.set(true),
            }
        });
    });
    move || match found.get() {
        Some(id) => view! { <Pane room_id=id /> }.into_any(),
        None if shown.get() == Some(name.get()) => {
            view! { <p class="empty">"You are not a member of this room any more."</p> }.into_any()
        }
        None if missing.get() => view! { <CreateOffer name=name.get() /> }.into_any(),
        None => view! { <p class="empty">"Loading rooms…"</p> }.into_any(),
    }
}

/// `/c/ID`: a group conversation of the user's.
#[component]
fn ConversationById() -> impl IntoView {
    let chat = use_chat();
    let params = use_params_map();
    let found: Memo<Option<RoomId>> = Memo::new(move |_| {
        let id: i64 = params.read().get("id").and_then(|s| s.parse().ok())?;
        chat.rooms
            .with(|rooms| rooms.iter().find(|r| r.id.0 == id).map(|r| r.id))
    });
    Effect::new(move |_| {
        if let Some(id) = found.get() {
            chat.open(id);
        }
    });
    move || match found.get() {
        Some(id) => view! { <Pane room_id=id /> }.into_any(),
        None if !chat.rooms_loaded.get() => {
            view! { <p class="empty">"Loading rooms…"</p> }.into_any()
        }
        None => view! { <p class="empty">"There is no such conversation."</p> }.into_any(),
    }
}

#[component]
fn CreateOffer(name: String) -> impl IntoView {
    let chat = use_chat();
    let session = use_session();
    let error = RwSignal::new(RoomName::parse(name.clone()).err().map(|e| e.message));
    let valid = error.get_untracked().is_none();
    let create = {
        let name = name.clone();
        move |_| {
            let name = name.clone();
            let token = session.token().unwrap_or_default();
            spawn_local(async move {
                match api::create_room(&token, &name, false).await {
                    Ok(room) => chat.add_room(room),
                    Err(e) if e.is_signed_out() => chat.failed(&e),
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    view! {
        <div class="empty">
            <h2>"No room named “" {name.clone()} "”"</h2>
            <Show when=move || valid>
                <button type="button" class="primary" on:click=create.clone()>
                    "Create #" {name.clone()}
                </button>
            </Show>
            {move || error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
        </div>
    }
}

/// `/dm/USERNAME`: the direct conversation with that user. Visiting makes nothing: until
/// the first message is sent, the page shows a draft of the conversation, and the other
/// person's sidebar stays as it was.
#[component]
fn DirectByName() -> impl IntoView {
    let chat = use_chat();
    let session = use_session();
    let params = use_params_map();
    let username = Memo::new(move |_| params.read().get("username").unwrap_or_default());
    let known: Memo<Option<RoomId>> = Memo::new(move |_| {
        let key = username.get().to_lowercase();
        chat.rooms.with(|rooms| {
            rooms
                .iter()
                .find(|r| r.kind == RoomKind::Direct && r.name.to_lowercase() == key)
                .map(|r| r.id)
        })
    });
    // For a conversation not made yet: whether that user exists (their name as spelled).
    let person: RwSignal<Option<Result<String, String>>> = RwSignal::new(None);
    Effect::new(move |_| {
        if let Some(id) = known.get() {
            chat.open(id);
            return;
        }
        if !chat.rooms_loaded.get() {
            return;
        }
        chat.active.set(None);
        let wanted = username.get();
        person.set(None);
        let token = session.token().unwrap_or_default();
        spawn_local(async move {
            let key = wanted.to_lowercase();
            let answer = api::users(&token, &wanted, None).await;
            if username.get_untracked() != wanted {
                return;
            }
            person.set(Some(match answer {
                Ok(page) => page
                    .users
                    .into_iter()
                    .find(|u| u.username.to_lowercase() == key)
                    .map(|u| u.username)
                    .ok_or_else(|| format!("There is no user named “{wanted}”.")),
                Err(e) => {
                    if e.is_signed_out() {
                        chat.failed(&e);
                    }
                    Err(e.message)
                }
            }));
        });
    });
    move || match (known.get(), person.get()) {
        (Some(id), _) => view! { <Pane room_id=id /> }.into_any(),
        (None, Some(Ok(name))) => view! { <DraftConversation username=name /> }.into_any(),
        (None, Some(Err(message))) => view! {
            <div class="empty">
                <h2>"Cannot open this conversation"</h2>
                <p class="field-error" role="alert">{message}</p>
            </div>
        }
        .into_any(),
        (None, None) => view! { <p class="empty">"Opening the conversation…"</p> }.into_any(),
    }
}

/// A direct conversation that does not exist yet: the first message makes it (on the
/// server, for both people) and is sent in it.
#[component]
fn DraftConversation(username: String) -> impl IntoView {
    let chat = use_chat();
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let input = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(el) = input.get() {
            let _ = el.focus();
        }
    });
    let title = format!("@ {username}");
    let intro = format!(
        "This is the start of your conversation with {username}. It begins when you send \
         the first message; until then {username} sees nothing of it."
    );
    let send = move || {
        let body = draft.get_untracked();
        if body.trim().is_empty() || busy.get_untracked() {
            return;
        }
        busy.set(true);
        let token = chat.token();
        let username = username.clone();
        spawn_local(async move {
            match api::open_direct(&token, &username).await {
                Ok(room) => {
                    let id = room.id;
                    chat.add_room(room);
                    chat.open(id);
                    chat.send(id, body, None, Vec::new());
                }
                Err(e) if e.is_signed_out() => chat.failed(&e),
                Err(e) => {
                    busy.set(false);
                    error.set(Some(e.message));
                }
            }
        });
    };
    let submit = send.clone();
    view! {
        <section class="room draft" aria-labelledby="room-title">
            <header class="room-head">
                <A href="/" attr:class="back" attr:aria-label="Back to the rooms">"‹"</A>
                <h1 id="room-title">{title}</h1>
            </header>
            <div class="messages">
                <p class="history-edge">{intro}</p>
            </div>
            <form class="composer" on:submit=move |ev| { ev.prevent_default(); submit(); }>
                <label for="composer-input" class="visually-hidden">"Message"</label>
                <textarea id="composer-input" node_ref=input rows="1" autocomplete="off"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        if ev.key() == "Enter" && !ev.shift_key() { ev.prevent_default(); send(); }
                    }></textarea>
                <button type="submit" class="primary" id="send"
                    disabled=move || busy.get() || draft.with(|d| d.trim().is_empty())>"Send"</button>
                {move || error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
            </form>
        </section>
    }
}
