//! `/directory`: public rooms to browse, search and join, a page at a time.

use crate::api;
use crate::chat::use_chat;
use crate::components::sidebar::room_href;
use crate::paged::Paged;
use crate::session::use_session;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use natter_shared::Room;

#[component]
pub fn Directory() -> impl IntoView {
    let chat = use_chat();
    let session = use_session();
    let navigate = use_navigate();
    chat.active.set(None);
    let paged = Paged::<Room>::new();
    let Paged {
        query,
        items: rooms,
        next,
        error,
        ..
    } = paged;
    let fetch = move |more: bool| {
        let token = session.token().unwrap_or_default();
        paged.fetch(chat, more, move |q, after| async move {
            api::directory(&token, &q, after.as_deref()).await
        });
    };
    fetch(false);
    // Joins (if need be) and opens a room.
    let enter = move |room: Room| {
        let token = session.token().unwrap_or_default();
        let navigate = navigate.clone();
        spawn_local(async move {
            let room = if room.role.is_some() {
                room
            } else {
                match api::join(&token, room.id).await {
                    Ok(room) => room,
                    Err(e) => return chat.failed(&e),
                }
            };
            let href = room_href(&room);
            chat.add_room(room);
            navigate(&href, Default::default());
        });
    };
    view! {
        <section class="directory" aria-labelledby="directory-title">
            <header class="room-head">
                <h1 id="directory-title">"Public rooms"</h1>
            </header>
            <div class="directory-body">
                <label for="directory-search" class="visually-hidden">"Find a room"</label>
                <input id="directory-search" type="search" autocomplete="off" placeholder="Find a room…"
                    prop:value=move || query.get()
                    on:input=move |ev| {
                        query.set(event_target_value(&ev));
                        fetch(false);
                    } />
                <ul class="directory-list" id="directory-results">
                    <For each=move || rooms.get() key=|r| (r.id, r.role.is_some()) let:room>
                        {
                            let enter = enter.clone();
                            let member = room.role.is_some();
                            let count = match room.member_count {
                                1 => "1 member".to_owned(),
                                n => format!("{n} members"),
                            };
                            let name = room.name.clone();
                            let topic = room.topic.clone();
                            view! {
                                <li class="directory-room" data-room=name.clone()>
                                    <div>
                                        <strong>"# " {name.clone()}</strong>
                                        <span class="hint">" · " {count}</span>
                                        {topic.map(|t| view! { <p class="topic"><bdi>{t}</bdi></p> })}
                                    </div>
                                    <button type="button" class="ghost join"
                                        on:click=move |_| enter(room.clone())>
                                        {if member { "Open" } else { "Join" }}
                                    </button>
                                </li>
                            }
                        }
                    </For>
                </ul>
                <Show when=move || rooms.with(Vec::is_empty) && error.with(Option::is_none)>
                    <p class="hint">"No public room by that name yet: create one in the sidebar."</p>
                </Show>
                <Show when=move || next.with(Option::is_some)>
                    <button type="button" class="ghost" id="more-rooms" on:click=move |_| fetch(true)>
                        "More"
                    </button>
                </Show>
                {move || error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
            </div>
        </section>
    }
}
