//! Files on disk: where uploaded bytes are kept, what they are, and what images become.
//!
//! The store is a folder addressed by content: a file's bytes live at
//! `ab/cd/<sha256>` (the first two pairs of hex digits make folders, so none grows past
//! 65,536 entries), an image's thumbnail beside it as `<sha256>.thumb`. The same bytes
//! uploaded twice are stored once; the database's `uploads` rows say who may read them, and
//! a stored file goes when no row names it ([`Store::release`]). Uploads arrive in
//! `tmp/` first and are renamed into place, so a reader never sees half a file, and several
//! nodes may share the folder.
//!
//! What a file is comes from its bytes ([`sniff`]), never from the client. PNG, JPEG, GIF
//! and WebP are images: [`inspect_image`] reads their size without decoding them, refuses
//! one whose pixels would not fit in memory (a decompression bomb), strips their metadata
//! (EXIF with its GPS position, XMP, text chunks), and makes the thumbnail.

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use natter_shared::limits::{AVATAR_SIDE, FILE_NAME_CHARS, THUMBNAIL_SIDE};
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};

/// The most pixels an image may have: 50 megapixels (a 12-megapixel photo is a quarter of
/// it). More is refused before anything is decoded.
pub const MAX_PIXELS: u64 = 50_000_000;
/// The most memory decoding one image may take.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// JPEG quality of thumbnails, avatars and re-encoded photos.
const JPEG_QUALITY: u8 = 85;

/// The store and what bounds the work on it: images are decoded a few at a time (each may
/// take up to [`MAX_DECODE_BYTES`]), one per core.
#[derive(Debug, Clone)]
pub struct Files {
    pub store: Store,
    images: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Files {
    pub fn open(root: &Path) -> io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            store: Store::open(root)?,
            images: std::sync::Arc::new(tokio::sync::Semaphore::new(cores)),
        })
    }

    /// Runs `work` (decoding an image) on the blocking pool once a decoding slot is free.
    pub async fn decode<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, crate::error::ApiError> {
        let _slot = self
            .images
            .acquire()
            .await
            .map_err(crate::error::ApiError::internal)?;
        Ok(actix_web::web::block(work).await?)
    }

    /// Removes the files of `shas` that nothing names any more (after the rows naming them
    /// were deleted and committed). Failures are logged: a file left behind wastes space
    /// and harms nobody.
    pub async fn release(&self, db: &crate::db::Database, shas: Vec<String>) {
        if shas.is_empty() {
            return;
        }
        let store = self.store.clone();
        let outcome = db
            .run(move |conn| {
                let free = crate::db::uploads::unused(conn, &shas)?;
                for sha in &free {
                    if let Err(e) = store.release(sha) {
                        tracing::warn!(sha256 = %sha, error = %e, "cannot remove a stored file");
                    }
                }
                Ok(free.len())
            })
            .await;
        match outcome {
            Ok(n) if n > 0 => tracing::debug!(files = n, "stored files removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot check which stored files are unused"),
        }
    }
}

/// The upload folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store in `root`, made if missing (with its `tmp/`).
    pub fn open(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// Where the bytes with this digest live.
    pub fn blob(&self, sha256: &str) -> PathBuf {
        let (a, b) = (
            sha256.get(0..2).unwrap_or("00"),
            sha256.get(2..4).unwrap_or("00"),
        );
        self.root.join(a).join(b).join(sha256)
    }

    /// Where the thumbnail of the image with this digest lives.
    pub fn thumb(&self, sha256: &str) -> PathBuf {
        let mut path = self.blob(sha256);
        path.set_extension("thumb");
        path
    }

    /// A new, empty temporary file in `tmp/`, with its path.
    pub fn temp(&self) -> io::Result<(std::fs::File, PathBuf)> {
        let mut salt = [0u8; 12];
        getrandom::fill(&mut salt).map_err(|e| io::Error::other(e.to_string()))?;
        let name: String = salt.iter().map(|b| format!("{b:02x}")).collect();
        let path = self.root.join("tmp").join(name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok((file, path))
    }

    /// Moves a finished temporary file to `target` (replacing identical bytes, if there).
    pub fn keep(&self, temp: &Path, target: &Path) -> io::Result<()> {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(temp, target)
    }

    /// Writes `bytes` as the file at `target`, through a temporary file.
    pub fn write(&self, target: &Path, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let (mut file, temp) = self.temp()?;
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        drop(file);
        match written.and_then(|()| self.keep(&temp, target)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                Err(e)
            }
        }
    }

    /// Removes the bytes with this digest and their thumbnail: called once no upload and no
    /// avatar names them. A file already gone is no error.
    pub fn release(&self, sha256: &str) -> io::Result<()> {
        for path in [self.blob(sha256), self.thumb(sha256)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Removes temporary files older than `age`: uploads cut off by a crash.
    pub fn sweep_temp(&self, age: std::time::Duration) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|elapsed| elapsed > age);
            if old && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A file's name as kept: its last path component, without control characters, at most
/// [`FILE_NAME_CHARS`] characters; "file" when nothing is left.
pub fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(FILE_NAME_CHARS)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.');
    if trimmed.is_empty() {
        "file".into()
    } else {
        trimmed.to_owned()
    }
}

/// What the first bytes of a file say it is: its content type, and the image format for the
/// four the app shows as pictures. Text that is valid UTF-8 is `text/plain`, and so are HTML,
/// SVG, XML and scripts (see [`ACTIVE`]): served as downloads, never as pages; what no rule
/// knows is `application/octet-stream`.
pub fn sniff(head: &[u8], complete: bool) -> (String, Option<ImageFormat>) {
    let image = match infer::get(head).map(|t| t.mime_type()) {
        Some("image/png") => Some(ImageFormat::Png),
        Some("image/jpeg") => Some(ImageFormat::Jpeg),
        Some("image/gif") => Some(ImageFormat::Gif),
        Some("image/webp") => Some(ImageFormat::WebP),
        _ => None,
    };
    if let Some(format) = image {
        return (format.to_mime_type().to_owned(), Some(format));
    }
    if let Some(kind) = infer::get(head)
        && !ACTIVE.contains(&kind.mime_type())
    {
        return (kind.mime_type().to_owned(), None);
    }
    if looks_like_text(head, complete) {
        return ("text/plain; charset=utf-8".into(), None);
    }
    ("application/octet-stream".into(), None)
}

/// Types a browser would run as a page or a script: never served as such, whatever the
/// bytes say; they are text (or bytes) to download.
const ACTIVE: &[&str] = &[
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "application/javascript",
    "text/javascript",
];

/// UTF-8 without NUL bytes; a head cut in the middle of a character still counts.
fn looks_like_text(head: &[u8], complete: bool) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => !complete && e.error_len().is_none(),
    }
}

/// Why an image was refused: its message, for a 422 `invalid_image`.
#[derive(Debug)]
pub struct BadImage(pub String);

/// An image, checked: what to store instead of the upload's bytes (when its metadata was
/// stripped), its size as shown, and its thumbnail with the thumbnail's content type.
pub struct Inspected {
    pub replaced: Option<Vec<u8>>,
    pub width: u32,
    pub height: u32,
    pub thumb: Vec<u8>,
    pub thumb_type: &'static str,
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// Decodes an image with limits: its size is read first and anything over [`MAX_PIXELS`]
/// is refused before a pixel is decoded. Applies its EXIF orientation.
fn decode(bytes: &[u8], format: ImageFormat) -> Result<(DynamicImage, bool), BadImage> {
    let unreadable = |e: image::ImageError| BadImage(format!("this image cannot be read: {e}"));
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(unreadable)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(BadImage(format!(
            "this image is {w} x {h} pixels; images have at most {MAX_PIXELS} pixels"
        )));
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    let turned = orientation != image::metadata::Orientation::NoTransforms;
    image.apply_orientation(orientation);
    Ok((image, turned))
}

fn encode(image: &DynamicImage, alpha: bool) -> Result<(Vec<u8>, &'static str), BadImage> {
    let mut out = Cursor::new(Vec::new());
    let written = if alpha {
        image.write_to(&mut out, ImageFormat::Png)
    } else {
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
        image.to_rgb8().write_with_encoder(encoder)
    };
    written.map_err(|e| BadImage(format!("this image cannot be converted: {e}")))?;
    let kind = if alpha { "image/png" } else { "image/jpeg" };
    Ok((out.into_inner(), kind))
}

/// Checks an uploaded image and makes its thumbnail (at most [`THUMBNAIL_SIDE`] on its long
/// side). Its metadata is stripped; a photo turned by its EXIF orientation is stored turned
/// (re-encoded), since the orientation goes with the rest of the metadata.
pub fn inspect_image(bytes: &[u8], format: ImageFormat) -> Result<Inspected, BadImage> {
    let (image, turned) = decode(bytes, format)?;
    let alpha = image.color().has_alpha();
    let replaced = if turned {
        Some(encode(&image, alpha)?.0)
    } else {
        strip_metadata(bytes, format)
    };
    let small = if image.width() > THUMBNAIL_SIDE || image.height() > THUMBNAIL_SIDE {
        image.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    } else {
        image.clone()
    };
    let (thumb, thumb_type) = encode(&small, alpha)?;
    Ok(Inspected {
        replaced,
        width: image.width(),
        height: image.height(),
        thumb,
        thumb_type,
    })
}

/// The picture for an avatar: the middle square of the image, [`AVATAR_SIDE`] pixels wide,
/// as JPEG (transparent parts over white).
pub fn avatar(bytes: &[u8]) -> Result<Vec<u8>, BadImage> {
    let format = match sniff(bytes, true).1 {
        Some(format) => format,
        None => {
            return Err(BadImage(
                "an avatar is a PNG, JPEG, GIF or WebP image".into(),
            ));
        }
    };
    let (image, _) = decode(bytes, format)?;
    let side = image.width().min(image.height());
    let square = image.crop_imm(
        (image.width() - side) / 2,
        (image.height() - side) / 2,
        side,
        side,
    );
    let scaled = square.resize_exact(
        AVATAR_SIDE,
        AVATAR_SIDE,
        image::imageops::FilterType::Triangle,
    );
    let flat = if scaled.color().has_alpha() {
        let mut canvas =
            image::RgbImage::from_pixel(AVATAR_SIDE, AVATAR_SIDE, image::Rgb([255; 3]));
        let rgba = scaled.to_rgba8();
        for (x, y, p) in rgba.enumerate_pixels() {
            let a = u16::from(p[3]);
            let blend = |c: u8| ((u16::from(c) * a + 255 * (255 - a)) / 255) as u8;
            canvas.put_pixel(x, y, image::Rgb([blend(p[0]), blend(p[1]), blend(p[2])]));
        }
        DynamicImage::ImageRgb8(canvas)
    } else {
        scaled
    };
    Ok(encode(&flat, false)?.0)
}

/// The image without its metadata, if it had any: JPEG's APP1 (EXIF, XMP), APP12/13 (IPTC,
/// Photoshop) and comments; PNG's text, time and EXIF chunks; WebP's EXIF and XMP. The
/// colour profile stays. GIF has no metadata of this kind and is left as it is.
fn strip_metadata(bytes: &[u8], format: ImageFormat) -> Option<Vec<u8>> {
    use img_parts::{Bytes, ImageEXIF};
    let input = Bytes::copy_from_slice(bytes);
    let out = match format {
        ImageFormat::Jpeg => {
            let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(input).ok()?;
            let before = jpeg.segments().len();
            jpeg.segments_mut().retain(|s| {
                !matches!(
                    s.marker(),
                    img_parts::jpeg::markers::APP1
                        | img_parts::jpeg::markers::APP12
                        | img_parts::jpeg::markers::APP13
                        | img_parts::jpeg::markers::COM
                )
            });
            if jpeg.segments().len() == before {
                return None;
            }
            jpeg.encoder().bytes()
        }
        ImageFormat::Png => {
            let mut png = img_parts::png::Png::from_bytes(input).ok()?;
            let before = png.chunks().len();
            png.chunks_mut()
                .retain(|c| !matches!(&c.kind(), b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME"));
            if png.chunks().len() == before {
                return None;
            }
            png.encoder().bytes()
        }
        ImageFormat::WebP => {
            let mut webp = img_parts::webp::WebP::from_bytes(input).ok()?;
            let xmp = webp.chunk_by_id(*b"XMP ").is_some();
            if webp.exif().is_none() && !xmp {
                return None;
            }
            webp.remove_chunks_by_id(*b"XMP ");
            // Also sets the header's flags to what is left.
            webp.set_exif(None);
            webp.encoder().bytes()
        }
        _ => return None,
    };
    Some(out.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_last_part_and_no_control_characters() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\a\\report.pdf"), "report.pdf");
        assert_eq!(clean_name("bad\u{0}\nname.txt"), "badname.txt");
        assert_eq!(clean_name(""), "file");
        assert_eq!(clean_name(".."), "file");
        assert_eq!(clean_name(".hidden"), "hidden");
        assert_eq!(
            clean_name(&"x".repeat(400)).chars().count(),
            FILE_NAME_CHARS
        );
    }

    #[test]
    fn the_bytes_decide_the_type() {
        let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
        assert_eq!(sniff(&png, false).0, "image/png");
        assert_eq!(
            sniff(b"<html><script>alert(1)</script></html>", true).0,
            "text/plain; charset=utf-8"
        );
        assert_eq!(sniff(b"%PDF-1.7\n", false).0, "application/pdf");
        assert_eq!(
            sniff(&[0xff, 0xfe, 0, 1, 2], true).0,
            "application/octet-stream"
        );
        // A head cut inside a character is still text.
        assert_eq!(
            sniff("é".as_bytes().get(..1).unwrap_or_default(), false).0,
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn a_picture_gets_a_thumbnail_no_larger_than_the_limit() {
        let image = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            1200,
            600,
            image::Rgb([10, 200, 30]),
        ));
        let mut png = Cursor::new(Vec::new());
        image.write_to(&mut png, ImageFormat::Png).unwrap();
        let inspected = inspect_image(png.get_ref(), ImageFormat::Png).unwrap();
        assert_eq!((inspected.width, inspected.height), (1200, 600));
        let thumb = image::load_from_memory(&inspected.thumb).unwrap();
        assert_eq!(
            (thumb.width(), thumb.height()),
            (THUMBNAIL_SIDE, THUMBNAIL_SIDE / 2)
        );
        assert_eq!(inspected.thumb_type, "image/jpeg");
    }
}
