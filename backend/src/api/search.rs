//! `/api/search`: full-text search over the messages of the caller's rooms.

use super::page_limit;
use crate::AppState;
use crate::auth::Bearer;
use crate::db::search::{Filters, Order};
use crate::db::{messages, rooms, search as found, users};
use crate::error::{ApiError, ApiResult};
use crate::search::Query;
use actix_web::web;
use chrono::{NaiveDate, NaiveDateTime};
use natter_shared::limits::DEFAULT_SEARCH_PAGE;
use natter_shared::{ErrorKind, RoomId, SearchPage, SearchResult, SearchRoom};
use serde::Deserialize;
use std::collections::HashMap;

/// How deep best-match results are paged: each page ranks every match again.
const MAX_RELEVANCE_SKIP: i64 = 10_000;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: String,
    room_id: Option<i64>,
    from: Option<String>,
    before: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
    order: Option<SearchOrder>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SearchOrder {
    #[default]
    Recent,
    Relevance,
}

/// Messages in the caller's rooms that match `q`, newest first (or best match first), with
/// what matched as character ranges. Deleted messages are never found; an edited one by its
/// new text only.
#[utoipa::path(
    get,
    operation_id = "search",
    path = "/api/search",
    tag = "messages",
    params(
        ("q" = String, Query, description = "words (all must match), \"an exact phrase\", -word to leave out, word* for a prefix (two letters at least); case and accents do not matter; at most 200 characters and 16 terms"),
        ("room_id" = Option<i64>, Query, description = "only this room (one the caller is a member of)"),
        ("from" = Option<String>, Query, description = "only messages by this username"),
        ("before" = Option<String>, Query, description = "only messages sent before this date (2026-11-29, meaning its midnight UTC) or time (RFC 3339)"),
        ("after" = Option<String>, Query, description = "only messages sent at or after this date or time"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "the `next` of the page before"),
        ("order" = Option<String>, Query, description = "`recent` (the default: newest first) or `relevance` (best match first)"),
    ),
    responses(
        (status = 200, description = "a page of results", body = natter_shared::SearchPage),
        (status = 400, description = "a malformed query string (no `q`, a room id that is not a number, an unknown order)", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 403, description = "not_member: `room_id` is a public room the caller has not joined", body = natter_shared::ErrorBody),
        (status = 404, description = "`room_id` is no room the caller may see", body = natter_shared::ErrorBody),
        (status = 422, description = "invalid_query (the message says what to change: only exclusions, too long, a one-letter prefix, an unknown `from`, a date that is not one), invalid_limit, invalid_cursor", body = natter_shared::ErrorBody),
        (status = 429, description = "too many searches; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn search(
    state: web::Data<AppState>,
    bearer: Bearer,
    query: web::Query<SearchQuery>,
) -> ApiResult<web::Json<SearchPage>> {
    let signed = state.auth.signed_user(&bearer.0)?;
    let SearchQuery {
        q,
        room_id,
        from,
        before,
        after,
        limit,
        cursor,
        order,
    } = query.into_inner();
    let parsed = Query::parse(&q).map_err(|e| ApiError::new(ErrorKind::InvalidQuery, e.0))?;
    let limit = page_limit(limit.unwrap_or(DEFAULT_SEARCH_PAGE))?;
    let order = start(order.unwrap_or_default(), cursor.as_deref())?;
    let mut filters = Filters {
        room: room_id.map(RoomId),
        before: before
            .as_deref()
            .map(|t| instant("before", t))
            .transpose()?,
        after: after.as_deref().map(|t| instant("after", t)).transpose()?,
        ..Filters::default()
    };
    state
        .limits
        .searches
        .check(signed.id())
        .map_err(|wait| ApiError::throttled("searches", wait))?;
    let page = state
        .db
        .run_search(move |conn| {
            let user = signed.check(conn)?;
            if let Some(room) = filters.room {
                match rooms::with_role(conn, room, user.id)? {
                    Some((_, Some(_))) => {}
                    Some((row, None)) if rooms::may_see(&row.kind, None) => {
                        return Err(ApiError::new(
                            ErrorKind::NotMember,
                            format!("join room {room} to search it"),
                        ));
                    }
                    _ => return Err(ApiError::not_found(format!("room {room}"))),
                }
            }
            if let Some(name) = &from {
                let key = natter_shared::Username::parse(name.clone())
                    .map(|n| n.key())
                    .unwrap_or_default();
                let author = users::find_by_key(conn, &key)?.ok_or_else(|| {
                    ApiError::new(
                        ErrorKind::InvalidQuery,
                        format!("nobody is called {name:?}: check the name in `from`"),
                    )
                })?;
                filters.author = Some(natter_shared::UserId(author.id));
            }
            let ids = found::find(conn, user.id, &parsed, &filters, order, limit + 1)?;
            let more = ids.len() as i64 > limit;
            let shown = &ids[..ids.len().min(limit as usize)];
            let found = messages::by_ids(conn, shown)?;
            let mut wanted: Vec<i64> = found.iter().map(|m| m.room_id.0).collect();
            wanted.sort_unstable();
            wanted.dedup();
            let names: HashMap<RoomId, SearchRoom> = rooms::of_member(conn, user.id, &wanted)?
                .into_iter()
                .map(|room| {
                    let at = SearchRoom {
                        id: room.id,
                        name: room.name,
                        kind: room.kind,
                    };
                    (at.id, at)
                })
                .collect();
            // A message whose room the caller left since the search read it is left out.
            let results: Vec<SearchResult> = found
                .into_iter()
                .filter_map(|message| {
                    let room = names.get(&message.room_id)?.clone();
                    Some(SearchResult {
                        highlights: parsed.highlights(&message.body),
                        message,
                        room,
                    })
                })
                .collect();
            let next = more.then(|| next(order, shown, limit)).flatten();
            Ok(SearchPage { results, next })
        })
        .await?;
    Ok(web::Json(page))
}

/// The cursor of the page after one that showed `shown` and had more: below its last id, or
/// past its results; none past the deepest best-match page a cursor may ask for.
fn next(order: Order, shown: &[i64], limit: i64) -> Option<String> {
    match order {
        Order::Recent { .. } => shown.last().map(|id| id.to_string()),
        Order::Relevance { skip } => {
            (skip + limit <= MAX_RELEVANCE_SKIP).then(|| format!("r{}", skip + limit))
        }
    }
}

/// Where a page starts: below the id of a `recent` cursor, or after the results a
/// `relevance` cursor (`r` and a count) counts.
fn start(order: SearchOrder, cursor: Option<&str>) -> ApiResult<Order> {
    let bad = || {
        ApiError::new(
            ErrorKind::InvalidCursor,
            "use the `next` of the page before, with the same `order`",
        )
    };
    Ok(match order {
        SearchOrder::Recent => Order::Recent {
            below: cursor
                .map(|c| c.parse::<i64>().ok().filter(|&id| id > 0).ok_or_else(bad))
                .transpose()?
                .unwrap_or(i64::MAX),
        },
        SearchOrder::Relevance => Order::Relevance {
            skip: cursor
                .map(|c| {
                    c.strip_prefix('r')
                        .and_then(|n| n.parse::<i64>().ok())
                        .filter(|n| (0..=MAX_RELEVANCE_SKIP).contains(n))
                        .ok_or_else(bad)
                })
                .transpose()?
                .unwrap_or(0),
        },
    })
}

/// A date (`2026-11-29`, its midnight UTC) or an RFC 3339 time, as the database keeps times.
fn instant(field: &str, text: &str) -> ApiResult<NaiveDateTime> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.naive_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::InvalidQuery,
                format!("`{field}` must be a date (2026-11-29) or a time (2026-11-29T15:04:05Z)"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cursor_handed_out_is_taken_back() {
        for (order, cursor) in [(SearchOrder::Recent, "41"), (SearchOrder::Relevance, "r40")] {
            let at = start(order, Some(cursor)).expect("a cursor");
            if let Some(next) = next(at, &[40, 39], 20) {
                assert!(start(order, Some(&next)).is_ok(), "{next}");
            }
        }
        // The deepest best-match page says there is no next one rather than hand out a
        // cursor that would be refused.
        let deepest = start(SearchOrder::Relevance, Some("r9990")).expect("in range");
        assert_eq!(next(deepest, &[1], 20), None);
        assert_eq!(next(deepest, &[1], 10), Some("r10000".into()));
        assert!(start(SearchOrder::Relevance, Some("r10001")).is_err());
    }
}
