use crate::helpers::{TestApp, TestResult, answer};
use natter_shared::{ErrorKind, Health};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[actix_web::test]
async fn malformed_and_misshapen_bodies_are_400() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let url = format!("{}/api/rooms", app.addr);
    let raw = |body: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&alice.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in ["{", "not json", "{\"name\": }", ""] {
        let res = answer(raw(body).await?).await;
        assert_eq!(res.error(), ErrorKind::MalformedJson, "{body:?}");
    }
    for body in ["{}", "{\"name\": 5}", "[]", "null"] {
        let res = answer(raw(body).await?).await;
        assert_eq!(res.error(), ErrorKind::InvalidRequest, "{body:?}");
    }
    Ok(())
}

#[actix_web::test]
async fn a_body_without_json_content_type_is_415() -> TestResult {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .post(format!("{}/api/auth/signup", app.addr))
        .header("content-type", "text/plain")
        .body(r#"{"username":"alice","password":"password1"}"#)
        .send()
        .await?;
    assert_eq!(answer(res).await.error(), ErrorKind::UnsupportedMediaType);
    Ok(())
}

#[actix_web::test]
async fn an_oversized_body_is_413() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let room = app.create_room(&alice, "general").await;
    let huge = "x".repeat(5 * 1024 * 1024);
    let res = app
        .post_message(&alice, room.id, json!({ "body": huge }))
        .await;
    assert_eq!(res.error(), ErrorKind::PayloadTooLarge);
    assert!(app.history(&alice, room.id, "").await.is_empty());
    Ok(())
}

#[actix_web::test]
async fn unknown_routes_and_methods_answer_json() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let unknown = app.get("/api/nothing/here", &alice.token).await;
    assert_eq!(unknown.error(), ErrorKind::NotFound);
    let wrong_method = app
        .request(Method::DELETE, "/api/rooms", Some(&alice.token), None)
        .await;
    assert_eq!(wrong_method.error(), ErrorKind::MethodNotAllowed);
    let put = app
        .request(Method::PUT, "/api/auth/login", None, Some(&json!({})))
        .await;
    assert_eq!(put.error(), ErrorKind::MethodNotAllowed);
    Ok(())
}

#[actix_web::test]
async fn healthz_reports_the_database() -> TestResult {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(format!("{}/healthz", app.addr))
        .send()
        .await?;
    let res = answer(res).await;
    assert_eq!(res.status, StatusCode::OK);
    let health: Health = res.json()?;
    assert_eq!(health.database, "ok");
    if !app.db.is_postgres() {
        assert!(app.db_path().is_file());
    }
    Ok(())
}

#[actix_web::test]
async fn paths_outside_the_api_without_a_built_app_say_how_to_build_it() -> TestResult {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(format!("{}/rooms/general", app.addr))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await?.contains("trunk build"));
    Ok(())
}

#[actix_web::test]
async fn the_built_app_is_served_for_every_path_outside_the_api() -> TestResult {
    let site = tempfile::tempdir()?;
    std::fs::write(site.path().join("index.html"), "<html>natter app</html>")?;
    std::fs::write(site.path().join("app.js"), "console.log(1)")?;
    std::fs::write(site.path().join("app-465d3da3fa1de900_bg.wasm"), "wasm")?;
    let dir = site.path().to_path_buf();
    let app = TestApp::spawn_with(|s| s.static_dir = dir).await;
    let cache = |res: &reqwest::Response| {
        res.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    // The page is revalidated on each load, even at a path that looks hashed.
    for path in ["/", "/rooms/general", "/dm/bob", "/dm/0123456789abcdef.x"] {
        let res = app.client.get(format!("{}{path}", app.addr)).send().await?;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(cache(&res).as_deref(), Some("no-cache"), "{path}");
        assert!(res.text().await?.contains("natter app"), "{path}");
    }
    // Hashed assets are kept for a year.
    let wasm = app
        .client
        .get(format!("{}/app-465d3da3fa1de900_bg.wasm", app.addr))
        .send()
        .await?;
    assert_eq!(
        cache(&wasm).as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    let js = app
        .client
        .get(format!("{}/app.js", app.addr))
        .send()
        .await?;
    assert_eq!(js.text().await?, "console.log(1)");
    // The API keeps its own 404s.
    let api = app
        .client
        .get(format!("{}/api/nope", app.addr))
        .send()
        .await?;
    assert_eq!(answer(api).await.error(), ErrorKind::NotFound);
    Ok(())
}

#[actix_web::test]
async fn the_page_carries_a_strict_policy_and_everything_nosniff() -> TestResult {
    let site = tempfile::tempdir()?;
    std::fs::write(
        site.path().join("index.html"),
        "<html><script type=\"module\">import init from '/a.js';</script></html>",
    )?;
    let dir = site.path().to_path_buf();
    let app = TestApp::spawn_with(|s| s.static_dir = dir).await;
    let page = app
        .client
        .get(format!("{}/rooms/general", app.addr))
        .send()
        .await?;
    let header = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let csp = header(&page, "content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self' 'sha256-"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header(&page, "x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        header(&page, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    let api = app
        .client
        .get(format!("{}/healthz", app.addr))
        .send()
        .await?;
    assert_eq!(
        header(&api, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(header(&api, "content-security-policy"), None);
    Ok(())
}

#[actix_web::test]
async fn cors_is_closed_except_to_listed_origins() -> TestResult {
    let friend = "https://chat.example.org";
    let app = TestApp::spawn_with(|s| s.allowed_origins = vec![friend.to_owned()]).await;
    let alice = app.user("alice").await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/api/rooms", app.addr))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight(friend).await?;
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(friend.as_bytes())
    );
    let stranger = preflight("https://evil.example").await?;
    assert!(
        stranger
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(!stranger.status().is_success());

    let get = |origin: &'static str| {
        app.client
            .get(format!("{}/api/rooms", app.addr))
            .bearer_auth(&alice.token)
            .header("origin", origin)
            .send()
    };
    let res = get(friend).await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("access-control-allow-origin").is_some());
    let res = get("https://evil.example").await?;
    assert!(res.headers().get("access-control-allow-origin").is_none());
    Ok(())
}

#[actix_web::test]
async fn readyz_and_metrics_report_the_server() -> TestResult {
    let app = TestApp::spawn().await;
    let ready = app
        .client
        .get(format!("{}/readyz", app.addr))
        .send()
        .await?;
    assert_eq!(ready.status(), StatusCode::OK);

    let (alice, bob, room) = app.two_users_in_a_room().await;
    let mut socket = app.ws(&bob).await;
    socket.join(room.id, None).await;
    app.send(&alice, room.id, "counted").await;
    socket
        .until("the message", |f| {
            matches!(f, natter_shared::ws::ServerFrame::Message { .. })
        })
        .await;

    let text = app
        .client
        .get(format!("{}/metrics", app.addr))
        .send()
        .await?
        .text()
        .await?;
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    assert_eq!(value("natter_messages_stored_total"), Some(1.0), "{text}");
    assert_eq!(value("natter_deliveries_total"), Some(1.0), "{text}");
    assert_eq!(value("natter_connections"), Some(1.0), "{text}");
    assert_eq!(value("natter_rooms_active"), Some(1.0), "{text}");
    assert_eq!(value("natter_jobs_waiting"), Some(0.0), "{text}");
    assert!(
        text.contains(r#"route="/api/rooms/{id}/messages",status="2xx""#),
        "{text}"
    );
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
    Ok(())
}

#[actix_web::test]
async fn the_openapi_document_and_docs_are_served_and_405_says_what_is_allowed() -> TestResult {
    let app = TestApp::spawn().await;
    let doc: serde_json::Value = app
        .client
        .get(format!("{}/api/openapi.json", app.addr))
        .send()
        .await?
        .json()
        .await?;
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for path in [
        "/api/auth/signup",
        "/api/auth/login",
        "/api/me",
        "/api/me/password",
        "/api/users",
        "/api/rooms",
        "/api/rooms/{id}",
        "/api/dms",
        "/api/rooms/{id}/messages",
        "/api/rooms/{room}/messages/{id}",
        "/api/admin/users",
        "/api/admin/users/{id}/deactivate",
        "/api/admin/users/{id}/reactivate",
    ] {
        assert!(paths.contains(&path), "{path} is documented: {paths:?}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let page = app
        .client
        .get(format!("{}/api/docs/", app.addr))
        .send()
        .await?;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().contains_key("content-security-policy"));
    assert!(page.text().await?.contains("swagger-ui-bundle.js"));
    let bundle = app
        .client
        .get(format!("{}/api/docs/swagger-ui-bundle.js", app.addr))
        .send()
        .await?;
    assert_eq!(bundle.status(), StatusCode::OK);

    let wrong = app
        .client
        .put(format!("{}/api/rooms", app.addr))
        .send()
        .await?;
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        wrong.headers().get("allow").map(|v| v.as_bytes()),
        Some(&b"GET, POST"[..])
    );
    Ok(())
}

#[actix_web::test]
async fn the_web_app_goes_out_compressed_as_the_browser_allows() -> TestResult {
    let site = tempfile::tempdir()?;
    std::fs::write(
        site.path().join("index.html"),
        "<html><body>Natter</body></html>",
    )?;
    let wasm = "natter-frontend-0123456789abcdef_bg.wasm";
    let body = "(module) ".repeat(20_000);
    std::fs::write(site.path().join(wasm), &body)?;
    let dir = site.path().to_path_buf();
    let app = TestApp::spawn_with(|s| s.static_dir = dir).await;
    let get = |encoding: &'static str| {
        let req = app.client.get(format!("{}/{wasm}", app.addr));
        let req = if encoding.is_empty() {
            req
        } else {
            req.header("accept-encoding", encoding)
        };
        req.send()
    };
    // Compressed once, in the background after the start: wait for it.
    let deadline = std::time::Instant::now() + crate::ws_client::WAIT;
    let res = loop {
        let res = get("gzip, deflate, br").await?;
        if res.headers().contains_key("content-encoding") {
            break res;
        }
        assert!(std::time::Instant::now() < deadline, "never compressed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let header = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header(&res, "content-encoding").as_deref(), Some("br"));
    assert_eq!(
        header(&res, "content-type").as_deref(),
        Some("application/wasm")
    );
    assert_eq!(header(&res, "vary").as_deref(), Some("accept-encoding"));
    assert!(header(&res, "cache-control").is_some_and(|c| c.contains("immutable")));
    assert!(res.bytes().await?.len() < body.len() / 20);
    let res = get("gzip").await?;
    assert_eq!(header(&res, "content-encoding").as_deref(), Some("gzip"));
    let res = get("").await?;
    assert_eq!(header(&res, "content-encoding"), None);
    assert_eq!(res.bytes().await?.len(), body.len());
    // The page too, with its policy.
    let page = app
        .client
        .get(format!("{}/", app.addr))
        .header("accept-encoding", "br")
        .send()
        .await?;
    assert_eq!(header(&page, "content-encoding").as_deref(), Some("br"));
    assert!(header(&page, "content-security-policy").is_some());
    assert!(header(&page, "x-content-type-options").is_some());
    Ok(())
}
