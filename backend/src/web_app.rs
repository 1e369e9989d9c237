//! Serving the built web app: files from the static folder, and `index.html` for every other
//! path outside `/api`, so that the app's own routes (`/rooms/general`) survive a reload.

use actix_files::{Files, NamedFile};
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
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
    );
}

async fn missing_app() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("The web app is not built. Run `trunk build --release`, or use the REST API under /api.\n")
}
