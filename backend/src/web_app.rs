//! Serving the built web app: files from the static folder, and `index.html` for every other
//! path outside `/api`, so that the app's own routes (`/rooms/general`) survive a reload.
//! Trunk puts a content hash in every asset's name, so those are cached for a year; the page
//! itself is revalidated on every load, so a new build is picked up at once.

use actix_files::{Files, NamedFile};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpResponse, web};
use std::path::{Path, PathBuf};

/// The folder to serve, if it holds a built app; says what to do when it does not.
pub fn built_app(static_dir: &Path) -> Option<PathBuf> {
    if static_dir.join("index.html").is_file() {
        return Some(static_dir.to_path_buf());
    }
    tracing::warn!(
        dir = %static_dir.display(),
        "no built web app here: run `trunk build --release` (scripts/run does) or set --static-dir"
    );
    None
}

pub fn routes(cfg: &mut web::ServiceConfig, static_dir: Option<&Path>) {
    let Some(static_dir) = static_dir else {
        cfg.default_service(web::to(missing_app));
        return;
    };
    let index = static_dir.join("index.html");
    cfg.service(
        web::scope("").wrap(from_fn(cache_headers)).service(
            Files::new("/", static_dir)
                .index_file("index.html")
                .default_handler(fn_service(move |req: ServiceRequest| {
                    let index: PathBuf = index.clone();
                    async move {
                        let (req, _) = req.into_parts();
                        let file = NamedFile::open_async(&index).await?;
                        let res = file.into_response(&req);
                        Ok(ServiceResponse::new(req, res))
                    }
                })),
        ),
    );
}

async fn cache_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let hashed = is_hashed(req.path());
    let mut res = next.call(req).await?;
    if res.status().is_success() {
        // The page itself (also the fallback for app routes) is never cached for long, even
        // where the path happens to look hashed (`/dm/0123456789abcdef0`).
        let page = res
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
        let policy = if hashed && !page {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        res.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    Ok(res)
}

/// Whether the file name carries a content hash the way Trunk writes it:
/// `natter-frontend-465d3da3fa1de900_bg.wasm`, `style-83cdcf33a6ff3c1c.css` (a 64-bit hash in
/// hex, without leading zeros, so sometimes shorter than 16 digits).
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.contains('.')
        && name
            .split(['-', '_', '.'])
            .any(|part| part.len() >= 12 && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn missing_app() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("The web app is not built. Run `trunk build --release`, or use the REST API under /api.\n")
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn trunk_asset_names_are_recognised_as_hashed() {
        assert!(is_hashed("/natter-frontend-9f86d081884c7d65_bg.wasm"));
        assert!(is_hashed("/natter-frontend-1830bbd31ff4ddf.js"));
        assert!(is_hashed("/style-2c26b46b68ffc68f.css"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/rooms/general"));
        assert!(!is_hashed("/dm/deadbeef"));
    }
}
