//! A room's members panel: who is in it (online first shown by a dot), a page at a time; any
//! member of a named room adds people; owners (and admins) remove them.

use crate::api;
use crate::chat::use_chat;
use crate::components::user_picker::UserPicker;
use crate::paged::Paged;
use crate::session::use_session;
use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_shared::{Member, Role, RoomId, UserId};

#[component]
pub fn MembersPanel(room_id: RoomId) -> impl IntoView {
    let chat = use_chat();
    let session = use_session();
    let paged = Paged::<Member>::new();
    let Paged {
        items: members,
        next,
        error,
        ..
    } = paged;
    let adding = RwSignal::new(false);
    let fetch = move |more: bool| {
        let token = session.token().unwrap_or_default();
        paged.fetch(chat, more, move |_, after| async move {
            let page = api::members(&token, room_id, after.as_deref()).await?;
            Ok((page.members, page.next.map(|n| n.to_string())))
        });
    };
    // Read again whenever someone joins, leaves or is removed.
    Effect::new(move |_| {
        chat.member_changes.track();
        fetch(false);
    });
    let room = move || chat.room(room_id);
    let named = move || room().is_some_and(|r| r.kind.is_named());
    let may_remove =
        move || chat.is_admin.get() || room().is_some_and(|r| r.role == Some(Role::Owner));
    let remove = move |user: UserId| {
        let token = session.token().unwrap_or_default();
        spawn_local(async move {
            if let Err(e) = api::remove_member(&token, room_id, user).await {
                error.set(Some(e.message));
            }
        });
    };
    view! {
        <aside class="members" id="members-panel" aria-label="Members">
            <h2>"Members"</h2>
            <ul class="member-list" id="member-list">
                <For each=move || members.get() key=|m| (m.user_id, m.role, m.online) let:member>
                    {
                        let me = chat.me.get_untracked() == member.username;
                        let owner = member.role == Role::Owner;
                        let (user, online) = (member.user_id, member.online);
                        let name = member.username;
                        let removable = name.clone();
                        let label = name.clone();
                        let pictured = name.clone();
                        view! {
                            <li class="member" data-user=name class:online=online>
                                <span class="dot" aria-hidden="true"></span>
                                <super::avatar::Avatar name=pictured />
                                <span>{label}</span>
                                {owner.then(|| view! { <span class="hint">" owner"</span> })}
                                {move || (named() && may_remove() && !me && !owner).then(|| view! {
                                    <button type="button" class="ghost remove" data-user=removable.clone()
                                        on:click=move |_| remove(user)>"Remove"</button>
                                })}
                            </li>
                        }
                    }
                </For>
            </ul>
            <Show when=move || next.with(Option::is_some)>
                <button type="button" class="ghost" on:click=move |_| fetch(true)>"More"</button>
            </Show>
            <Show when=named>
                <button type="button" class="ghost" id="add-member" on:click=move |_| adding.set(true)>
                    "+ Add someone"
                </button>
            </Show>
            <Show when=move || adding.get()>
                <UserPicker add_to=room_id on_close=move || adding.set(false) />
            </Show>
            {move || error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
        </aside>
    }
}
