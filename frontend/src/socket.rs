//! The one WebSocket of the app: opens `/ws`, authenticates with an `auth` frame (so the token
//! never sits in a URL), hands every frame to one handler and reconnects with backoff.
//!
//! Browsers' `WebSocket` is not `Send`, so the connection lives in a thread-local (the app has
//! one thread); signals elsewhere hold only plain data.

use leptos::prelude::set_timeout;
use natter_shared::ws::close::{POLICY as CLOSE_POLICY, TOO_SLOW as CLOSE_TOO_SLOW};
use natter_shared::ws::{ClientFrame, ServerFrame};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// The state of the connection, for the user to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Online,
    /// Lost; the next attempt is in this many seconds.
    Retrying {
        in_secs: u32,
    },
}

pub enum Event {
    Frame(Box<ServerFrame>),
    Link(Link),
    /// The server refused the token (close 1008): sign in again.
    Refused(String),
}

type Handler = Rc<dyn Fn(Event)>;

struct Conn {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

struct State {
    token: String,
    handler: Handler,
    conn: Option<Conn>,
    attempt: u32,
    /// Bumped by every start and stop, so that a timer or callback of an older connection
    /// does nothing.
    generation: u64,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

const MAX_BACKOFF_MS: f64 = 30_000.0;

/// Connects as the holder of `token`; every event goes to `handler`.
pub fn start(token: String, handler: impl Fn(Event) + 'static) {
    stop();
    let generation = STATE.with_borrow(|s| s.as_ref().map_or(0, |s| s.generation)) + 1;
    STATE.set(Some(State {
        token,
        handler: Rc::new(handler),
        conn: None,
        attempt: 0,
        generation,
    }));
    open(generation);
}

/// Closes the connection for good (signing out).
pub fn stop() {
    let old = STATE.with_borrow_mut(|s| {
        s.as_mut().map(|s| {
            s.generation += 1;
            s.conn.take()
        })
    });
    if let Some(Some(conn)) = old {
        conn.ws.set_onopen(None);
        conn.ws.set_onmessage(None);
        conn.ws.set_onclose(None);
        let _ = conn.ws.close();
        bury(conn);
    }
}

/// Drops a connection's callbacks later: this may run inside one of them.
fn bury(conn: Conn) {
    set_timeout(move || drop(conn), Duration::ZERO);
}

/// Sends a frame if the socket is open; `false` when it is not (the caller keeps the work
/// for the next `ready`).
pub fn send(frame: &ClientFrame) -> bool {
    let Ok(json) = serde_json::to_string(frame) else {
        return false;
    };
    STATE.with_borrow(|s| {
        s.as_ref()
            .and_then(|s| s.conn.as_ref())
            .filter(|c| c.ws.ready_state() == WebSocket::OPEN)
            .is_some_and(|c| c.ws.send_with_str(&json).is_ok())
    })
}

fn emit(generation: u64, event: Event) {
    let handler = STATE.with_borrow(|s| {
        s.as_ref()
            .filter(|s| s.generation == generation)
            .map(|s| s.handler.clone())
    });
    if let Some(handler) = handler {
        handler(event);
    }
}

fn url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    Some(format!("{scheme}://{}/ws", location.host().ok()?))
}

fn open(generation: u64) {
    let Some(token) = STATE.with_borrow(|s| {
        s.as_ref()
            .filter(|s| s.generation == generation)
            .map(|s| s.token.clone())
    }) else {
        return;
    };
    emit(generation, Event::Link(Link::Connecting));
    let Some(ws) = url().and_then(|url| WebSocket::new(&url).ok()) else {
        return retry(generation, None);
    };

    let socket = ws.clone();
    let on_open = Closure::<dyn FnMut()>::new(move || {
        if let Ok(auth) = serde_json::to_string(&ClientFrame::Auth {
            token: token.clone(),
        }) {
            let _ = socket.send_with_str(&auth);
        }
    });
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let Some(text) = e.data().as_string() else {
            return;
        };
        match serde_json::from_str::<ServerFrame>(&text) {
            Ok(frame) => {
                if matches!(frame, ServerFrame::Ready { .. }) {
                    STATE.with_borrow_mut(|s| {
                        if let Some(s) = s.as_mut() {
                            s.attempt = 0;
                        }
                    });
                    emit(generation, Event::Link(Link::Online));
                }
                emit(generation, Event::Frame(Box::new(frame)));
            }
            Err(e) => leptos::logging::warn!("unreadable frame from the server: {e}"),
        }
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
        if e.code() == CLOSE_POLICY {
            emit(generation, Event::Refused(e.reason()));
        } else {
            retry(generation, Some(e.code()));
        }
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    STATE.with_borrow_mut(|s| {
        if let Some(s) = s.as_mut().filter(|s| s.generation == generation) {
            s.conn = Some(Conn {
                ws,
                _on_open: on_open,
                _on_message: on_message,
                _on_close: on_close,
            });
        }
    });
}

/// Waits a growing, jittered while (at once after a 4008 "too slow"), then opens again.
fn retry(generation: u64, code: Option<u16>) {
    let attempt = STATE.with_borrow_mut(|s| {
        let s = s.as_mut().filter(|s| s.generation == generation)?;
        s.attempt += 1;
        Some((s.attempt, s.conn.take()))
    });
    let Some((attempt, old)) = attempt else {
        return;
    };
    if let Some(conn) = old {
        bury(conn);
    }
    let delay_ms = if code == Some(CLOSE_TOO_SLOW) && attempt == 1 {
        0.0
    } else {
        let base = (250.0 * 2f64.powi(attempt.min(8) as i32)).min(MAX_BACKOFF_MS);
        base * (0.5 + js_sys::Math::random() / 2.0)
    };
    let in_secs = (delay_ms / 1000.0).ceil() as u32;
    emit(generation, Event::Link(Link::Retrying { in_secs }));
    set_timeout(
        move || open(generation),
        Duration::from_millis(delay_ms as u64),
    );
}
