use crate::helpers::{PASSWORD, TestApp, TestResult, answer};
use natter::config::RateLimit;
use natter_shared::{AuthResponse, ErrorKind, User};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[actix_web::test]
async fn signup_returns_a_token_that_works() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    assert_eq!(alice.auth.user.username, "alice");
    assert!(!alice.auth.user.is_admin);
    let me = app.get("/api/me", &alice.token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json::<User>()?, alice.auth.user);
    Ok(())
}

#[actix_web::test]
async fn login_checks_the_password() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;

    let ok = app.login_as("alice", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK);
    let auth: AuthResponse = ok.json()?;
    assert_eq!(auth.user, alice.auth.user);
    assert_eq!(app.get("/api/me", &auth.token).await.status, StatusCode::OK);

    // Any case of the name logs in: names are unique without regard to case.
    assert_eq!(app.login_as("ALICE", PASSWORD).await.status, StatusCode::OK);

    for (name, password) in [
        ("alice", "wrong password"),
        ("nobody", PASSWORD),
        ("bad name!", PASSWORD),
        ("natterbot", "!"),
    ] {
        let res = app.login_as(name, password).await;
        assert_eq!(
            res.error(),
            ErrorKind::InvalidCredentials,
            "{name}/{password}"
        );
    }
    Ok(())
}

#[actix_web::test]
async fn usernames_are_unique_without_regard_to_case() -> TestResult {
    let app = TestApp::spawn().await;
    app.user("Alice").await;
    for name in ["Alice", "alice", "ALICE"] {
        let res = app.signup_as(name, PASSWORD).await;
        assert_eq!(res.error(), ErrorKind::UsernameTaken, "{name}");
    }
    Ok(())
}

#[actix_web::test]
async fn signup_enforces_the_rules() -> TestResult {
    let app = TestApp::spawn().await;
    let cases = [
        ("ab", PASSWORD, ErrorKind::InvalidUsername),
        ("has space", PASSWORD, ErrorKind::InvalidUsername),
        ("<script>", PASSWORD, ErrorKind::InvalidUsername),
        ("natterbot", PASSWORD, ErrorKind::ReservedUsername),
        ("NatterBot", PASSWORD, ErrorKind::ReservedUsername),
        ("bob", "short", ErrorKind::InvalidPassword),
    ];
    for (name, password, kind) in cases {
        assert_eq!(app.signup_as(name, password).await.error(), kind, "{name}");
    }
    // 73 bytes is refused, not cut to 72.
    let long = "p".repeat(73);
    assert_eq!(
        app.signup_as("bob", &long).await.error(),
        ErrorKind::InvalidPassword
    );
    let exact = "p".repeat(72);
    assert_eq!(
        app.signup_as("bob", &exact).await.status,
        StatusCode::CREATED
    );
    // bcrypt would accept the first 72 bytes of a longer password; we never do.
    assert_eq!(
        app.login_as("bob", &long).await.error(),
        ErrorKind::InvalidCredentials
    );
    Ok(())
}

#[actix_web::test]
async fn names_with_dots_hyphens_and_unicode_work() -> TestResult {
    let app = TestApp::spawn().await;
    for name in ["jean-luc.picard", "zoë_", "名前です"] {
        let user = app.user(name).await;
        assert_eq!(user.name(), name);
        let res = app.login_as(name, PASSWORD).await;
        assert_eq!(res.status, StatusCode::OK, "{name}");
    }
    Ok(())
}

#[actix_web::test]
async fn protected_routes_need_a_valid_token() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let missing = app.request(Method::GET, "/api/me", None, None).await;
    assert_eq!(missing.error(), ErrorKind::MissingToken);

    let mut forged = alice.token.clone();
    forged.pop();
    forged.push(if alice.token.ends_with('A') { 'B' } else { 'A' });
    for token in ["garbage", forged.as_str(), ""] {
        let res = app.get("/api/me", token).await;
        assert!(
            matches!(
                res.error(),
                ErrorKind::InvalidToken | ErrorKind::MissingToken
            ),
            "{token}"
        );
    }
    Ok(())
}

#[actix_web::test]
async fn tokens_with_another_algorithm_or_secret_are_refused() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let payload = alice.token.split('.').nth(1).expect("a payload");

    // alg "none": the same claims, no signature.
    let header = base64_url(r#"{"alg":"none","typ":"JWT"}"#);
    let none = format!("{header}.{payload}.");
    assert_eq!(
        app.get("/api/me", &none).await.error(),
        ErrorKind::InvalidToken
    );

    // Signed with another secret.
    let claims = json!({"sub": alice.auth.user.id.to_string(), "iat": 0, "exp": 4_000_000_000i64, "iss": "natter", "ver": 0});
    let other = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"another secret that is long enough"),
    )?;
    assert_eq!(
        app.get("/api/me", &other).await.error(),
        ErrorKind::InvalidToken
    );
    Ok(())
}

fn base64_url(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = s.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[actix_web::test]
async fn the_generated_secret_is_private_and_kept() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    let path = app.dir.path().join("jwt-secret");
    let meta = std::fs::metadata(&path)?;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read(&path)?.len(), 64);
    Ok(())
}

#[actix_web::test]
async fn failed_logins_are_throttled_per_username_then_per_address() -> TestResult {
    let app = TestApp::spawn_with(|s| {
        s.login_rate_limit = RateLimit {
            per_second: 0.01,
            burst: 3,
        };
        s.login_addr_rate_limit = RateLimit {
            per_second: 0.01,
            burst: 5,
        };
    })
    .await;
    app.user("alice").await;
    app.user("bob").await;
    for _ in 0..3 {
        let wrong = app.login_as("alice", "not her password").await;
        assert_eq!(wrong.error(), ErrorKind::InvalidCredentials);
    }
    // Alice's name is closed for a while, even to the right password (any case)...
    let res = app
        .client
        .post(format!("{}/api/auth/login", app.addr))
        .json(&json!({ "username": "ALICE", "password": PASSWORD }))
        .send()
        .await?;
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(answer(res).await.error(), ErrorKind::RateLimited);
    // ...while Bob, from the same address, can still log in: good logins cost nothing.
    assert_eq!(app.login_as("bob", PASSWORD).await.status, StatusCode::OK);

    // Two more failures under other names use up the address's five.
    for name in ["carol", "dave"] {
        assert_eq!(
            app.login_as(name, "whatever pass").await.error(),
            ErrorKind::InvalidCredentials
        );
    }
    assert_eq!(
        app.login_as("bob", PASSWORD).await.error(),
        ErrorKind::RateLimited
    );
    Ok(())
}
