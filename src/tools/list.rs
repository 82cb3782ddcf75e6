//! What every list tool shares: page size, opaque cursors that carry the filters, and
//! `fetch_all` with a bound, progress notifications and cancellation between pages.

use std::future::Future;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CallCx, ToolError};
use crate::unified::ListResult;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;
pub const DEFAULT_MAX_RECORDS: u32 = 500;
pub const MAX_MAX_RECORDS: u32 = 5_000;

/// Paging arguments of every list tool.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Paging {
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub fetch_all: bool,
    #[serde(default)]
    pub max_records: Option<u32>,
    #[serde(default)]
    pub include_remote_data: bool,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct CursorState {
    /// Tool the cursor belongs to.
    t: String,
    /// Next Capsule page (1-based).
    p: u32,
    /// Page size.
    l: u32,
    /// The filters of the first call.
    f: Value,
}

fn encode_cursor(state: &CursorState) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(state).unwrap_or_default())
}

fn decode_cursor(cursor: &str, tool: &str) -> Result<CursorState, ToolError> {
    let bad = || {
        ToolError::invalid(format!(
            "`cursor` is not a cursor {tool} issued; call it again without `cursor` to start over"
        ))
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| bad())?;
    let state: CursorState = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if state.t != tool || state.p == 0 || state.l == 0 || state.l > MAX_LIMIT {
        return Err(bad());
    }
    Ok(state)
}

/// Where a list call starts: the Capsule page, its size and the filters in force.
pub struct Start {
    pub page: u32,
    pub limit: u32,
}

/// Resolves paging against the filters given in this call. With a cursor, filters given again
/// must equal the cursor's (they are part of it); different ones are refused.
pub fn start(tool: &str, paging: &Paging, filters: &Value) -> Result<Start, ToolError> {
    if let Some(limit) = paging.limit
        && !(1..=MAX_LIMIT).contains(&limit)
    {
        return Err(ToolError::invalid(format!(
            "`limit` must be between 1 and {MAX_LIMIT}; got {limit}"
        )));
    }
    if let Some(max) = paging.max_records {
        if !(1..=MAX_MAX_RECORDS).contains(&max) {
            return Err(ToolError::invalid(format!(
                "`max_records` must be between 1 and {MAX_MAX_RECORDS}; got {max}"
            )));
        }
        if !paging.fetch_all {
            return Err(ToolError::invalid(
                "`max_records` only applies with `fetch_all: true`",
            ));
        }
    }
    match &paging.cursor {
        None => Ok(Start {
            page: 1,
            limit: paging.limit.unwrap_or(DEFAULT_LIMIT),
        }),
        Some(cursor) => {
            let state = decode_cursor(cursor, tool)?;
            let given_filters = filters.as_object().is_some_and(|m| !m.is_empty());
            if given_filters && *filters != state.f {
                return Err(ToolError::invalid(
                    "the filters differ from those of the cursor; repeat the first call's \
                     filters or leave them out when passing `cursor`",
                ));
            }
            if paging.limit.is_some_and(|l| l != state.l) {
                return Err(ToolError::invalid(
                    "`limit` differs from the cursor's; leave it out when passing `cursor`",
                ));
            }
            Ok(Start {
                page: state.p,
                limit: state.l,
            })
        }
    }
}

/// The filters a call resolved to, for a cursor: taken from the cursor when one is given.
pub fn filters_of(tool: &str, paging: &Paging) -> Result<Option<Value>, ToolError> {
    match &paging.cursor {
        Some(c) => Ok(Some(decode_cursor(c, tool)?.f)),
        None => Ok(None),
    }
}

/// One fetched page: the records and whether Capsule has a next page.
pub struct Fetched<T> {
    pub items: Vec<T>,
    pub has_next: bool,
}

/// One page of a list held whole in memory (a cached reference list Capsule does not page).
pub fn local_page<T: Clone>(items: &[T], page: u32, limit: u32) -> Fetched<T> {
    let start = (page.saturating_sub(1) as usize).saturating_mul(limit as usize);
    let end = start.saturating_add(limit as usize).min(items.len());
    Fetched {
        items: items.get(start..end).map(<[T]>::to_vec).unwrap_or_default(),
        has_next: end < items.len(),
    }
}

/// Runs a list: one page, or with `fetch_all` page after page up to the bound.
pub async fn run<T, F, Fut>(
    tool: &str,
    paging: &Paging,
    filters: Value,
    cx: &CallCx,
    mut fetch: F,
) -> Result<ListResult<T>, ToolError>
where
    F: FnMut(u32, u32) -> Fut,
    Fut: Future<Output = Result<Fetched<T>, ToolError>>,
{
    let start = start(tool, paging, &filters)?;
    let filters = filters_of(tool, paging)?.unwrap_or(filters);
    let max = paging.max_records.unwrap_or(DEFAULT_MAX_RECORDS) as usize;
    let mut page = start.page;
    let mut result = Vec::new();
    let mut pages = 0u32;
    let has_next = loop {
        let fetched = fetch(page, start.limit).await?;
        pages += 1;
        result.extend(fetched.items);
        if !paging.fetch_all {
            break fetched.has_next;
        }
        cx.progress(
            result.len() as f64,
            None,
            format!("{} records from {pages} pages", result.len()),
        )
        .await;
        if !fetched.has_next || result.len() >= max || cx.ct.is_cancelled() {
            break fetched.has_next;
        }
        page += 1;
    };
    let next_cursor = has_next.then(|| {
        encode_cursor(&CursorState {
            t: tool.to_owned(),
            p: page + 1,
            l: start.limit,
            f: filters,
        })
    });
    Ok(ListResult {
        result_count: result.len(),
        result,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursor_round_trip_and_tampering() {
        let state = CursorState {
            t: "crm_list_contacts".into(),
            p: 3,
            l: 20,
            f: json!({"search": "acme"}),
        };
        let c = encode_cursor(&state);
        assert_eq!(decode_cursor(&c, "crm_list_contacts").ok(), Some(state));
        assert!(decode_cursor(&c, "crm_list_accounts").is_err());
        assert!(decode_cursor("not-a-cursor", "crm_list_contacts").is_err());
        assert!(decode_cursor("", "crm_list_contacts").is_err());
    }

    #[test]
    fn paging_bounds_are_checked() {
        let f = json!({});
        let mut p = Paging {
            limit: Some(0),
            ..Default::default()
        };
        assert!(start("t", &p, &f).is_err());
        p.limit = Some(101);
        assert!(start("t", &p, &f).is_err());
        p.limit = Some(100);
        assert!(start("t", &p, &f).is_ok());
        p.max_records = Some(10);
        assert!(start("t", &p, &f).is_err(), "max_records needs fetch_all");
        p.fetch_all = true;
        assert!(start("t", &p, &f).is_ok());
    }

    #[test]
    fn local_pages_slice_the_list() {
        let items = [1, 2, 3, 4, 5];
        let p = local_page(&items, 1, 2);
        assert_eq!((p.items, p.has_next), (vec![1, 2], true));
        let p = local_page(&items, 3, 2);
        assert_eq!((p.items, p.has_next), (vec![5], false));
        let p = local_page(&items, 4, 2);
        assert!(p.items.is_empty() && !p.has_next);
    }

    #[test]
    fn cursor_filters_must_match() {
        let c = encode_cursor(&CursorState {
            t: "t".into(),
            p: 2,
            l: 10,
            f: json!({"search": "a"}),
        });
        let p = Paging {
            cursor: Some(c),
            ..Default::default()
        };
        assert!(start("t", &p, &json!({})).is_ok());
        assert!(start("t", &p, &json!({"search": "a"})).is_ok());
        assert!(start("t", &p, &json!({"search": "b"})).is_err());
    }
}
