//! A search that reads its results a page at a time (the user picker, the accounts page):
//! the query, what was found so far, the cursor of the next page, and the last error. An
//! answer to an older query than the latest is dropped.

use crate::api::ApiResult;
use crate::chat::Chat;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::future::Future;

pub struct Paged<T: Send + Sync + 'static> {
    pub query: RwSignal<String>,
    pub items: RwSignal<Vec<T>>,
    pub next: RwSignal<Option<String>>,
    pub error: RwSignal<Option<String>>,
    /// Whether the answer to the latest fetch is awaited.
    pub loading: RwSignal<bool>,
    asked: StoredValue<u64>,
}

impl<T: Send + Sync + 'static> Clone for Paged<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Paged<T> {}

impl<T: Send + Sync + 'static> Paged<T> {
    pub fn new() -> Self {
        Self {
            query: RwSignal::new(String::new()),
            items: RwSignal::new(Vec::new()),
            next: RwSignal::new(None),
            error: RwSignal::new(None),
            loading: RwSignal::new(false),
            asked: StoredValue::new(0),
        }
    }

    /// Reads the first page for the current query, or with `more` the page after the last
    /// one read (unless one is being read already); `load(query, after)` fetches it.
    pub fn fetch<F, Fut>(self, chat: Chat, more: bool, load: F)
    where
        F: FnOnce(String, Option<String>) -> Fut + 'static,
        Fut: Future<Output = ApiResult<(Vec<T>, Option<String>)>> + 'static,
    {
        let after = if more {
            self.next.get_untracked()
        } else {
            None
        };
        if more && (after.is_none() || self.loading.get_untracked()) {
            return;
        }
        self.asked.update_value(|n| *n += 1);
        let ticket = self.asked.get_value();
        let query = self.query.get_untracked();
        self.loading.set(true);
        spawn_local(async move {
            let page = load(query, after).await;
            if self.asked.get_value() != ticket {
                return;
            }
            self.loading.set(false);
            match page {
                Ok((found, next)) => {
                    if more {
                        self.items.update(|items| items.extend(found));
                    } else {
                        self.items.set(found);
                    }
                    self.next.set(next);
                    self.error.set(None);
                }
                Err(e) if e.is_signed_out() => chat.failed(&e),
                Err(e) => self.error.set(Some(e.message)),
            }
        });
    }
}

impl<T: Send + Sync + 'static> Default for Paged<T> {
    fn default() -> Self {
        Self::new()
    }
}
