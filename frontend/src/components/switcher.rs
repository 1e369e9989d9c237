//! The room switcher: Ctrl+K (⌘K) anywhere opens it; typing narrows the user's rooms and
//! conversations by name, Up and Down choose, Enter opens, Escape closes and gives the focus
//! back where it was.

use crate::chat::use_chat;
use crate::components::sidebar::room_href;
use leptos::html;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use natter_shared::Room;

/// Rooms offered at once.
const SHOWN: usize = 8;

/// Whether a key press opens the switcher: Ctrl+K, or ⌘K.
pub fn wants_switcher(ev: &web_sys::KeyboardEvent) -> bool {
    (ev.ctrl_key() || ev.meta_key()) && !ev.alt_key() && ev.key().eq_ignore_ascii_case("k")
}

/// The rooms whose name matches `query`, best first: names that start with it, then names
/// that contain it; with no query, the rooms with unread messages first. At most [`SHOWN`].
pub fn matches(rooms: &[Room], query: &str) -> Vec<Room> {
    let query = query.trim().to_lowercase();
    let mut found: Vec<(u8, &Room)> = rooms
        .iter()
        .filter_map(|room| {
            let name = room.name.to_lowercase();
            let rank = if query.is_empty() {
                u8::from(room.unread == 0)
            } else if name.starts_with(&query) {
                0
            } else if name.contains(&query) {
                1
            } else {
                return None;
            };
            Some((rank, room))
        })
        .collect();
    found.sort_by_key(|(rank, room)| (*rank, room.name.to_lowercase()));
    found
        .into_iter()
        .take(SHOWN)
        .map(|(_, room)| room.clone())
        .collect()
}

#[component]
pub fn Switcher(open: RwSignal<bool>) -> impl IntoView {
    let chat = use_chat();
    let navigate = use_navigate();
    let query = RwSignal::new(String::new());
    let chosen = RwSignal::new(0usize);
    let input = NodeRef::<html::Input>::new();
    // What had the focus before: it gets it back when the switcher closes without a choice.
    let before = StoredValue::new_local(None::<web_sys::HtmlElement>);
    let found = Memo::new(move |_| chat.rooms.with(|rooms| query.with(|q| matches(rooms, q))));
    Effect::new(move |_| {
        if open.get() {
            before.set_value(
                web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| d.active_element())
                    .and_then(|el| wasm_bindgen::JsCast::dyn_into(el).ok()),
            );
            query.set(String::new());
            chosen.set(0);
        }
    });
    Effect::new(move |_| {
        if let Some(el) = input.get() {
            let _ = el.focus();
        }
    });
    let close = move || {
        open.set(false);
        if let Some(el) = before.get_value() {
            let _ = el.focus();
        }
    };
    let go = move |room: Room| {
        open.set(false);
        navigate(&room_href(&room), Default::default());
    };
    let go_key = go.clone();
    let keys = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "Escape" => {
            ev.prevent_default();
            close();
        }
        "ArrowDown" | "ArrowUp" => {
            ev.prevent_default();
            let len = found.with(Vec::len);
            if len > 0 {
                let step = if ev.key() == "ArrowDown" { 1 } else { len - 1 };
                chosen.update(|c| *c = (*c + step) % len);
            }
        }
        "Enter" => {
            ev.prevent_default();
            if let Some(room) = found.with(|f| f.get(chosen.get_untracked()).cloned()) {
                go_key(room);
            }
        }
        _ => {}
    };
    move || {
        let go = go.clone();
        let keys = keys.clone();
        open.get().then(move || {
            view! {
                <div class="switcher-backdrop" on:click=move |_| close()>
                    <div class="switcher" id="switcher" role="dialog" aria-modal="true"
                        aria-label="Switch to a room" on:click=|ev| ev.stop_propagation()>
                        <label for="switcher-input" class="visually-hidden">"Room or conversation"</label>
                        <input id="switcher-input" type="text" node_ref=input autocomplete="off"
                            role="combobox" aria-expanded="true" aria-controls="switcher-list"
                            aria-autocomplete="list" placeholder="Jump to a room or conversation"
                            aria-activedescendant=move || format!("switch-{}", chosen.get())
                            prop:value=move || query.get()
                            on:input=move |ev| { query.set(event_target_value(&ev)); chosen.set(0); }
                            on:keydown=keys />
                        <ul id="switcher-list" role="listbox" aria-label="Rooms">
                            {move || {
                                let go = go.clone();
                                found.get().into_iter().enumerate().map(move |(at, room)| {
                                    let go = go.clone();
                                    let label = if room.kind.is_named() {
                                        format!("# {}", room.name)
                                    } else {
                                        format!("@ {}", room.name)
                                    };
                                    let unread = (room.unread > 0).then(|| room.unread.to_string());
                                    let name = room.name.clone();
                                    view! {
                                        <li id=format!("switch-{at}") role="option" data-room=name
                                            aria-selected=move || (chosen.get() == at).to_string()
                                            on:mousedown=|ev| ev.prevent_default()
                                            on:click=move |_| go(room.clone())>
                                            <span>{label}</span>
                                            {unread.map(|n| view! { <span class="unread">{n}</span> })}
                                        </li>
                                    }
                                }).collect_view()
                            }}
                        </ul>
                        <Show when=move || found.with(Vec::is_empty)>
                            <p class="hint">"No room or conversation of yours has that name."</p>
                        </Show>
                    </div>
                </div>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_shared::{RoomId, RoomKind};
    use wasm_bindgen_test::wasm_bindgen_test;

    fn room(id: i64, name: &str, unread: u32) -> Room {
        Room {
            id: RoomId(id),
            name: name.into(),
            kind: RoomKind::Public,
            peer: None,
            topic: None,
            member_count: 1,
            members: Vec::new(),
            role: None,
            last_message_id: None,
            last_read_id: None,
            unread,
            mentions: 0,
            notify: None,
        }
    }

    fn names(found: Vec<Room>) -> Vec<String> {
        found.into_iter().map(|r| r.name).collect()
    }

    #[wasm_bindgen_test]
    fn names_that_start_with_the_query_come_before_names_that_contain_it() {
        let rooms = [
            room(1, "general", 0),
            room(2, "rust-gen", 0),
            room(3, "Gen", 0),
        ];
        assert_eq!(
            names(matches(&rooms, "gen")),
            ["Gen", "general", "rust-gen"]
        );
        assert_eq!(names(matches(&rooms, " GENERAL ")), ["general"]);
        assert!(matches(&rooms, "zzz").is_empty());
    }

    #[wasm_bindgen_test]
    fn with_no_query_rooms_with_news_come_first_and_the_list_is_short() {
        let mut rooms: Vec<Room> = (0..20).map(|i| room(i, &format!("r{i:02}"), 0)).collect();
        rooms.push(room(99, "zz", 3));
        let found = names(matches(&rooms, ""));
        assert_eq!(found.len(), SHOWN);
        assert_eq!(found[0], "zz");
    }
}
