//! Sign in and sign up: one form, two modes. Rules are checked here with the server's own
//! parsers first; what the server refuses is shown next to the field it concerns.

use crate::api;
use crate::session::{Signed, use_session};
use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_shared::{Credentials, ErrorKind, Password, Username};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    SignIn,
    SignUp,
}

#[derive(Clone, Default, PartialEq, Eq)]
struct Errors {
    username: Option<String>,
    password: Option<String>,
    form: Option<String>,
}

fn check(mode: Mode, username: &str, password: &str) -> Errors {
    let mut errors = Errors::default();
    if mode == Mode::SignUp {
        errors.username = Username::parse_for_signup(username)
            .err()
            .map(|e| e.message);
        errors.password = Password::parse(password).err().map(|e| e.message);
    } else {
        if username.trim().is_empty() {
            errors.username = Some("enter your username".into());
        }
        if password.is_empty() {
            errors.password = Some("enter your password".into());
        }
    }
    errors
}

/// Puts a refusal next to the field it is about.
fn place(kind: Option<ErrorKind>, message: String) -> Errors {
    use ErrorKind::*;
    match kind {
        Some(InvalidUsername | ReservedUsername | UsernameTaken) => Errors {
            username: Some(message),
            ..Errors::default()
        },
        Some(InvalidPassword | InvalidCredentials) => Errors {
            password: Some(message),
            ..Errors::default()
        },
        _ => Errors {
            form: Some(message),
            ..Errors::default()
        },
    }
}

#[component]
pub fn AuthPage() -> impl IntoView {
    let session = use_session();
    let mode = RwSignal::new(Mode::SignIn);
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let errors = RwSignal::new(Errors::default());
    let busy = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let (name, pass, mode) = (
            username.get_untracked(),
            password.get_untracked(),
            mode.get_untracked(),
        );
        let found = check(mode, &name, &pass);
        errors.set(found.clone());
        if found != Errors::default() {
            return;
        }
        busy.set(true);
        spawn_local(async move {
            let credentials = Credentials {
                username: name.trim().to_owned(),
                password: pass,
            };
            let answer = match mode {
                Mode::SignIn => api::login(&credentials).await,
                Mode::SignUp => api::signup(&credentials).await,
            };
            busy.set(false);
            match answer {
                Ok(auth) => session.sign_in(Signed {
                    token: auth.token,
                    user: auth.user,
                }),
                Err(e) => errors.set(place(e.kind, e.message)),
            }
        });
    };
    let switch = move |to: Mode| {
        mode.set(to);
        errors.set(Errors::default());
    };
    let signing_up = move || mode.get() == Mode::SignUp;
    let field_error = move |id: &'static str, pick: fn(&Errors) -> Option<String>| {
        move || {
            errors
                .with(pick)
                .map(|text| view! { <p class="field-error" id=id role="alert">{text}</p> })
        }
    };

    view! {
        <main class="auth" id="main">
            <div class="auth-card">
                <h1 class="brand">"Natter"</h1>
                <p class="tagline">"Rooms and conversations, live."</p>
                {move || session.reason.get().map(|r| view! { <p class="notice" role="status">{r}</p> })}
                <div class="tabs" role="tablist">
                    <button type="button" role="tab" aria-selected=move || (!signing_up()).to_string()
                        on:click=move |_| switch(Mode::SignIn)>"Sign in"</button>
                    <button type="button" role="tab" aria-selected=move || signing_up().to_string()
                        on:click=move |_| switch(Mode::SignUp)>"Create account"</button>
                </div>
                <form on:submit=submit novalidate>
                    <label for="username">"Username"</label>
                    <input id="username" name="username" autocomplete="username" autocapitalize="none"
                        spellcheck="false" required
                        aria-invalid=move || errors.with(|e| e.username.is_some()).to_string()
                        aria-describedby="username-error"
                        prop:value=move || username.get()
                        on:input=move |ev| username.set(event_target_value(&ev)) />
                    {field_error("username-error", |e| e.username.clone())}
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" required
                        autocomplete=move || if signing_up() { "new-password" } else { "current-password" }
                        aria-invalid=move || errors.with(|e| e.password.is_some()).to_string()
                        aria-describedby="password-error"
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev)) />
                    {field_error("password-error", |e| e.password.clone())}
                    <Show when=signing_up>
                        <p class="hint">"3 to 32 letters, digits, _ - or . for the name; 8 to 72 bytes for the password."</p>
                    </Show>
                    {field_error("form-error", |e| e.form.clone())}
                    <button type="submit" class="primary" id="submit" disabled=move || busy.get()>
                        {move || match (signing_up(), busy.get()) {
                            (_, true) => "Please wait…",
                            (true, false) => "Create account",
                            (false, false) => "Sign in",
                        }}
                    </button>
                </form>
            </div>
        </main>
    }
}
