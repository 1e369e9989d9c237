//! One open room: its name, topic and who is online, the members panel, leaving, the
//! messages, who is typing, the composer.

use crate::chat::use_chat;
use crate::components::composer::Composer;
use crate::components::members::MembersPanel;
use crate::components::messages::MessageList;
use crate::components::sidebar::room_label;
use crate::socket::Link;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use natter_shared::{Role, RoomId, RoomKind};

#[component]
pub fn Pane(room_id: RoomId) -> impl IntoView {
    let chat = use_chat();
    let room = move || chat.room(room_id);
    let title = move || room().map_or_else(String::new, |r| room_label(&r));
    let topic = move || room().and_then(|r| r.topic);
    let owner = move || {
        chat.is_admin.get()
            || room().is_some_and(|r| r.kind.is_named() && r.role == Some(Role::Owner))
    };
    let showing_members = RwSignal::new(false);
    let editing_topic = RwSignal::new(false);
    let draft = RwSignal::new(String::new());
    let topic_error = RwSignal::new(None::<String>);
    let session = crate::session::use_session();
    let save_topic = move || {
        let token = session.token().unwrap_or_default();
        let text = draft.get_untracked();
        spawn_local(async move {
            match crate::api::set_topic(&token, room_id, &text).await {
                Ok(room) => {
                    chat.add_room(room);
                    editing_topic.set(false);
                    topic_error.set(None);
                }
                Err(e) => topic_error.set(Some(e.message)),
            }
        });
    };
    let navigate = use_navigate();
    let leave = move |_| {
        let sure = web_sys::window()
            .and_then(|w| w.confirm_with_message("Leave this room?").ok())
            .unwrap_or(false);
        if sure {
            let navigate = navigate.clone();
            chat.leave(room_id, move || navigate("/", Default::default()));
        }
    };
    let leave_narrow = leave.clone();
    // Memos: a message in this room changes its view, but not who is online or typing.
    let view = chat.view(room_id);
    let showing_online = RwSignal::new(false);
    let online = Memo::new(move |_| view.with(|v| v.online.iter().cloned().collect::<Vec<_>>()));
    let typing = Memo::new(move |_| {
        let me = chat.me.get();
        let names: Vec<String> = view.with(|v| v.typing.iter().map(|t| t.0.clone()).collect());
        let names: Vec<String> = names.into_iter().filter(|n| *n != me).collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => format!("{one} is typing…"),
            [one, two] => format!("{one} and {two} are typing…"),
            _ => "Several people are typing…".to_owned(),
        }
    });
    // Unread messages in the other rooms: a dot on the way back (the sidebar is hidden on a
    // phone while a room is open).
    let others_unread = move || {
        chat.rooms.with(|rooms| {
            rooms
                .iter()
                .filter(|r| r.id != room_id)
                .map(|r| r.unread)
                .sum::<u32>()
        })
    };
    let back_label = move || match others_unread() {
        0 => "Back to the rooms".to_owned(),
        n => format!("Back to the rooms ({n} unread elsewhere)"),
    };
    view! {
        <section class="room" aria-labelledby="room-title">
            <header class="room-head">
                <A href="/" attr:class="back" attr:aria-label=back_label>
                    "‹"
                    <Show when=move || { others_unread() > 0 }>
                        <span class="news" id="other-news" aria-hidden="true"></span>
                    </Show>
                </A>
                <h1 id="room-title">{title}</h1>
                <button type="button" class="ghost" id="show-members"
                    aria-pressed=move || showing_members.get().to_string()
                    on:click=move |_| showing_members.update(|s| *s = !*s)>
                    {move || format!("Members ({})", room().map_or(0, |r| r.member_count))}
                </button>
                <Show when=move || room().is_some_and(|r| r.kind != RoomKind::Direct)>
                    // On a phone, in the members panel instead: the head keeps room for the title.
                    <button type="button" class="ghost wide-only" id="leave-room" on:click=leave.clone()>"Leave"</button>
                </Show>
                <Show when=move || {
                    chat.is_admin.get() && room().is_some_and(|r| r.kind.is_named())
                }>
                    <button type="button" class="ghost" id="delete-room" on:click=move |_| {
                        let sure = web_sys::window()
                            .and_then(|w| w.confirm_with_message("Delete this room and all its messages?").ok())
                            .unwrap_or(false);
                        if sure {
                            chat.delete_room(room_id);
                        }
                    }>"Delete room"</button>
                </Show>
                // Offline, who is online is not known: said so, and not in green.
                <p class="online" id="online" aria-label="Online now"
                    class:stale=move || chat.link.get() != crate::socket::Link::Online>
                    <span class="dot" aria-hidden="true"></span>
                    {move || {
                        if chat.link.get() != crate::socket::Link::Online {
                            return "not connected: who is online is unknown".to_owned();
                        }
                        let names = online.get();
                        if names.is_empty() { "nobody online".to_owned() } else { names.join(", ") }
                    }}
                </p>
                // On a phone the names make way for a count that opens the whole list.
                <button type="button" class="ghost online-count" id="online-count"
                    aria-expanded=move || showing_online.get().to_string() aria-controls="online-list"
                    on:click=move |_| showing_online.update(|s| *s = !*s)>
                    {move || match chat.link.get() {
                        crate::socket::Link::Online => format!("{} online", online.with(Vec::len)),
                        _ => "Offline".to_owned(),
                    }}
                </button>
            </header>
            <Show when=move || showing_online.get()>
                <ul class="online-list" id="online-list" aria-label="Online now"
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                        if ev.key() == "Escape" { showing_online.set(false); }
                    }>
                    {move || online.get().into_iter().map(|name| view! { <li>{name}</li> }).collect_view()}
                </ul>
            </Show>
            <div class="topic-line">
                <Show when=move || !editing_topic.get()
                    fallback=move || view! {
                        <form class="topic-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                            ev.prevent_default();
                            save_topic();
                        }>
                            <label for="topic-input" class="visually-hidden">"Topic"</label>
                            <input id="topic-input" maxlength="250" placeholder="What is this room about?"
                                prop:value=move || draft.get()
                                on:input=move |ev| draft.set(event_target_value(&ev)) />
                            <button type="submit" class="ghost" id="save-topic">"Save"</button>
                            <button type="button" class="ghost" on:click=move |_| editing_topic.set(false)>"Cancel"</button>
                        </form>
                    }>
                    <p class="topic" id="room-topic"><bdi>{topic}</bdi></p>
                    <Show when=owner>
                        <button type="button" class="ghost" id="edit-topic" on:click=move |_| {
                            draft.set(topic().unwrap_or_default());
                            editing_topic.set(true);
                        }>{move || if topic().is_some() { "Edit topic" } else { "Set a topic" }}</button>
                    </Show>
                </Show>
                {move || topic_error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
            </div>
            <Show when=move || showing_members.get()>
                <MembersPanel room_id=room_id />
            </Show>
            <Show when=move || {
                showing_members.get() && room().is_some_and(|r| r.kind != RoomKind::Direct)
            }>
                <div class="narrow-only leave-line">
                    <button type="button" class="ghost" id="leave-room-narrow" on:click=leave_narrow.clone()>
                        "Leave this room"
                    </button>
                </div>
            </Show>
            <Show when=move || chat.link.get() != Link::Online>
                <p class="offline-bar" role="status">
                    {move || match chat.link.get() {
                        Link::Retrying { in_secs } if in_secs > 0 => {
                            format!("Connection lost: retrying in {in_secs} s. Messages you write now are sent when it is back.")
                        }
                        _ => "Connecting…".to_owned(),
                    }}
                </p>
            </Show>
            <MessageList room_id=room_id />
            <p class="typing" id="typing" aria-live="polite">{typing}</p>
            <Composer room_id=room_id />
        </section>
    }
}
