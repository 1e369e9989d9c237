//! The REST API under `/api`: one route table, one module per resource, one function per action.

mod admin;
mod auth;
mod body;
pub mod docs;
mod messages;
mod reads;
pub(crate) mod rooms;
mod search;
mod uploads;
mod users;

use crate::error::ApiError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpRequest, HttpResponse, web};
use natter_shared::limits::{MAX_JSON_BYTES, MAX_PAGE};
use natter_shared::{ErrorBody, ErrorKind};

/// Registers every route under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            // Answers carry tokens, phone numbers and private messages: no cache keeps them.
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add((header::CACHE_CONTROL, "no-store")),
            )
            .app_data(json_config())
            .app_data(query_config())
            .app_data(path_config())
            // The most-requested route first: resources are tried in order, and each with a
            // `{}` in its pattern costs a regex match.
            .service(
                web::resource("/rooms/{id}/messages")
                    .get(messages::list)
                    .post(messages::post),
            )
            .configure(docs::routes)
            .service(web::resource("/auth/signup").post(auth::signup))
            .service(web::resource("/auth/login").post(auth::login))
            .service(web::resource("/me").get(auth::me).patch(auth::update_me))
            .service(web::resource("/me/password").post(auth::change_password))
            .service(web::resource("/me/phone/verify").post(auth::verify_phone))
            .service(
                web::resource("/me/avatar")
                    .put(uploads::put_avatar)
                    .delete(uploads::delete_avatar),
            )
            .service(
                web::resource("/auth/cookie")
                    .post(uploads::set_cookie)
                    .delete(uploads::clear_cookie),
            )
            .service(web::resource("/uploads").post(uploads::upload))
            .service(web::resource("/uploads/{id}").get(uploads::download))
            .service(web::resource("/uploads/{id}/thumb").get(uploads::thumbnail))
            .service(web::resource("/users/{username}/avatar").get(uploads::avatar))
            .service(web::resource("/admin/users").get(admin::users))
            .service(web::resource("/admin/users/{id}/deactivate").post(admin::deactivate))
            .service(web::resource("/admin/users/{id}/reactivate").post(admin::reactivate))
            .service(web::resource("/users").get(users::list))
            .service(web::resource("/rooms").get(rooms::list).post(rooms::create))
            .service(web::resource("/rooms/directory").get(rooms::directory))
            .service(
                web::resource("/rooms/{id}")
                    .get(rooms::get)
                    .patch(rooms::update)
                    .delete(rooms::delete),
            )
            .service(web::resource("/rooms/{id}/join").post(rooms::join))
            .service(web::resource("/rooms/{id}/leave").post(rooms::leave))
            .service(web::resource("/rooms/{id}/read").post(reads::read))
            .service(web::resource("/rooms/{id}/settings").patch(reads::settings))
            .service(
                web::resource("/rooms/{id}/members")
                    .get(rooms::members)
                    .post(rooms::add_member),
            )
            .service(web::resource("/rooms/{id}/members/{user_id}").delete(rooms::remove_member))
            .service(
                web::resource("/rooms/{room}/messages/{id}")
                    .patch(messages::edit)
                    .delete(messages::delete),
            )
            .service(
                web::resource("/rooms/{room}/messages/{id}/reactions/{emoji}")
                    .put(messages::react)
                    .delete(messages::unreact),
            )
            .service(web::resource("/dms").post(rooms::open_direct))
            .service(web::resource("/search").get(search::search))
            .default_service(web::to(unknown_route)),
    );
}

/// Takes a token from `user`'s bucket of reads (history pages, room lists, members).
pub(crate) fn check_reads(
    state: &crate::AppState,
    user: natter_shared::UserId,
) -> Result<(), ApiError> {
    state
        .limits
        .reads
        .check(user)
        .map_err(|wait| ApiError::throttled("reads", wait))
}

/// A page size from the query: 1 to [`MAX_PAGE`].
fn page_limit(limit: u32) -> Result<i64, ApiError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::new(
            ErrorKind::InvalidLimit,
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(i64::from(limit))
}

async fn unknown_route(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::new(
        ErrorKind::NotFound,
        format!("no API route {} {}", req.method(), req.path()),
    )
    .error_response()
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BYTES)
        .error_handler(|err, _req| {
            let e = match &err {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::new(
                    ErrorKind::PayloadTooLarge,
                    format!("the body is larger than {MAX_JSON_BYTES} bytes"),
                ),
                JsonPayloadError::ContentType => ApiError::new(
                    ErrorKind::UnsupportedMediaType,
                    "send the body as JSON with 'Content-Type: application/json'",
                ),
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::new(ErrorKind::InvalidRequest, format!("invalid body: {e}"))
                }
                JsonPayloadError::Deserialize(e) => ApiError::new(
                    ErrorKind::MalformedJson,
                    format!("the body is not JSON: {e}"),
                ),
                other => ApiError::new(
                    ErrorKind::InvalidRequest,
                    format!("unreadable body: {other}"),
                ),
            };
            e.into()
        })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let QueryPayloadError::Deserialize(e) = &err else {
            return ApiError::new(ErrorKind::InvalidRequest, err.to_string()).into();
        };
        ApiError::new(ErrorKind::InvalidRequest, format!("invalid query: {e}")).into()
    })
}

fn path_config() -> web::PathConfig {
    // `/api/rooms/abc`: no room has that id.
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        ApiError::new(ErrorKind::NotFound, format!("not found: {err}")).into()
    })
}

/// Gives every bodiless error (a 405 from the router, a 500 from a middleware) the JSON error
/// body, so that clients never see an empty or HTML error. Errors that already have a body
/// (ours, or the plain-text hint of `web_app`) pass through.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        if res.response().headers().contains_key(header::CONTENT_TYPE) {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let kind = match status.as_u16() {
            400 => ErrorKind::InvalidRequest,
            401 => ErrorKind::MissingToken,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::MethodNotAllowed,
            413 => ErrorKind::PayloadTooLarge,
            415 => ErrorKind::UnsupportedMediaType,
            503 => ErrorKind::StorageUnavailable,
            _ => ErrorKind::Internal,
        };
        let message = status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase();
        let (req, _) = res.into_parts();
        let mut builder = HttpResponse::build(status);
        if kind == ErrorKind::MethodNotAllowed
            && let Some(allowed) = req.match_pattern().and_then(|p| docs::allowed_methods(&p))
        {
            builder.insert_header((header::ALLOW, allowed));
        }
        let body: HttpResponse<BoxBody> = builder.json(ErrorBody {
            error: kind,
            message,
        });
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(req, body).map_into_right_body(),
        ))
    })
}
