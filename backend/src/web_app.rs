//! Serving the built web app: files from the static folder, and `index.html` for every other
//! path outside `/api`, so that the app's own routes (`/rooms/general`) survive a reload.
//! Trunk puts a content hash in every asset's name, so those are cached for a year; the page
//! itself is revalidated on every load, so a new build is picked up at once.
//!
//! The app's files go out compressed (brotli, else gzip, as the browser's `Accept-Encoding`
//! allows): they are compressed once, in the background after the server starts, at the
//! strongest settings (the `.wasm` is a quarter of its size as brotli), and kept in memory;
//! until they are ready, and for any client that takes neither, they go out as they are.
//!
//! The page carries a Content-Security-Policy: scripts only from this origin plus the one
//! inline module script Trunk writes to start the app (allowed by its SHA-256, computed from
//! the built page at start), WebAssembly compilation, no plugins, no framing.

use actix_files::{Files, NamedFile};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    HeaderValue, VARY, X_FRAME_OPTIONS,
};
use actix_web::middleware::{Next, from_fn};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// A built web app: its folder, the policy its page is served with, and its files
/// compressed (once ready).
#[derive(Clone)]
pub struct BuiltApp {
    dir: PathBuf,
    policy: HeaderValue,
    packed: Arc<OnceLock<Packed>>,
}

/// The app's files compressed, by the path they are asked for (`/`, `/app-0123_bg.wasm`).
type Packed = HashMap<String, Variants>;

/// One file, compressed both ways, with its content type.
pub struct Variants {
    content_type: String,
    brotli: Bytes,
    gzip: Bytes,
}

/// What is compressed: the page and Trunk's assets, not pictures (already compressed).
const PACKED_EXTENSIONS: [&str; 4] = ["html", "js", "wasm", "css"];

/// `bytes` compressed with brotli at its best (quality 11), in the smallest window that holds
/// them whole: at quality 11 the encoder's memory grows with the window (about 67 MB at the
/// default 4 MiB window, kept in part by the allocator after it is freed), and a window larger
/// than the file compresses it no better.
fn brotli_best(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut out = Vec::new();
    {
        let window = brotli_window(bytes.len());
        let mut writer = brotli::CompressorWriter::new(&mut out, 64 * 1024, 11, window);
        writer.write_all(bytes)?;
    }
    Ok(out)
}

/// The smallest brotli window (`lgwin`, 10 to the default 22) that holds `len` bytes: a
/// window of `lgwin` bits holds 2^lgwin - 16 bytes.
fn brotli_window(len: usize) -> u32 {
    (10..22)
        .find(|bits| (1usize << bits) - 16 >= len)
        .unwrap_or(22)
}

/// Compresses the app's files in `dir`, each with brotli (quality 11) and gzip (level 9).
fn pack(dir: &Path) -> std::io::Result<Packed> {
    use std::io::Write;
    let mut packed = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if !PACKED_EXTENSIONS.contains(&ext) || !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(&bytes)?;
        let gzip = gzip.finish()?;
        let brotli = brotli_best(&bytes)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let key = if name == "index.html" {
            "/".to_owned()
        } else {
            format!("/{name}")
        };
        let content_type = actix_files::file_extension_to_mime(ext).to_string();
        let content_type = if content_type.starts_with("text/") {
            format!("{content_type}; charset=utf-8")
        } else {
            content_type
        };
        packed.insert(
            key,
            Variants {
                content_type,
                brotli: Bytes::from(brotli),
                gzip: Bytes::from(gzip),
            },
        );
    }
    Ok(packed)
}

/// Which of brotli and gzip the client takes (`Accept-Encoding`), brotli first.
pub fn accepted(header: &str) -> Option<&'static str> {
    let takes = |name: &str| {
        header.split(',').any(|part| {
            let mut fields = part.split(';').map(str::trim);
            let coding = fields.next().unwrap_or_default();
            let refused = fields.any(|f| {
                f.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            coding.eq_ignore_ascii_case(name) && !refused
        })
    };
    if takes("br") {
        Some("br")
    } else if takes("gzip") {
        Some("gzip")
    } else {
        None
    }
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
        Ok(policy) => {
            let packed = Arc::new(OnceLock::new());
            let (dir, slot) = (static_dir.to_path_buf(), packed.clone());
            let started = std::time::Instant::now();
            let spawned = std::thread::Builder::new()
                .name("compress-web-app".into())
                .spawn(move || match pack(&dir) {
                    Ok(files) => {
                        tracing::info!(
                            files = files.len(),
                            ms = started.elapsed().as_millis() as u64,
                            "the web app's files are compressed"
                        );
                        let _ = slot.set(files);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot compress the web app's files: serving them as they are"),
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot compress the web app's files: serving them as they are");
            }
            Some(BuiltApp {
                dir: static_dir.to_path_buf(),
                policy,
                packed,
            })
        }
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
            .app_data(web::Data::new(app.packed.clone()))
            .wrap(from_fn(compressed))
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

/// Answers with the compressed file when there is one for this path and the client takes
/// it; otherwise passes the request on to the files.
async fn compressed(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let coding = req
        .headers()
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .and_then(accepted);
    let packed = req
        .app_data::<web::Data<Arc<OnceLock<Packed>>>>()
        .and_then(|p| p.get())
        .and_then(|files| files.get(req.path()));
    let (Some(coding), Some(file), true) =
        (coding, packed, req.method() == actix_web::http::Method::GET)
    else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let body = if coding == "br" {
        file.brotli.clone()
    } else {
        file.gzip.clone()
    };
    let res = HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, file.content_type.as_str()))
        .insert_header((CONTENT_ENCODING, coding))
        .insert_header((VARY, "accept-encoding"))
        .body(body);
    Ok(req.into_response(res))
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
    fn brotli_is_preferred_and_a_zero_weight_refuses() {
        use super::accepted;
        assert_eq!(accepted("gzip, deflate, br, zstd"), Some("br"));
        assert_eq!(accepted("gzip"), Some("gzip"));
        assert_eq!(accepted("br;q=0, gzip;q=0.5"), Some("gzip"));
        assert_eq!(accepted("identity"), None);
        assert_eq!(accepted("gzip;q=0"), None);
    }

    #[test]
    fn brotli_uses_the_smallest_window_that_holds_the_file() {
        use super::brotli_window;
        assert_eq!(brotli_window(0), 10);
        assert_eq!(brotli_window(1008), 10);
        assert_eq!(brotli_window(1009), 11);
        // The web app's .wasm, about 1.4 MB.
        assert_eq!(brotli_window(1_450_000), 21);
        assert_eq!(brotli_window((1 << 21) - 16), 21);
        assert_eq!(brotli_window((1 << 21) - 15), 22);
        assert_eq!(brotli_window(50_000_000), 22);
    }

    #[test]
    fn a_file_compressed_in_its_window_comes_back_whole() -> std::io::Result<()> {
        use std::io::Read;
        // 300 KB of text that repeats at long distances, as code does.
        let words = [
            "room", "message", "leptos", "signal", "view", "natter", "frame",
        ];
        let text: String = (0..60_000u32)
            .map(|i| words[(i.wrapping_mul(2_654_435_761) >> 29) as usize % words.len()])
            .collect::<Vec<_>>()
            .join(" ");
        let packed = super::brotli_best(text.as_bytes())?;
        assert!(
            packed.len() < text.len() / 3,
            "{} of {}",
            packed.len(),
            text.len()
        );
        let mut back = Vec::new();
        brotli::Decompressor::new(packed.as_slice(), 4096).read_to_end(&mut back)?;
        assert_eq!(back, text.as_bytes());
        Ok(())
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
