//! Who is signed in: the token and user, kept in `localStorage` so that a reload keeps the
//! session. Provided as a context; every page reads it from there.

use leptos::prelude::*;
use natter_shared::User;
use serde::{Deserialize, Serialize};

const KEY: &str = "natter.session";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    pub token: String,
    pub user: User,
}

#[derive(Debug, Clone, Copy)]
pub struct Session {
    signed: RwSignal<Option<Signed>>,
    /// Why the user was signed out, shown on the sign-in page.
    pub reason: RwSignal<Option<String>>,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

impl Session {
    /// The session stored by an earlier visit, if any.
    pub fn restore() -> Self {
        let signed = storage()
            .and_then(|s| s.get_item(KEY).ok().flatten())
            .and_then(|json| serde_json::from_str::<Signed>(&json).ok());
        Self {
            signed: RwSignal::new(signed),
            reason: RwSignal::new(None),
        }
    }

    pub fn get(&self) -> Option<Signed> {
        self.signed.get()
    }

    pub fn get_untracked(&self) -> Option<Signed> {
        self.signed.get_untracked()
    }

    pub fn is_signed_in(&self) -> bool {
        self.signed.with(Option::is_some)
    }

    pub fn token(&self) -> Option<String> {
        self.signed
            .with_untracked(|s| s.as_ref().map(|s| s.token.clone()))
    }

    pub fn sign_in(&self, signed: Signed) {
        if let (Some(storage), Ok(json)) = (storage(), serde_json::to_string(&signed)) {
            // A full or disabled storage only costs the session on reload.
            let _ = storage.set_item(KEY, &json);
        }
        self.reason.set(None);
        self.signed.set(Some(signed));
    }

    /// Forgets the token; `reason` tells the user why, when they did not ask for it.
    pub fn sign_out(&self, reason: Option<String>) {
        if let Some(storage) = storage() {
            let _ = storage.remove_item(KEY);
        }
        self.reason.set(reason);
        self.signed.set(None);
    }
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}
