//! `/admin`: admins find accounts and deactivate or reactivate them.

use crate::api;
use crate::chat::use_chat;
use crate::paged::Paged;
use crate::session::use_session;
use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_shared::AdminUser;

#[component]
pub fn AdminPage() -> impl IntoView {
    let chat = use_chat();
    let session = use_session();
    chat.active.set(None);
    let paged = Paged::<AdminUser>::new();
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
            let page = api::admin_users(&token, &q, after.as_deref()).await?;
            Ok((page.users, page.next))
        });
    };
    fetch(false);
    let toggle = move |user: AdminUser| {
        // Deactivating signs the person out everywhere: asked first, as deleting is.
        if user.is_active {
            let question = format!(
                "Deactivate {}? They are signed out everywhere and cannot sign in until reactivated.",
                user.username
            );
            let sure = web_sys::window()
                .and_then(|w| w.confirm_with_message(&question).ok())
                .unwrap_or(false);
            if !sure {
                return;
            }
        }
        let token = session.token().unwrap_or_default();
        spawn_local(async move {
            match api::set_active(&token, user.id, !user.is_active).await {
                Ok(changed) => users.update(|list| {
                    if let Some(row) = list.iter_mut().find(|u| u.id == changed.id) {
                        *row = changed;
                    }
                }),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <section class="admin" aria-labelledby="admin-title">
            <header class="room-head">
                <h1 id="admin-title">"Accounts"</h1>
            </header>
            <div class="admin-body">
                <label for="admin-search">"Find a user"</label>
                <input id="admin-search" type="search" autocomplete="off"
                    prop:value=move || query.get()
                    on:input=move |ev| {
                        query.set(event_target_value(&ev));
                        fetch(false);
                    } />
                {move || error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
                <table class="accounts">
                    <thead><tr><th>"User"</th><th>"Role"</th><th>"State"</th><th></th></tr></thead>
                    <tbody>
                        <For each=move || users.get() key=|u| (u.id, u.is_active) let:user>
                            {
                                let name = user.username.clone();
                                let label = if user.is_active { "Deactivate" } else { "Reactivate" };
                                let state = if user.is_active { "active" } else { "deactivated" };
                                let role = if user.is_admin { "admin" } else { "user" };
                                let row = user.clone();
                                // The server refuses an admin's own deactivation: not offered.
                                let mine = user.id == chat.me_id.get_untracked();
                                view! {
                                    <tr data-user=name.clone()>
                                        <td>{name.clone()}</td>
                                        <td>{role}</td>
                                        <td class=state>{state}</td>
                                        <td>
                                            {(!mine).then(|| view! {
                                                <button type="button" class="ghost"
                                                    on:click=move |_| toggle(row.clone())>{label}</button>
                                            })}
                                        </td>
                                    </tr>
                                }
                            }
                        </For>
                    </tbody>
                </table>
                <Show when=move || next.with(Option::is_some)>
                    <button type="button" class="ghost" on:click=move |_| fetch(true)>"More"</button>
                </Show>
            </div>
        </section>
    }
}
