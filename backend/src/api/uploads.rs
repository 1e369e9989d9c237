//! Files: uploads streamed to disk, downloads for the members of the file's room,
//! thumbnails, avatars, and the cookie that lets `<img>` tags through.
//!
//! An upload is the request body itself (`curl --data-binary @photo.jpg`), read chunk by
//! chunk into a temporary file while its SHA-256 is computed, so that no file is ever whole
//! in memory; a body that passes `--max-upload-bytes` is refused with 413 the moment it does
//! (at once, when its `Content-Length` says so), and the rest is never read. Images are then
//! checked and thumbnailed on the blocking pool (see [`crate::files`]).

use crate::AppState;
use crate::auth::AuthUser;
use crate::db::uploads::{self, NewUpload};
use crate::error::{ApiError, ApiResult};
use crate::files::{BadImage, Store};
use actix_files::NamedFile;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use natter_shared::{ErrorKind, UploadId};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How much of an upload is gathered in memory before it is written out.
const WRITE_CHUNK: usize = 1 << 20;
/// How much of the start of a file [`crate::files::sniff`] looks at.
const HEAD: usize = 8192;
/// How long an upload may wait for a message before it is removed.
const UNSENT_FOR: chrono::Duration = chrono::Duration::hours(24);
/// The cookie that carries the token for `<img>` tags and download links.
pub const COOKIE: &str = "natter_files";
/// The largest picture an avatar may be made from.
const MAX_AVATAR_BYTES: u64 = 10_000_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct UploadQuery {
    /// The file's name as the app shows it (folders are dropped).
    pub filename: Option<String>,
}

/// A temporary file that is removed when dropped, unless it was moved into the store.
struct Temp(Option<PathBuf>);

impl Temp {
    fn path(&self) -> Option<&Path> {
        self.0.as_deref()
    }

    /// The path, no longer removed on drop: the caller moves or removes it.
    fn take(&mut self) -> Option<PathBuf> {
        self.0.take()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A body written to a temporary file.
struct Received {
    temp: Temp,
    size: u64,
    sha256: String,
    head: Vec<u8>,
}

impl Received {
    /// Where the body is, while it is still the temporary file's.
    fn path(&self) -> ApiResult<PathBuf> {
        self.temp.path().map(Path::to_path_buf).ok_or_else(gone)
    }
}

fn gone() -> ApiError {
    ApiError::internal(anyhow::anyhow!("the upload's file is gone"))
}

fn too_large(max: u64) -> ApiError {
    ApiError::new(
        ErrorKind::PayloadTooLarge,
        format!("a file has at most {max} bytes"),
    )
}

fn quota_exceeded(quota: u64) -> ApiError {
    ApiError::new(
        ErrorKind::QuotaExceeded,
        format!(
            "your files may take {quota} bytes in all: delete messages with files to make room"
        ),
    )
}

fn storage_failed(e: std::io::Error) -> ApiError {
    ApiError::unavailable(anyhow::anyhow!("the file could not be stored: {e}"))
}

fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads the body into a temporary file, at most `max` bytes.
async fn receive(store: &Store, mut payload: web::Payload, max: u64) -> ApiResult<Received> {
    let opener = store.clone();
    let (file, path) = web::block(move || opener.temp())
        .await?
        .map_err(storage_failed)?;
    let temp = Temp(Some(path));
    let mut file = Some(file);
    let mut buf = Vec::with_capacity(WRITE_CHUNK);
    let mut hasher = Sha256::new();
    let mut head = Vec::new();
    let mut size = 0u64;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                ErrorKind::InvalidRequest,
                format!("the upload broke off: {e}"),
            )
        })?;
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        hasher.update(&chunk);
        if head.len() < HEAD {
            let take = (HEAD - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        buf.extend_from_slice(&chunk);
        if buf.len() >= WRITE_CHUNK {
            buf = flush(&mut file, buf, false).await?;
        }
    }
    flush(&mut file, buf, true).await?;
    Ok(Received {
        temp,
        size,
        sha256: hex(&hasher.finalize()),
        head,
    })
}

/// Writes `buf` to the file on the blocking pool and hands the emptied buffer back; with
/// `last`, also syncs the file to disk.
async fn flush(
    file: &mut Option<std::fs::File>,
    mut buf: Vec<u8>,
    last: bool,
) -> ApiResult<Vec<u8>> {
    let mut f = file.take().ok_or_else(gone)?;
    let (f, buf) = web::block(move || {
        f.write_all(&buf)?;
        if last {
            f.sync_all()?;
        }
        buf.clear();
        Ok::<_, std::io::Error>((f, buf))
    })
    .await?
    .map_err(storage_failed)?;
    *file = Some(f);
    Ok(buf)
}

/// What an upload became on disk.
struct Kept {
    sha256: String,
    size: u64,
    width: Option<i32>,
    height: Option<i32>,
    thumb_type: Option<&'static str>,
}

/// Moves a received file into the store; an image is checked, stripped of its metadata and
/// thumbnailed first.
async fn keep(
    state: &AppState,
    mut received: Received,
    format: Option<image::ImageFormat>,
) -> ApiResult<Kept> {
    let store = state.files.store.clone();
    let Some(format) = format else {
        let temp = received.temp.take();
        let sha = received.sha256.clone();
        web::block(move || match temp {
            Some(temp) => store.keep(&temp, &store.blob(&sha)),
            None => Ok(()),
        })
        .await?
        .map_err(storage_failed)?;
        return Ok(Kept {
            sha256: received.sha256,
            size: received.size,
            width: None,
            height: None,
            thumb_type: None,
        });
    };
    let path = received.path()?;
    let streamed_sha = received.sha256.clone();
    let outcome = state
        .files
        .decode(move || -> Result<Result<Kept, BadImage>, std::io::Error> {
            let bytes = std::fs::read(&path)?;
            let inspected = match crate::files::inspect_image(&bytes, format) {
                Ok(inspected) => inspected,
                Err(bad) => return Ok(Err(bad)),
            };
            let (sha, size) = match &inspected.replaced {
                Some(stripped) => {
                    let sha = hex(&Sha256::digest(stripped));
                    store.write(&store.blob(&sha), stripped)?;
                    (sha, stripped.len() as u64)
                }
                None => {
                    store.keep(&path, &store.blob(&streamed_sha))?;
                    (streamed_sha, bytes.len() as u64)
                }
            };
            store.write(&store.thumb(&sha), &inspected.thumb)?;
            Ok(Ok(Kept {
                sha256: sha,
                size,
                width: i32::try_from(inspected.width).ok(),
                height: i32::try_from(inspected.height).ok(),
                thumb_type: Some(inspected.thumb_type),
            }))
        })
        .await?
        .map_err(storage_failed)?;
    outcome.map_err(|BadImage(why)| ApiError::new(ErrorKind::InvalidImage, why))
}

/// Uploads a file: the request body is the file, `filename` its name.
#[utoipa::path(
    post,
    operation_id = "uploads_post",
    path = "/api/uploads",
    tag = "files",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file's bytes; its type is found from them"),
    responses(
        (status = 201, description = "stored; send it in a message's `attachments` within 24 hours", body = natter_shared::Attachment),
        (status = 400, description = "invalid_request: an empty body", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 413, description = "payload_too_large (over --max-upload-bytes) or quota_exceeded (over --upload-quota-bytes)", body = natter_shared::ErrorBody),
        (status = 422, description = "invalid_image: an image that cannot be read, or has more than 50 megapixels", body = natter_shared::ErrorBody),
        (status = 429, description = "the upload rate limit; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn upload(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    state
        .limits
        .uploads
        .check(user.id)
        .map_err(ApiError::rate_limited)?;
    let max = state.settings.max_upload_bytes;
    let declared = content_length(&req).unwrap_or(0);
    if declared > max {
        return Err(too_large(max));
    }
    let quota = state.settings.upload_quota_bytes;
    if quota > 0 {
        let used = state
            .db
            .run(move |conn| Ok(uploads::used_by(conn, user.id)?))
            .await?;
        if u64::try_from(used).unwrap_or(0) + declared > quota {
            return Err(quota_exceeded(quota));
        }
    }
    let received = receive(&state.files.store, payload, max).await?;
    if received.size == 0 {
        return Err(ApiError::new(
            ErrorKind::InvalidRequest,
            "the request body is the file's bytes, and it was empty",
        ));
    }
    let (content_type, format) = crate::files::sniff(&received.head, received.size <= HEAD as u64);
    let name = crate::files::clean_name(query.filename.as_deref().unwrap_or_default());
    let kept = keep(&state, received, format).await?;
    let sha = kept.sha256.clone();
    let row = state
        .db
        .run(move |conn| {
            let now = chrono::Utc::now().naive_utc();
            let new = NewUpload {
                user_id: user.id.0,
                sha256: &kept.sha256,
                name: &name,
                size: i64::try_from(kept.size).unwrap_or(i64::MAX),
                content_type: &content_type,
                width: kept.width,
                height: kept.height,
                thumb_type: kept.thumb_type,
                created_at: now,
            };
            Ok(uploads::insert(conn, &new, quota, now + UNSENT_FOR)?)
        })
        .await;
    match row {
        Ok(Some(row)) => {
            state.jobs_wake.notify_one();
            Ok(HttpResponse::Created().json(row.to_api()))
        }
        Ok(None) => {
            state.files.release(&state.db, vec![sha]).await;
            Err(quota_exceeded(quota))
        }
        Err(e) => {
            state.files.release(&state.db, vec![sha]).await;
            Err(e)
        }
    }
}

/// The caller of a download: a bearer token, or the files cookie that the app sets for
/// `<img>` tags and links (which cannot send headers).
pub struct Viewer(AuthUser);

impl actix_web::FromRequest for Viewer {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = crate::auth::bearer_token(req)
            .map(str::to_owned)
            .or_else(|| req.cookie(COOKIE).map(|c| c.value().to_owned()));
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token.ok_or_else(|| {
                ApiError::new(
                    ErrorKind::MissingToken,
                    "sign in first: send 'Authorization: Bearer <token>', or get the files cookie with POST /api/auth/cookie",
                )
            })?;
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            state.auth.authenticate(&state.db, &token).await.map(Viewer)
        })
    }
}

/// Sets the files cookie: the caller's token, for `/api/uploads` and `/api/users` only,
/// `HttpOnly` and `SameSite=Strict`, so that `<img>` tags of this site load files and no
/// script and no other site can use it.
#[utoipa::path(
    post,
    operation_id = "auth_cookie",
    path = "/api/auth/cookie",
    tag = "files",
    responses(
        (status = 204, description = "the cookie is set, for as long as the token lasts"),
        super::docs::Unauthorized
    ),
    security(("bearer" = []))
)]
pub async fn set_cookie(
    state: web::Data<AppState>,
    req: HttpRequest,
    _user: AuthUser,
) -> ApiResult<HttpResponse> {
    let token = crate::auth::bearer_token(&req)
        .unwrap_or_default()
        .to_owned();
    let claims = state.auth.decode_token(&token)?;
    let left = (claims.exp - chrono::Utc::now().timestamp()).max(0);
    let secure = req.connection_info().scheme() == "https";
    let cookie = actix_web::cookie::Cookie::build(COOKIE, token)
        .path("/api/")
        .http_only(true)
        .secure(secure)
        .same_site(actix_web::cookie::SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(left))
        .finish();
    Ok(HttpResponse::NoContent().cookie(cookie).finish())
}

/// Clears the files cookie (signing out).
#[utoipa::path(
    delete,
    operation_id = "auth_cookie_delete",
    path = "/api/auth/cookie",
    tag = "files",
    responses((status = 204, description = "the cookie is cleared"))
)]
pub async fn clear_cookie() -> HttpResponse {
    let mut cookie = actix_web::cookie::Cookie::build(COOKIE, "")
        .path("/api/")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Strict)
        .finish();
    cookie.make_removal();
    HttpResponse::NoContent().cookie(cookie).finish()
}

/// The upload `id` if `user` may read it: their own before it is sent; afterwards, whoever
/// may read its room's history. Anyone else: 404.
async fn readable(
    state: &AppState,
    user: &AuthUser,
    id: UploadId,
) -> ApiResult<uploads::UploadRow> {
    let me = user.id;
    state
        .db
        .run(move |conn| {
            let found = uploads::find_with_room(conn, id)?;
            let allowed = match &found {
                Some((row, None)) => row.user_id == me.0,
                Some((_, Some(room))) => {
                    crate::db::rooms::can_see(conn, natter_shared::RoomId(*room), me)?
                }
                None => false,
            };
            match found {
                Some((row, _)) if allowed => Ok(row),
                _ => Err(ApiError::not_found(format!("file {id}"))),
            }
        })
        .await
}

/// Serves a stored file with the headers every download carries: never sniffed, never run
/// as a page (`sandbox`), cached privately for a year (the bytes at an address never change);
/// ETag, Last-Modified and Range from `NamedFile`.
async fn serve(
    req: &HttpRequest,
    path: PathBuf,
    content_type: &str,
    name: &str,
    inline: bool,
) -> ApiResult<HttpResponse> {
    let mime: actix_web::mime::Mime = content_type
        .parse()
        .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM);
    let file = NamedFile::open_async(&path).await.map_err(|e| {
        tracing::warn!(path = %path.display(), error = %e, "a stored file is missing");
        ApiError::not_found("the file's bytes")
    })?;
    let disposition = ContentDisposition {
        disposition: if inline {
            DispositionType::Inline
        } else {
            DispositionType::Attachment
        },
        parameters: vec![DispositionParam::Filename(name.to_owned())],
    };
    let mut res = file
        .set_content_type(mime)
        .set_content_disposition(disposition)
        .into_response(req);
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
        ),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(res)
}

/// The four image types shown in the page; everything else is a download.
fn shown_inline(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// Downloads a file.
#[utoipa::path(
    get,
    operation_id = "uploads_get",
    path = "/api/uploads/{id}",
    tag = "files",
    params(("id" = i64, Path, description = "the upload id")),
    responses(
        (status = 200, description = "the file (images inline, anything else as an attachment); Range requests give 206"),
        super::docs::Unauthorized,
        (status = 404, description = "no such file, or not the caller's to read", body = natter_shared::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn download(
    state: web::Data<AppState>,
    viewer: Viewer,
    req: HttpRequest,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let row = readable(&state, &viewer.0, UploadId(path.into_inner())).await?;
    let file = state.files.store.blob(&row.sha256);
    serve(
        &req,
        file,
        &row.content_type,
        &row.name,
        shown_inline(&row.content_type),
    )
    .await
}

/// An image's thumbnail, at most 480 pixels on its long side.
#[utoipa::path(
    get,
    operation_id = "uploads_thumb",
    path = "/api/uploads/{id}/thumb",
    tag = "files",
    params(("id" = i64, Path, description = "the upload id")),
    responses(
        (status = 200, description = "the thumbnail, JPEG or PNG"),
        super::docs::Unauthorized,
        (status = 404, description = "no such file, not the caller's to read, or no image", body = natter_shared::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn thumbnail(
    state: web::Data<AppState>,
    viewer: Viewer,
    req: HttpRequest,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let row = readable(&state, &viewer.0, UploadId(path.into_inner())).await?;
    let Some(kind) = row.thumb_type.as_deref() else {
        return Err(ApiError::not_found(format!(
            "a thumbnail of file {}",
            row.id
        )));
    };
    let file = state.files.store.thumb(&row.sha256);
    serve(&req, file, kind, &format!("thumb-{}", row.name), true).await
}

/// Sets the caller's avatar from the picture in the body: its middle square, 256 pixels.
#[utoipa::path(
    put,
    operation_id = "me_avatar_put",
    path = "/api/me/avatar",
    tag = "files",
    request_body(content = Vec<u8>, content_type = "image/png", description = "a PNG, JPEG, GIF or WebP image of at most 10 MB"),
    responses(
        (status = 204, description = "set; GET /api/users/{username}/avatar shows it"),
        super::docs::Unauthorized,
        (status = 413, description = "payload_too_large: over 10 MB", body = natter_shared::ErrorBody),
        (status = 422, description = "invalid_image", body = natter_shared::ErrorBody),
        (status = 429, description = "the upload rate limit", body = natter_shared::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn put_avatar(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    state
        .limits
        .uploads
        .check(user.id)
        .map_err(ApiError::rate_limited)?;
    let max = MAX_AVATAR_BYTES.min(state.settings.max_upload_bytes);
    if content_length(&req).unwrap_or(0) > max {
        return Err(too_large(max));
    }
    let received = receive(&state.files.store, payload, max).await?;
    let path = received.path()?;
    let store = state.files.store.clone();
    let sha = state
        .files
        .decode(
            move || -> Result<Result<String, BadImage>, std::io::Error> {
                let bytes = std::fs::read(&path)?;
                Ok(match crate::files::avatar(&bytes) {
                    Ok(picture) => {
                        let sha = hex(&Sha256::digest(&picture));
                        store.write(&store.blob(&sha), &picture)?;
                        Ok(sha)
                    }
                    Err(bad) => Err(bad),
                })
            },
        )
        .await?
        .map_err(storage_failed)?
        .map_err(|BadImage(why)| ApiError::new(ErrorKind::InvalidImage, why))?;
    drop(received);
    let me = user.id;
    let old = state
        .db
        .run(move |conn| Ok(uploads::set_avatar(conn, me, Some(&sha))?))
        .await?;
    state
        .files
        .release(&state.db, old.into_iter().collect())
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes the caller's avatar (initials show instead).
#[utoipa::path(
    delete,
    operation_id = "me_avatar_delete",
    path = "/api/me/avatar",
    tag = "files",
    responses((status = 204, description = "removed"), super::docs::Unauthorized),
    security(("bearer" = []))
)]
pub async fn delete_avatar(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let me = user.id;
    let old = state
        .db
        .run(move |conn| Ok(uploads::set_avatar(conn, me, None)?))
        .await?;
    state
        .files
        .release(&state.db, old.into_iter().collect())
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// A user's avatar, for anyone signed in; 404 when they have none (the app shows initials).
#[utoipa::path(
    get,
    operation_id = "users_avatar",
    path = "/api/users/{username}/avatar",
    tag = "files",
    params(("username" = String, Path, description = "whose")),
    responses(
        (status = 200, description = "a 256 x 256 JPEG"),
        super::docs::Unauthorized,
        (status = 404, description = "no such user, or no avatar", body = natter_shared::ErrorBody)
    ),
    security(("bearer" = []), ("cookie" = []))
)]
pub async fn avatar(
    state: web::Data<AppState>,
    _viewer: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let name = path.into_inner();
    let key = natter_shared::Username::parse(name.clone())
        .map(|u| u.key())
        .map_err(|_| ApiError::not_found(format!("an avatar of {name}")))?;
    let Some(sha) = state
        .db
        .run(move |conn| Ok(uploads::avatar_of(conn, &key)?))
        .await?
    else {
        // Pages ask for every author's picture: a missing one is cached for a minute too,
        // so that a list of messages does not ask again for each row.
        let body = ApiError::not_found(format!("an avatar of {name}")).body();
        return Ok(HttpResponse::NotFound()
            .insert_header((header::CACHE_CONTROL, "private, max-age=60"))
            .json(body));
    };
    let mut res = serve(
        &req,
        state.files.store.blob(&sha),
        "image/jpeg",
        "avatar.jpg",
        true,
    )
    .await?;
    // The address stays when the picture changes: a short cache, checked by ETag after.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=60"),
    );
    Ok(res)
}
