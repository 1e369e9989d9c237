//! The composer: Enter sends, Shift+Enter breaks the line, an empty message cannot be sent,
//! the length limit shows as it nears, and slash commands are listed and completed from the
//! shared command table.

use crate::chat::use_chat;
use leptos::html;
use leptos::prelude::*;
use natter_shared::RoomId;
use natter_shared::commands::{self, CommandSpec};
use natter_shared::limits::MESSAGE_CHARS;

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

#[component]
pub fn Composer(room_id: RoomId) -> impl IntoView {
    let chat = use_chat();
    let text = RwSignal::new(String::new());
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
    let status = move || text.with(|t| assess(t));

    let send = move || {
        let body = text.get_untracked();
        if !assess(&body).0 {
            return;
        }
        let reply = chat
            .replying
            .get_untracked()
            .filter(|(room, _)| *room == room_id)
            .map(|(_, reply)| reply);
        chat.send(room_id, body, reply);
        chat.replying.set(None);
        text.set(String::new());
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
        <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); }>
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
            <label for="composer-input" class="visually-hidden">"Message"</label>
            <textarea id="composer-input" node_ref=input rows="1" autocomplete="off"
                placeholder="Message… (/ for commands)"
                title="Enter sends, Shift+Enter starts a new line, / lists the commands"
                aria-describedby="composer-count command-help"
                prop:value=move || text.get()
                on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    chat.typing(room_id);
                }
                on:keydown=on_keydown></textarea>
            <span class="count" id="composer-count" class:over=move || status().1 < 0
                aria-live="polite">
                {move || {
                    let left = status().1;
                    (left < SHOW_LEFT_BELOW as i64).then(|| format!("{left} left"))
                }}
            </span>
            <button type="submit" class="primary" id="send" disabled=move || !status().0>"Send"</button>
        </form>
    }
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
