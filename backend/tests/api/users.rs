use crate::helpers::{TestApp, TestResult};
use natter_shared::{ErrorKind, UsersPage};

#[actix_web::test]
async fn users_are_searched_and_paged_by_name() -> TestResult {
    let app = TestApp::spawn().await;
    let me = app.user("me_myself").await;
    for name in ["Anna", "anton", "bob", "Carla", "d_an", "dan", "Zoë"] {
        app.user(name).await;
    }
    let names = |page: &UsersPage| {
        page.users
            .iter()
            .map(|u| u.username.clone())
            .collect::<Vec<_>>()
    };

    let all: UsersPage = app.get("/api/users", &me.token).await.json()?;
    assert_eq!(
        names(&all),
        [
            "Anna",
            "anton",
            "bob",
            "Carla",
            "d_an",
            "dan",
            "me_myself",
            "Zoë"
        ]
    );
    assert_eq!(all.next, None);

    // Pages of three, following `next`, cover everyone once, in order.
    let mut seen = Vec::new();
    let mut path = "/api/users?limit=3".to_string();
    loop {
        let page: UsersPage = app.get(&path, &me.token).await.json()?;
        assert!(page.users.len() <= 3);
        seen.extend(names(&page));
        match page.next {
            Some(next) => path = format!("/api/users?limit=3&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, names(&all));

    // Search is by substring, without regard to case; `_` matches itself only.
    let an: UsersPage = app.get("/api/users?q=AN", &me.token).await.json()?;
    assert_eq!(names(&an), ["Anna", "anton", "d_an", "dan"]);
    let underscore: UsersPage = app.get("/api/users?q=_", &me.token).await.json()?;
    assert_eq!(names(&underscore), ["d_an", "me_myself"]);
    let none: UsersPage = app.get("/api/users?q=%25", &me.token).await.json()?;
    assert!(none.users.is_empty());
    Ok(())
}

#[actix_web::test]
async fn user_queries_are_checked() -> TestResult {
    let app = TestApp::spawn().await;
    let me = app.user("alice").await;
    assert_eq!(
        app.get("/api/users?limit=0", &me.token).await.error(),
        ErrorKind::InvalidLimit
    );
    assert_eq!(
        app.get("/api/users?limit=500", &me.token).await.error(),
        ErrorKind::InvalidLimit
    );
    let long = "q".repeat(40);
    assert_eq!(
        app.get(&format!("/api/users?q={long}"), &me.token)
            .await
            .error(),
        ErrorKind::InvalidRequest
    );
    assert_eq!(
        app.get(&format!("/api/users?after={long}"), &me.token)
            .await
            .error(),
        ErrorKind::InvalidCursor
    );
    Ok(())
}
