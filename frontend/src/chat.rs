//! The signed-in app's state: rooms, each room's timeline, presence, typing and unread
//! counts, the connection. Frames from the socket and answers from the REST API land here;
//! components only read these signals and call these methods.

use crate::api::{self, ApiError};
use crate::session::Session;
use crate::socket::{self, Event, Link};
use crate::timeline::{Outgoing, Timeline};
use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_shared::limits::DEFAULT_PAGE;
use natter_shared::ws::{ClientFrame, MemberEvent, ServerFrame};
use natter_shared::{ErrorKind, Message, MessageId, Notify, ReplyTo, Room, RoomId, UserId};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// How long a "typing" stays shown without another.
const TYPING_SHOWN_MS: f64 = 4000.0;
/// How often this client tells the others it is typing, at most.
const TYPING_EVERY_MS: f64 = 2000.0;
/// Rooms joined live at once: the open one, those opened last, direct conversations. The
/// others in the sidebar get no frames (and no unread count) until opened; the server caps
/// rooms per socket at 100 by default.
pub const LIVE_ROOMS: usize = 40;
/// Messages read around a search result when a room is opened at it.
const AROUND_PAGE: u32 = 50;
/// Rooms read into the sidebar at most, in pages of [`api::ROOMS_PAGE`].
pub const SIDEBAR_ROOMS: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomView {
    pub timeline: Timeline,
    pub online: BTreeSet<String>,
    /// Who is typing, until when (ms since the epoch).
    pub typing: Vec<(String, f64)>,
    /// The read marker when the room was opened with unread messages: the "New messages"
    /// line goes above the first message after it.
    pub unread_from: Option<MessageId>,
    /// The last marker this page sent, so that each is sent once.
    read_sent: Option<MessageId>,
    pub loading: bool,
    pub error: Option<String>,
    typed_at: f64,
    /// The message the room was opened at (a search result): shown highlighted.
    pub focus: Option<MessageId>,
    /// A message to bring into view once the list has drawn it (taken by the list).
    pub scroll_to: Option<MessageId>,
}

#[derive(Debug, Clone, Copy)]
pub struct Chat {
    session: Session,
    pub me: RwSignal<String>,
    pub me_id: RwSignal<UserId>,
    pub is_admin: RwSignal<bool>,
    pub rooms: RwSignal<Vec<Room>>,
    /// Whether the room list has been read once (a deep link to a missing room waits for it).
    pub rooms_loaded: RwSignal<bool>,
    pub views: RwSignal<HashMap<RoomId, RoomView>>,
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
            views: RwSignal::new(HashMap::new()),
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

    /// Changes one room's view; `R::default()` if the app is closing and the state is gone.
    fn view_mut<R: Default>(&self, room: RoomId, f: impl FnOnce(&mut RoomView) -> R) -> R {
        let mut f = Some(f);
        let mut out = None;
        self.views.update(|views| {
            out = f.take().map(|f| f(views.entry(room).or_default()));
        });
        out.unwrap_or_default()
    }

    fn on_frame(&self, frame: ServerFrame) {
        match frame {
            ServerFrame::Ready { user } => {
                self.is_admin.set(user.is_admin);
                self.me_id.set(user.id);
                self.me.set(user.username);
                self.on_ready();
            }
            ServerFrame::Joined { room_id, online } => {
                self.view_mut(room_id, |v| v.online = online.into_iter().collect());
            }
            ServerFrame::Message { message } => {
                let room = message.room_id;
                let mine = message.author == self.me.get_untracked();
                // Before the reader's eyes: the open room in a visible tab; read as it comes
                // when the list is at its newest message too.
                let shown = self.active.get_untracked() == Some(room) && page_visible();
                let seen = shown && self.following.get_untracked();
                let author = message.author.clone();
                let (id, mentioned) = (message.id, self.mentions_me(&message));
                // A desktop notification, as the room's level asks, for a message out of sight.
                let notice = (!mine && !shown)
                    .then(|| self.room(room))
                    .flatten()
                    .filter(|r| {
                        r.last_read_id < Some(id) && crate::notify::wanted(level(r), mentioned)
                    })
                    .map(|r| (r, message.clone()));
                let fresh = self.view_mut(room, |v| {
                    v.typing.retain(|(who, _)| *who != author);
                    v.timeline.insert_live(message)
                });
                // Once only: a message seen before (a replay after a reconnect) is not news.
                if fresh && let Some((r, message)) = notice {
                    crate::notify::show(&r, &message);
                }
                self.rooms.update(|rooms| {
                    if let Some(r) = rooms.iter_mut().find(|r| r.id == room) {
                        r.last_message_id = r.last_message_id.max(Some(id));
                        if fresh && !mine && !seen && r.last_read_id < Some(id) {
                            r.unread = r.unread.saturating_add(1);
                            r.mentions += u32::from(mentioned);
                        }
                    }
                });
                self.update_title();
            }
            ServerFrame::Read {
                room_id,
                message_id,
            } => self.on_read(room_id, message_id),
            ServerFrame::Ack {
                client_id: Some(client_id),
                message_id,
            } => self.views.update(|views| {
                if let Some(v) = views
                    .values_mut()
                    .find(|v| v.timeline.has_pending(&client_id))
                {
                    v.timeline.ack(&client_id, message_id);
                }
            }),
            ServerFrame::Ack {
                client_id: None, ..
            } => {}
            ServerFrame::Presence {
                room_id,
                user,
                online,
            } => self.view_mut(room_id, |v| {
                if online {
                    v.online.insert(user);
                } else {
                    v.online.remove(&user);
                }
            }),
            ServerFrame::Typing { room_id, user } => self.view_mut(room_id, |v| {
                v.typing.retain(|(who, _)| *who != user);
                v.typing.push((user, now_ms() + TYPING_SHOWN_MS));
            }),
            ServerFrame::Notice {
                room_id,
                body,
                client_id,
            } => self.view_mut(room_id, |v| {
                if let Some(client_id) = client_id {
                    v.timeline.drop_pending(&client_id);
                }
                v.timeline.add_note(&body);
            }),
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
            ServerFrame::Edited { message } => {
                let room = message.room_id;
                self.view_mut(room, |v| {
                    v.timeline.update(message);
                });
            }
            ServerFrame::Deleted {
                room_id,
                message_id,
            } => self.view_mut(room_id, |v| v.timeline.remove(message_id)),
            ServerFrame::Reaction {
                room_id,
                message_id,
                emoji,
                user,
                added,
            } => self.view_mut(room_id, |v| {
                v.timeline.react(message_id, &emoji, &user, added)
            }),
            ServerFrame::Error {
                code,
                message,
                client_id,
                ..
            } => match client_id {
                Some(client_id) => self.views.update(|views| {
                    if let Some(v) = views
                        .values_mut()
                        .find(|v| v.timeline.has_pending(&client_id))
                    {
                        v.timeline.fail(&client_id, &message);
                    }
                }),
                None if code == ErrorKind::RateLimited => {
                    self.banner.set(Some(format!("Slow down: {message}")))
                }
                None => self.banner.set(Some(message)),
            },
        }
    }

    /// (Re)connected: join every room, catching up from the last message seen, and send
    /// what still waits for an ack (the server stores a `client_id` once).
    fn on_ready(&self) {
        let rooms: Vec<RoomId> = self.live.get_untracked();
        for room in rooms {
            self.join(room);
        }
        let pending: Vec<(RoomId, Vec<Outgoing>)> = self.views.with_untracked(|views| {
            views
                .iter()
                .map(|(id, v)| (*id, v.timeline.pending()))
                .collect()
        });
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
        let since = self.views.with_untracked(|views| {
            views
                .get(&room_id)
                // A list opened in the middle wants no replay: it reads newer pages itself.
                .filter(|v| v.timeline.loaded && !v.timeline.detached)
                .map(|v| v.timeline.last_id().unwrap_or(natter_shared::MessageId(0)))
        });
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
        self.views.update(|views| {
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

    /// Whether `room`'s list stops short of its newest message.
    pub fn detached(&self, room: RoomId) -> bool {
        self.views
            .with(|v| v.get(&room).is_some_and(|v| v.timeline.detached))
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
        if self
            .views
            .with_untracked(|v| v.get(&room_id).is_some_and(|v| v.timeline.detached))
        {
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
        self.views.with_untracked(|v| {
            v.get(&room).and_then(|v| {
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
        })
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
        let due = self.views.with_untracked(|views| {
            views
                .get(&room_id)
                .is_none_or(|v| now - v.typed_at > TYPING_EVERY_MS)
        });
        if due && socket::send(&ClientFrame::Typing { room_id }) {
            self.views.update_untracked(|views| {
                views.entry(room_id).or_default().typed_at = now;
            });
        }
    }

    fn expire_typing(&self) {
        let now = now_ms();
        let stale = self.views.with_untracked(|views| {
            views
                .values()
                .any(|v| v.typing.iter().any(|(_, until)| *until < now))
        });
        if stale {
            self.views.update(|views| {
                for v in views.values_mut() {
                    v.typing.retain(|(_, until)| *until >= now);
                }
            });
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

    /// Whether `message` mentions this user, by name or `@room`, and is not their own.
    pub fn mentions_me(&self, message: &Message) -> bool {
        message.author != self.me.get_untracked()
            && natter_shared::mentions::includes(
                &message.mentions,
                message.mentions_room,
                self.me_id.get_untracked(),
            )
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
        let sent = self
            .views
            .with_untracked(|v| v.get(&room).and_then(|v| v.read_sent));
        if marker >= Some(id) || sent >= Some(id) {
            return;
        }
        if socket::send(&ClientFrame::Read {
            room_id: room,
            message_id: id,
        }) {
            self.views.update_untracked(|views| {
                views.entry(room).or_default().read_sent = Some(id);
            });
        }
    }

    /// The marker of `room` moved to `id` (here or on another device): recount what is left
    /// from the messages this page has, or clear the room when it was read to its end.
    fn on_read(&self, room: RoomId, id: MessageId) {
        let (me, me_id) = (self.me.get_untracked(), self.me_id.get_untracked());
        let left = self.views.with_untracked(|views| {
            let timeline = &views.get(&room)?.timeline;
            // Counting needs every message after the marker on this page.
            if timeline.first_id().is_none_or(|first| first > id) {
                return None;
            }
            let after = timeline.entries().iter().filter(|e| {
                e.id.is_some_and(|m| m > id) && e.author != me && e.created_at.is_some()
            });
            let (mut unread, mut mentions) = (0, 0);
            for e in after {
                unread += 1;
                mentions += u32::from(e.mentions_me(&me, me_id));
            }
            Some((unread, mentions))
        });
        self.rooms.update(|rooms| {
            if let Some(r) = rooms.iter_mut().find(|r| r.id == room) {
                r.last_read_id = r.last_read_id.max(Some(id));
                if r.last_message_id.is_none_or(|last| last <= id) {
                    (r.unread, r.mentions) = (0, 0);
                } else if let Some((unread, mentions)) = left {
                    (r.unread, r.mentions) = (unread, mentions);
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
