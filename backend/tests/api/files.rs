//! Files: uploads streamed to disk and refused past their limit before they are read whole,
//! types found from the bytes, downloads for the room's members only and with the headers of
//! a download, images thumbnailed and stripped of metadata, attachments, quotas, the removal
//! of unsent uploads, avatars, and the cookie for `<img>` tags.

use crate::helpers::{TestApp, TestResult, TestUser};
use crate::ws_client::WAIT;
use image::{DynamicImage, ImageFormat};
use natter_shared::ws::ServerFrame;
use natter_shared::{Attachment, ErrorKind, Message, RoomId};
use reqwest::StatusCode;
use serde_json::json;
use std::io::Cursor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Uploads `bytes` as `name`; the answer.
async fn upload(
    app: &TestApp,
    user: &TestUser,
    name: &str,
    bytes: Vec<u8>,
) -> crate::helpers::Answer {
    let res = app
        .client
        .post(format!("{}/api/uploads?filename={name}", app.addr))
        .bearer_auth(&user.token)
        .body(bytes)
        .send()
        .await
        .expect("the server answers");
    crate::helpers::answer(res).await
}

/// Uploads `bytes` as `name` and expects it stored.
async fn uploaded(app: &TestApp, user: &TestUser, name: &str, bytes: Vec<u8>) -> Attachment {
    let res = upload(app, user, name, bytes).await;
    assert_eq!(res.status, StatusCode::CREATED, "upload: {}", res.body);
    res.json().expect("an attachment")
}

/// `GET url` as `user`: status, headers, bytes.
async fn fetch(app: &TestApp, user: &TestUser, url: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{url}", app.addr))
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("the server answers")
}

fn image_bytes(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    }));
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, format)
        .expect("an image is written");
    out.into_inner()
}

/// A JPEG with an EXIF segment that names a place (right after its start marker).
fn jpeg_with_exif(width: u32, height: u32, secret: &str) -> Vec<u8> {
    let plain = image_bytes(width, height, ImageFormat::Jpeg);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(secret.as_bytes());
    let len = u16::try_from(payload.len() + 2).expect("a short segment");
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&plain[2..]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A small PNG whose header claims `width` x `height` pixels (its data is a 1 x 1 image's).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = image_bytes(1, 1, ImageFormat::Png);
    // Signature (8), IHDR length (4), "IHDR" (4), then width and height.
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Files in the upload folder (not counting temporary ones).
fn stored_files(app: &TestApp) -> usize {
    fn walk(dir: &std::path::Path, out: &mut usize) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tmp") {
                    walk(&path, out);
                }
            } else {
                *out += 1;
            }
        }
    }
    let mut n = 0;
    walk(&app.dir.path().join("uploads"), &mut n);
    n
}

/// alice, bob and alice's room "general", which bob has joined.
async fn two_members(app: &TestApp) -> (TestUser, TestUser, natter_shared::Room) {
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let res = app
        .post(
            &format!("/api/rooms/{}/join", room.id),
            &bob.token,
            json!({}),
        )
        .await;
    assert!(res.status.is_success(), "bob joins: {}", res.body);
    (alice, bob, room)
}

async fn post_with_files(
    app: &TestApp,
    user: &TestUser,
    room: RoomId,
    body: &str,
    files: &[&Attachment],
) -> crate::helpers::Answer {
    let ids: Vec<_> = files.iter().map(|a| a.id).collect();
    app.post_message(user, room, json!({ "body": body, "attachments": ids }))
        .await
}

#[actix_web::test]
async fn an_html_file_named_png_is_served_as_a_download_of_text() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = two_members(&app).await;
    let page = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let file = uploaded(&app, &alice, "cute.png", page.clone()).await;
    assert_eq!(file.name, "cute.png");
    assert_eq!(file.content_type, "text/plain; charset=utf-8");
    assert_eq!(file.size, page.len() as i64);
    assert!(file.thumb_url.is_none() && file.width.is_none());

    // A message may be files alone.
    let res = post_with_files(&app, &alice, room.id, "", &[&file]).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let sent: Message = res.json()?;
    assert_eq!((sent.body.as_str(), sent.attachments.len()), ("", 1));
    assert_eq!(sent.attachments[0], file);
    let history = app.history(&bob, room.id, "").await;
    assert_eq!(
        history.last().map(|m| m.attachments.clone()),
        Some(vec![file.clone()])
    );

    let res = fetch(&app, &bob, &file.url).await;
    assert_eq!(res.status(), StatusCode::OK);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("content-security-policy").starts_with("sandbox"));
    assert!(
        header("content-disposition").starts_with("attachment"),
        "{}",
        header("content-disposition")
    );
    assert!(header("cache-control").contains("private"));
    assert!(!header("etag").is_empty());
    assert_eq!(res.bytes().await?.to_vec(), page);

    // Range requests, for resuming and media players.
    let res = app
        .client
        .get(format!("{}{}", app.addr, file.url))
        .bearer_auth(&bob.token)
        .header("range", "bytes=6-13")
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await?.as_ref(), b"<script>");
    Ok(())
}

#[actix_web::test]
async fn a_file_exists_only_for_its_uploader_and_then_its_room() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let room = app.create_private_room(&alice, "plans").await;
    let res = app.add_member(&alice, room.id, "bob").await;
    assert!(res.status.is_success(), "{}", res.body);
    let photo = uploaded(&app, &alice, "p.png", image_bytes(40, 30, ImageFormat::Png)).await;
    let thumb = photo.thumb_url.clone().ok_or("an image has a thumbnail")?;

    // Before it is sent: alice's alone.
    assert_eq!(
        fetch(&app, &alice, &photo.url).await.status(),
        StatusCode::OK
    );
    for url in [&photo.url, &thumb] {
        assert_eq!(fetch(&app, &bob, url).await.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        post_with_files(&app, &alice, room.id, "the plan", &[&photo])
            .await
            .status,
        StatusCode::CREATED
    );
    // Then the room's: bob is a member, carol is not, and a missing id looks the same.
    for url in [&photo.url, &thumb] {
        assert_eq!(fetch(&app, &bob, url).await.status(), StatusCode::OK);
        let res = fetch(&app, &carol, url).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let body: natter_shared::ErrorBody = res.json().await?;
        assert_eq!(body.error, ErrorKind::NotFound);
    }
    assert_eq!(
        fetch(&app, &carol, "/api/uploads/999999").await.status(),
        StatusCode::NOT_FOUND
    );
    // Without a token: 401, not the file.
    let res = app
        .client
        .get(format!("{}{}", app.addr, photo.url))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[actix_web::test]
async fn images_get_their_size_a_thumbnail_and_lose_their_metadata() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let secret = "GPS 48.8584 N 2.2945 E";
    let photo = uploaded(
        &app,
        &alice,
        "IMG_0001.JPG",
        jpeg_with_exif(1600, 1200, secret),
    )
    .await;
    assert_eq!(photo.content_type, "image/jpeg");
    assert_eq!((photo.width, photo.height), (Some(1600), Some(1200)));
    let original = fetch(&app, &alice, &photo.url).await;
    assert!(
        original
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("inline"))
    );
    let original = original.bytes().await?;
    assert!(
        !contains(&original, secret.as_bytes()),
        "the EXIF segment is gone"
    );
    assert!(!contains(&original, b"Exif\0\0"));
    let decoded = image::load_from_memory(&original)?;
    assert_eq!((decoded.width(), decoded.height()), (1600, 1200));
    assert_eq!(photo.size, original.len() as i64);

    let thumb = fetch(
        &app,
        &alice,
        photo.thumb_url.as_deref().ok_or("a thumbnail")?,
    )
    .await
    .bytes()
    .await?;
    let thumb = image::load_from_memory(&thumb)?;
    assert_eq!((thumb.width(), thumb.height()), (480, 360));

    // PNG text chunks go too.
    let mut png = image_bytes(20, 10, ImageFormat::Png);
    let mut chunk = Vec::new();
    let text = format!("Comment\0{secret}");
    chunk.extend_from_slice(&u32::try_from(text.len())?.to_be_bytes());
    chunk.extend_from_slice(b"tEXt");
    chunk.extend_from_slice(text.as_bytes());
    let crc = crc32(&chunk[4..]);
    chunk.extend_from_slice(&crc.to_be_bytes());
    // After the signature and the IHDR chunk (8 + 25 bytes).
    png.splice(33..33, chunk);
    let small = uploaded(&app, &alice, "a.png", png).await;
    assert_eq!((small.width, small.height), (Some(20), Some(10)));
    let stored = fetch(&app, &alice, &small.url).await.bytes().await?;
    assert!(!contains(&stored, secret.as_bytes()));
    assert_eq!(image::load_from_memory(&stored)?.width(), 20);
    Ok(())
}

#[actix_web::test]
async fn a_decompression_bomb_and_a_broken_image_are_refused() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let res = upload(&app, &alice, "bomb.png", png_claiming(100_000, 100_000)).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert_eq!(res.error(), ErrorKind::InvalidImage);
    let mut broken = image_bytes(50, 50, ImageFormat::Png);
    broken.truncate(60);
    let res = upload(&app, &alice, "broken.png", broken).await;
    assert_eq!(res.error(), ErrorKind::InvalidImage, "{}", res.body);
    assert_eq!(stored_files(&app), 0, "nothing refused is kept");
    Ok(())
}

/// Sends a request head over a raw socket and reads what comes back within the wait, while
/// holding the rest of the body back.
async fn answer_before_the_body(app: &TestApp, user: &TestUser, head: &str, body: &[u8]) -> String {
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("a connection");
    let head = head.replace("TOKEN", &user.token);
    socket
        .write_all(head.as_bytes())
        .await
        .expect("the head is sent");
    // The server may stop reading (and close) before all of this is written.
    let _ = socket.write_all(body).await;
    let mut got = vec![0u8; 4096];
    let n = tokio::time::timeout(WAIT, socket.read(&mut got))
        .await
        .expect("an answer while the body is still being sent")
        .expect("the answer is read");
    String::from_utf8_lossy(&got[..n]).into_owned()
}

#[actix_web::test]
async fn an_upload_over_the_limit_is_refused_without_being_read() -> TestResult {
    let app = TestApp::spawn_with(|s| s.max_upload_bytes = 1_000_000).await;
    let alice = app.user("alice").await;
    assert_eq!(
        upload(&app, &alice, "empty", Vec::new()).await.error(),
        ErrorKind::InvalidRequest
    );
    // Declared too large: refused on its head alone.
    let head = "POST /api/uploads?filename=big.bin HTTP/1.1\r\nhost: x\r\nauthorization: Bearer TOKEN\r\ncontent-length: 50000000\r\n\r\n";
    let answer = answer_before_the_body(&app, &alice, head, &[]).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    // Chunked, with no length said: refused once it passes the limit, long before its end.
    let head = "POST /api/uploads?filename=big.bin HTTP/1.1\r\nhost: x\r\nauthorization: Bearer TOKEN\r\ntransfer-encoding: chunked\r\n\r\n";
    let mut body = Vec::new();
    for _ in 0..24 {
        body.extend_from_slice(format!("{:x}\r\n", 65536).as_bytes());
        body.extend_from_slice(&[7u8; 65536]);
        body.extend_from_slice(b"\r\n");
    }
    // 1.5 MB sent, no last chunk: the server cannot have read the whole body.
    let answer = answer_before_the_body(&app, &alice, head, &body).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(stored_files(&app), 0);
    Ok(())
}

#[actix_web::test]
async fn the_quota_counts_a_users_files_and_deleting_frees_them() -> TestResult {
    let app = TestApp::spawn_with(|s| s.upload_quota_bytes = 5_000).await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    let first = uploaded(&app, &alice, "a.bin", vec![1u8; 3_000]).await;
    let res = upload(&app, &alice, "b.bin", vec![2u8; 3_000]).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", res.body);
    assert_eq!(res.error(), ErrorKind::QuotaExceeded);
    assert_eq!(stored_files(&app), 1);
    let sent: Message = post_with_files(&app, &alice, room.id, "here", &[&first])
        .await
        .json()?;
    // Deleting the message frees its file and the quota.
    let res = app.delete_message(&alice, room.id, sent.id).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(
        stored_files(&app),
        0,
        "the deleted message's file is removed"
    );
    assert_eq!(
        fetch(&app, &alice, &first.url).await.status(),
        StatusCode::NOT_FOUND
    );
    uploaded(&app, &alice, "b.bin", vec![2u8; 3_000]).await;
    // The same bytes twice are stored once, and counted twice.
    uploaded(&app, &alice, "c.bin", vec![3u8; 1_000]).await;
    uploaded(&app, &alice, "d.bin", vec![3u8; 1_000]).await;
    assert_eq!(stored_files(&app), 2);
    assert_eq!(
        upload(&app, &alice, "e.bin", vec![4u8; 10]).await.error(),
        ErrorKind::QuotaExceeded
    );
    assert_eq!(app.metric("natter_upload_files").await, 3.0);
    assert_eq!(app.metric("natter_upload_bytes").await, 5_000.0);
    Ok(())
}

#[actix_web::test]
async fn only_your_own_unsent_uploads_can_be_attached() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = two_members(&app).await;
    let mine = uploaded(&app, &alice, "mine.txt", b"alice's".to_vec()).await;
    let res = post_with_files(&app, &bob, room.id, "look", &[&mine]).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert_eq!(res.error(), ErrorKind::InvalidAttachment);
    assert_eq!(
        post_with_files(&app, &alice, room.id, "", &[&mine, &mine])
            .await
            .error(),
        ErrorKind::InvalidAttachment
    );
    assert_eq!(
        post_with_files(&app, &alice, room.id, "once", &[&mine])
            .await
            .status,
        StatusCode::CREATED
    );
    // Sent once, it cannot go into a second message.
    assert_eq!(
        post_with_files(&app, &alice, room.id, "twice", &[&mine])
            .await
            .error(),
        ErrorKind::InvalidAttachment
    );
    let many = json!({ "body": "x", "attachments": (1..=11).collect::<Vec<i64>>() });
    assert_eq!(
        app.post_message(&alice, room.id, many).await.error(),
        ErrorKind::InvalidAttachment
    );
    // A message without text needs files.
    assert_eq!(
        app.post_message(&alice, room.id, json!({ "body": " " }))
            .await
            .error(),
        ErrorKind::InvalidMessageBody
    );
    let another = uploaded(&app, &alice, "b.txt", b"b".to_vec()).await;
    assert_eq!(
        post_with_files(&app, &alice, room.id, "/now", &[&another])
            .await
            .error(),
        ErrorKind::InvalidAttachment
    );

    // Over a socket: the message arrives with its file; a refusal is an error frame and
    // the socket stays open.
    let mut a = app.ws(&alice).await;
    a.join(room.id, None).await;
    let mut b = app.ws(&bob).await;
    b.join(room.id, None).await;
    a.send(json!({ "type": "send", "room_id": room.id, "body": "", "client_id": "f1", "attachments": [another.id] })).await;
    let got = loop {
        if let ServerFrame::Message { message } = b.next().await {
            break message;
        }
    };
    assert_eq!(got.attachments, vec![another.clone()]);
    a.send(json!({ "type": "send", "room_id": room.id, "body": "again", "client_id": "f2", "attachments": [another.id] })).await;
    loop {
        match a.next().await {
            ServerFrame::Error {
                code, client_id, ..
            } if client_id.as_deref() == Some("f2") => {
                assert_eq!(code, ErrorKind::InvalidAttachment);
                break;
            }
            _ => {}
        }
    }
    a.send(json!({ "type": "send", "room_id": room.id, "body": "still here", "client_id": "f3" }))
        .await;
    loop {
        if let ServerFrame::Ack { client_id, .. } = a.next().await
            && client_id.as_deref() == Some("f3")
        {
            break;
        }
    }
    Ok(())
}

#[actix_web::test]
async fn an_upload_nobody_sends_is_removed_by_a_job() -> TestResult {
    use diesel::prelude::*;
    let app = TestApp::spawn_with(|s| s.worker_poll_ms = 50).await;
    let alice = app.user("alice").await;
    let kept = uploaded(&app, &alice, "sent.txt", b"sent".to_vec()).await;
    let room = app.create_room(&alice, "general").await;
    post_with_files(&app, &alice, room.id, "", &[&kept]).await;
    let lost = uploaded(&app, &alice, "lost.txt", b"never sent".to_vec()).await;
    assert_eq!(stored_files(&app), 2);
    // A day later, as far as the jobs know.
    let db = natter::db::Database::open(&app.database_url())?;
    db.run_blocking(|conn| {
        use natter::db::schema::jobs;
        Ok(
            diesel::update(jobs::table.filter(jobs::kind.eq("unsent_upload")))
                .set(jobs::run_at.eq(chrono::Utc::now().naive_utc()))
                .execute(conn)?,
        )
    })?;
    let deadline = std::time::Instant::now() + WAIT;
    while stored_files(&app) != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the unsent upload is still there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        fetch(&app, &alice, &lost.url).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fetch(&app, &alice, &kept.url).await.status(),
        StatusCode::OK
    );
    let jobs = crate::jobs::all_jobs(&app);
    assert!(
        jobs.iter()
            .filter(|j| j.kind == "unsent_upload")
            .all(|j| j.state == "done"),
        "{jobs:?}"
    );
    Ok(())
}

#[actix_web::test]
async fn avatars_are_square_and_shown_to_anyone_signed_in() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(
        fetch(&app, &bob, "/api/users/alice/avatar").await.status(),
        StatusCode::NOT_FOUND
    );
    let res = app
        .client
        .put(format!("{}/api/me/avatar", app.addr))
        .bearer_auth(&alice.token)
        .body(image_bytes(300, 200, ImageFormat::Png))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = fetch(&app, &bob, "/api/users/alice/avatar").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/jpeg")
    );
    let picture = image::load_from_memory(&res.bytes().await?)?;
    assert_eq!((picture.width(), picture.height()), (256, 256));
    // Not an image: refused.
    let res = app
        .client
        .put(format!("{}/api/me/avatar", app.addr))
        .bearer_auth(&alice.token)
        .body(b"hello".to_vec())
        .send()
        .await?;
    assert_eq!(
        crate::helpers::answer(res).await.error(),
        ErrorKind::InvalidImage
    );
    assert_eq!(stored_files(&app), 1);

    // The files cookie, for <img> tags: HttpOnly, SameSite=Strict, and enough alone.
    let res = app
        .client
        .post(format!("{}/api/auth/cookie", app.addr))
        .bearer_auth(&bob.token)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .ok_or("a cookie")?
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap_or_default();
    let res = app
        .client
        .get(format!("{}/api/users/alice/avatar", app.addr))
        .header("cookie", pair)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    // The cookie opens files only, not the rest of the API.
    let res = app
        .client
        .get(format!("{}/api/me", app.addr))
        .header("cookie", pair)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = app
        .request(
            reqwest::Method::DELETE,
            "/api/me/avatar",
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(
        fetch(&app, &bob, "/api/users/alice/avatar").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(stored_files(&app), 0, "the old picture is removed");
    Ok(())
}

#[actix_web::test]
async fn uploads_have_their_own_rate_limit() -> TestResult {
    let app =
        TestApp::spawn_with(|s| s.upload_rate_limit = "0.01/2".parse().expect("a rate limit"))
            .await;
    let alice = app.user("alice").await;
    uploaded(&app, &alice, "1.txt", b"1".to_vec()).await;
    uploaded(&app, &alice, "2.txt", b"2".to_vec()).await;
    let res = upload(&app, &alice, "3.txt", b"3".to_vec()).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    // Avatars count as uploads.
    let res = app
        .client
        .put(format!("{}/api/me/avatar", app.addr))
        .bearer_auth(&alice.token)
        .body(image_bytes(10, 10, ImageFormat::Png))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    Ok(())
}
