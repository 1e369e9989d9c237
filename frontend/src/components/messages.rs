//! The message list of a room: stored, pending and failed messages and private notes; older
//! pages load as the reader scrolls up; it follows new messages only when the reader is at
//! the bottom. Bodies are always text nodes, never HTML.

use crate::chat::use_chat;
use crate::time;
use crate::timeline::{Entry, Status};
use leptos::html;
use leptos::prelude::*;
use natter_shared::{MessageKind, RoomId};

/// Within this many pixels of the bottom counts as "at the bottom".
const BOTTOM_SLACK: i32 = 48;
/// Within this many pixels of the top, the older page is read.
const TOP_SLACK: i32 = 120;

#[component]
pub fn MessageList(room_id: RoomId) -> impl IntoView {
    let chat = use_chat();
    let list = NodeRef::<html::Div>::new();
    let at_bottom = StoredValue::new(true);
    // The scroll height before an older page was added, to keep the reader's place.
    let anchor = StoredValue::new(None::<i32>);

    let entries = Memo::new(move |_| {
        chat.views
            .with(|v| v.get(&room_id).map(|v| v.timeline.entries().to_vec()))
            .unwrap_or_default()
    });
    let complete = move || {
        chat.views
            .with(|v| v.get(&room_id).is_some_and(|v| v.timeline.complete))
    };
    let loading = move || {
        chat.views
            .with(|v| v.get(&room_id).is_some_and(|v| v.loading))
    };
    let error = move || {
        chat.views
            .with(|v| v.get(&room_id).and_then(|v| v.error.clone()))
    };

    let load_older = move || {
        if let Some(el) = list.get_untracked() {
            anchor.set_value(Some(el.scroll_height()));
        }
        chat.load_older(room_id);
    };
    let on_scroll = move |_| {
        let Some(el) = list.get_untracked() else {
            return;
        };
        let gap = el.scroll_height() - el.scroll_top() - el.client_height();
        at_bottom.set_value(gap <= BOTTOM_SLACK);
        if el.scroll_top() <= TOP_SLACK && !complete() && !loading() {
            load_older();
        }
    };
    // After the list changes: keep the place when older messages came in above, follow the
    // end when the reader was there, and otherwise leave the scroll alone.
    Effect::new(move |_| {
        entries.track();
        request_animation_frame(move || {
            let Some(el) = list.get_untracked() else {
                return;
            };
            if let Some(before) = anchor.get_value() {
                anchor.set_value(None);
                el.set_scroll_top(el.scroll_top() + el.scroll_height() - before);
            } else if at_bottom.get_value() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    });

    view! {
        <div class="messages" node_ref=list on:scroll=on_scroll tabindex="0"
            aria-label="Messages">
            <div class="history-edge">
                {move || {
                    if loading() {
                        view! { <p class="hint">"Loading…"</p> }.into_any()
                    } else if complete() {
                        view! { <p class="hint">"This is the start of the room."</p> }.into_any()
                    } else {
                        view! {
                            <button type="button" class="ghost" id="load-older"
                                on:click=move |_| load_older()>"Load older messages"</button>
                        }.into_any()
                    }
                }}
                {move || error().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
            </div>
            <ol class="message-list" role="log" aria-live="polite" aria-relevant="additions" id="message-list">
                <For each=move || entries.get() key=|e| e.row_key() let:entry>
                    <MessageItem room_id=room_id entry=entry />
                </For>
            </ol>
        </div>
    }
}

#[component]
fn MessageItem(room_id: RoomId, entry: Entry) -> impl IntoView {
    let chat = use_chat();
    let mine = entry.author == chat.me.get_untracked();
    let emote = entry.kind == MessageKind::User && entry.body.starts_with("/me ");
    let mut class = vec!["message"];
    class.push(match (&entry.status, entry.kind) {
        (Status::Note, _) => "note",
        (_, MessageKind::Bot) => "bot",
        (_, MessageKind::System) => "system",
        (_, MessageKind::User) => "user",
    });
    if mine && entry.status != Status::Note {
        class.push("own");
    }
    if emote {
        class.push("emote");
    }
    match &entry.status {
        Status::Pending => class.push("pending"),
        Status::Failed(_) => class.push("failed"),
        _ => {}
    }
    let body = if emote {
        format!("{} {}", entry.author, &entry.body[4..])
    } else {
        entry.body.clone()
    };
    let time = entry.created_at.map(|at| {
        view! { <time datetime=at.to_rfc3339() title=time::full(at)>{time::clock(at)}</time> }
    });
    let status = match entry.status.clone() {
        Status::Pending => Some(view! { <span class="state">"sending…"</span> }.into_any()),
        Status::Failed(reason) => {
            let client_id = entry.client_id.clone().unwrap_or_default();
            Some(
                view! {
                    <span class="state error">"not sent: " {reason}</span>
                    <button type="button" class="ghost retry"
                        on:click=move |_| chat.retry(room_id, &client_id)>"Retry"</button>
                }
                .into_any(),
            )
        }
        Status::Note => {
            Some(view! { <span class="state">"only you can see this"</span> }.into_any())
        }
        Status::Stored => None,
    };
    view! {
        <li class=class.join(" ") data-id=entry.id.map(|id| id.to_string())>
            <div class="meta">
                <span class="author">{entry.author.clone()}</span>
                {time}
                {status}
            </div>
            <p class="body">{body}</p>
        </li>
    }
}
