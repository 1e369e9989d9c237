//! The sidebar: the connection, the user's rooms and conversations with unread counts, the
//! directory, a form for a new room (public or private), the user picker for a new
//! conversation (of two, or a group), and who is signed in.

use crate::api;
use crate::chat::{level, use_chat};
use crate::components::user_picker::UserPicker;
use crate::session::use_session;
use crate::socket::Link;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use natter_shared::limits::UNREAD_COUNTED;
use natter_shared::{Notify, Room, RoomKind, RoomName};

#[component]
pub fn Sidebar() -> impl IntoView {
    let chat = use_chat();
    let session = use_session();
    let picking = RwSignal::new(false);
    let list = move |named: bool| {
        move || {
            chat.rooms
                .get()
                .into_iter()
                .filter(|r| r.kind.is_named() == named)
                .collect::<Vec<_>>()
        }
    };
    view! {
        <nav class="sidebar" aria-label="Rooms and conversations">
            <header class="sidebar-head">
                <span class="brand">"Natter"</span>
                <LinkState />
            </header>
            <crate::components::search::SearchBox />
            <section aria-labelledby="rooms-heading">
                <h2 id="rooms-heading">"Rooms"</h2>
                <ul class="room-list" id="rooms">
                    <For each=list(true) key=|r| (r.id, r.name.clone()) let:room>
                        <RoomLink room=room />
                    </For>
                </ul>
                <A href="/directory" attr:class="room-link" attr:id="directory-link">"Browse rooms"</A>
                <NewRoom />
            </section>
            <section aria-labelledby="dms-heading">
                <h2 id="dms-heading">"Conversations"</h2>
                <ul class="room-list" id="dms">
                    <For each=list(false) key=|r| (r.id, r.name.clone()) let:room>
                        <RoomLink room=room />
                    </For>
                </ul>
                <button type="button" class="ghost" id="new-dm" on:click=move |_| picking.set(true)>
                    "+ New conversation"
                </button>
                <Show when=move || picking.get()>
                    <UserPicker on_close=move || picking.set(false) />
                </Show>
            </section>
            <footer class="sidebar-foot">
                <span class="me">
                    {move || view! { <super::avatar::Avatar name=chat.me.get() /> }}
                    "Signed in as " <strong>{move || chat.me.get()}</strong>
                </span>
                <A href="/account" attr:class="room-link" attr:id="account-link">"Your account"</A>
                <crate::notify::NotificationsControl/>
                <Show when=move || chat.is_admin.get()>
                    <A href="/admin" attr:class="room-link" attr:id="admin-link">"Accounts (admin)"</A>
                </Show>
                <button type="button" class="ghost" id="sign-out"
                    on:click=move |_| session.sign_out(None)>"Sign out"</button>
            </footer>
        </nav>
    }
}

#[component]
fn LinkState() -> impl IntoView {
    let chat = use_chat();
    let text = move || match chat.link.get() {
        Link::Online => "online".to_owned(),
        Link::Connecting => "connecting…".to_owned(),
        Link::Retrying { in_secs: 0 } => "reconnecting…".to_owned(),
        Link::Retrying { in_secs } => format!("offline, retrying in {in_secs} s"),
    };
    let class = move || match chat.link.get() {
        Link::Online => "link online",
        Link::Connecting => "link connecting",
        Link::Retrying { .. } => "link offline",
    };
    let state = move || match chat.link.get() {
        Link::Online => "online",
        Link::Connecting => "connecting",
        Link::Retrying { .. } => "offline",
    };
    view! { <span class=class id="link-state" data-link=state role="status">{text}</span> }
}

#[component]
fn RoomLink(room: Room) -> impl IntoView {
    let chat = use_chat();
    let id = room.id;
    let href = room_href(&room);
    let label = room_label(&room);
    // The room as the list has it now: counts change with frames, not with this link.
    let counts = move || {
        chat.rooms.with(|rooms| {
            rooms
                .iter()
                .find(|r| r.id == id)
                .map_or((0, 0, Notify::None), |r| (r.unread, r.mentions, level(r)))
        })
    };
    let unread = move || counts().0;
    let mentions = move || counts().1;
    let muted = move || counts().2 == Notify::None;
    let unread_text = move || match unread() {
        n if n >= UNREAD_COUNTED => format!("{}+", UNREAD_COUNTED - 1),
        n => n.to_string(),
    };
    let current = move || (chat.active.get() == Some(id)).then_some("page");
    view! {
        <li>
            <A href=href attr:aria-current=current attr:class=move || {
                    if unread() > 0 && !muted() { "room-link has-unread" } else { "room-link" }
                }
                attr:data-room=room.name.clone()>
                <span class="room-name">{label}</span>
                <Show when=move || { mentions() > 0 && !muted() }>
                    <span class="mention-count" aria-label=move || format!("{} mentions", mentions())>
                        "@" {mentions}
                    </span>
                </Show>
                <Show when=move || { unread() > 0 }>
                    <span class="unread" class:quiet=muted
                        aria-label=move || format!("{} unread", unread_text())>
                        {unread_text}
                    </span>
                </Show>
            </A>
        </li>
    }
}

/// Where a room opens: named rooms by name, a direct conversation by the other's name, a
/// group by id.
pub fn room_href(room: &Room) -> String {
    match room.kind {
        RoomKind::Public | RoomKind::Private => format!("/rooms/{}", room.name),
        RoomKind::Direct => format!("/dm/{}", room.peer.as_deref().unwrap_or(&room.name)),
        RoomKind::Group => format!("/c/{}", room.id),
    }
}

/// A room's name as the sidebar and the header show it.
pub fn room_label(room: &Room) -> String {
    match room.kind {
        RoomKind::Public => format!("# {}", room.name),
        RoomKind::Private => format!("🔒 {}", room.name),
        RoomKind::Direct => format!("@ {}", room.name),
        RoomKind::Group => format!("👥 {}", room.name),
    }
}

#[component]
fn NewRoom() -> impl IntoView {
    let chat = use_chat();
    let session = use_session();
    let navigate = use_navigate();
    let name = RwSignal::new(String::new());
    let private = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let wanted = name.get_untracked();
        if let Err(e) = RoomName::parse(wanted.trim()) {
            error.set(Some(e.message));
            return;
        }
        let token = session.token().unwrap_or_default();
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::create_room(&token, wanted.trim(), private.get_untracked()).await {
                Ok(room) => {
                    let href = format!("/rooms/{}", room.name);
                    chat.add_room(room);
                    name.set(String::new());
                    private.set(false);
                    error.set(None);
                    navigate(&href, Default::default());
                }
                Err(e) if e.is_signed_out() => chat.failed(&e),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <form class="new-room" on:submit=submit>
            <label for="new-room-name" class="visually-hidden">"New room name"</label>
            <input id="new-room-name" placeholder="new-room" autocomplete="off"
                aria-invalid=move || error.with(Option::is_some).to_string()
                aria-describedby="new-room-error"
                prop:value=move || name.get()
                on:input=move |ev| name.set(event_target_value(&ev)) />
            <button type="submit" class="ghost" id="create-room">"Create"</button>
            <label class="check" title="Invite only: nobody else sees it">
                <input type="checkbox" id="new-room-private"
                    prop:checked=move || private.get()
                    on:change=move |ev| private.set(event_target_checked(&ev)) />
                "private"
            </label>
        </form>
        {move || error.get().map(|e| view! { <p class="field-error" id="new-room-error" role="alert">{e}</p> })}
    }
}
