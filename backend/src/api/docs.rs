//! The OpenAPI document of the REST API, generated from the handlers' annotations and the
//! shared types: `GET /api/openapi.json`. Interactive docs are at `/api/docs`.

use actix_web::{HttpResponse, ResponseError, web};
use std::collections::HashMap;
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Natter",
        description = "Real-time chat: accounts, rooms, direct conversations, history and \
                       posting. Live delivery is the WebSocket at /ws (see the README).",
    ),
    paths(
        super::auth::signup,
        super::auth::login,
        super::auth::me,
        super::auth::update_me,
        super::auth::change_password,
        super::auth::verify_phone,
        super::users::list,
        super::rooms::list,
        super::rooms::create,
        super::rooms::get,
        super::rooms::delete,
        super::rooms::open_direct,
        super::rooms::directory,
        super::rooms::update,
        super::rooms::join,
        super::rooms::leave,
        super::reads::read,
        super::reads::settings,
        super::rooms::members,
        super::rooms::add_member,
        super::rooms::remove_member,
        super::messages::list,
        super::messages::post,
        super::messages::edit,
        super::messages::delete,
        super::messages::react,
        super::messages::unreact,
        super::search::search,
        super::uploads::upload,
        super::uploads::download,
        super::uploads::thumbnail,
        super::uploads::set_cookie,
        super::uploads::clear_cookie,
        super::uploads::put_avatar,
        super::uploads::delete_avatar,
        super::uploads::avatar,
        super::admin::users,
        super::admin::deactivate,
        super::admin::reactivate,
    ),
    modifiers(&Bearer),
    tags(
        (name = "accounts", description = "Sign up, sign in, the caller's account"),
        (name = "users", description = "Finding people"),
        (name = "rooms", description = "Public rooms and direct conversations"),
        (name = "messages", description = "History and posting"),
        (name = "files", description = "Uploads, downloads, thumbnails and avatars"),
        (name = "admin", description = "For admins, made with `natter create-admin`"),
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(super::uploads::COOKIE))),
        );
    }
}

/// The methods a route takes, from the document (for the `Allow` of a 405): `GET, POST`.
pub fn allowed_methods(pattern: &str) -> Option<String> {
    static ALLOWED: OnceLock<HashMap<String, String>> = OnceLock::new();
    let table = ALLOWED.get_or_init(|| {
        ApiDoc::openapi()
            .paths
            .paths
            .into_iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .iter()
                .filter(|(_, has)| *has)
                .map(|(m, _)| *m)
                .collect::<Vec<_>>()
                .join(", ");
                (path, methods)
            })
            .collect()
    });
    table.get(pattern).cloned()
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// The interactive docs, built into the binary.
const DOCS: &[(&str, &str, &[u8])] = &[
    (
        "",
        "text/html; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/index.html"),
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/init.js"),
    ),
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    ),
];

/// Swagger UI styles itself inline; scripts come from this origin only.
const DOCS_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'";

/// `GET /api/docs/` and its files.
async fn docs(path: web::Path<String>) -> HttpResponse {
    let name = path.into_inner();
    match DOCS.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, body)) => HttpResponse::Ok()
            .content_type(*content_type)
            .insert_header(("content-security-policy", DOCS_POLICY))
            .insert_header(("cache-control", "no-cache"))
            .body(*body),
        None => crate::error::ApiError::not_found(format!("docs file '{name}'")).error_response(),
    }
}

async fn docs_home() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header(("location", "/api/docs/"))
        .finish()
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").get(openapi))
        .service(web::resource("/docs").get(docs_home))
        .service(web::resource("/docs/{file:.*}").get(docs));
}

/// 503, the same for every call: the database cannot be reached or written.
#[expect(dead_code, reason = "only the type is read, by the OpenAPI derive")]
#[derive(utoipa::IntoResponses)]
#[response(
    status = 503,
    description = "the database cannot be reached or written"
)]
pub struct Unavailable(natter_shared::ErrorBody);

/// 503 for calls that hash passwords: the database is unavailable, or password hashing is
/// saturated (`busy`, with Retry-After).
#[expect(dead_code, reason = "only the type is read, by the OpenAPI derive")]
#[derive(utoipa::IntoResponses)]
#[response(
    status = 503,
    description = "the database cannot be reached or written (storage_unavailable), or password hashing is saturated (busy; see Retry-After)"
)]
pub struct Busy(natter_shared::ErrorBody);

/// 401, the same for every call that needs a token.
#[expect(dead_code, reason = "only the type is read, by the OpenAPI derive")]
#[derive(utoipa::IntoResponses)]
#[response(
    status = 401,
    description = "no token, or one that is malformed, expired or revoked"
)]
pub struct Unauthorized(natter_shared::ErrorBody);

/// What every call with a JSON body may answer about the body itself.
#[derive(utoipa::IntoResponses)]
pub enum BadJsonBody {
    #[response(status = 400, description = "malformed JSON or a wrong shape")]
    Malformed(natter_shared::ErrorBody),
    #[response(status = 413, description = "a body over 64 KiB")]
    TooLarge(natter_shared::ErrorBody),
    #[response(
        status = 415,
        description = "a body without Content-Type: application/json"
    )]
    NotJson(natter_shared::ErrorBody),
}
