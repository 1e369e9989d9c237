use crate::helpers::{PASSWORD, TestApp, TestResult};
use natter_shared::ws::close;
use natter_shared::{AdminUser, AdminUsersPage, AuthResponse, ErrorKind};
use reqwest::StatusCode;
use serde_json::json;

#[actix_web::test]
async fn a_password_change_revokes_every_other_token_and_closes_sockets() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let mut socket = app.ws(&alice).await;

    let wrong = app
        .post(
            "/api/me/password",
            &alice.token,
            json!({ "current_password": "not it at all", "new_password": "a new secret" }),
        )
        .await;
    assert_eq!(wrong.error(), ErrorKind::InvalidCredentials);
    let short = app
        .post(
            "/api/me/password",
            &alice.token,
            json!({ "current_password": PASSWORD, "new_password": "short" }),
        )
        .await;
    assert_eq!(short.error(), ErrorKind::InvalidPassword);

    let changed = app
        .post(
            "/api/me/password",
            &alice.token,
            json!({ "current_password": PASSWORD, "new_password": "a new secret" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let fresh: AuthResponse = changed.json()?;
    assert_eq!(socket.ended().await.code(), Some(close::POLICY));
    assert_eq!(
        app.get("/api/me", &alice.token).await.error(),
        ErrorKind::InvalidToken
    );
    assert_eq!(
        app.get("/api/me", &fresh.token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login_as("alice", PASSWORD).await.error(),
        ErrorKind::InvalidCredentials
    );
    assert_eq!(
        app.login_as("alice", "a new secret").await.status,
        StatusCode::OK
    );
    Ok(())
}

#[actix_web::test]
async fn admins_deactivate_and_reactivate_accounts_and_nobody_else_may() -> TestResult {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let bob_id = bob.auth.user.id;
    let mut bobs_socket = app.ws(&bob).await;

    let path = format!("/api/admin/users/{bob_id}/deactivate");
    assert_eq!(
        app.post(&path, &carol.token, json!({})).await.error(),
        ErrorKind::Forbidden
    );
    assert_eq!(
        app.get("/api/admin/users", &carol.token).await.error(),
        ErrorKind::Forbidden
    );

    let done = app.post(&path, &root.token, json!({})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(!done.json::<AdminUser>()?.is_active);
    // At once: the socket closes, the token stops working, logging in fails.
    assert_eq!(bobs_socket.ended().await.code(), Some(close::POLICY));
    assert_eq!(
        app.get("/api/me", &bob.token).await.error(),
        ErrorKind::InvalidToken
    );
    assert_eq!(
        app.login_as("bob", PASSWORD).await.error(),
        ErrorKind::InvalidCredentials
    );
    // Others no longer find bob; admins still do, marked inactive.
    let found = app.get("/api/users?q=bob", &carol.token).await;
    assert_eq!(found.body["users"], json!([]));
    let listed: AdminUsersPage = app
        .get("/api/admin/users?q=bob", &root.token)
        .await
        .json()?;
    assert_eq!(listed.users.len(), 1);
    assert!(!listed.users[0].is_active);

    let back = app
        .post(
            &format!("/api/admin/users/{bob_id}/reactivate"),
            &root.token,
            json!({}),
        )
        .await;
    assert!(back.json::<AdminUser>()?.is_active);
    assert_eq!(app.login_as("bob", PASSWORD).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/me", &bob.token).await.error(),
        ErrorKind::InvalidToken,
        "tokens from before stay revoked"
    );

    // No one deactivates themselves, and unknown users are 404.
    let own = format!("/api/admin/users/{}/deactivate", root.auth.user.id);
    assert_eq!(
        app.post(&own, &root.token, json!({})).await.error(),
        ErrorKind::Forbidden
    );
    assert_eq!(
        app.post("/api/admin/users/999999/deactivate", &root.token, json!({}))
            .await
            .error(),
        ErrorKind::NotFound
    );
    Ok(())
}
