//! The signed-in app's state: rooms, each room's timeline, presence, typing and unread
//! counts, the connection. Frames from the socket and answers from the REST API land here;
//! components only read these signals and call these methods.

use crate::api::{self, ApiError};
use crate::session::Session;
use crate::socket::{self, Event, Link};
pub use crate::state::RoomView;
use crate::state::{self, Applied, Reader};
use crate::timeline::{Outgoing, Timeline};
use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_shared::limits::DEFAULT_PAGE;
use natter_shared::ws::{ClientFrame, MemberEvent, ServerFrame};
use natter_shared::{ErrorKind, Message, MessageId, Notify, ReplyTo, Room, RoomId, UserId};
use std::collections::HashMap;
use std::time::Duration;

/// How often this client tells the others it is typing, at most.
const TYPING_EVERY_MS: f64 = 2000.0;
/// Rooms joined live at once: the open one, those opened last, direct conversations. The
/// others in the sidebar get no frames (and no unread count) until opened; the server caps
/// rooms per socket at 100 by default.
pub const LIVE_ROOMS: usize = 40;
/// Messages kept in memory for the open room while the reader is at its newest message
/// (scrolled up, the list grows as they read; back at the bottom it shrinks to this).
pub const KEPT_OPEN: usize = 1000;
/// Messages kept in memory for a room that is not open: as many as its list draws first.
pub const KEPT_CLOSED: usize = 100;
/// Messages read around a search result when a room is opened at it.
const AROUND_PAGE: u32 = 50;
/// Rooms read into the sidebar at most, in pages of [`api::ROOMS_PAGE`].
pub const SIDEBAR_ROOMS: usize = 1000;

#[derive(Debug, Clone, Copy)]
pub struct Chat {
    session: Session,
    pub me: RwSignal<String>,
    pub me_id: RwSignal<UserId>,
    pub is_admin: RwSignal<bool>,
    pub rooms: RwSignal<Vec<Room>>,
    /// Whether the room list has been read once (a deep link to a missing room waits for it).
    pub rooms_loaded: RwSignal<bool>,
    /// One signal per room: a frame for one room wakes only what shows that room.
    views: StoredValue<HashMap<RoomId, ArcRwSignal<RoomView>>>,
    pub active: RwSignal<Option<RoomId>>,
    pub link: RwSignal<Link>,
    /// A passing problem to show at the top (not tied to one message).
    pub banner: RwSignal<Option<String>>,
    /// Set while this page changes the password: the server then closes this user's
    /// sockets (1008), and the page reconnects with the new token instead of signing out.
    pub renewing: RwSignal<bool>,
    /// The rooms joined live, most recently wanted first (at most [`LIVE_ROOMS`]).
    live: RwSignal<Vec<RoomId>>,
    /// The message the composer's next message answers, and its room.
    pub replying: RwSignal<Option<(RoomId, ReplyTo)>>,
    /// Counts `member` frames: a members list shown reads its page again when it changes.
    pub member_changes: RwSignal<u64>,
    /// Whether the open room's list shows its newest message (the reader is at the bottom):
    /// messages that come meanwhile are read, others count as new.
    pub following: RwSignal<bool>,
    /// The message the next opening of its room starts at, instead of the newest page.
    focus: RwSignal<Option<(RoomId, MessageId)>>,
    /// The picture shown full size over the page, if any.
    pub viewing: RwSignal<Option<natter_shared::Attachment>>,
    /// A message whose editing was asked for from elsewhere (Up in the composer): its row
    /// opens its edit box and clears this.
    pub editing: RwSignal<Option<MessageId>>,
    /// The timer that fades typing indicators, cleared by [`Chat::stop`].
    ticker: StoredValue<Option<leptos::prelude::IntervalHandle>>,
}

/// Sends one own message on the socket.
fn send_frame(room_id: RoomId, message: Outgoing) {
    socket::send(&ClientFrame::Send {
        room_id,
        body: message.body,
        client_id: Some(message.client_id),
        reply_to: message.reply_to,
        attachments: message.attachments,
    });
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A fresh `client_id` for a message: a random UUID.
pub fn new_client_id() -> String {
    web_sys::window()
        .and_then(|w| w.crypto().ok())
        .map(|c| c.random_uuid())
        .unwrap_or_else(|| format!("{}-{}", now_ms(), js_sys::Math::random()))
}

impl Chat {
    /// Starts the state of a signed-in user and connects.
    pub fn start(session: Session) -> Self {
        let user = session.get_untracked().map(|s| s.user);
        let is_admin = user.as_ref().is_some_and(|u| u.is_admin);
        let me_id = user.as_ref().map_or(UserId(0), |u| u.id);
        let me = user.map(|u| u.username).unwrap_or_default();
        let chat = Self {
            session,
            me: RwSignal::new(me),
            me_id: RwSignal::new(me_id),
            is_admin: RwSignal::new(is_admin),
            rooms: RwSignal::new(Vec::new()),
            rooms_loaded: RwSignal::new(false),
            views: StoredValue::new(HashMap::new()),
            active: RwSignal::new(None),
            link: RwSignal::new(Link::Connecting),
            banner: RwSignal::new(None),
            renewing: RwSignal::new(false),
            live: RwSignal::new(Vec::new()),
            replying: RwSignal::new(None),
            member_changes: RwSignal::new(0),
            following: RwSignal::new(true),
            focus: RwSignal::new(None),
            viewing: RwSignal::new(None),
            editing: RwSignal::new(None),
            ticker: StoredValue::new(None),
        };
        if let Some(token) = session.token() {
            socket::start(token, move |event| chat.on_event(event));
        }
        chat.files_cookie();
        chat.refresh_rooms();
        chat.check_token();
        // A room left keeps only its newest messages in memory.
        Effect::new(move |before: Option<Option<RoomId>>| {
            let now = chat.active.get();
            if let Some(Some(left)) = before
                && now != Some(left)
            {
                chat.keep_newest(left, KEPT_CLOSED);
            }
            now
        });
        // Typing indicators fade on their own.
        let ticker =
            set_interval_with_handle(move || chat.expire_typing(), Duration::from_secs(1)).ok();
        chat.ticker.set_value(ticker);
        chat
    }

    /// Signing out (the shell goes): the socket closes and no timer of this state fires
    /// again.
    pub fn stop(&self) {
        if let Some(ticker) = self.ticker.try_update_value(Option::take).flatten() {
            ticker.clear();
        }
        socket::stop();
        spawn_local(async {
            let _ = crate::api::clear_files_cookie().await;
        });
    }

    /// Asks for the cookie that lets `<img>` tags and download links load files (they
    /// cannot send the token); again whenever the token changes.
    fn files_cookie(&self) {
        let token = self.token();
        if token.is_empty() {
            return;
        }
        let chat = *self;
        spawn_local(async move {
            if let Err(e) = crate::api::files_cookie(&token).await {
                chat.failed(&e);
            }
        });
    }

    /// The tab became visible again: rooms that are not live got no frames meanwhile, so
    /// their counts are read from the server again.
    pub fn back_in_view(&self) {
        if page_visible() && self.rooms_loaded.get_untracked() {
            self.refresh_rooms();
        }
    }

    /// Connects again with the session's current token (after a password change).
    pub fn reconnect(&self) {
        self.renewing.set(false);
        let chat = *self;
        if let Some(token) = self.session.token() {
            socket::start(token, move |event| chat.on_event(event));
        }
        self.files_cookie();
    }

    pub fn token(&self) -> String {
        self.session.token().unwrap_or_default()
    }

    /// Shows a failed call, or signs out if the token is no longer good.
    pub fn failed(&self, e: &ApiError) {
        if e.is_signed_out() {
            self.session
                .sign_out(Some("Your session has ended. Please sign in again.".into()));
        } else {
            self.banner.set(Some(e.message.clone()));
        }
    }

    /// A token that was revoked or expired while the page was closed ends the session now.
    fn check_token(&self) {
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            if let Err(e) = api::me(&token).await
                && e.is_signed_out()
            {
                chat.failed(&e);
            }
        });
    }

    fn on_event(&self, event: Event) {
        match event {
            Event::Link(link) => self.link.set(link),
            Event::Refused(_) => self.refused(),
            Event::Frame(frame) => self.on_frame(*frame),
        }
    }

    /// The socket was closed with 1008. Usually the token was revoked; but the server may
    /// also have failed to check it (its database briefly away), so ask before signing out,
    /// and otherwise connect again.
    fn refused(&self) {
        if self.renewing.get_untracked() {
            return;
        }
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            match api::me(&token).await {
                Err(e) if e.is_signed_out() => chat.failed(&e),
                // Unless the user signed out meanwhile: then nothing connects again.
                _ => set_timeout(
                    move || {
                        if chat.session.token().as_deref() == Some(token.as_str()) {
                            socket::start(token, move |event| chat.on_event(event));
                        }
                    },
                    Duration::from_secs(2),
                ),
            }
        });
    }

    /// The signal of one room's view, made on first use; `None` once the app is closing.
    fn view_signal(&self, room: RoomId) -> Option<ArcRwSignal<RoomView>> {
        self.views
            .try_update_value(|views| views.entry(room).or_default().clone())
    }

    /// One room's view, for a component to read (and, rarely, write); the signal is the
    /// component's own handle on the room's state, which outlives it.
    pub fn view(&self, room: RoomId) -> RwSignal<RoomView> {
        self.view_signal(room)
            .map(RwSignal::from)
            .unwrap_or_else(|| RwSignal::new(RoomView::default()))
    }

    /// Reads one room's view without tracking; `None` if the page holds nothing of it.
    pub fn with_view<R>(&self, room: RoomId, f: impl FnOnce(&RoomView) -> R) -> Option<R> {
        let view = self
            .views
            .try_with_value(|views| views.get(&room).cloned())
            .flatten()?;
        view.try_with_untracked(f)
    }

    /// The rooms this page holds a view of, with their signals.
    fn all_views(&self) -> Vec<(RoomId, ArcRwSignal<RoomView>)> {
        self.views
            .try_with_value(|views| views.iter().map(|(id, v)| (*id, v.clone())).collect())
            .unwrap_or_default()
    }

    /// Changes one room's view; `R::default()` if the app is closing and the state is gone.
    fn view_mut<R: Default>(&self, room: RoomId, f: impl FnOnce(&mut RoomView) -> R) -> R {
        self.view_signal(room)
            .and_then(|view| view.try_update(f))
            .unwrap_or_default()
    }

    /// The room whose list holds the pending message `client_id`.
    fn pending_room(&self, client_id: &str) -> Option<RoomId> {
        self.all_views().into_iter().find_map(|(id, view)| {
            view.try_with_untracked(|v| v.timeline.has_pending(client_id))
                .unwrap_or(false)
                .then_some(id)
        })
    }

    /// Who reads `room` now, for [`state::apply`].
    fn reader(&self, room: RoomId) -> Reader {
        Reader {
            me: self.me.get_untracked(),
            me_id: self.me_id.get_untracked(),
            now: now_ms(),
            reading: self.active.get_untracked() == Some(room)
                && page_visible()
                && self.following.get_untracked(),
        }
    }

    fn on_frame(&self, frame: ServerFrame) {
        let room = state::room_of(&frame).or_else(|| match &frame {
            ServerFrame::Ack {
                client_id: Some(client_id),
                ..
            }
            | ServerFrame::Error {
                client_id: Some(client_id),
                ..
            } => self.pending_room(client_id),
            _ => None,
        });
        match (room, frame) {
            (Some(room), ServerFrame::Message { message }) => self.on_message(room, message),
            (Some(room), frame) => {
                let reader = self.reader(room);
                self.view_mut(room, |v| state::apply(v, frame, &reader));
            }
            (None, frame) => self.on_other(frame),
        }
    }

    /// A stored message, live or replayed: into its room's list, counted in the room list,
    /// and shown as a desktop notification when the room's level asks for one.
    fn on_message(&self, room: RoomId, message: Message) {
        let reader = self.reader(room);
        // Out of the reader's sight: not the open room in a visible tab.
        let shown = self.active.get_untracked() == Some(room) && page_visible();
        let copy = (!shown).then(|| message.clone());
        // At most so many messages per room stay in memory; the oldest go, and are read
        // again if the reader scrolls up to them.
        let keep = match self.active.get_untracked() == Some(room) {
            true if reader.reading => Some(KEPT_OPEN),
            true => None,
            false => Some(KEPT_CLOSED),
        };
        let applied = self.view_mut(room, |v| {
            let applied = state::apply(v, ServerFrame::Message { message }, &reader);
            if let Some(keep) = keep {
                v.timeline.keep_newest(keep);
            }
            applied
        });
        let Applied::Message {
            id,
            fresh,
            mine,
            mentioned,
        } = applied
        else {
            return;
        };
        if let Some(message) = copy
            && fresh
            && !mine
            && let Some(r) = self.room(room)
            && r.last_read_id < Some(id)
            && crate::notify::wanted(level(&r), mentioned)
        {
            crate::notify::show(&r, &message);
        }
        let mut counted = false;
        self.rooms.maybe_update(|rooms| {
            if let Some(r) = rooms.iter_mut().find(|r| r.id == room) {
                counted = state::count(r, applied, reader.reading);
            }
            counted
        });
        if counted {
            self.update_title();
        }
    }

    /// Frames about the connection, the room list, or no room this page holds.
    fn on_other(&self, frame: ServerFrame) {
        match frame {
            ServerFrame::Ready { user } => {
                self.is_admin.set(user.is_admin);
                self.me_id.set(user.id);
                self.me.set(user.username);
                self.on_ready();
            }
            ServerFrame::Read {
                room_id,
                message_id,
            } => self.on_read(room_id, message_id),
            ServerFrame::Room { room } => self.add_room(room),
            ServerFrame::RoomDeleted { room_id } => {
                self.forget_room(room_id, "An admin deleted this room.")
            }
            ServerFrame::Removed { room_id } => {
                self.forget_room(room_id, "You are no longer a member of this room.")
            }
            ServerFrame::Member { room_id, event, .. } => {
                self.rooms.update(|rooms| {
                    if let Some(room) = rooms.iter_mut().find(|r| r.id == room_id) {
                        room.member_count = match event {
                            MemberEvent::Joined => room.member_count + 1,
                            _ => room.member_count.saturating_sub(1),
                        };
                    }
                });
                self.member_changes.update(|n| *n += 1);
            }
            ServerFrame::Error {
                code: ErrorKind::RateLimited,
                message,
                ..
            } => self.banner.set(Some(format!("Slow down: {message}"))),
            ServerFrame::Error { message, .. } => self.banner.set(Some(message)),
            // An ack for a message this page no longer holds, or a frame for a room it
            // forgot.
            _ => {}
        }
    }

    /// (Re)connected: join every room, catching up from the last message seen, and send
    /// what still waits for an ack (the server stores a `client_id` once).
    fn on_ready(&self) {
        let rooms: Vec<RoomId> = self.live.get_untracked();
        for room in rooms {
            self.join(room);
        }
        let pending: Vec<(RoomId, Vec<Outgoing>)> = self
            .all_views()
            .into_iter()
            .map(|(id, v)| (id, v.with_untracked(|v| v.timeline.pending())))
            .collect();
        for (room_id, messages) in pending {
            for message in messages {
                send_frame(room_id, message);
            }
        }
        self.refresh_rooms();
    }

    /// Subscribes to a room; with its history loaded, from the last message seen, so that
    /// nothing between the page and the live stream is missed.
    fn join(&self, room_id: RoomId) {
        let since = self
            .with_view(room_id, |v| {
                // A list opened in the middle wants no replay: it reads newer pages itself.
                (v.timeline.loaded && !v.timeline.detached)
                    .then(|| v.timeline.last_id().unwrap_or(natter_shared::MessageId(0)))
            })
            .flatten();
        socket::send(&ClientFrame::Join { room_id, since });
    }

    /// Reads the room list, a page at a time, up to [`SIDEBAR_ROOMS`].
    pub fn refresh_rooms(&self) {
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            let mut after = None;
            let mut read = 0;
            loop {
                match api::rooms(&token, after).await {
                    Ok(rooms) => {
                        let full = rooms.len() == api::ROOMS_PAGE;
                        read += rooms.len();
                        after = rooms.last().map(|r| r.id);
                        for room in rooms {
                            chat.add_room(room);
                        }
                        if !full || read >= SIDEBAR_ROOMS {
                            break;
                        }
                    }
                    Err(e) => return chat.failed(&e),
                }
            }
            chat.rooms_loaded.set(true);
            chat.update_title();
        });
    }

    /// Wants `room` live: joins it unless it is, and leaves the room wanted longest ago when
    /// more than [`LIVE_ROOMS`] would be live.
    fn go_live(&self, room: RoomId) {
        let mut joined = false;
        let mut dropped = None;
        let active = self.active.get_untracked();
        self.live.update(|live| {
            match live.iter().position(|r| *r == room) {
                Some(at) => {
                    live.remove(at);
                }
                None => joined = true,
            }
            live.insert(0, room);
            if live.len() > LIVE_ROOMS
                && let Some(at) = live.iter().rposition(|r| Some(*r) != active)
            {
                dropped = Some(live.remove(at));
            }
        });
        if let Some(old) = dropped {
            socket::send(&ClientFrame::Leave { room_id: old });
        }
        if joined {
            self.join(room);
        }
    }

    /// Adds a room to the sidebar (once). A direct conversation goes live at once (someone
    /// may be writing to this user); a public room when it is opened.
    /// Adds a room the user is a member of now, or takes a room's changes (its name, topic,
    /// member count, the user's role).
    pub fn add_room(&self, room: Room) {
        let id = room.id;
        let direct = !room.kind.is_named();
        let added = self
            .rooms
            .try_update(|rooms| {
                let added = match rooms.iter_mut().find(|r| r.id == id) {
                    Some(known) => {
                        // A change told to the whole room carries no read state: keep ours.
                        let mut room = room;
                        if room.notify.is_none() {
                            room.notify = known.notify;
                            room.unread = known.unread;
                            room.mentions = known.mentions;
                            room.last_read_id = known.last_read_id;
                            room.last_message_id = known.last_message_id;
                        }
                        *known = room;
                        false
                    }
                    None => {
                        rooms.push(room);
                        true
                    }
                };
                rooms.sort_by_key(|r| (!r.kind.is_named(), r.name.to_lowercase()));
                added
            })
            .unwrap_or(false);
        let room_of_its_own = self.live.with_untracked(|l| l.len()) < LIVE_ROOMS;
        if added && direct && room_of_its_own {
            self.go_live(id);
        }
    }

    /// Drops a room the user may not see any more, saying `why` if it is the one shown.
    fn forget_room(&self, room_id: RoomId, why: &str) {
        self.rooms.update(|rooms| rooms.retain(|r| r.id != room_id));
        self.live.update(|live| live.retain(|r| *r != room_id));
        self.views.update_value(|views| {
            views.remove(&room_id);
        });
        if self.active.get_untracked() == Some(room_id) {
            self.banner.set(Some(why.to_owned()));
        }
    }

    /// Leaves a room; `then` runs once the server agreed.
    pub fn leave(&self, room: RoomId, then: impl FnOnce() + 'static) {
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            match api::leave(&token, room).await {
                Ok(()) => {
                    chat.active.set(None);
                    chat.forget_room(room, "");
                    then();
                }
                Err(e) => chat.failed(&e),
            }
        });
    }

    pub fn room(&self, id: RoomId) -> Option<Room> {
        self.rooms
            .with(|rooms| rooms.iter().find(|r| r.id == id).cloned())
    }

    /// Makes the next opening of `room` (the page navigated to next) start at message `id`.
    pub fn open_at(&self, room: RoomId, id: MessageId) {
        self.focus.set(Some((room, id)));
    }

    /// Makes `room` the one shown: clears its unread count, reads its latest page once; or,
    /// after [`open_at`](Self::open_at), the page around that message.
    pub fn open(&self, room: RoomId) {
        self.active.set(Some(room));
        self.go_live(room);
        let focus = self
            .focus
            .with_untracked(|f| f.filter(|(r, _)| *r == room).map(|(_, id)| id));
        if let Some(id) = focus {
            self.focus.set(None);
            self.update_title();
            return self.load_around(room, id);
        }
        // Untracked: an effect that opens a room must not open it again as its counts change.
        let marker = self.rooms.with_untracked(|rooms| {
            rooms
                .iter()
                .find(|r| r.id == room && r.unread > 0)
                .map(|r| r.last_read_id.unwrap_or(MessageId(0)))
        });
        let first_time = self.view_mut(room, |v| {
            v.unread_from = marker;
            let first = !v.timeline.loaded && !v.loading;
            if first {
                v.loading = true;
            }
            first
        });
        self.update_title();
        if first_time {
            self.load_latest(room);
        }
    }

    /// Reads the newest page of `room` into its (empty) list, then joins it from there.
    fn load_latest(&self, room: RoomId) {
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            let page = api::history(&token, room, None, DEFAULT_PAGE).await;
            chat.view_mut(room, |v| {
                v.loading = false;
                match &page {
                    Ok(page) => {
                        v.timeline
                            .merge_page(page.clone(), DEFAULT_PAGE as usize, false);
                        v.error = None;
                    }
                    Err(e) => v.error = Some(e.message.clone()),
                }
            });
            match page {
                // Join again from the page's last message: whatever came between the
                // first join and the page read is replayed, and duplicates are dropped.
                Ok(_) => chat.join(room),
                Err(e) => chat.failed(&e),
            }
        });
    }

    /// Shows the page of `room` around message `id`, highlighted: the list starts afresh
    /// there and, unless that page reaches the newest message, stays detached from the live
    /// end until the reader scrolls down to it (or jumps there).
    fn load_around(&self, room: RoomId, id: MessageId) {
        self.view_mut(room, |v| {
            // Detached until the page says otherwise: live messages must not land in the
            // empty list before it, below where the page will end.
            v.timeline = Timeline::default();
            v.timeline.detached = true;
            v.loading = true;
            v.focus = Some(id);
            v.scroll_to = Some(id);
            v.unread_from = None;
        });
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            let page = api::around(&token, room, id, AROUND_PAGE).await;
            let attached = chat.view_mut(room, |v| {
                v.loading = false;
                match &page {
                    Ok(page) => {
                        let newer = page.iter().filter(|m| m.id > id).count();
                        v.timeline.detached = newer >= (AROUND_PAGE / 2) as usize;
                        v.timeline
                            .merge_page(page.clone(), AROUND_PAGE as usize, false);
                        v.error = None;
                    }
                    Err(e) => v.error = Some(e.message.clone()),
                }
                !v.timeline.detached
            });
            match page {
                Ok(_) if attached => chat.join(room),
                Ok(_) => {}
                Err(e) => chat.failed(&e),
            }
        });
    }

    /// Reads the page after the newest message shown, in a list opened in the middle; when
    /// that reaches the room's newest message, joins live again from there.
    pub fn load_newer(&self, room: RoomId) {
        let after = self.view_mut(room, |v| {
            if v.loading || !v.timeline.detached {
                return None;
            }
            let last = v.timeline.last_id()?;
            v.loading = true;
            Some(last)
        });
        let Some(after) = after else { return };
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            let page = api::newer(&token, room, after, DEFAULT_PAGE).await;
            let attached = chat.view_mut(room, |v| {
                v.loading = false;
                match page {
                    Ok(page) => v.timeline.merge_newer(page, DEFAULT_PAGE as usize),
                    Err(e) => {
                        v.error = Some(e.message.clone());
                        false
                    }
                }
            });
            if attached {
                chat.join(room);
            }
        });
    }

    /// Leaves a list opened in the middle for the room's newest page, as when first opened.
    pub fn jump_to_newest(&self, room: RoomId) {
        self.view_mut(room, |v| {
            v.timeline = Timeline::default();
            v.loading = true;
            v.focus = None;
            v.scroll_to = None;
        });
        self.following.set(true);
        self.load_latest(room);
    }

    /// Drops all but the newest `keep` messages of `room` from memory (the reader is at the
    /// end of its list, or elsewhere).
    pub fn keep_newest(&self, room: RoomId, keep: usize) {
        let over = self
            .with_view(room, |v| v.timeline.entries().len() > keep)
            .unwrap_or(false);
        if over {
            self.view_mut(room, |v| v.timeline.keep_newest(keep));
        }
    }

    /// Whether `room`'s list stops short of its newest message.
    pub fn detached(&self, room: RoomId) -> bool {
        self.view_signal(room)
            .and_then(|v| v.try_with(|v| v.timeline.detached))
            .unwrap_or(false)
    }

    /// Reads the page before the oldest message shown.
    pub fn load_older(&self, room: RoomId) {
        let before = self.view_mut(room, |v| {
            if v.loading || v.timeline.complete || !v.timeline.loaded {
                return None;
            }
            let first = v.timeline.first_id()?;
            v.loading = true;
            Some(first)
        });
        let Some(before) = before else { return };
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            let page = api::history(&token, room, Some(before), DEFAULT_PAGE).await;
            chat.view_mut(room, |v| {
                v.loading = false;
                match &page {
                    Ok(page) => {
                        v.timeline
                            .merge_page(page.clone(), DEFAULT_PAGE as usize, true);
                    }
                    Err(e) => v.error = Some(e.message.clone()),
                }
            });
            if let Err(e) = page {
                chat.failed(&e);
            }
        });
    }

    /// Shows the message at once as pending, and sends it if the socket is up (else on the
    /// next `ready`); with `reply_to`, as an answer to that message.
    pub fn send(
        &self,
        room_id: RoomId,
        body: String,
        reply_to: Option<ReplyTo>,
        attachments: Vec<natter_shared::Attachment>,
    ) {
        // What is said goes at the end of the room: show the end.
        if self.detached(room_id) {
            self.jump_to_newest(room_id);
        }
        let client_id = new_client_id();
        let me = self.me.get_untracked();
        let reply_id = reply_to.as_ref().map(|r| r.id);
        let ids = attachments.iter().map(|a| a.id).collect();
        self.view_mut(room_id, |v| {
            v.timeline
                .add_pending(&me, &body, &client_id, reply_to, attachments)
        });
        send_frame(
            room_id,
            Outgoing {
                body,
                client_id,
                reply_to: reply_id,
                attachments: ids,
            },
        );
    }

    /// The newest stored message of `room` that the user wrote (and may edit).
    pub fn last_own_message(&self, room: RoomId) -> Option<MessageId> {
        let me = self.me.get_untracked();
        self.with_view(room, |v| {
            v.timeline
                .entries()
                .iter()
                .rev()
                .find(|e| {
                    e.author == me
                        && e.kind == natter_shared::MessageKind::User
                        && e.status == crate::timeline::Status::Stored
                })
                .and_then(|e| e.id)
        })
        .flatten()
    }

    /// Sends a failed message again with the same `client_id`.
    pub fn retry(&self, room_id: RoomId, client_id: &str) {
        if let Some(message) = self.view_mut(room_id, |v| v.timeline.retry(client_id)) {
            send_frame(room_id, message);
        }
    }

    /// Brings the message `id` of `room` into the list, reading older pages until it is
    /// there (or the room's start is), then scrolls it into view.
    pub fn reveal(&self, room: RoomId, id: natter_shared::MessageId) {
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            loop {
                let (found, done, before) = chat.view_mut(room, |v| {
                    (
                        v.timeline.has(id),
                        v.timeline.complete,
                        v.timeline.first_id(),
                    )
                });
                if found || done {
                    break;
                }
                match api::history(&token, room, before, natter_shared::limits::MAX_PAGE).await {
                    Ok(page) => chat.view_mut(room, |v| {
                        v.timeline
                            .merge_page(page, natter_shared::limits::MAX_PAGE as usize, true);
                    }),
                    Err(e) => return chat.failed(&e),
                }
            }
            request_animation_frame(move || {
                let selector = format!("#message-list li[data-id='{id}']");
                if let Some(el) = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| d.query_selector(&selector).ok().flatten())
                {
                    el.scroll_into_view();
                    // Rows take the focus only this way: each is made focusable as it is
                    // given it, rather than every row drawn carrying a `tabindex`.
                    let _ = el.set_attribute("tabindex", "-1");
                    if let Ok(el) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el) {
                        let _ = el.focus();
                    }
                }
            });
        });
    }

    /// Sends an edit; the list shows it at once (subscribers get an `edited` frame).
    pub fn edit(&self, room: RoomId, id: natter_shared::MessageId, body: String) {
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            match api::edit_message(&token, room, id, &body).await {
                Ok(message) => chat.view_mut(room, |v| {
                    v.timeline.update(message);
                }),
                Err(e) => chat.failed(&e),
            }
        });
    }

    /// Admins: deletes a room; every socket hears of it (`room_deleted`).
    pub fn delete_room(&self, room: RoomId) {
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            if let Err(e) = api::delete_room(&token, room).await {
                chat.failed(&e);
            }
        });
    }

    /// Deletes a message (own, or any for an admin).
    pub fn delete(&self, room: RoomId, id: natter_shared::MessageId) {
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            match api::delete_message(&token, room, id).await {
                Ok(()) => chat.view_mut(room, |v| v.timeline.remove(id)),
                Err(e) => chat.failed(&e),
            }
        });
    }

    /// Adds or takes back this user's reaction; the room's `reaction` frame updates the list.
    pub fn react(&self, room: RoomId, id: natter_shared::MessageId, emoji: String, add: bool) {
        let chat = *self;
        let token = self.token();
        spawn_local(async move {
            if let Err(e) = api::react(&token, room, id, &emoji, add).await {
                chat.failed(&e);
            }
        });
    }

    /// Tells the room that this user is typing, at most every two seconds.
    pub fn typing(&self, room_id: RoomId) {
        let now = now_ms();
        let due = self
            .with_view(room_id, |v| now - v.typed_at > TYPING_EVERY_MS)
            .unwrap_or(true);
        if due
            && socket::send(&ClientFrame::Typing { room_id })
            && let Some(view) = self.view_signal(room_id)
        {
            view.update_untracked(|v| v.typed_at = now);
        }
    }

    fn expire_typing(&self) {
        let now = now_ms();
        for (_, view) in self.all_views() {
            if view.with_untracked(|v| v.typing_stale(now)) {
                view.update(|v| {
                    v.expire_typing(now);
                });
            }
        }
    }

    /// The tab's title counts what asks for this user: unread mentions, and unread messages
    /// of conversations that notify of every message. Muted rooms count nothing.
    fn update_title(&self) {
        let waiting: u32 = self.rooms.with_untracked(|rooms| {
            rooms
                .iter()
                .map(|r| match level(r) {
                    Notify::None => 0,
                    Notify::All if !r.kind.is_named() => r.unread,
                    _ => r.mentions,
                })
                .sum()
        });
        if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
            if waiting == 0 {
                doc.set_title("Natter");
            } else {
                doc.set_title(&format!("({waiting}) Natter"));
            }
        }
    }

    /// The reader has seen `room` up to message `id` (on screen, in a visible tab): moves the
    /// marker on the server unless it is there already. Every tab and device of theirs hears
    /// the `read` frame back and clears its badge.
    pub fn seen(&self, room: RoomId, id: MessageId) {
        if self.active.get_untracked() != Some(room) || !page_visible() {
            return;
        }
        let marker = self
            .rooms
            .with_untracked(|rooms| rooms.iter().find(|r| r.id == room).map(|r| r.last_read_id));
        let Some(marker) = marker else { return };
        let sent = self.with_view(room, |v| v.read_sent).flatten();
        if marker >= Some(id) || sent >= Some(id) {
            return;
        }
        if socket::send(&ClientFrame::Read {
            room_id: room,
            message_id: id,
        }) && let Some(view) = self.view_signal(room)
        {
            view.update_untracked(|v| v.read_sent = Some(id));
        }
    }

    /// The marker of `room` moved to `id` (here or on another device): recount what is left
    /// from the messages this page has, or clear the room when it was read to its end.
    fn on_read(&self, room: RoomId, id: MessageId) {
        let (me, me_id) = (self.me.get_untracked(), self.me_id.get_untracked());
        let view = self.views.with_value(|views| views.get(&room).cloned());
        self.rooms.update(|rooms| {
            if let Some(r) = rooms.iter_mut().find(|r| r.id == room) {
                match &view {
                    Some(view) => view.with_untracked(|v| state::read(r, id, Some(v), &me, me_id)),
                    None => state::read(r, id, None, &me, me_id),
                }
            }
        });
        self.update_title();
    }
}

/// A room's notification level: the member's own, or the kind's default.
pub fn level(room: &Room) -> Notify {
    room.notify.unwrap_or(Notify::default_for(room.kind))
}

fn page_visible() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_none_or(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
}

pub fn use_chat() -> Chat {
    expect_context::<Chat>()
}
