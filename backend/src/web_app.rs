//! Serving the built web app: files from the static folder, and `index.html` for every other
//! path outside `/api`, so that the app's own routes (`/rooms/general`) survive a reload.
//! Trunk puts a content hash in every asset's name, so those are cached for a year; the page
//! itself is revalidated on every load, so a new build is picked up at once.
//!
//! The page carries a Content-Security-Policy: scripts only from this origin plus the one
//! inline module script Trunk writes to start the app (allowed by its SHA-256, computed from
//! the built page at start), WebAssembly compilation, no plugins, no framing.

use actix_files::{Files, NamedFile};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue, X_FRAME_OPTIONS,
};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpResponse, web};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A built web app: its folder, and the policy its page is served with.
#[derive(Clone)]
pub struct BuiltApp {
    dir: PathBuf,
    policy: HeaderValue,
}

/// The app in `static_dir`, if one is built there; says what to do when it is not.
pub fn built_app(static_dir: &Path) -> Option<BuiltApp> {
    let page = std::fs::read_to_string(static_dir.join("index.html"));
    let Ok(page) = page else {
        tracing::warn!(
            dir = %static_dir.display(),
            "no built web app here: run `trunk build --release` (scripts/run does) or set --static-dir"
        );
        return None;
    };
    match HeaderValue::from_str(&page_policy(&page)) {
        Ok(policy) => Some(BuiltApp {
            dir: static_dir.to_path_buf(),
            policy,
        }),
        Err(e) => {
            tracing::error!(error = %e, "cannot make the page's security policy: not serving it");
            None
        }
    }
}

/// The Content-Security-Policy for `page`: its inline scripts are allowed by hash, no others.
pub fn page_policy(page: &str) -> String {
    let hashes: String = inline_scripts(page)
        .map(|body| {
            let digest = Sha256::digest(body.as_bytes());
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self'{hashes} 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The text of every `<script>` without a `src`, as the browser hashes it.
fn inline_scripts(page: &str) -> impl Iterator<Item = &str> {
    page.split("<script").skip(1).filter_map(|rest| {
        let (tag, rest) = rest.split_once('>')?;
        let (body, _) = rest.split_once("</script>")?;
        (!tag.contains("src=")).then_some(body)
    })
}

pub fn routes(cfg: &mut web::ServiceConfig, app: Option<&BuiltApp>) {
    let Some(app) = app else {
        cfg.default_service(web::to(missing_app));
        return;
    };
    let static_dir = app.dir.as_path();
    let index = static_dir.join("index.html");
    cfg.service(
        web::scope("")
            .app_data(web::Data::new(app.policy.clone()))
            .wrap(from_fn(page_headers))
            .service(
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

async fn page_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let hashed = is_hashed(req.path());
    let policy = req
        .app_data::<web::Data<HeaderValue>>()
        .map(|p| p.get_ref().clone());
    let mut res = next.call(req).await?;
    let page = res
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if page {
        let headers = res.headers_mut();
        if let Some(policy) = policy {
            headers.insert(CONTENT_SECURITY_POLICY, policy);
        }
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if res.status().is_success() {
        // The page itself (also the fallback for app routes) is never cached for long, even
        // where the path happens to look hashed (`/dm/0123456789abcdef0`).
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
    fn the_policy_allows_exactly_the_inline_scripts_by_hash() {
        let page = r#"<head><script type="module">
import init from '/app.js';
</script><script src="/other.js"></script></head>"#;
        let policy = super::page_policy(page);
        // The hash of the script's text between the tags, newlines included (computed with
        // Python's hashlib and base64).
        assert!(
            policy.contains(
                "script-src 'self' 'sha256-DMGlWxzfNmII634DO34waQ0zG9JnfoNpCGqxdUPiZlU=' 'wasm-unsafe-eval'"
            ),
            "{policy}"
        );
        assert_eq!(policy.matches("'sha256-").count(), 1, "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(!policy.contains("unsafe-inline"));
    }

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
