//! Find a user to talk to: search by name, a page at a time.

use crate::api;
use crate::chat::use_chat;
use crate::paged::Paged;
use crate::session::use_session;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use natter_shared::User;

#[component]
pub fn UserPicker(on_close: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
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
    let close = on_close.clone();
    let pick = move |username: String| {
        close();
        navigate(&format!("/dm/{username}"), Default::default());
    };
    view! {
        <div class="picker" role="dialog" aria-label="Start a conversation">
            <label for="user-search">"Find a user"</label>
            <input id="user-search" type="search" autocomplete="off" placeholder="name…" autofocus
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
                        view! {
                            <li>
                                <button type="button" class="user" data-user=name.clone()
                                    on:click=move |_| pick(name.clone())>
                                    "@ " {user.username.clone()}
                                </button>
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
            {move || error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
            <button type="button" class="ghost" on:click=move |_| on_close()>"Cancel"</button>
        </div>
    }
}
