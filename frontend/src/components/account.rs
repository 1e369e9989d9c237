//! `/account`: the signed-in user's phone number (where `/sms` to them goes, once verified
//! with the code sent to it) and password.

use crate::api;
use crate::chat::use_chat;
use crate::session::{Signed, use_session};
use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_shared::{ErrorKind, Password, PhoneNumber};

#[component]
pub fn AccountPage() -> impl IntoView {
    let chat = use_chat();
    let session = use_session();
    chat.active.set(None);
    let token = move || session.token().unwrap_or_default();

    let phone = RwSignal::new(String::new());
    let phone_note = RwSignal::new(None::<(bool, String)>);
    // The number waiting for its code, if any.
    let pending = RwSignal::new(None::<String>);
    let code = RwSignal::new(String::new());
    let code_note = RwSignal::new(None::<(bool, String)>);
    let show = move |me: natter_shared::Me| {
        phone.set(me.phone_pending.clone().or(me.phone).unwrap_or_default());
        pending.set(me.phone_pending);
    };
    spawn_local(async move {
        match api::me(&token()).await {
            Ok(me) => show(me),
            Err(e) => chat.failed(&e),
        }
    });
    let save_phone = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let wanted = phone.get_untracked().trim().to_owned();
        let value = if wanted.is_empty() {
            None
        } else {
            match PhoneNumber::parse(wanted.clone()) {
                Ok(_) => Some(wanted),
                Err(e) => return phone_note.set(Some((false, e.message))),
            }
        };
        spawn_local(async move {
            match api::set_phone(&token(), value).await {
                Ok(me) => {
                    let saved = match (&me.phone_pending, &me.phone) {
                        (Some(p), _) => format!("A code is on its way to {p}: enter it below."),
                        (None, Some(p)) => format!("Saved: /sms to you goes to {p}."),
                        (None, None) => "Removed: nobody can /sms you.".to_owned(),
                    };
                    show(me);
                    code_note.set(None);
                    phone_note.set(Some((true, saved)));
                }
                Err(e) if e.is_signed_out() => chat.failed(&e),
                Err(e) => phone_note.set(Some((false, e.message))),
            }
        });
    };
    let verify = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let entered = code.get_untracked().trim().to_owned();
        spawn_local(async move {
            match api::verify_phone(&token(), &entered).await {
                Ok(me) => {
                    let saved = me
                        .phone
                        .as_deref()
                        .map(|p| format!("Verified: /sms to you goes to {p}."))
                        .unwrap_or_default();
                    show(me);
                    code.set(String::new());
                    code_note.set(None);
                    phone_note.set(Some((true, saved)));
                }
                Err(e) if e.is_signed_out() => chat.failed(&e),
                Err(e) => code_note.set(Some((false, e.message))),
            }
        });
    };

    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let password_note = RwSignal::new(None::<(bool, String)>);
    let change_password = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (old, fresh) = (current.get_untracked(), new.get_untracked());
        if let Err(e) = Password::parse(fresh.clone()) {
            return password_note.set(Some((false, e.message)));
        }
        chat.renewing.set(true);
        spawn_local(async move {
            let answer = api::change_password(&token(), &old, &fresh).await;
            if answer.is_err() {
                chat.renewing.set(false);
            }
            match answer {
                Ok(auth) => {
                    // The new token replaces the old one here; other devices are signed out.
                    session.sign_in(Signed {
                        token: auth.token,
                        user: auth.user,
                    });
                    chat.reconnect();
                    current.set(String::new());
                    new.set(String::new());
                    password_note.set(Some((
                        true,
                        "Changed. Your other devices have been signed out.".to_owned(),
                    )));
                }
                Err(e) if e.kind == Some(ErrorKind::InvalidCredentials) => {
                    password_note.set(Some((false, "The current password is wrong.".to_owned())))
                }
                Err(e) if e.is_signed_out() => chat.failed(&e),
                Err(e) => password_note.set(Some((false, e.message))),
            }
        });
    };
    let note = |signal: RwSignal<Option<(bool, String)>>, id: &'static str| {
        move || {
            signal.get().map(|(ok, text)| {
                let class = if ok { "success" } else { "field-error" };
                view! { <p class=class id=id role="status">{text}</p> }
            })
        }
    };

    // The avatar: a picture, cropped square by the server. `version` makes the shown
    // picture load again after a change.
    let version = RwSignal::new(0u32);
    let avatar_note = RwSignal::new(None::<(bool, String)>);
    let pick_avatar = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        input.set_value("");
        spawn_local(async move {
            match api::set_avatar(&token(), &file).await {
                Ok(()) => {
                    version.update(|v| *v += 1);
                    avatar_note.set(Some((
                        true,
                        "Saved: others see it beside your messages.".into(),
                    )));
                }
                Err(e) if e.is_signed_out() => chat.failed(&e),
                Err(e) => avatar_note.set(Some((false, e.message))),
            }
        });
    };
    let remove_avatar = move |_| {
        spawn_local(async move {
            match api::remove_avatar(&token()).await {
                Ok(()) => {
                    version.update(|v| *v += 1);
                    avatar_note.set(Some((true, "Removed: your initials show instead.".into())));
                }
                Err(e) => avatar_note.set(Some((false, e.message))),
            }
        });
    };

    view! {
        <section class="admin" aria-labelledby="account-title">
            <header class="room-head">
                <h1 id="account-title">"Your account"</h1>
            </header>
            <div class="admin-body">
                <div class="account-form" id="avatar-form">
                    <h2>"Picture"</h2>
                    <p class="hint">"Shown beside your messages and in member lists. PNG, JPEG, GIF or WebP; the middle square is kept."</p>
                    {move || {
                        view! { <super::avatar::Avatar name=chat.me.get() version=version.get() /> }
                    }}
                    <label for="avatar-input" class="button">"Choose a picture"</label>
                    <input id="avatar-input" type="file" accept="image/png,image/jpeg,image/gif,image/webp"
                        class="visually-hidden" on:change=pick_avatar />
                    <button type="button" class="ghost" id="remove-avatar" on:click=remove_avatar>"Remove"</button>
                    {note(avatar_note, "avatar-note")}
                </div>
                <form class="account-form" on:submit=save_phone>
                    <h2>"Phone number"</h2>
                    <p class="hint">"Where /sms to you is sent, once you enter the code we send to it. Nobody else sees it."</p>
                    <label for="phone">"Phone (E.164, e.g. +15551234567; empty removes it)"</label>
                    <input id="phone" type="tel" autocomplete="tel"
                        prop:value=move || phone.get()
                        on:input=move |ev| phone.set(event_target_value(&ev)) />
                    {note(phone_note, "phone-note")}
                    <button type="submit" class="primary" id="save-phone">"Save"</button>
                </form>
                <Show when=move || pending.get().is_some()>
                    <form class="account-form" on:submit=verify>
                        <label for="phone-code">"The code we sent to the number"</label>
                        <input id="phone-code" inputmode="numeric" autocomplete="one-time-code"
                            prop:value=move || code.get()
                            on:input=move |ev| code.set(event_target_value(&ev)) />
                        {note(code_note, "code-note")}
                        <button type="submit" class="primary" id="verify-phone">"Verify"</button>
                    </form>
                </Show>
                <form class="account-form" on:submit=change_password>
                    <h2>"Password"</h2>
                    <label for="current-password">"Current password"</label>
                    <input id="current-password" type="password" autocomplete="current-password"
                        prop:value=move || current.get()
                        on:input=move |ev| current.set(event_target_value(&ev)) />
                    <label for="new-password">"New password (8 to 72 bytes)"</label>
                    <input id="new-password" type="password" autocomplete="new-password"
                        prop:value=move || new.get()
                        on:input=move |ev| new.set(event_target_value(&ev)) />
                    {note(password_note, "password-note")}
                    <button type="submit" class="primary" id="change-password">"Change password"</button>
                </form>
            </div>
        </section>
    }
}
