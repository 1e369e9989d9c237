//! The message list of a room: stored, pending and failed messages and private notes; older
//! pages load as the reader scrolls up; it follows new messages only when the reader is at
//! the bottom. Bodies are always text nodes, never HTML.
//!
//! Only a run of the loaded messages is drawn (see [`crate::window`]): the newest at first,
//! growing as the reader scrolls up through what is loaded (before anything is read from the
//! server) and, past a few hundred rows, dropping rows below; sliding back as they scroll
//! down, and the newest again when they reach the end. A room holding thousands of loaded
//! messages opens and scrolls as fast as one with a hundred, and a live message redraws one
//! row, whatever is loaded. What is loaded is bounded as well (see
//! [`KEPT_OPEN`](crate::chat::KEPT_OPEN) and [`KEPT_CLOSED`](crate::chat::KEPT_CLOSED)).
//!
//! The list keeps the reader's place itself (the browser's scroll anchoring is off): the
//! first row on screen and its distance from the list's top are noted on every scroll, and
//! put back after rows come or go around it.

use crate::chat::use_chat;
use crate::time;
use crate::timeline::{Entry, Status};
use crate::window::Window;
use leptos::either::Either;
use leptos::html;
use leptos::prelude::*;
use natter_shared::{MessageId, MessageKind, RoomId};

/// Within this many pixels of the bottom counts as "at the bottom".
const BOTTOM_SLACK: i32 = 48;
/// Within this many pixels of the top, the older page is read.
const TOP_SLACK: i32 = 120;

#[component]
pub fn MessageList(room_id: RoomId) -> impl IntoView {
    let chat = use_chat();
    let view = chat.view(room_id);
    let list = NodeRef::<html::Div>::new();
    // At the end of the room (the newest row drawn and on screen).
    let at_bottom = StoredValue::new(true);
    // The reader's place: the first row on screen and its offset from the list's top.
    let anchor = StoredValue::new(None::<(MessageId, f64)>);
    let window = RwSignal::new(Window::newest());

    // The first message from someone else after the read marker: the "New messages" line.
    let first_new = Memo::new(move |_| {
        let me = chat.me.get_untracked();
        view.with(|v| {
            let from = v.unread_from?;
            v.timeline
                .entries()
                .iter()
                .find(|e| e.id.is_some_and(|id| id > from) && e.author != me)
                .and_then(|e| e.id)
        })
    });
    let entries = Memo::new(move |_| {
        let new = first_new.get();
        view.with(|v| {
            let all = v.timeline.entries();
            let drawn = window.with(|w| w.range(all));
            let before = drawn.start.checked_sub(1).map(|at| &all[at]);
            placed(before, &all[drawn], new)
        })
    });
    let hidden_above = move || view.with(|v| window.with(|w| w.hidden_above(v.timeline.entries())));
    let hidden_below = move || view.with(|v| window.with(|w| w.hidden_below(v.timeline.entries())));
    let move_window = move |change: &dyn Fn(&mut Window, &[crate::timeline::Entry])| {
        let mut w = window.get_untracked();
        view.with_untracked(|v| change(&mut w, v.timeline.entries()));
        window.set(w);
    };
    let unread_from = move || view.with(|v| v.unread_from);
    let new_below = move || {
        chat.rooms.with(|rooms| {
            rooms
                .iter()
                .find(|r| r.id == room_id)
                .map_or(0, |r| r.unread)
        })
    };
    // The newest message on screen is read (when this room is open in a visible tab).
    let report_seen = move || {
        if let Some(el) = list.get_untracked()
            && let Some(id) = last_shown(&el)
        {
            chat.seen(room_id, id);
        }
    };
    let visible = window_event_listener(leptos::ev::visibilitychange, move |_| report_seen());
    on_cleanup(move || visible.remove());
    let complete = move || view.with(|v| v.timeline.complete);
    let loading = move || view.with(|v| v.loading);
    let error = move || view.with(|v| v.error.clone());

    // Older messages: first those loaded and not drawn, then the server's.
    // Whether the page being read was asked for by scrolling to an end of the list.
    let scrolled_for = StoredValue::new(false);
    let load_older = move || {
        let hidden = untrack(hidden_above) > 0;
        // Nothing will come: the start is here, or a page is on its way.
        if !hidden && (untrack(complete) || untrack(loading)) {
            return;
        }
        // The run grows either way: by a step of what is loaded, or to take in the page the
        // server is asked for, when it comes.
        move_window(&Window::up);
        if !hidden {
            scrolled_for.set_value(true);
            chat.load_older(room_id);
        }
    };
    // The newest rows drawn again; and what was read above leaves memory, down to what an
    // open room keeps.
    let newest = move || {
        window.set(Window::newest());
        chat.keep_newest(room_id, crate::chat::KEPT_OPEN);
    };
    let on_scroll = move |_| {
        let Some(el) = list.get_untracked() else {
            return;
        };
        anchor.set_value(first_shown(&el));
        let gap = el.scroll_height() - el.scroll_top() - el.client_height();
        let at_end = gap <= BOTTOM_SLACK && untrack(hidden_below) == 0;
        at_bottom.set_value(at_end);
        if chat.following.get_untracked() != at_end {
            chat.following.set(at_end);
        }
        report_seen();
        if el.scroll_top() <= TOP_SLACK
            && (untrack(hidden_above) > 0 || (!complete() && !loading()))
        {
            load_older();
        }
        if gap > BOTTOM_SLACK || loading() {
            return;
        }
        if untrack(hidden_below) > 0 {
            // At the bottom of the run, with more loaded below: slide down.
            move_window(&|w, e| {
                w.down(e);
            });
        } else if window.get_untracked() != Window::newest() {
            // Back at the end (rows dropped are above, off screen, and the list stays at its
            // end).
            newest();
        }
        if at_end && chat.detached(room_id) {
            scrolled_for.set_value(true);
            chat.load_newer(room_id);
        }
    };
    // After the list changes: follow the end when the reader was there, and otherwise keep
    // their place. An own message just sent, or a private note (`/help`), is always brought
    // into view.
    Effect::new(move |_| {
        let own_last = entries.with(|e| {
            e.last().is_some_and(|(last, ..)| {
                last.status == Status::Note
                    || (last.is_pending() && last.author == chat.me.get_untracked())
            })
        }) && untrack(hidden_below) == 0;
        request_animation_frame(move || {
            let Some(el) = list.get_untracked() else {
                return;
            };
            // A room opened at a message: that message, once its row is there.
            let wanted = view.with_untracked(|v| v.scroll_to);
            if let Some(id) = wanted {
                // Draw the rows around it first, if it is loaded outside the run.
                let outside = view.with_untracked(|v| {
                    let all = v.timeline.entries();
                    let at = all.iter().rposition(|entry| entry.id == Some(id))?;
                    (!window.with_untracked(|w| w.shows(all, at))).then_some(at)
                });
                if let Some(at) = outside {
                    move_window(&|w, e| w.around(e, at));
                    return;
                }
                let row = el
                    .query_selector(&format!("li[data-id='{id}']"))
                    .ok()
                    .flatten();
                if let Some(row) = row {
                    view.update_untracked(|v| v.scroll_to = None);
                    let centre = web_sys::ScrollIntoViewOptions::new();
                    centre.set_block(web_sys::ScrollLogicalPosition::Center);
                    row.scroll_into_view_with_scroll_into_view_options(&centre);
                    at_bottom.set_value(false);
                    chat.following.set(false);
                }
                return;
            }
            // Older rows that came in above a run past its length drop rows below: the run
            // is told, so that a message arriving later does not move it.
            view.with_untracked(|v| {
                let mut w = window.get_untracked();
                if w.fit(v.timeline.entries()) {
                    window.set(w);
                }
            });
            let detached = view.with_untracked(|v| v.timeline.detached);
            if (at_bottom.get_value() && !detached) || own_last {
                el.set_scroll_top(el.scroll_height());
                at_bottom.set_value(true);
                chat.following.set(true);
            } else if let Some((id, offset)) = anchor.get_value()
                && let Some(row) = el
                    .query_selector(&format!("li[data-id='{id}']"))
                    .ok()
                    .flatten()
            {
                let now =
                    row.get_bounding_client_rect().top() - el.get_bounding_client_rect().top();
                let moved = (now - offset).round() as i32;
                if moved != 0 {
                    el.set_scroll_top(el.scroll_top() + moved);
                }
            }
            report_seen();
        });
    });
    // (After the effect above, whose frame callback brings a searched message into view.)
    // A reader who scrolled to the top, or to the bottom of a list opened in the middle, and
    // is still there when the page they asked for is in (it came without moving them) gets
    // no further scroll event: the next page is read for them.
    Effect::new(move |was_loading: Option<bool>| {
        let now = loading();
        if was_loading == Some(true) && !now && scrolled_for.get_value() {
            scrolled_for.set_value(false);
            request_animation_frame(move || {
                let Some(el) = list.get_untracked() else {
                    return;
                };
                if loading() {
                    return;
                }
                let gap = el.scroll_height() - el.scroll_top() - el.client_height();
                if gap <= BOTTOM_SLACK && untrack(hidden_below) == 0 && chat.detached(room_id) {
                    scrolled_for.set_value(true);
                    chat.load_newer(room_id);
                } else if el.scroll_top() <= TOP_SLACK && !complete() {
                    load_older();
                }
            });
        }
        now
    });
    // The end of the room, followed.
    let to_bottom = move |_| {
        newest();
        at_bottom.set_value(true);
        if let Some(el) = list.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    };
    let jump_to_new = move |_| {
        if let Some(id) = first_new.get_untracked().or_else(unread_from) {
            chat.reveal(room_id, id);
        }
    };

    view! {
        <div class="messages" node_ref=list on:scroll=on_scroll tabindex="0"
            on:mouseover=|ev| full_date_title(&ev) on:focusin=|ev| full_date_title(&ev)
            aria-label="Messages" role="log" aria-live="polite" aria-relevant="additions">
            <div class="history-edge">
                {move || {
                    if hidden_above() > 0 {
                        view! {
                            <button type="button" class="ghost" id="load-older"
                                on:click=move |_| load_older()>"Show older messages"</button>
                        }.into_any()
                    } else if loading() {
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
                <Show when=move || unread_from().is_some()>
                    <button type="button" class="ghost" id="jump-new" on:click=jump_to_new>
                        "Jump to the first new message"
                    </button>
                </Show>
            </div>
            <ol class="message-list" id="message-list">
                <For each=move || entries.get()
                    key=|(e, day, continued, new)| (e.row_key(), day.clone(), *continued, *new)
                    let:placed>
                    <MessageItem room_id=room_id entry=placed.0 day=placed.1 continued=placed.2
                        first_new=placed.3 />
                </For>
            </ol>
            <Show when=move || { chat.detached(room_id) || hidden_below() > 0 }>
                <button type="button" class="new-below" id="jump-latest"
                    on:click=move |ev| if chat.detached(room_id) {
                        chat.jump_to_newest(room_id)
                    } else {
                        to_bottom(ev)
                    }>
                    "Jump to the newest messages ↓"
                </button>
            </Show>
            <Show when=move || {
                !chat.following.get() && new_below() > 0 && !chat.detached(room_id)
                    && hidden_below() == 0
            }>
                <button type="button" class="new-below" id="new-below" on:click=to_bottom>
                    {move || match new_below() {
                        1 => "1 new message ↓".to_owned(),
                        n => format!("{n} new messages ↓"),
                    }}
                </button>
            </Show>
        </div>
    }
}

/// Gives a message's time the full date as its `title`, as the pointer or the focus reaches
/// it: written then, once, rather than for every row drawn.
fn full_date_title(ev: &web_sys::Event) {
    let Some(time) = ev
        .target()
        .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
        .filter(|t| t.tag_name() == "TIME" && !t.has_attribute("title"))
    else {
        return;
    };
    if let Some(full) = time
        .get_attribute("datetime")
        .and_then(|iso| time::full_of_iso(&iso))
    {
        let _ = time.set_attribute("title", &full);
    }
}

/// Puts the cursor back in the composer (after an edit is left with Escape).
fn focus_composer() {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("composer-input"))
        .and_then(|el| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el).ok())
    {
        let _ = el.focus();
    }
}

/// The emoji the quick picker offers.
const QUICK_REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

/// Messages of one author this close together share one header.
const GROUP_WITHIN_SECONDS: i64 = 5 * 60;

/// The rows of stored messages in the list `el`, top to bottom.
fn rows(el: &web_sys::HtmlDivElement) -> Option<web_sys::NodeList> {
    el.query_selector_all("li[data-id]").ok()
}

/// Row `i` of `rows`.
fn row(rows: &web_sys::NodeList, i: u32) -> Option<web_sys::Element> {
    wasm_bindgen::JsCast::dyn_into(rows.item(i)?).ok()
}

/// The message of a row.
fn row_id(row: &web_sys::Element) -> Option<MessageId> {
    row.get_attribute("data-id")?.parse().ok().map(MessageId)
}

/// The first of `rows` for which `below` holds, when it holds for every row after it and
/// none before it (rows go down the page): a binary search, so a few rows are measured
/// however many are drawn.
fn first_below(rows: &web_sys::NodeList, below: impl Fn(&web_sys::DomRect) -> bool) -> u32 {
    let (mut low, mut high) = (0, rows.length());
    while low < high {
        let mid = low + (high - low) / 2;
        if row(rows, mid).is_some_and(|r| below(&r.get_bounding_client_rect())) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    low
}

/// The id of the newest stored message whose row is on screen in the list `el`.
fn last_shown(el: &web_sys::HtmlDivElement) -> Option<MessageId> {
    let bottom = el.get_bounding_client_rect().bottom();
    let rows = rows(el)?;
    let after = first_below(&rows, |r| r.top() >= bottom);
    row_id(&row(&rows, after.checked_sub(1)?)?)
}

/// The first stored message whose row is on screen in the list `el`, and how far its top is
/// from the list's.
fn first_shown(el: &web_sys::HtmlDivElement) -> Option<(MessageId, f64)> {
    let top = el.get_bounding_client_rect().top();
    let rows = rows(el)?;
    let first = row(&rows, first_below(&rows, |r| r.bottom() > top))?;
    Some((
        row_id(&first)?,
        first.get_bounding_client_rect().top() - top,
    ))
}

/// A row of the list: the entry, the day separator to show above it (the first of each
/// local day), whether it continues the message before it (same author, same day, within
/// five minutes), and whether the "New messages" line goes above it.
type Placed = (Entry, Option<String>, bool, bool);

/// The rows of the entries `run`, which follow `before` (when the run does not start at the
/// first entry loaded).
fn placed(before: Option<&Entry>, run: &[Entry], first_new: Option<MessageId>) -> Vec<Placed> {
    let mut out: Vec<Placed> = Vec::with_capacity(run.len());
    let mut prev = before;
    let mut last_day = before.map(|e| time::day_key(e.created_at));
    for entry in run {
        let day = time::day_key(entry.created_at);
        let new_day = last_day != Some(day);
        last_day = Some(day);
        let continued = !new_day
            && prev.is_some_and(|prev| {
                let close = match (prev.created_at, entry.created_at) {
                    (Some(a), Some(b)) => (b - a).num_seconds() < GROUP_WITHIN_SECONDS,
                    (Some(_), None) => true,
                    _ => false,
                };
                prev.author == entry.author
                    && prev.kind == entry.kind
                    && prev.status != Status::Note
                    && entry.status != Status::Note
                    && close
            });
        let label = new_day.then(|| time::day_label(entry.created_at));
        let new = first_new.is_some() && entry.id == first_new;
        out.push((entry.clone(), label, continued, new));
        prev = Some(entry);
    }
    out
}

#[component]
fn MessageItem(
    room_id: RoomId,
    entry: Entry,
    day: Option<String>,
    continued: bool,
    first_new: bool,
) -> impl IntoView {
    let chat = use_chat();
    let mine = entry.author == chat.me.get_untracked();
    let mentions_me = entry.mentions_me(&chat.me.get_untracked(), chat.me_id.get_untracked());
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
    if continued {
        class.push("continued");
    }
    if mentions_me {
        class.push("mentions-me");
    }
    // The message the room was opened at (a search result).
    let focus = chat.with_view(room_id, |v| v.focus).flatten();
    if entry.id.is_some() && focus == entry.id {
        class.push("found");
    }
    match &entry.status {
        Status::Pending => class.push("pending"),
        Status::Failed(_) => class.push("failed"),
        _ => {}
    }
    let body = if emote {
        format!("* {} {}", entry.author, &entry.body[4..])
    } else {
        entry.body.clone()
    };
    let stored_id = entry.id.filter(|_| entry.status == Status::Stored);
    let may_edit = mine && entry.kind == MessageKind::User && stored_id.is_some();
    let may_delete = move || stored_id.is_some() && (mine || chat.is_admin.get());
    let editing = RwSignal::new(false);
    // Editing asked for from the composer (Up): this row's, if it may be edited. (Only a
    // row of one's own watches for it: a row costs what it sets up, times every row drawn.)
    if may_edit {
        Effect::new(move |_| {
            if chat.editing.get() == stored_id {
                chat.editing.set(None);
                editing.set(true);
            }
        });
    }
    let edited = entry.edited_at.map(|at| {
        view! { <span class="state" title=time::full(at)>"(edited)"</span> }
    });
    let time = entry.created_at.map(|at| {
        // The full date on hover and on keyboard focus: its `title`, written then by the
        // list (`full_date_title`); the stylesheet shows it on focus.
        let (clock, iso) = time::clock_and_iso(at);
        view! { <time datetime=iso tabindex="0">{clock}</time> }
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
    let original = entry.body.clone();
    let save = move |text: String| {
        if let Some(id) = stored_id
            && !text.trim().is_empty()
        {
            chat.edit(room_id, id, text);
        }
        editing.set(false);
    };
    let delete = move || {
        let sure = web_sys::window()
            .and_then(|w| {
                w.confirm_with_message("Delete this message for everyone?")
                    .ok()
            })
            .unwrap_or(false);
        if let (true, Some(id)) = (sure, stored_id) {
            chat.delete(room_id, id);
        }
    };
    let quote = entry.reply_to.clone().map(|r| {
        let target = r.id;
        let text = if r.deleted {
            "a deleted message".to_owned()
        } else {
            r.excerpt.clone()
        };
        view! {
            <button type="button" class="quote" data-reply-to=target.to_string()
                title="Show the message this answers"
                on:click=move |_| chat.reveal(room_id, target)>
                <span class="quote-author">{r.author.clone()}</span>
                <bdi>{text}</bdi>
            </button>
        }
    });
    let reply_target = stored_id.map(|id| natter_shared::ReplyTo {
        id,
        author: entry.author.clone(),
        excerpt: entry
            .body
            .chars()
            .take(natter_shared::REPLY_EXCERPT_CHARS)
            .collect(),
        deleted: false,
    });
    let may_reply = reply_target.is_some() && entry.kind != MessageKind::System;
    let reply = move || {
        if let Some(target) = reply_target.clone() {
            chat.replying.set(Some((room_id, target)));
            focus_composer();
        }
    };
    let picking = RwSignal::new(false);
    let chips = stored_id.map(|id| {
        // The quick picker, while it is open.
        let picker = move || {
            picking.get().then(|| {
                view! {
                    <span class="picker" role="group" aria-label="React with"
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                            if ev.key() == "Escape" { picking.set(false); }
                        }>
                        {QUICK_REACTIONS.iter().map(|e| {
                            let emoji = (*e).to_owned();
                            view! {
                                <button type="button" class="ghost pick" data-emoji=*e
                                    on:click=move |_| {
                                        chat.react(room_id, id, emoji.clone(), true);
                                        picking.set(false);
                                    }>{*e}</button>
                            }
                        }).collect_view()}
                    </span>
                }
            })
        };
        // No reaction yet: the container only while the picker is open.
        if entry.reactions.is_empty() {
            return Either::Left(move || {
                picker().map(|p| view! { <div class="reactions">{p}</div> })
            });
        }
        let me = chat.me.get_untracked();
        let shown: Vec<_> = entry
            .reactions
            .iter()
            .map(|r| {
                let mine = r.users.contains(&me);
                let emoji = r.emoji.clone();
                let label = format!("{} {}", r.emoji, r.count);
                view! {
                    <button type="button" class="chip" class:mine=mine aria-pressed=mine.to_string()
                        title=r.users.join(", ")
                        on:click=move |_| chat.react(room_id, id, emoji.clone(), !mine)>
                        {label}
                    </button>
                }
            })
            .collect();
        Either::Right(view! { <div class="reactions">{shown}{picker}</div> })
    });
    let files = (!entry.attachments.is_empty()).then(|| attachments(entry.attachments.clone()));
    let shown = if emote {
        // "alice waves": the action as written, in one isolated run.
        vec![view! { <p><bdi>{body}</bdi></p> }.into_any()]
    } else {
        super::rich::body(&body)
    };
    // The menu of a message one may act on. Whether that includes deleting can change (an
    // admin's rights), but only a message offering nothing else needs to watch for it.
    let react = move || picking.update(|p| *p = !*p);
    let menu_of = move || {
        view! {
            <MessageMenu
                reply=may_reply.then_some(reply.clone())
                react=may_reply.then_some(react)
                edit=may_edit.then_some(move || editing.set(true))
                delete=may_delete
                on_delete=delete />
        }
    };
    let menu = if may_reply || may_edit {
        Either::Left(menu_of())
    } else {
        Either::Right(move || may_delete().then(menu_of.clone()))
    };
    let separator = day.map(|label| {
        view! { <li class="day"><span>{label}</span></li> }
    });
    let new_line = first_new.then(|| {
        view! { <li class="new-line" id="new-messages"><span>"New messages"</span></li> }
    });
    view! {
        {separator}
        {new_line}
        <li class=class.join(" ") data-id=entry.id.map(|id| id.to_string())>
            <div class="meta">
                // The picture heads a group of messages; a message continuing one has none.
                {(!continued).then(|| view! { <super::avatar::Avatar name=entry.author.clone() /> })}
                <span class="author">{entry.author.clone()}</span>
                {time}
                {edited}
                {status}
                {menu}
            </div>
            {quote}
            // While editing, the form; the stylesheet hides the body that follows it.
            {move || editing.get().then(|| edit_form(original.clone(), save, move || editing.set(false)))}
            <div class="body" dir="auto">{shown}</div>
            {files}
            {chips}
        </li>
    }
}

/// The form that edits a message, starting from its text `original`: Enter or Save calls
/// `save` with the new text, Escape or Cancel calls `cancel`. The edit box takes the focus as
/// it opens.
fn edit_form(
    original: String,
    save: impl Fn(String) + Copy + Send + Sync + 'static,
    cancel: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let draft = RwSignal::new(original);
    let edit_box = NodeRef::<html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(el) = edit_box.get() {
            let _ = el.focus();
            let end = el.value().len() as u32;
            let _ = el.set_selection_range(end, end);
        }
    });
    view! {
        <form class="edit-form" on:submit=move |ev| { ev.prevent_default(); save(draft.get_untracked()); }>
            <label class="visually-hidden" for="edit-input">"New text"</label>
            <textarea id="edit-input" node_ref=edit_box prop:value=move || draft.get()
                on:input=move |ev| draft.set(event_target_value(&ev))
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    if ev.key() == "Enter" && !ev.shift_key() {
                        ev.prevent_default();
                        save(draft.get_untracked());
                    }
                    if ev.key() == "Escape" { cancel(); focus_composer(); }
                }></textarea>
            <button type="submit" class="primary">"Save"</button>
            <button type="button" class="ghost" on:click=move |_| cancel()>"Cancel"</button>
        </form>
    }
}

/// A message's actions (reply, react, edit, delete) behind one button, shown on hover or
/// focus: one Tab stop per message instead of four. The menu takes the focus as it opens;
/// Up and Down move through it, Escape closes it and gives the focus back to its button,
/// and it closes when the focus leaves it.
#[component]
fn MessageMenu(
    reply: Option<impl Fn() + Clone + Send + Sync + 'static>,
    react: Option<impl Fn() + Clone + Send + Sync + 'static>,
    edit: Option<impl Fn() + Clone + Send + Sync + 'static>,
    delete: impl Fn() -> bool + Copy + Send + Sync + 'static,
    on_delete: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    // Every row has a menu, so what it sets up before it opens is kept to its button: the
    // focus moves into the menu from the menu's own effect, and `aria-expanded` is written
    // as it opens and closes rather than watched.
    let open = RwSignal::new(false);
    let button = NodeRef::<html::Button>::new();
    let menu = NodeRef::<html::Div>::new();
    let set_open = move |now: bool| {
        open.set(now);
        if let Some(button) = button.get_untracked() {
            let _ = button.set_attribute("aria-expanded", if now { "true" } else { "false" });
        }
    };
    let close = move |refocus: bool| {
        set_open(false);
        if refocus && let Some(button) = button.get_untracked() {
            let _ = button.focus();
        }
    };
    let keys = move |ev: leptos::ev::KeyboardEvent| {
        let step = match ev.key().as_str() {
            "Escape" => {
                ev.prevent_default();
                ev.stop_propagation();
                return close(true);
            }
            "ArrowDown" => 1,
            "ArrowUp" => -1,
            _ => return,
        };
        ev.prevent_default();
        let Some(menu) = menu.get_untracked() else {
            return;
        };
        let Ok(items) = menu.query_selector_all("[role='menuitem']") else {
            return;
        };
        let items: Vec<web_sys::HtmlElement> = (0..items.length())
            .filter_map(|i| items.item(i))
            .filter_map(|n| wasm_bindgen::JsCast::dyn_into(n).ok())
            .collect();
        let active = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.active_element());
        let at = items
            .iter()
            .position(|i| {
                active
                    .as_ref()
                    .is_some_and(|a| a == AsRef::<web_sys::Element>::as_ref(i))
            })
            .unwrap_or(0) as i32;
        let len = items.len() as i32;
        if len > 0
            && let Some(item) = items.get((at + step).rem_euclid(len) as usize)
        {
            let _ = item.focus();
        }
    };
    // The focus went somewhere outside the menu and its button: it closes.
    let left = move |ev: leptos::ev::FocusEvent| {
        let inside = ev
            .related_target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Node>(t).ok())
            .is_some_and(|t| {
                menu.get_untracked().is_some_and(|m| m.contains(Some(&t)))
                    || button
                        .get_untracked()
                        .is_some_and(|b| AsRef::<web_sys::Node>::as_ref(&b) == &t)
            });
        if !inside {
            close(false);
        }
    };
    let item = move |class: &'static str, label: &'static str, act: Box<dyn Fn() + Send + Sync>| {
        view! {
            <button type="button" role="menuitem" class=format!("ghost {class}") tabindex="-1"
                on:click=move |_| { close(false); act(); }>{label}</button>
        }
    };
    view! {
        <span class="actions">
            <button type="button" class="ghost menu-button" node_ref=button aria-label="Message actions"
                aria-haspopup="menu" aria-expanded="false"
                on:click=move |_| set_open(!open.get_untracked())>"⋯"</button>
            {move || open.get().then(|| {
                // The menu takes the focus as it opens.
                Effect::new(move |_| {
                    if let Some(menu) = menu.get()
                        && let Some(first) = menu.query_selector("[role='menuitem']").ok().flatten()
                        && let Ok(first) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(first)
                    {
                        let _ = first.focus();
                    }
                });
                view! {
                    <div class="message-menu" role="menu" aria-label="Message actions" node_ref=menu
                        on:keydown=keys on:focusout=left>
                        {reply.clone().map(|f| item("reply", "Reply", Box::new(f)))}
                        {react.clone().map(|f| item("react", "React", Box::new(f)))}
                        {edit.clone().map(|f| item("edit", "Edit", Box::new(f)))}
                        {delete().then(|| item("delete", "Delete", Box::new(on_delete.clone())))}
                    </div>
                }
            })}
        </span>
    }
}

/// A message's files: pictures as thumbnails that open full size, the rest as chips with
/// name, size and a download link. Sizes are set before the thumbnails load, so that the
/// list does not jump.
fn attachments(files: Vec<natter_shared::Attachment>) -> impl IntoView {
    let chat = use_chat();
    let shown = files
        .into_iter()
        .map(|file| match (file.thumb_url.clone(), file.width, file.height) {
            (Some(thumb), Some(w), Some(h)) => {
                let side = natter_shared::limits::THUMBNAIL_SIDE as f64;
                let scale = (side / f64::from(w.max(h))).min(1.0);
                let (tw, th) = ((f64::from(w) * scale).round(), (f64::from(h) * scale).round());
                let label = format!("Open {} full size", file.name);
                let alt = file.name.clone();
                view! {
                    <button type="button" class="thumb" aria-label=label
                        on:click=move |_| chat.viewing.set(Some(file.clone()))>
                        <img src=thumb alt=alt width=tw.to_string() height=th.to_string() loading="lazy" />
                    </button>
                }
                .into_any()
            }
            _ => {
                let label = format!("{} · {}", file.name, crate::upload::size(file.size));
                view! {
                    <a class="file-chip" href=file.url.clone() download=file.name.clone()
                        rel="noopener" title=file.content_type.clone()>
                        <span aria-hidden="true">"📄 "</span>{label}
                    </a>
                }
                .into_any()
            }
        })
        .collect_view();
    view! { <div class="files">{shown}</div> }
}

/// The picture being viewed, full size over the page; Escape, a click or ✕ closes it.
#[component]
pub fn Viewer() -> impl IntoView {
    let chat = use_chat();
    let keys = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && chat.viewing.get_untracked().is_some() {
            chat.viewing.set(None);
        }
    });
    on_cleanup(move || keys.remove());
    move || {
        chat.viewing.get().map(|file| {
            let close = move |_| chat.viewing.set(None);
            view! {
                <div class="viewer" id="viewer" role="dialog" aria-modal="true" aria-label=file.name.clone()
                    on:click=close>
                    <img src=file.url.clone() alt=file.name.clone() />
                    <div class="viewer-bar" on:click=|ev| ev.stop_propagation()>
                        <span>{file.name.clone()}</span>
                        <a href=file.url.clone() download=file.name.clone()>"Download"</a>
                        <button type="button" class="ghost" aria-label="Close" on:click=close>"✕"</button>
                    </div>
                </div>
            }
        })
    }
}
