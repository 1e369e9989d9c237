//! The composer: Enter sends, Shift+Enter breaks the line, an empty message cannot be sent,
//! the length limit shows as it nears, and slash commands are listed and completed from the
//! shared command table. Files come by the attach button, by dropping them on the composer
//! or by pasting; each shows its upload's progress and can be removed before sending.

use crate::chat::use_chat;
use crate::upload::{Upload, size};
use leptos::html;
use leptos::prelude::*;
use natter_shared::commands::{self, CommandSpec};
use natter_shared::limits::{MAX_ATTACHMENTS, MESSAGE_CHARS};
use natter_shared::{Attachment, RoomId};
use std::collections::HashMap;

/// The counter appears when this few characters are left.
const SHOW_LEFT_BELOW: usize = 500;

/// What the composer says about its text: whether it can be sent, and how many characters
/// are left.
pub fn assess(text: &str) -> (bool, i64) {
    let used = text.chars().count();
    let left = *MESSAGE_CHARS.end() as i64 - used as i64;
    (!text.trim().is_empty() && left >= 0, left)
}

/// The name being typed after an `@` at the end of `text` (empty right after the `@`), if
/// the `@` starts a mention by the shared rules (`mail@x` does not).
pub fn mention_at_end(text: &str) -> Option<&str> {
    let at = text.rfind('@')?;
    let partial = &text[at + 1..];
    let before = text[..at].chars().last();
    let starts = before.is_none_or(|c| !(c.is_alphanumeric() || "_-.@".contains(c)));
    let name_so_far = partial
        .chars()
        .all(|c| c.is_alphanumeric() || "_-.".contains(c));
    (starts && name_so_far && partial.chars().count() <= 32).then_some(partial)
}

/// `text` with the mention being typed at its end completed to `@name `.
pub fn complete_mention(text: &str, name: &str) -> String {
    match text.rfind('@') {
        Some(at) => format!("{}@{name} ", &text[..at]),
        None => format!("{text}@{name} "),
    }
}

/// The completion of `text` when exactly one command matches what is typed after `/`.
pub fn complete(text: &str) -> Option<String> {
    match commands::complete(text).as_slice() {
        [only] => Some(if only.args.is_empty() {
            format!("/{}", only.name)
        } else {
            format!("/{} ", only.name)
        }),
        _ => None,
    }
}

/// A file being sent with the next message: its upload's progress, then the stored file or
/// why it was refused.
#[derive(Clone)]
struct PendingFile {
    key: u32,
    name: String,
    size: i64,
    progress: RwSignal<f64>,
    result: RwSignal<Option<Result<Attachment, String>>>,
}

#[component]
pub fn Composer(room_id: RoomId) -> impl IntoView {
    let chat = use_chat();
    let text = RwSignal::new(String::new());
    let files = RwSignal::new(Vec::<PendingFile>::new());
    let uploads = StoredValue::new_local(HashMap::<u32, Upload>::new());
    let next_key = StoredValue::new(0u32);
    on_cleanup(move || {
        uploads.update_value(|u| {
            for upload in u.values() {
                upload.cancel();
            }
            u.clear();
        })
    });
    let add_file = move |file: web_sys::File| {
        if files.with_untracked(Vec::len) >= MAX_ATTACHMENTS {
            chat.banner.set(Some(format!(
                "A message carries at most {MAX_ATTACHMENTS} files: send these first."
            )));
            return;
        }
        let key = next_key.get_value();
        next_key.set_value(key + 1);
        let pending = PendingFile {
            key,
            name: file.name(),
            size: file.size() as i64,
            progress: RwSignal::new(0.0),
            result: RwSignal::new(None),
        };
        let (progress, result) = (pending.progress, pending.result);
        let started = Upload::start(
            &chat.token(),
            &file,
            move |share| progress.set(share),
            move |outcome| {
                result.set(Some(outcome));
                // Not from inside the upload's own callback, which this drops.
                leptos::task::spawn_local(async move {
                    uploads.update_value(|u| {
                        u.remove(&key);
                    });
                });
            },
        );
        match started {
            Ok(upload) => {
                uploads.update_value(|u| {
                    u.insert(key, upload);
                });
                files.update(|f| f.push(pending));
            }
            Err(why) => chat.banner.set(Some(why)),
        }
    };
    let add_files = move |list: Option<web_sys::FileList>| {
        let Some(list) = list else { return };
        for i in 0..list.length() {
            if let Some(file) = list.get(i) {
                add_file(file);
            }
        }
    };
    let remove_file = move |key: u32| {
        uploads.update_value(|u| {
            if let Some(upload) = u.remove(&key) {
                upload.cancel();
            }
        });
        files.update(|f| f.retain(|p| p.key != key));
    };
    let uploading = move || files.with(|f| f.iter().any(|p| p.result.with(Option::is_none)));
    let ready_files = move || -> Vec<Attachment> {
        files.with_untracked(|f| {
            f.iter()
                .filter_map(|p| p.result.get_untracked().and_then(Result::ok))
                .collect()
        })
    };
    let has_files = move || {
        files.with(|f| {
            f.iter()
                .any(|p| p.result.with(|r| matches!(r, Some(Ok(_)))))
        })
    };
    let input = NodeRef::<html::Textarea>::new();
    let suggestions = move || -> Vec<&'static CommandSpec> { text.with(|t| commands::complete(t)) };
    // `@` completes from the room's members (and `@room`), asked of the server as one types.
    let partial = Memo::new(move |_| text.with(|t| mention_at_end(t).map(str::to_owned)));
    let people = RwSignal::new(Vec::<String>::new());
    Effect::new(move |_| {
        let Some(prefix) = partial.get() else {
            people.set(Vec::new());
            return;
        };
        let token = chat.token();
        leptos::task::spawn_local(async move {
            let Ok(page) = crate::api::members_named(&token, room_id, &prefix).await else {
                return;
            };
            // A slower answer for what was typed before is not shown.
            if partial.get_untracked().as_deref() != Some(prefix.as_str()) {
                return;
            }
            let me = chat.me.get_untracked();
            let mut names: Vec<String> = page
                .members
                .into_iter()
                .map(|m| m.username)
                .filter(|n| *n != me)
                .collect();
            if natter_shared::mentions::ROOM.starts_with(&prefix.to_lowercase()) {
                names.push(natter_shared::mentions::ROOM.to_owned());
            }
            people.set(names);
        });
    });
    let pick_person = move |name: String| {
        text.update(|t| *t = complete_mention(t, &name));
        people.set(Vec::new());
        if let Some(el) = input.get_untracked() {
            let _ = el.focus();
        }
    };
    // Opening a room puts the cursor here, so that typing goes to the room.
    Effect::new(move |_| {
        if let Some(el) = input.get() {
            let _ = el.focus();
        }
    });
    let status = move || text.with(|t| assess(t));
    // Files alone make a message; text over the limit, or a file still on its way, do not.
    let sendable = move || {
        let (ok, left) = status();
        !uploading() && left >= 0 && (ok || has_files())
    };

    let send = move || {
        let body = text.get_untracked();
        let attachments = ready_files();
        let (ok, left) = assess(&body);
        if uploading() || left < 0 || (!ok && attachments.is_empty()) {
            return;
        }
        let body = if ok { body } else { String::new() };
        let reply = chat
            .replying
            .get_untracked()
            .filter(|(room, _)| *room == room_id)
            .map(|(_, reply)| reply);
        chat.send(room_id, body, reply, attachments);
        chat.replying.set(None);
        text.set(String::new());
        files.set(Vec::new());
        if let Some(el) = input.get_untracked() {
            let _ = el.focus();
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "Enter" if !ev.shift_key() && !ev.is_composing() => {
            ev.prevent_default();
            send();
        }
        "Escape" => chat.replying.set(None),
        // Up in an empty composer edits one's last message, as in most chat apps.
        "ArrowUp" if text.with_untracked(String::is_empty) => {
            if let Some(id) = chat.last_own_message(room_id) {
                ev.prevent_default();
                chat.editing.set(Some(id));
            }
        }
        "Tab" => {
            if let Some(done) = text.with_untracked(|t| complete(t)) {
                ev.prevent_default();
                text.set(done);
            } else if let Some(first) = people.with_untracked(|p| p.first().cloned()) {
                ev.prevent_default();
                pick_person(first);
            }
        }
        _ => {}
    };
    view! {
        <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); }
            on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default()
            on:drop=move |ev: leptos::ev::DragEvent| {
                ev.prevent_default();
                add_files(ev.data_transfer().and_then(|d| d.files()));
            }>
            <Show when=move || !suggestions().is_empty()>
                <ul class="suggestions" id="command-help" role="listbox" aria-label="Commands">
                    {move || suggestions().into_iter().map(|spec| {
                        let name = spec.name;
                        let pick = move |_| {
                            text.set(complete(&format!("/{name}")).unwrap_or_else(|| format!("/{name}")));
                            if let Some(el) = input.get_untracked() { let _ = el.focus(); }
                        };
                        view! {
                            <li role="option" aria-selected="false" on:click=pick>
                                <code>{spec.usage()}</code> " — " {spec.summary}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </Show>
            <Show when=move || !people.with(Vec::is_empty)>
                <ul class="suggestions" id="mention-help" role="listbox" aria-label="People">
                    {move || people.get().into_iter().map(|name| {
                        let shown = format!("@{name}");
                        let picked = name.clone();
                        view! {
                            <li role="option" aria-selected="false" data-name=name
                                on:click=move |_| pick_person(picked.clone())>
                                <code>{shown}</code>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </Show>
            {move || {
                chat.replying.get().filter(|(room, _)| *room == room_id).map(|(_, reply)| {
                    view! {
                        <p class="replying" id="replying">
                            "Replying to " <strong>{reply.author}</strong> ": "
                            <bdi>{reply.excerpt}</bdi>
                            <button type="button" class="ghost" aria-label="Cancel the reply"
                                on:click=move |_| chat.replying.set(None)>"✕"</button>
                        </p>
                    }
                })
            }}
            <Show when=move || !files.with(Vec::is_empty)>
                <ul class="pending-files" id="pending-files" aria-label="Files to send">
                    <For each=move || files.get() key=|p| p.key let:file>
                        {
                            let key = file.key;
                            let state = move || match file.result.get() {
                                None => format!("{:.0}%", file.progress.get() * 100.0),
                                Some(Ok(_)) => "ready".to_owned(),
                                Some(Err(why)) => why,
                            };
                            view! {
                                <li class="pending-file" class:failed=move || file.result.with(|r| matches!(r, Some(Err(_))))
                                    data-state=move || match file.result.get() { None => "uploading", Some(Ok(_)) => "ready", Some(Err(_)) => "failed" }>
                                    <span class="name">{file.name.clone()}</span>
                                    <span class="size">{size(file.size)}</span>
                                    <progress max="1" prop:value=move || file.progress.get()></progress>
                                    <span class="state" aria-live="polite">{state}</span>
                                    <button type="button" class="ghost remove" aria-label="Remove this file"
                                        on:click=move |_| remove_file(key)>"✕"</button>
                                </li>
                            }
                        }
                    </For>
                </ul>
            </Show>
            <label for="attach-input" class="ghost attach" title="Attach files (or drop or paste them here)">
                <span aria-hidden="true">"📎"</span>
                <span class="visually-hidden">"Attach files"</span>
            </label>
            <input type="file" id="attach-input" multiple class="visually-hidden"
                on:change=move |ev| {
                    let input: web_sys::HtmlInputElement = event_target(&ev);
                    add_files(input.files());
                    input.set_value("");
                } />
            <label for="composer-input" class="visually-hidden">"Message"</label>
            <textarea id="composer-input" node_ref=input rows="1" autocomplete="off"
                placeholder="Message… (/ for commands)"
                title="Enter sends, Shift+Enter starts a new line, / lists the commands"
                aria-describedby="composer-count command-help"
                prop:value=move || text.get()
                on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    chat.typing(room_id);
                    keep_end_in_view(chat.following.get_untracked());
                }
                on:paste=move |ev: leptos::ev::ClipboardEvent| {
                    let pasted = ev.clipboard_data().and_then(|d| d.files());
                    if pasted.as_ref().is_some_and(|f| f.length() > 0) {
                        ev.prevent_default();
                        add_files(pasted);
                    }
                }
                on:keydown=on_keydown></textarea>
            <span class="count" id="composer-count" class:over=move || status().1 < 0
                aria-live="polite">
                {move || {
                    let left = status().1;
                    (left < SHOW_LEFT_BELOW as i64).then(|| format!("{left} left"))
                }}
            </span>
            <button type="submit" class="primary" id="send" disabled=move || !sendable()>"Send"</button>
        </form>
    }
}

/// The composer grows with its text and the list above shrinks: a reader at the end of the
/// list is kept there, so that the last message is not hidden behind the composer.
fn keep_end_in_view(following: bool) {
    if !following {
        return;
    }
    request_animation_frame(|| {
        if let Some(list) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.query_selector(".messages").ok().flatten())
        {
            list.set_scroll_top(list.scroll_height());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn empty_and_blank_messages_cannot_be_sent() {
        assert!(!assess("").0);
        assert!(!assess(" \n\t").0);
        assert!(assess("hi").0);
    }

    #[wasm_bindgen_test]
    fn the_limit_counts_characters_not_bytes() {
        let at_limit = "é".repeat(4000);
        assert_eq!(assess(&at_limit), (true, 0));
        let over = "é".repeat(4001);
        assert_eq!(assess(&over), (false, -1));
    }

    #[wasm_bindgen_test]
    fn a_mention_being_typed_is_found_and_completed() {
        assert_eq!(mention_at_end("hi @bo"), Some("bo"));
        assert_eq!(mention_at_end("@"), Some(""));
        assert_eq!(mention_at_end("mail@ex"), None);
        assert_eq!(mention_at_end("@bob done"), None);
        assert_eq!(complete_mention("hi @bo", "bob"), "hi @bob ");
    }

    #[wasm_bindgen_test]
    fn tab_completes_a_single_matching_command() {
        assert_eq!(complete("/n").as_deref(), Some("/now"));
        assert_eq!(complete("/sm").as_deref(), Some("/sms "));
        assert_eq!(complete("/"), None, "every command matches");
        assert_eq!(complete("/xyz"), None);
        assert_eq!(complete("hello"), None);
        assert_eq!(complete("/now please"), None);
    }
}
