//! Search: the box at the top of the sidebar (`/` focuses it from anywhere outside a text field), and
//! `/search?q=…`, the results grouped by room with what matched highlighted, filters for a
//! room and a person, more on scroll. Choosing a result opens its room at that message.

use crate::api::{self, SearchFilters};
use crate::chat::use_chat;
use crate::components::sidebar::room_href;
use crate::paged::Paged;
use crate::session::use_session;
use crate::time;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use natter_shared::{RoomId, SearchResult, SearchRoom};

/// The search box. Enter shows the results page for what is typed.
#[component]
pub fn SearchBox() -> impl IntoView {
    let navigate = use_navigate();
    let query = use_query_map();
    let text = RwSignal::new(query.with_untracked(|q| q.get("q").unwrap_or_default()));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let q = text.get_untracked();
        if !q.trim().is_empty() {
            let q = String::from(js_sys::encode_uri_component(&q));
            navigate(&format!("/search?q={q}"), Default::default());
        }
    };
    view! {
        <form class="search-form" role="search" on:submit=submit>
            <label for="search" class="visually-hidden">"Search messages"</label>
            <input id="search" type="search" autocomplete="off" maxlength="200"
                placeholder="Search messages  ( / )"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev)) />
        </form>
    }
}

/// Whether a key press should focus the search box: `/` outside a text field (Ctrl+K opens
/// the room switcher).
pub fn wants_search(ev: &web_sys::KeyboardEvent) -> bool {
    let typing = ev
        .target()
        .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
        .is_some_and(|el| {
            matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                || el.has_attribute("contenteditable")
        });
    ev.key() == "/" && !typing && !ev.ctrl_key() && !ev.meta_key() && !ev.alt_key()
}

/// Focuses the search box, its text selected.
pub fn focus_search() {
    let input = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("search"))
        .and_then(|el| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlInputElement>(el).ok());
    if let Some(input) = input {
        let _ = input.focus();
        input.select();
    }
}

/// Results in groups of one room each, rooms in the order their first result came.
fn grouped(results: &[SearchResult]) -> Vec<(SearchRoom, Vec<SearchResult>)> {
    let mut groups: Vec<(SearchRoom, Vec<SearchResult>)> = Vec::new();
    for r in results {
        match groups.iter_mut().find(|(room, _)| room.id == r.room.id) {
            Some((_, list)) => list.push(r.clone()),
            None => groups.push((r.room.clone(), vec![r.clone()])),
        }
    }
    groups
}

/// `body` as text, the ranges (in characters) marked.
fn marked(body: &str, ranges: &[[u32; 2]]) -> Vec<AnyView> {
    let chars: Vec<char> = body.chars().collect();
    let piece = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
    let mut out = Vec::new();
    let mut at = 0;
    for [start, end] in ranges {
        let (start, end) = (*start as usize, (*end as usize).min(chars.len()));
        if start < at || start >= end {
            continue;
        }
        out.push(piece(at, start).into_any());
        out.push(view! { <mark>{piece(start, end)}</mark> }.into_any());
        at = end;
    }
    out.push(piece(at, chars.len()).into_any());
    out
}

/// `/search?q=…`.
#[component]
pub fn SearchResults() -> impl IntoView {
    let chat = use_chat();
    let session = use_session();
    let navigate = use_navigate();
    chat.active.set(None);
    let query = use_query_map();
    let q = Memo::new(move |_| query.read().get("q").unwrap_or_default());
    let room = RwSignal::new(None::<RoomId>);
    let from = RwSignal::new(String::new());
    let paged = Paged::<SearchResult>::new();
    let Paged {
        items: results,
        next,
        error,
        loading,
        ..
    } = paged;
    let fetch = move |more: bool| {
        let text = q.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        paged.query.set(text);
        let filters = SearchFilters {
            room: room.get_untracked(),
            from: from.get_untracked(),
        };
        let token = session.token().unwrap_or_default();
        paged.fetch(chat, more, move |q, cursor| async move {
            api::search(&token, &q, &filters, cursor.as_deref())
                .await
                .map(|page| (page.results, page.next))
        });
    };
    Effect::new(move |_| {
        q.track();
        room.track();
        from.track();
        fetch(false);
    });
    let on_scroll = move |ev: leptos::ev::Event| {
        let Some(el) = ev
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
        else {
            return;
        };
        if el.scroll_height() - el.scroll_top() - el.client_height() < 200 {
            fetch(true);
        }
    };
    let open = move |r: &SearchResult| {
        let href = chat
            .room(r.room.id)
            .map_or_else(|| format!("/c/{}", r.room.id), |room| room_href(&room));
        chat.open_at(r.room.id, r.message.id);
        navigate(&href, Default::default());
    };
    let rooms = move || {
        chat.rooms.with(|rooms| {
            rooms
                .iter()
                .map(|r| (r.id, crate::components::sidebar::room_label(r)))
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="search-page" aria-labelledby="search-title">
            <header class="room-head">
                <h1 id="search-title">"Search: " <bdi>{move || q.get()}</bdi></h1>
            </header>
            <div class="search-filters">
                <label for="search-room">"In"</label>
                <select id="search-room" on:change=move |ev| {
                    room.set(event_target_value(&ev).parse::<i64>().ok().map(RoomId));
                }>
                    <option value="" selected=move || room.get().is_none()>"all my rooms"</option>
                    <For each=rooms key=|choice| choice.clone() let:choice>
                        {
                            let (id, label) = choice;
                            view! {
                                <option value=id.to_string() selected=move || room.get() == Some(id)>{label}</option>
                            }
                        }
                    </For>
                </select>
                <label for="search-from">"From"</label>
                <input id="search-from" type="text" autocomplete="off" placeholder="anyone"
                    prop:value=move || from.get()
                    on:change=move |ev| from.set(event_target_value(&ev)) />
            </div>
            <div class="search-results" id="search-results" on:scroll=on_scroll>
                {move || error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
                <Show when=move || !loading.get() && results.with(Vec::is_empty) && error.with(Option::is_none)>
                    <p class="hint" id="no-results">"Nothing found. Fewer words, or a prefix (plan*), may find more."</p>
                </Show>
                <For each=move || grouped(&results.get()) key=|(room, list)| (room.id, list.len()) let:group>
                    {
                        let (room, list) = group;
                        let open = open.clone();
                        view! {
                            <section class="search-group" data-room=room.id.to_string()>
                                <h2><bdi>{room.name.clone()}</bdi></h2>
                                <ul>
                                    {list.into_iter().map(|r| {
                                        let open = open.clone();
                                        let body = marked(&r.message.body, &r.highlights);
                                        let at = r.message.created_at;
                                        let author = r.message.author.clone();
                                        let id = r.message.id;
                                        view! {
                                            <li>
                                                <button type="button" class="search-hit" data-id=id.to_string()
                                                    on:click=move |_| open(&r)>
                                                    <span class="meta">
                                                        <strong>{author}</strong>
                                                        " "
                                                        <time datetime=time::iso(at) title=time::full(at)>{time::full(at)}</time>
                                                    </span>
                                                    <span class="text">{body}</span>
                                                </button>
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                            </section>
                        }
                    }
                </For>
                <Show when=move || next.with(Option::is_some)>
                    <button type="button" class="ghost" id="more-results" on:click=move |_| fetch(true)>
                        {move || if loading.get() { "Searching…" } else { "More results" }}
                    </button>
                </Show>
            </div>
        </section>
    }
}
