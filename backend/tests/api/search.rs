//! Full-text search: the query language on both engines, what it finds and what it never
//! does (deleted text, old text of an edit, rooms of others), hostile queries, paging, the
//! filters, and the index built for messages stored before it existed.

use crate::helpers::{TestApp, TestUser};
use natter_shared::{ErrorKind, Message, MessageId, SearchPage};
use reqwest::StatusCode;
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `GET /api/search` with `query` (already URL-encoded where it needs to be) as `user`.
async fn search(app: &TestApp, user: &TestUser, query: &str) -> crate::helpers::Answer {
    app.get(&format!("/api/search?{query}"), &user.token).await
}

/// The bodies found for `q`, newest first.
pub async fn found(app: &TestApp, user: &TestUser, q: &str) -> Vec<String> {
    let res = search(app, user, &format!("q={}", encode(q))).await;
    assert_eq!(res.status, StatusCode::OK, "search {q:?}: {}", res.body);
    let page: SearchPage = res.json().expect("a search page");
    page.results.into_iter().map(|r| r.message.body).collect()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[actix_web::test]
async fn words_phrases_prefixes_exclusions_accents_and_case() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    for body in [
        "Meet me at the café at noon",
        "The deployment plan is ready",
        "deploying the plan now",
        "PLAN B is a draft",
        "see https://example.com/Docs/setup for the plan",
    ] {
        app.send(&alice, room.id, body).await;
    }
    assert_eq!(
        found(&app, &alice, "cafe").await,
        ["Meet me at the café at noon"]
    );
    assert_eq!(
        found(&app, &alice, "CAFÉ NOON").await,
        ["Meet me at the café at noon"]
    );
    assert_eq!(
        found(&app, &alice, "\"plan is ready\"").await,
        ["The deployment plan is ready"]
    );
    assert!(found(&app, &alice, "\"ready plan\"").await.is_empty());
    assert_eq!(
        found(&app, &alice, "deplo*").await,
        ["deploying the plan now", "The deployment plan is ready"]
    );
    assert_eq!(
        found(&app, &alice, "plan -draft -deploy*").await,
        ["see https://example.com/Docs/setup for the plan"]
    );
    assert_eq!(
        found(&app, &alice, "example docs").await,
        ["see https://example.com/Docs/setup for the plan"]
    );
    assert_eq!(
        found(&app, &alice, "example.com/docs").await,
        ["see https://example.com/Docs/setup for the plan"]
    );
    assert!(found(&app, &alice, "plans").await.is_empty(), "no stemming");

    // Highlights are character ranges of what matched, accents and case as written.
    let res = search(&app, &alice, "q=cafe+noon").await;
    let page: SearchPage = res.json()?;
    let hit = &page.results[0];
    let body: Vec<char> = hit.message.body.chars().collect();
    let spans: Vec<String> = hit
        .highlights
        .iter()
        .map(|[s, e]| body[*s as usize..*e as usize].iter().collect())
        .collect();
    assert_eq!(spans, ["café", "noon"]);
    assert_eq!(hit.room.id, room.id);
    assert_eq!(hit.room.name, "general");
    Ok(())
}

#[actix_web::test]
async fn edits_and_deletions_count_at_once() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    let typo = app
        .send(&alice, room.id, "the quarterly reprot is late")
        .await;
    let gone = app.send(&alice, room.id, "a secret launch code").await;
    assert_eq!(found(&app, &alice, "reprot").await.len(), 1);

    let res = app
        .edit(&alice, room.id, typo.id, "the quarterly report is late")
        .await;
    assert_eq!(res.status, StatusCode::OK, "edit: {}", res.body);
    assert!(found(&app, &alice, "reprot").await.is_empty(), "old text");
    assert_eq!(
        found(&app, &alice, "report").await,
        ["the quarterly report is late"]
    );

    let res = app.delete_message(&alice, room.id, gone.id).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "delete: {}", res.body);
    assert!(found(&app, &alice, "launch").await.is_empty());
    Ok(())
}

#[actix_web::test]
async fn only_the_callers_rooms_are_searched() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let eve = app.user("eve").await;
    let private = app.create_private_room(&alice, "secret").await;
    app.send(&alice, private.id, "zebra in the private room")
        .await;
    let res = app.open_dm(&alice, "bob").await;
    let dm: natter_shared::Room = res.json()?;
    app.send(&alice, dm.id, "zebra between alice and bob").await;
    let public = app.create_room(&carol, "open").await;
    app.send(&carol, public.id, "zebra in public").await;

    assert_eq!(
        found(&app, &alice, "zebra").await,
        ["zebra between alice and bob", "zebra in the private room"]
    );
    assert_eq!(
        found(&app, &bob, "zebra").await,
        ["zebra between alice and bob"]
    );
    // Public but not joined: not searched.
    assert!(found(&app, &eve, "zebra").await.is_empty());

    // Naming another's room is as if it did not exist; a public room asks to be joined.
    for room in [private.id, dm.id] {
        let res = search(&app, &eve, &format!("q=zebra&room_id={room}")).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    }
    let res = search(&app, &eve, &format!("q=zebra&room_id={}", public.id)).await;
    assert_eq!(res.error(), ErrorKind::NotMember);
    let res = search(&app, &eve, "q=zebra&room_id=999999").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[actix_web::test]
async fn hostile_queries_get_results_or_a_422_never_a_5xx() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    app.send(&alice, room.id, "or and not near (a) \"quoted\" * - x")
        .await;
    let long = "word ".repeat(200);
    let hostile = [
        "\"",
        "\"\"",
        "*",
        "**",
        "NEAR(",
        "NEAR(a b)",
        "OR",
        "a OR",
        "AND",
        "NOT",
        "-",
        "--x",
        "(",
        ")",
        "(a",
        "a)",
        "",
        " ",
        "\0",
        "a\0b",
        "'",
        "''",
        ":",
        "a:b",
        "^",
        "col:x",
        "{a}",
        "x*y",
        "&",
        "|",
        "!",
        "<->",
        "a <-> b",
        "'a':*",
        "\\",
        "%",
        "_",
        "😀",
        "é*",
        long.as_str(),
    ];
    for q in hostile {
        let res = search(&app, &alice, &format!("q={}", encode(q))).await;
        assert!(
            res.status == StatusCode::OK || res.error() == ErrorKind::InvalidQuery,
            "{q:?}: {} {}",
            res.status,
            res.body
        );
    }
    // Operators are words: "or" and "near" are found as what they are.
    assert_eq!(found(&app, &alice, "OR NEAR").await.len(), 1);
    for (q, says) in [
        ("", "type a word"),
        ("-alone", "must match"),
        ("a*", "at least"),
        (long.as_str(), "shorten"),
    ] {
        let res = search(&app, &alice, &format!("q={}", encode(q))).await;
        assert_eq!(res.error(), ErrorKind::InvalidQuery, "{q:?}");
        let message = res.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{q:?}: {message}");
    }
    // No `q` at all, and bad filters.
    assert_eq!(
        search(&app, &alice, "").await.status,
        StatusCode::BAD_REQUEST
    );
    for (query, kind) in [
        ("q=x&from=nobody_here", ErrorKind::InvalidQuery),
        ("q=x&before=yesterday", ErrorKind::InvalidQuery),
        ("q=x&limit=0", ErrorKind::InvalidLimit),
        ("q=x&cursor=abc", ErrorKind::InvalidCursor),
        ("q=x&order=relevance&cursor=12", ErrorKind::InvalidCursor),
    ] {
        assert_eq!(search(&app, &alice, query).await.error(), kind, "{query}");
    }
    Ok(())
}

#[actix_web::test]
async fn pages_filters_and_relevance() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let res = app
        .post(
            &format!("/api/rooms/{}/join", room.id),
            &bob.token,
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let other = app.create_room(&alice, "other").await;
    let mut sent: Vec<Message> = Vec::new();
    for i in 0..7 {
        let (who, at) = if i % 2 == 0 {
            (&alice, room.id)
        } else {
            (&bob, room.id)
        };
        sent.push(app.send(who, at, &format!("status update {i}")).await);
    }
    sent.push(app.send(&alice, other.id, "status status status").await);

    // Newest first, three at a time, every one once.
    let mut seen: Vec<MessageId> = Vec::new();
    let mut query = "q=status&limit=3".to_string();
    loop {
        let page: SearchPage = search(&app, &alice, &query).await.json()?;
        seen.extend(page.results.iter().map(|r| r.message.id));
        match page.next {
            Some(next) => query = format!("q=status&limit=3&cursor={next}"),
            None => break,
        }
    }
    let mut newest_first: Vec<MessageId> = sent.iter().map(|m| m.id).collect();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let by_bob: SearchPage = search(&app, &alice, "q=status&from=BOB").await.json()?;
    assert_eq!(by_bob.results.len(), 3);
    assert!(by_bob.results.iter().all(|r| r.message.author == "bob"));
    let in_other: SearchPage = search(&app, &alice, &format!("q=status&room_id={}", other.id))
        .await
        .json()?;
    assert_eq!(in_other.results.len(), 1);
    let future: SearchPage = search(&app, &alice, "q=status&after=2999-01-01")
        .await
        .json()?;
    assert!(future.results.is_empty());
    let past: SearchPage = search(&app, &alice, "q=status&before=2999-01-01T00:00:00Z")
        .await
        .json()?;
    assert_eq!(past.results.len(), 8);

    // Best match first: the message that says it three times, then pages by offset.
    let best: SearchPage = search(&app, &alice, "q=status&order=relevance&limit=5")
        .await
        .json()?;
    assert_eq!(best.results[0].message.body, "status status status");
    let next = best.next.expect("a second page");
    let rest: SearchPage = search(
        &app,
        &alice,
        &format!("q=status&order=relevance&limit=5&cursor={next}"),
    )
    .await
    .json()?;
    assert_eq!(rest.results.len(), 3);
    assert!(rest.next.is_none());
    Ok(())
}

#[actix_web::test]
async fn searching_has_its_own_rate_limit() -> TestResult {
    let app = TestApp::spawn_with(|s| {
        s.search_rate_limit = "0.01/2".parse().expect("a rate limit");
    })
    .await;
    let (alice, _bob, _room) = app.two_users_in_a_room().await;
    for _ in 0..2 {
        assert_eq!(search(&app, &alice, "q=x").await.status, StatusCode::OK);
    }
    let res = search(&app, &alice, "q=x").await;
    assert_eq!(res.error(), ErrorKind::RateLimited);
    Ok(())
}

/// Messages stored before the search migration are indexed when the server opens the
/// database: here the index is emptied and marked unbuilt, as the migration leaves it.
#[actix_web::test]
async fn messages_from_before_search_are_indexed_at_startup() -> TestResult {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn().await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    for i in 0..30 {
        app.send(&alice, room.id, &format!("archived note {i}"))
            .await;
    }
    let db = natter::db::Database::open(&app.database_url())?;
    db.run_blocking(|conn| {
        let unbuild = match conn {
            natter::db::DbConnection::Sqlite(_) => {
                "INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')"
            }
            natter::db::DbConnection::Postgres(_) => "UPDATE messages SET search = NULL",
        };
        diesel::sql_query(unbuild).execute(conn)?;
        diesel::sql_query("UPDATE search_backfill SET up_to = (SELECT MAX(id) FROM messages)")
            .execute(conn)?;
        Ok(())
    })?;
    assert!(found(&app, &alice, "archived").await.is_empty());

    let again = TestApp::spawn_on(app.db.shared(), tempfile::tempdir()?, |_| {}).await;
    // The token secret lives beside the first database, so log in again on the new one.
    let login: natter_shared::AuthResponse = again
        .login_as("alice", crate::helpers::PASSWORD)
        .await
        .json()?;
    let alice = TestUser {
        token: login.token.clone(),
        auth: login,
    };
    let page: SearchPage = search(&again, &alice, "q=archived+note&limit=100")
        .await
        .json()?;
    assert_eq!(page.results.len(), 30);
    Ok(())
}
