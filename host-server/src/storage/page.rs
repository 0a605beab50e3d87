//! One pagination for every list: `?limit=` (default 50, at most 500) and `?cursor=`, answered as
//! `{"items": [...], "next_cursor": "…" | null}`.
//!
//! Pages are keyset pages on `(sort key, id)`, never `OFFSET`: a row written between two requests neither
//! repeats an item on the next page nor hides one, and a deep page costs what the first one does. The cursor
//! is the last item's key and id, base64url-encoded JSON tagged with its list, so a client treats it as
//! opaque and a cursor of another list is refused rather than silently misread.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, FromRow};

use crate::error::{ApiError, ApiResult};

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest page a client may ask for.
pub const MAX_LIMIT: i64 = 500;

/// The query parameters every list takes. Both are read as text so that a malformed value is this API's
/// 422 with its field, not the framework's generic rejection.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// A page asked for: how many items, and after which one.
#[derive(Debug)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<Cursor>,
}

/// Where a page ends: the sort key and id of its last item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The list the cursor belongs to.
    #[serde(rename = "l")]
    list: String,
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "i")]
    pub id: String,
}

impl PageQuery {
    /// The page asked for in list `list` (the tag its cursors carry), or 422 for a bad limit or cursor.
    pub fn request(&self, list: &str) -> ApiResult<PageRequest> {
        // An empty value is what a form sends for a field left blank.
        let limit = match self.limit.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::unprocessable(
                        "limit",
                        format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                    ))
                }
            },
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(text) => Some(Cursor::decode(text, list)?),
        };
        Ok(PageRequest { limit, after })
    }
}

impl Cursor {
    fn encode(&self) -> String {
        // A struct of three strings always serialises.
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(text: &str, list: &str) -> ApiResult<Cursor> {
        let bad = || {
            ApiError::unprocessable(
                "cursor",
                "not a cursor of this list: pass next_cursor of a previous page unchanged",
            )
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if cursor.list != list {
            return Err(bad());
        }
        Ok(cursor)
    }
}

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page's items with each turned into what the API shows.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }

    /// As [`Page::map`], for a conversion that can fail.
    pub fn try_map<U>(self, f: impl FnMut(T) -> ApiResult<U>) -> ApiResult<Page<U>> {
        Ok(Page { items: self.items.into_iter().map(f).collect::<ApiResult<_>>()?, next_cursor: self.next_cursor })
    }

    /// As [`Page::try_map`], for a conversion that asks the core (which is async: `state::Inner::core`).
    pub async fn try_map_async<U, F>(self, mut f: impl FnMut(T) -> F) -> ApiResult<Page<U>>
    where
        F: std::future::Future<Output = ApiResult<U>>,
    {
        let mut items = Vec::with_capacity(self.items.len());
        for item in self.items {
            items.push(f(item).await?);
        }
        Ok(Page { items, next_cursor: self.next_cursor })
    }
}

/// The direction of a list.
#[derive(Debug, Clone, Copy)]
pub enum Order {
    /// Newest first: descending key (an RFC 3339 UTC instant) and id.
    NewestFirst,
    /// Ascending key and id (names, serials).
    Ascending,
}

/// How a list is ordered: the sort key's and id's columns (as the `SELECT` names them) and the direction.
#[derive(Debug, Clone, Copy)]
pub struct Keyset {
    /// The tag of this list's cursors.
    pub list: &'static str,
    pub key: &'static str,
    pub id: &'static str,
    pub order: Order,
}

/// A paged `SELECT`: its text up to `WHERE`, conditions with their text values, then the keyset.
pub struct ListQuery {
    select: String,
    conditions: Vec<String>,
    binds: Vec<String>,
}

impl ListQuery {
    /// `select` is the query without `WHERE`, `ORDER BY` or `LIMIT`.
    pub fn new(select: impl Into<String>) -> Self {
        ListQuery { select: select.into(), conditions: Vec::new(), binds: Vec::new() }
    }

    /// Adds a condition; every `{}` in it stands for `value`.
    pub fn filter(&mut self, condition: &str, value: impl Into<String>) -> &mut Self {
        self.binds.push(value.into());
        let placeholder = format!("${}", self.binds.len());
        self.conditions.push(format!("({})", condition.replace("{}", &placeholder)));
        self
    }

    /// Adds `value` to the binds and answers its placeholder, for a condition that names several values.
    pub fn bind(&mut self, value: impl Into<String>) -> String {
        self.binds.push(value.into());
        format!("${}", self.binds.len())
    }

    /// Adds a condition whose placeholders come from [`ListQuery::bind`].
    pub fn condition(&mut self, condition: String) -> &mut Self {
        self.conditions.push(format!("({condition})"));
        self
    }

    /// Reads one page: `limit` items after the cursor, and whether more follow.
    pub async fn page<'e, T, E>(
        mut self,
        exec: E,
        keyset: Keyset,
        page: &PageRequest,
        cursor_of: impl Fn(&T) -> (String, String),
    ) -> ApiResult<Page<T>>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
        E: Executor<'e, Database = Any>,
    {
        let (compare, direction) = match keyset.order {
            Order::NewestFirst => ("<", "DESC"),
            Order::Ascending => (">", "ASC"),
        };
        if let Some(after) = &page.after {
            let key = self.bind(after.key.clone());
            let id = self.bind(after.id.clone());
            let (k, i) = (keyset.key, keyset.id);
            self.condition(format!("{k} {compare} {key} OR ({k} = {key} AND {i} {compare} {id})"));
        }
        let mut sql = self.select;
        if !self.conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&self.conditions.join(" AND "));
        }
        // One more than asked tells whether another page follows without a COUNT.
        sql.push_str(&format!(
            " ORDER BY {key} {direction}, {id} {direction} LIMIT {fetch}",
            key = keyset.key,
            id = keyset.id,
            fetch = page.limit + 1
        ));
        let mut query = sqlx::query_as::<_, T>(&sql);
        for value in self.binds {
            query = query.bind(value);
        }
        let mut items = query.fetch_all(exec).await?;
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| {
                let (key, id) = cursor_of(last);
                Cursor { list: keyset.list.to_owned(), key, id }.encode()
            })
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn limits_and_cursors_are_checked() {
        let q = |limit: Option<&str>, cursor: Option<&str>| PageQuery {
            limit: limit.map(str::to_owned),
            cursor: cursor.map(str::to_owned),
        };
        assert_eq!(q(None, None).request("a").map(|p| p.limit).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(q(Some("500"), None).request("a").map(|p| p.limit).ok(), Some(500));
        for bad in ["0", "501", "ten", "-1", "1.5"] {
            let e = q(Some(bad), None).request("a").err().map(|e| e.status);
            assert_eq!(e, Some(StatusCode::UNPROCESSABLE_ENTITY), "{bad}");
        }
        let cursor = Cursor { list: "a".into(), key: "k".into(), id: "i".into() }.encode();
        assert_eq!(q(None, Some(&cursor)).request("a").ok().and_then(|p| p.after).map(|c| c.id), Some("i".into()));
        assert!(q(None, Some(&cursor)).request("b").is_err(), "a cursor of another list");
        assert!(q(None, Some("!!")).request("a").is_err());
    }
}
