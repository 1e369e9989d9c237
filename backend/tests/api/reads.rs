//! Read state: markers that only move forward and reach every socket of their user, unread
//! and mention counts in the room list, `@room`, mentions of non-members, notification
//! levels.

use crate::helpers::{TestApp, TestUser};
use crate::ws_client::WAIT;
use natter_shared::ws::ServerFrame;
use natter_shared::{ErrorKind, Message, MessageId, Notify, ReadMarker, Role, Room, RoomId};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

/// `user`'s room `id` as their room list shows it.
pub async fn listed(app: &TestApp, user: &TestUser, id: RoomId) -> Room {
    let rooms: Vec<Room> = app
        .get("/api/rooms", &user.token)
        .await
        .json()
        .unwrap_or_else(|e| panic!("rooms: {e}"));
    rooms
        .into_iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("room {id} in {}'s list", user.auth.user.username))
}

pub async fn mark_read(
    app: &TestApp,
    user: &TestUser,
    room: RoomId,
    message: MessageId,
) -> crate::helpers::Answer {
    app.post(
        &format!("/api/rooms/{room}/read"),
        &user.token,
        json!({ "message_id": message }),
    )
    .await
}

/// `PATCH /api/rooms/{room}/settings {"notify": level}` as `user`.
async fn set_level(
    app: &TestApp,
    user: &TestUser,
    room: RoomId,
    level: &str,
) -> crate::helpers::Answer {
    app.request(
        Method::PATCH,
        &format!("/api/rooms/{room}/settings"),
        Some(&user.token),
        Some(&json!({ "notify": level })),
    )
    .await
}

async fn join(app: &TestApp, user: &TestUser, room: RoomId) {
    let res = app
        .post(&format!("/api/rooms/{room}/join"), &user.token, json!({}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "join: {}", res.body);
}

#[actix_web::test]
async fn counts_follow_the_marker_which_never_moves_back() {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    app.send(&alice, room.id, "before bob came").await;
    join(&app, &bob, room.id).await;
    // What was said before he joined is read.
    let before = listed(&app, &bob, room.id).await;
    assert_eq!((before.unread, before.mentions), (0, 0));
    assert_eq!(before.notify, Some(Notify::Mentions));

    let first = app.send(&alice, room.id, "one").await;
    let second = app.send(&alice, room.id, "two").await;
    app.send(&bob, room.id, "mine are never unread").await;
    let third = app.send(&alice, room.id, "three").await;
    let deleted = app.send(&alice, room.id, "gone soon").await;
    let res = app.delete_message(&alice, room.id, deleted.id).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let unread = listed(&app, &bob, room.id).await;
    assert_eq!(
        unread.unread, 3,
        "one, two, three: not his own, not the deleted one"
    );
    assert_eq!(unread.last_message_id, Some(deleted.id));
    assert!(unread.last_read_id < Some(first.id));

    let res = mark_read(&app, &bob, room.id, second.id).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let marker: ReadMarker = res.json().unwrap();
    assert_eq!(marker.message_id, second.id);
    let after = listed(&app, &bob, room.id).await;
    assert_eq!((after.unread, after.last_read_id), (1, Some(second.id)));

    // An older message is accepted and changes nothing.
    let res = mark_read(&app, &bob, room.id, first.id).await;
    let marker: ReadMarker = res.json().unwrap();
    assert_eq!(marker.message_id, second.id);
    assert_eq!(listed(&app, &bob, room.id).await.unread, 1);

    mark_read(&app, &bob, room.id, third.id).await;
    assert_eq!(listed(&app, &bob, room.id).await.unread, 0);
    // The sender's own list: nobody else wrote after alice's last.
    assert_eq!(listed(&app, &alice, room.id).await.unread, 1);

    // Counting stops at the cap, whatever the backlog.
    let cap = natter_shared::limits::UNREAD_COUNTED;
    for i in 0..=cap {
        app.send(&alice, room.id, &format!("flood {i}")).await;
    }
    assert_eq!(listed(&app, &bob, room.id).await.unread, cap);
}

#[actix_web::test]
async fn bad_markers_are_refused_with_their_reason() {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let elsewhere = app.create_room(&bob, "elsewhere").await;
    let there = app.send(&bob, elsewhere.id, "not in general").await;
    let here = app.send(&alice, room.id, "hello").await;
    // Bob has not joined general: no membership, no marker.
    let res = mark_read(&app, &bob, room.id, here.id).await;
    assert_eq!(res.error(), ErrorKind::NotMember, "{}", res.body);
    join(&app, &bob, room.id).await;
    assert_eq!(
        mark_read(&app, &bob, room.id, there.id).await.error(),
        ErrorKind::NotFound
    );
    assert_eq!(
        mark_read(&app, &bob, room.id, MessageId(i64::MAX))
            .await
            .error(),
        ErrorKind::NotFound
    );
    assert_eq!(
        mark_read(&app, &bob, RoomId(9999), here.id).await.error(),
        ErrorKind::NotFound
    );
    let res = app
        .post(
            &format!("/api/rooms/{}/read", room.id),
            &bob.token,
            json!({ "message_id": "soon" }),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    let res = set_level(&app, &bob, room.id, "sometimes").await;
    assert_eq!(res.error(), ErrorKind::InvalidRequest, "{}", res.body);

    // Over the socket: an error frame, and the socket stays open.
    let mut ws = app.ws(&bob).await;
    ws.send(json!({ "type": "read", "room_id": room.id, "message_id": there.id }))
        .await;
    match ws.error().await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorKind::NotFound),
        other => panic!("{other:?}"),
    }
    // (His marker is at `here` since he joined: a later message moves it.)
    let later = app.send(&alice, room.id, "later").await;
    ws.send(json!({ "type": "read", "room_id": room.id, "message_id": later.id }))
        .await;
    let frame = ws
        .until("read", |f| matches!(f, ServerFrame::Read { .. }))
        .await;
    assert_eq!(
        frame,
        ServerFrame::Read {
            room_id: room.id,
            message_id: later.id
        }
    );
}

#[actix_web::test]
async fn a_read_on_one_socket_reaches_the_users_other_sockets() {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    join(&app, &bob, room.id).await;
    let said = app.send(&alice, room.id, "read me").await;
    let mut laptop = app.ws(&bob).await;
    let mut phone = app.ws(&bob).await;
    let mut alices = app.ws(&alice).await;
    alices.join(room.id, None).await;
    laptop
        .send(json!({ "type": "read", "room_id": room.id, "message_id": said.id }))
        .await;
    let expected = ServerFrame::Read {
        room_id: room.id,
        message_id: said.id,
    };
    for socket in [&mut laptop, &mut phone] {
        let frame = socket
            .until("read", |f| matches!(f, ServerFrame::Read { .. }))
            .await;
        assert_eq!(frame, expected);
    }
    assert_eq!(listed(&app, &bob, room.id).await.unread, 0);
    // Alice hears nothing of bob's marker: the next frame her socket has is her message.
    let mine = app.send(&alice, room.id, "next").await;
    let frame = alices
        .until("no presence", |f| {
            !matches!(f, ServerFrame::Presence { .. })
        })
        .await;
    match frame {
        ServerFrame::Message { message } => assert_eq!(message.id, mine.id),
        other => panic!("expected alice's message, got {other:?}"),
    }
}

#[actix_web::test]
async fn mentions_are_counted_for_members_and_cleared_by_reading() {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let carol = app.user("carol").await;
    join(&app, &bob, room.id).await;

    let named = app
        .send(&alice, room.id, "@Bob and @carol, see `@bob` too")
        .await;
    // Carol is no member: her name stays plain text.
    assert_eq!(named.mentions, vec![bob.auth.user.id]);
    assert!(!named.mentions.contains(&carol.auth.user.id));
    assert!(!named.mentions_room);
    let everyone = app.send(&alice, room.id, "@room lunch?").await;
    assert!(everyone.mentions_room && everyone.mentions.is_empty());
    app.send(&alice, room.id, "nothing for anyone").await;
    app.send(&bob, room.id, "@alice @bob, me myself").await;

    let bobs = listed(&app, &bob, room.id).await;
    assert_eq!((bobs.unread, bobs.mentions), (3, 2));
    let alices = listed(&app, &alice, room.id).await;
    assert_eq!((alices.unread, alices.mentions), (1, 1));

    // History says whom each mentions.
    let history = app.history(&bob, room.id, "").await;
    let stored: Vec<&Message> = history.iter().filter(|m| m.id == named.id).collect();
    assert_eq!(stored[0].mentions, vec![bob.auth.user.id]);

    mark_read(&app, &bob, room.id, named.id).await;
    assert_eq!(listed(&app, &bob, room.id).await.mentions, 1);
    mark_read(&app, &bob, room.id, everyone.id).await;
    let read = listed(&app, &bob, room.id).await;
    assert_eq!((read.unread, read.mentions), (1, 0));

    // An edit that adds a mention counts; a deleted one does not.
    let plain = app.send(&alice, room.id, "hey").await;
    let res = app.edit(&alice, room.id, plain.id, "hey @bob").await;
    let edited: Message = res.json().unwrap();
    assert_eq!(edited.mentions, vec![bob.auth.user.id]);
    assert_eq!(listed(&app, &bob, room.id).await.mentions, 1);
    app.delete_message(&alice, room.id, plain.id).await;
    assert_eq!(listed(&app, &bob, room.id).await.mentions, 0);
}

#[actix_web::test]
async fn a_muted_room_still_counts_and_levels_have_defaults() {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    join(&app, &bob, room.id).await;
    let dm: Room = app.open_dm(&alice, "bob").await.json().unwrap();
    assert_eq!(listed(&app, &bob, dm.id).await.notify, Some(Notify::All));
    assert_eq!(
        listed(&app, &bob, room.id).await.notify,
        Some(Notify::Mentions)
    );

    let mut other_tab = app.ws(&bob).await.with_membership();
    let res = set_level(&app, &bob, room.id, "none").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let frame = other_tab
        .until("room", |f| matches!(f, ServerFrame::Room { .. }))
        .await;
    let ServerFrame::Room { room: told } = frame else {
        unreachable!()
    };
    assert_eq!(told.notify, Some(Notify::None));

    app.send(&alice, room.id, "@bob are you there?").await;
    let muted = listed(&app, &bob, room.id).await;
    assert_eq!(muted.notify, Some(Notify::None));
    assert_eq!((muted.unread, muted.mentions), (1, 1));

    // Someone outside the room cannot set anything in it.
    let carol = app.user("carol").await;
    let res = set_level(&app, &carol, dm.id, "none").await;
    assert_eq!(res.error(), ErrorKind::NotFound);
}

#[actix_web::test]
async fn markers_and_settings_have_rate_limits() {
    let slow = natter::config::RateLimit {
        per_second: 0.001,
        burst: 2,
    };
    let app = TestApp::spawn_with(|s| {
        s.read_rate_limit = slow;
        s.member_rate_limit = slow;
    })
    .await;
    let alice = app.user("alice").await;
    let room = app.create_room(&alice, "general").await;
    let said = app.send(&alice, room.id, "hello").await;
    // Two markers, then the third waits: over REST a 429, over the socket an error frame.
    for _ in 0..2 {
        assert_eq!(
            mark_read(&app, &alice, room.id, said.id).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(
        mark_read(&app, &alice, room.id, said.id).await.error(),
        ErrorKind::RateLimited
    );
    let mut ws = app.ws(&alice).await;
    ws.send(json!({ "type": "read", "room_id": room.id, "message_id": said.id }))
        .await;
    match ws.error().await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorKind::RateLimited),
        other => panic!("{other:?}"),
    }
    for expected in [
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let res = set_level(&app, &alice, room.id, "all").await;
        assert_eq!(res.status, expected, "{}", res.body);
    }
}

/// Every room of `user`'s list, as `app` answers it.
async fn room_list(app: &TestApp, user: &TestUser) -> Vec<Room> {
    let res = app.get("/api/rooms", &user.token).await;
    assert_eq!(res.status, StatusCode::OK, "rooms: {}", res.body);
    res.json().expect("rooms")
}

#[actix_web::test]
async fn room_lists_counted_in_memory_agree_with_the_database() {
    // A server counts what was stored since it started in memory; one started on the same
    // data afterwards counts all of it in the database. Both must answer the same.
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let carol = app.user("carol").await;
    join(&app, &bob, room.id).await;
    join(&app, &carol, room.id).await;
    let quiet = app.create_room(&carol, "quiet").await;
    join(&app, &alice, quiet.id).await;
    let dm: Room = app.open_dm(&alice, "bob").await.json().expect("a dm");

    let first = app.send(&bob, room.id, "hi").await;
    app.send(&bob, room.id, "@alice look").await;
    app.send(&carol, room.id, "@room and @alice, once").await;
    app.send(&alice, room.id, "mine: @room").await;
    let gone = app.send(&bob, room.id, "@alice soon gone").await;
    let plain = app.send(&carol, room.id, "plain").await;
    app.send(&bob, dm.id, "psst @alice").await;
    app.send(&alice, dm.id, "yes?").await;
    let res = app
        .edit(&carol, room.id, plain.id, "now @bob and @alice")
        .await;
    assert_eq!(res.status, StatusCode::OK, "edit: {}", res.body);
    let res = app.delete_message(&bob, room.id, gone.id).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "delete: {}", res.body);
    mark_read(&app, &carol, room.id, first.id).await;

    let people = [&alice, &bob, &carol];
    let mut before = Vec::new();
    for user in people {
        before.push(room_list(&app, user).await);
    }
    let general = before[0].iter().find(|r| r.id == room.id).expect("general");
    assert_eq!(
        (general.unread, general.mentions),
        (4, 3),
        "bob's two, carol's two; carol's @room naming alice counts once, the deleted not"
    );
    let carols = before[2].iter().find(|r| r.id == room.id).expect("general");
    assert_eq!(
        (carols.unread, carols.mentions),
        (2, 1),
        "after hi: alice's @room"
    );

    app.stopper.stop().await;
    let again = TestApp::spawn_on(app.db.shared(), tempfile::tempdir().unwrap(), |_| {}).await;
    for (user, before) in people.into_iter().zip(before) {
        let login: natter_shared::AuthResponse = again
            .login_as(user.name(), crate::helpers::PASSWORD)
            .await
            .json()
            .expect("a login");
        let user = TestUser::from_token(&login.token, user);
        assert_eq!(room_list(&again, &user).await, before, "{}", user.name());
    }
}

/// The room list of `user`, or `None` if the server refuses their token.
async fn list_or_refused(app: &TestApp, user: &TestUser) -> Option<Vec<Room>> {
    let res = app.get("/api/rooms", &user.token).await;
    if res.status == StatusCode::UNAUTHORIZED {
        return None;
    }
    assert_eq!(res.status, StatusCode::OK, "rooms: {}", res.body);
    Some(res.json().expect("a room list"))
}

#[actix_web::test]
async fn room_lists_follow_every_change_at_once() {
    // On SQLite the lists are kept in memory: each change below follows a list that kept
    // what it read, and the next list must show the change.
    let app = TestApp::spawn().await;
    room_lists_follow_every_change(Sides {
        change: &app,
        read: &app,
        patient: false,
    })
    .await;
}

/// Where a test makes its changes and where it reads room lists: one node, where the next
/// list must show a change at once, or two, where the reading node shows it once the
/// changing node's notice has come (read again until it does, within [`WAIT`]).
pub struct Sides<'a> {
    pub change: &'a TestApp,
    pub read: &'a TestApp,
    pub patient: bool,
}

impl Sides<'_> {
    /// Waits, when patient, until `ok` holds of what `read` answers; fails when it does not.
    async fn until<T: std::fmt::Debug>(
        &self,
        what: &str,
        mut answer: impl AsyncFnMut() -> T,
        ok: impl Fn(&T) -> bool,
    ) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = answer().await;
            if ok(&got) {
                return got;
            }
            assert!(
                self.patient && Instant::now() < deadline,
                "{what}: still {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `user`'s room list (`None`: their token is refused), once `ok` holds of it.
    async fn list(
        &self,
        user: &TestUser,
        what: &str,
        ok: impl Fn(&Option<Vec<Room>>) -> bool,
    ) -> Option<Vec<Room>> {
        let what = format!("{}: {what}", user.name());
        self.until(&what, || list_or_refused(self.read, user), ok)
            .await
    }

    /// `user`'s line of room `id` (`None`: not listed), once `ok` holds of it.
    pub async fn line(
        &self,
        user: &TestUser,
        id: RoomId,
        what: &str,
        ok: impl Fn(Option<&Room>) -> bool,
    ) -> Option<Room> {
        let line = |rooms: &Option<Vec<Room>>| {
            rooms
                .as_ref()
                .map(|rooms| rooms.iter().find(|r| r.id == id).cloned())
        };
        let rooms = self
            .list(user, what, |rooms| {
                line(rooms).is_some_and(|l| ok(l.as_ref()))
            })
            .await;
        line(&rooms).flatten()
    }

    /// The status of `user`'s newest page of `room`, once it is `status`: twice in a row, so
    /// that the second may come from what the first kept.
    async fn history(&self, user: &TestUser, room: RoomId, status: StatusCode) {
        let path = format!("/api/rooms/{room}/messages");
        let what = format!("{}'s history of room {room}", user.name());
        let twice = async || {
            let first = self.read.get(&path, &user.token).await.status;
            (first, self.read.get(&path, &user.token).await.status)
        };
        self.until(&what, twice, |got| *got == (status, status))
            .await;
    }
}

/// Every change to what room lists show, made through `on.change`, shows in lists read
/// through `on.read`; so do the memberships that history pages are checked against.
pub async fn room_lists_follow_every_change(on: Sides<'_>) {
    let app = on.change;
    let root = app.admin("root").await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let team = app.create_room(&alice, "team").await;
    let id = team.id;
    let has = |ok: fn(&Room) -> bool| move |r: Option<&Room>| r.is_some_and(ok);
    on.line(
        &alice,
        id,
        "her room",
        has(|r| (r.member_count, r.role) == (1, Some(Role::Owner))),
    )
    .await;

    on.line(&bob, id, "not his yet", |r| r.is_none()).await;
    join(app, &bob, id).await;
    on.line(&bob, id, "joined", has(|r| r.member_count == 2))
        .await;
    on.line(&alice, id, "he joined", has(|r| r.member_count == 2))
        .await;

    let path = format!("/api/rooms/{id}");
    let body = json!({ "topic": "plans" });
    let res = app
        .request(Method::PATCH, &path, Some(&alice.token), Some(&body))
        .await;
    assert_eq!(res.status, StatusCode::OK, "topic: {}", res.body);
    on.line(
        &bob,
        id,
        "the topic",
        has(|r| r.topic.as_deref() == Some("plans")),
    )
    .await;

    on.line(&carol, id, "not hers yet", |r| r.is_none()).await;
    let members = format!("/api/rooms/{id}/members");
    let res = app
        .post(&members, &alice.token, json!({ "username": "carol" }))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "add: {}", res.body);
    on.line(&carol, id, "added", has(|r| r.member_count == 3))
        .await;
    let carol_id = carol.auth.user.id;
    let res = app
        .request(
            Method::DELETE,
            &format!("{members}/{carol_id}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "remove: {}", res.body);
    on.line(&carol, id, "removed", |r| r.is_none()).await;
    on.line(&bob, id, "she was removed", has(|r| r.member_count == 2))
        .await;

    // A private room's history, allowed by a membership that the reading side keeps.
    let secret = app.create_private_room(&alice, "secret").await;
    on.history(&carol, secret.id, StatusCode::NOT_FOUND).await;
    let res = app
        .post(
            &format!("/api/rooms/{}/members", secret.id),
            &alice.token,
            json!({ "username": "carol" }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "add: {}", res.body);
    on.history(&carol, secret.id, StatusCode::OK).await;
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/rooms/{}/members/{carol_id}", secret.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "remove: {}", res.body);
    on.history(&carol, secret.id, StatusCode::NOT_FOUND).await;

    let res = set_level(app, &bob, id, "none").await;
    assert_eq!(res.status, StatusCode::OK, "level: {}", res.body);
    on.line(&bob, id, "muted", has(|r| r.notify == Some(Notify::None)))
        .await;

    let said = app.send(&alice, id, "news").await;
    on.line(&bob, id, "news", has(|r| r.unread == 1)).await;
    let res = mark_read(app, &bob, id, said.id).await;
    assert_eq!(res.status, StatusCode::OK, "read: {}", res.body);
    let read = on.line(&bob, id, "read", has(|r| r.unread == 0)).await;
    assert_eq!(read.and_then(|r| r.last_read_id), Some(said.id));

    let res = app.open_group(&alice, &["bob", "carol"]).await;
    assert_eq!(res.status, StatusCode::CREATED, "group: {}", res.body);
    let group: Room = res.json().expect("a group");
    on.line(
        &carol,
        group.id,
        "in the group",
        has(|r| r.members == ["alice", "bob"]),
    )
    .await;

    let res = app
        .post(&format!("{path}/leave"), &alice.token, json!({}))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "leave: {}", res.body);
    on.line(&alice, id, "she left", |r| r.is_none()).await;
    on.line(
        &bob,
        id,
        "his now",
        has(|r| (r.role, r.member_count) == (Some(Role::Owner), 1)),
    )
    .await;

    let res = app
        .request(Method::DELETE, &path, Some(&root.token), None)
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "delete: {}", res.body);
    on.line(&bob, id, "deleted", |r| r.is_none()).await;

    let change =
        json!({ "current_password": crate::helpers::PASSWORD, "new_password": "a new password" });
    on.list(&bob, "signed in", Option::is_some).await;
    let res = app.post("/api/me/password", &bob.token, change).await;
    assert_eq!(res.status, StatusCode::OK, "password: {}", res.body);
    on.list(&bob, "the old token is revoked", Option::is_none)
        .await;

    on.list(&carol, "signed in", Option::is_some).await;
    let res = app
        .post(
            &format!("/api/admin/users/{carol_id}/deactivate"),
            &root.token,
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "deactivate: {}", res.body);
    on.list(&carol, "deactivated", Option::is_none).await;
}
