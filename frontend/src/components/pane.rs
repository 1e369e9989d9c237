//! One open room: its name and who is online, the messages, who is typing, the composer.

use crate::chat::use_chat;
use crate::components::composer::Composer;
use crate::components::messages::MessageList;
use crate::socket::Link;
use leptos::prelude::*;
use leptos_router::components::A;
use natter_shared::{RoomId, RoomKind};

#[component]
pub fn Pane(room_id: RoomId) -> impl IntoView {
    let chat = use_chat();
    let room = move || chat.room(room_id);
    let title = move || {
        room().map_or_else(String::new, |r| match r.kind {
            RoomKind::Public => format!("# {}", r.name),
            RoomKind::Direct => format!("@ {}", r.name),
        })
    };
    let online = move || {
        chat.views
            .with(|v| {
                v.get(&room_id)
                    .map(|v| v.online.iter().cloned().collect::<Vec<_>>())
            })
            .unwrap_or_default()
    };
    let typing = move || {
        let me = chat.me.get();
        let names: Vec<String> = chat
            .views
            .with(|v| {
                v.get(&room_id)
                    .map(|v| v.typing.iter().map(|t| t.0.clone()).collect())
            })
            .unwrap_or_default();
        let names: Vec<String> = names.into_iter().filter(|n| *n != me).collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => format!("{one} is typing…"),
            [one, two] => format!("{one} and {two} are typing…"),
            _ => "Several people are typing…".to_owned(),
        }
    };
    view! {
        <section class="room" aria-labelledby="room-title">
            <header class="room-head">
                <A href="/" attr:class="back" attr:aria-label="Back to the rooms">"‹"</A>
                <h1 id="room-title">{title}</h1>
                <Show when=move || {
                    chat.is_admin.get() && room().is_some_and(|r| r.kind == RoomKind::Public)
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
                <p class="online" id="online" aria-label="Online now">
                    <span class="dot" aria-hidden="true"></span>
                    {move || {
                        let names = online();
                        if names.is_empty() { "nobody online".to_owned() } else { names.join(", ") }
                    }}
                </p>
            </header>
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
