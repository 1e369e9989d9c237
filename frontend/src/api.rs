//! The REST API under `/api`, typed with the shared wire types.

use gloo_net::http::{Request, RequestBuilder, Response};
use natter_shared::{
    AddMember, AdminUser, AdminUsersPage, AuthResponse, ChangePassword, CreateRoom, Credentials,
    EditMessage, ErrorBody, ErrorKind, Me, Member, MembersPage, Message, MessageId, OpenDirect,
    Room, RoomId, SearchPage, UpdateMe, UpdateRoom, UserId, UsersPage,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a call can end in besides success: the server's error kind and text, or a network
/// failure (`kind` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: Option<ErrorKind>,
    pub message: String,
}

impl ApiError {
    fn network(e: impl std::fmt::Display) -> Self {
        Self {
            kind: None,
            message: format!("cannot reach the server ({e}); check the connection and try again"),
        }
    }

    /// The token is no good any more: the user must sign in again.
    pub fn is_signed_out(&self) -> bool {
        matches!(
            self.kind,
            Some(ErrorKind::InvalidToken | ErrorKind::MissingToken)
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

async fn answer<T: DeserializeOwned>(res: Result<Response, gloo_net::Error>) -> ApiResult<T> {
    let res = res.map_err(ApiError::network)?;
    if res.ok() {
        return res.json::<T>().await.map_err(ApiError::network);
    }
    Err(refusal(res).await)
}

/// For answers without a body (204).
async fn done(res: Result<Response, gloo_net::Error>) -> ApiResult<()> {
    let res = res.map_err(ApiError::network)?;
    if res.ok() {
        return Ok(());
    }
    Err(refusal(res).await)
}

async fn refusal(res: Response) -> ApiError {
    let status = res.status();
    match res.json::<ErrorBody>().await {
        Ok(body) => ApiError {
            kind: Some(body.error),
            message: body.message,
        },
        Err(_) => ApiError {
            kind: Some(ErrorKind::Internal),
            message: format!("the server answered {status}; try again in a moment"),
        },
    }
}

fn authed(builder: RequestBuilder, token: &str) -> RequestBuilder {
    builder.header("Authorization", &format!("Bearer {token}"))
}

async fn get<T: DeserializeOwned>(path: &str, token: &str) -> ApiResult<T> {
    answer(authed(Request::get(path), token).send().await).await
}

async fn post<T: DeserializeOwned>(
    path: &str,
    token: Option<&str>,
    body: &impl Serialize,
) -> ApiResult<T> {
    let mut builder = Request::post(path);
    if let Some(token) = token {
        builder = authed(builder, token);
    }
    let request = builder.json(body).map_err(ApiError::network)?;
    answer(request.send().await).await
}

pub async fn signup(credentials: &Credentials) -> ApiResult<AuthResponse> {
    post("/api/auth/signup", None, credentials).await
}

pub async fn login(credentials: &Credentials) -> ApiResult<AuthResponse> {
    post("/api/auth/login", None, credentials).await
}

pub async fn me(token: &str) -> ApiResult<Me> {
    get("/api/me", token).await
}

/// A page of the rooms the caller sees, by id, after `after`.
pub async fn rooms(token: &str, after: Option<RoomId>) -> ApiResult<Vec<Room>> {
    let mut path = format!("/api/rooms?limit={ROOMS_PAGE}");
    if let Some(after) = after {
        path.push_str(&format!("&after={after}"));
    }
    get(&path, token).await
}

/// Rooms per page of the room list.
pub const ROOMS_PAGE: usize = 100;

/// Makes a room (invite only with `private`); the caller is its owner.
pub async fn create_room(token: &str, name: &str, private: bool) -> ApiResult<Room> {
    let body = CreateRoom {
        name: name.to_owned(),
        private,
        topic: None,
    };
    post("/api/rooms", Some(token), &body).await
}

pub async fn open_direct(token: &str, username: &str) -> ApiResult<Room> {
    let body = OpenDirect {
        username: Some(username.to_owned()),
        usernames: None,
    };
    post("/api/dms", Some(token), &body).await
}

/// The group conversation of the caller and `usernames` (2 to 8 others), made on first use.
pub async fn open_group(token: &str, usernames: Vec<String>) -> ApiResult<Room> {
    let body = OpenDirect {
        username: None,
        usernames: Some(usernames),
    };
    post("/api/dms", Some(token), &body).await
}

/// One page of users whose name contains `q`, after the cursor `after`.
pub async fn users(token: &str, q: &str, after: Option<&str>) -> ApiResult<UsersPage> {
    let mut path = format!("/api/users?limit=20&q={}", encode(q));
    if let Some(after) = after {
        path.push_str(&format!("&after={}", encode(after)));
    }
    get(&path, token).await
}

/// The newest `limit` messages of a room, or those before `before`; oldest first.
pub async fn history(
    token: &str,
    room: RoomId,
    before: Option<MessageId>,
    limit: u32,
) -> ApiResult<Vec<Message>> {
    let mut path = format!("/api/rooms/{room}/messages?limit={limit}");
    if let Some(before) = before {
        path.push_str(&format!("&before={before}"));
    }
    get(&path, token).await
}

/// The page of `limit` messages centred on message `id`, oldest first.
pub async fn around(
    token: &str,
    room: RoomId,
    id: MessageId,
    limit: u32,
) -> ApiResult<Vec<Message>> {
    get(
        &format!("/api/rooms/{room}/messages?around={id}&limit={limit}"),
        token,
    )
    .await
}

/// The oldest `limit` messages after message `after`, oldest first.
pub async fn newer(
    token: &str,
    room: RoomId,
    after: MessageId,
    limit: u32,
) -> ApiResult<Vec<Message>> {
    get(
        &format!("/api/rooms/{room}/messages?after={after}&limit={limit}"),
        token,
    )
    .await
}

/// What a search asks for besides its words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilters {
    pub room: Option<RoomId>,
    pub from: String,
}

/// A page of messages matching `q` in the caller's rooms, newest first.
pub async fn search(
    token: &str,
    q: &str,
    filters: &SearchFilters,
    cursor: Option<&str>,
) -> ApiResult<SearchPage> {
    let mut path = format!("/api/search?q={}", encode(q));
    if let Some(room) = filters.room {
        path.push_str(&format!("&room_id={room}"));
    }
    if !filters.from.trim().is_empty() {
        path.push_str(&format!("&from={}", encode(filters.from.trim())));
    }
    if let Some(cursor) = cursor {
        path.push_str(&format!("&cursor={}", encode(cursor)));
    }
    get(&path, token).await
}

/// Sets (or with `None` clears) the caller's phone number.
pub async fn set_phone(token: &str, phone: Option<String>) -> ApiResult<Me> {
    let body = UpdateMe { phone: Some(phone) };
    let request = authed(Request::patch("/api/me"), token)
        .json(&body)
        .map_err(ApiError::network)?;
    answer(request.send().await).await
}

/// Verifies the pending phone number with the code sent to it.
pub async fn verify_phone(token: &str, code: &str) -> ApiResult<Me> {
    let body = natter_shared::VerifyPhone {
        code: code.to_owned(),
    };
    post("/api/me/phone/verify", Some(token), &body).await
}

/// A new password; the answer carries a new token (every other one stops working).
pub async fn change_password(token: &str, current: &str, new: &str) -> ApiResult<AuthResponse> {
    let body = ChangePassword {
        current_password: current.to_owned(),
        new_password: new.to_owned(),
    };
    post("/api/me/password", Some(token), &body).await
}

/// Its author changes a message's text.
pub async fn edit_message(
    token: &str,
    room: RoomId,
    id: MessageId,
    body: &str,
) -> ApiResult<Message> {
    let body = EditMessage {
        body: body.to_owned(),
    };
    let request = authed(
        Request::patch(&format!("/api/rooms/{room}/messages/{id}")),
        token,
    )
    .json(&body)
    .map_err(ApiError::network)?;
    answer(request.send().await).await
}

/// Its author, or an admin, deletes a message.
pub async fn delete_message(token: &str, room: RoomId, id: MessageId) -> ApiResult<()> {
    done(
        authed(
            Request::delete(&format!("/api/rooms/{room}/messages/{id}")),
            token,
        )
        .send()
        .await,
    )
    .await
}

/// Adds (`add`) or takes back the caller's reaction with `emoji` to a message.
pub async fn react(
    token: &str,
    room: RoomId,
    id: MessageId,
    emoji: &str,
    add: bool,
) -> ApiResult<()> {
    let path = format!(
        "/api/rooms/{room}/messages/{id}/reactions/{}",
        encode(emoji)
    );
    let request = if add {
        Request::put(&path)
    } else {
        Request::delete(&path)
    };
    done(authed(request, token).send().await).await
}

/// Admins: one page of every user, deactivated ones too.
pub async fn admin_users(token: &str, q: &str, after: Option<&str>) -> ApiResult<AdminUsersPage> {
    let mut path = format!("/api/admin/users?limit=20&q={}", encode(q));
    if let Some(after) = after {
        path.push_str(&format!("&after={}", encode(after)));
    }
    get(&path, token).await
}

/// Admins: deactivate (`active = false`) or reactivate a user.
pub async fn set_active(token: &str, user: UserId, active: bool) -> ApiResult<AdminUser> {
    let action = if active { "reactivate" } else { "deactivate" };
    post(
        &format!("/api/admin/users/{user}/{action}"),
        Some(token),
        &serde_json::json!({}),
    )
    .await
}

/// Admins: delete a room and its messages.
pub async fn delete_room(token: &str, room: RoomId) -> ApiResult<()> {
    done(
        authed(Request::delete(&format!("/api/rooms/{room}")), token)
            .send()
            .await,
    )
    .await
}

/// A page of the directory: public rooms whose name contains `q`, after room `after`.
pub async fn directory(
    token: &str,
    q: &str,
    after: Option<&str>,
) -> ApiResult<(Vec<Room>, Option<String>)> {
    let mut path = format!(
        "/api/rooms/directory?limit={DIRECTORY_PAGE}&q={}",
        encode(q)
    );
    if let Some(after) = after {
        path.push_str(&format!("&after={}", encode(after)));
    }
    let rooms: Vec<Room> = get(&path, token).await?;
    let next = (rooms.len() == DIRECTORY_PAGE)
        .then(|| rooms.last().map(|r| r.id.to_string()))
        .flatten();
    Ok((rooms, next))
}

/// Rooms per page of the directory.
pub const DIRECTORY_PAGE: usize = 20;

/// Joins a public room.
pub async fn join(token: &str, room: RoomId) -> ApiResult<Room> {
    post(
        &format!("/api/rooms/{room}/join"),
        Some(token),
        &serde_json::json!({}),
    )
    .await
}

/// Leaves a room.
pub async fn leave(token: &str, room: RoomId) -> ApiResult<()> {
    let request = authed(Request::post(&format!("/api/rooms/{room}/leave")), token);
    done(request.send().await).await
}

/// A page of a room's members, after user `after`.
pub async fn members(token: &str, room: RoomId, after: Option<&str>) -> ApiResult<MembersPage> {
    let mut path = format!("/api/rooms/{room}/members?limit=50");
    if let Some(after) = after {
        path.push_str(&format!("&after={}", encode(after)));
    }
    get(&path, token).await
}

/// Up to ten members of `room` whose names start with `prefix` (for completing `@name`).
pub async fn members_named(token: &str, room: RoomId, prefix: &str) -> ApiResult<MembersPage> {
    let path = format!("/api/rooms/{room}/members?limit=10&q={}", encode(prefix));
    get(&path, token).await
}

pub async fn add_member(token: &str, room: RoomId, username: &str) -> ApiResult<Member> {
    let body = AddMember {
        username: username.to_owned(),
    };
    post(&format!("/api/rooms/{room}/members"), Some(token), &body).await
}

pub async fn remove_member(token: &str, room: RoomId, user: UserId) -> ApiResult<()> {
    let request = authed(
        Request::delete(&format!("/api/rooms/{room}/members/{user}")),
        token,
    );
    done(request.send().await).await
}

/// Owners: sets a room's topic (empty clears it).
pub async fn set_topic(token: &str, room: RoomId, topic: &str) -> ApiResult<Room> {
    let body = UpdateRoom {
        name: None,
        topic: Some(topic.to_owned()),
    };
    let request = authed(Request::patch(&format!("/api/rooms/{room}")), token)
        .json(&body)
        .map_err(ApiError::network)?;
    answer(request.send().await).await
}

fn encode(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

/// Sets the cookie that lets `<img>` tags and links load files (`POST /api/auth/cookie`).
pub async fn files_cookie(token: &str) -> ApiResult<()> {
    done(
        authed(Request::post("/api/auth/cookie"), token)
            .send()
            .await,
    )
    .await
}

/// Clears the files cookie (signing out).
pub async fn clear_files_cookie() -> ApiResult<()> {
    done(Request::delete("/api/auth/cookie").send().await).await
}

/// Sets the signed-in user's avatar from a picture (`PUT /api/me/avatar`).
pub async fn set_avatar(token: &str, file: &web_sys::File) -> ApiResult<()> {
    let request = authed(Request::put("/api/me/avatar"), token)
        .body(wasm_bindgen::JsValue::from(file.clone()))
        .map_err(ApiError::network)?;
    done(request.send().await).await
}

/// Removes the signed-in user's avatar.
pub async fn remove_avatar(token: &str) -> ApiResult<()> {
    done(
        authed(Request::delete("/api/me/avatar"), token)
            .send()
            .await,
    )
    .await
}
