//! Find people: search by name, a page at a time. Choosing one opens the direct conversation
//! with them; ticking two to eight starts a group conversation; with `add_to`, choosing one
//! adds them to that room instead.

use crate::api;
use crate::chat::use_chat;
use crate::paged::Paged;
use crate::session::use_session;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use natter_shared::limits::GROUP_PEOPLE;
use natter_shared::{RoomId, User};

#[component]
pub fn UserPicker(
    on_close: impl Fn() + Clone + Send + Sync + 'static,
    /// Add the chosen user to this room rather than open a conversation.
    #[prop(optional)]
    add_to: Option<RoomId>,
) -> impl IntoView {
    let chat = use_chat();
    let session = use_session();
    let navigate = use_navigate();
    let paged = Paged::<User>::new();
    let Paged {
        query,
        items: users,
        next,
        error,
        ..
    } = paged;
    // People ticked for a group conversation.
    let chosen = RwSignal::new(Vec::<String>::new());
    let fetch = move |more: bool| {
        let token = session.token().unwrap_or_default();
        paged.fetch(chat, more, move |q, after| async move {
            let page = api::users(&token, &q, after.as_deref()).await?;
            let me = chat.me.get_untracked();
            let found = page
                .users
                .into_iter()
                .filter(|u| u.username != me)
                .collect();
            Ok((found, page.next))
        });
    };
    fetch(false);
    let pick = {
        let close = on_close.clone();
        let navigate = navigate.clone();
        move |username: String| match add_to {
            Some(room) => {
                let token = session.token().unwrap_or_default();
                let close = close.clone();
                spawn_local(async move {
                    match api::add_member(&token, room, &username).await {
                        Ok(_) => close(),
                        Err(e) if e.is_signed_out() => chat.failed(&e),
                        Err(e) => error.set(Some(e.message)),
                    }
                });
            }
            None => {
                close();
                navigate(&format!("/dm/{username}"), Default::default());
            }
        }
    };
    let start_group = {
        let close = on_close.clone();
        move |_| {
            let token = session.token().unwrap_or_default();
            let names = chosen.get_untracked();
            let close = close.clone();
            let navigate = navigate.clone();
            spawn_local(async move {
                match api::open_group(&token, names).await {
                    Ok(room) => {
                        let href = format!("/c/{}", room.id);
                        chat.add_room(room);
                        close();
                        navigate(&href, Default::default());
                    }
                    Err(e) if e.is_signed_out() => chat.failed(&e),
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let most = GROUP_PEOPLE.end() - 1;
    let label = if add_to.is_some() {
        "Add someone to the room"
    } else {
        "Start a conversation"
    };
    // `autofocus` does nothing for an element added after the page loaded: focus it here.
    let search = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(el) = search.get() {
            let _ = el.focus();
        }
    });
    let escape = {
        let close = on_close.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Escape" {
                close();
            }
        }
    };
    view! {
        <div class="picker" role="dialog" aria-label=label on:keydown=escape>
            <label for="user-search">"Find a user"</label>
            <input id="user-search" node_ref=search type="search" autocomplete="off" placeholder="name…"
                prop:value=move || query.get()
                on:input=move |ev| {
                    query.set(event_target_value(&ev));
                    fetch(false);
                }
                on:keydown={
                    let on_close = on_close.clone();
                    move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Escape" { on_close() }
                } />
            <ul class="user-list" id="user-results">
                <For each=move || users.get() key=|u| u.id let:user>
                    {
                        let pick = pick.clone();
                        let name = user.username.clone();
                        let tick = name.clone();
                        let ticked = {
                            let name = StoredValue::new(name.clone());
                            move || name.with_value(|n| chosen.with(|c| c.contains(n)))
                        };
                        view! {
                            <li>
                                <button type="button" class="user" data-user=name.clone()
                                    on:click=move |_| pick(name.clone())>
                                    "@ " {user.username.clone()}
                                </button>
                                {add_to.is_none().then(|| {
                                    let name = tick.clone();
                                    view! {
                                        <button type="button" class="ghost tick" data-user=tick.clone()
                                            aria-pressed=move || ticked().to_string()
                                            title="Add to a group conversation"
                                            on:click=move |_| chosen.update(|c| {
                                                match c.iter().position(|n| *n == name) {
                                                    Some(at) => { c.remove(at); }
                                                    None if c.len() < most => c.push(name.clone()),
                                                    None => {}
                                                }
                                            })>
                                            {move || if ticked() { "✓" } else { "+" }}
                                        </button>
                                    }
                                })}
                            </li>
                        }
                    }
                </For>
            </ul>
            <Show when=move || users.with(Vec::is_empty) && error.with(Option::is_none)>
                <p class="hint">"Nobody by that name yet."</p>
            </Show>
            <Show when=move || next.with(Option::is_some)>
                <button type="button" class="ghost" id="more-users" on:click=move |_| fetch(true)>
                    "More"
                </button>
            </Show>
            <Show when=move || chosen.with(|c| c.len() >= 2)>
                <button type="button" class="primary" id="start-group" on:click=start_group.clone()>
                    {move || format!("Start a group with {}", chosen.get().join(", "))}
                </button>
            </Show>
            {move || error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
            <button type="button" class="ghost" on:click=move |_| on_close()>"Cancel"</button>
        </div>
    }
}
