//! What every list tool shares: page size, opaque cursors that carry the filters, and
//! `fetch_all` with a bound, progress notifications and cancellation between pages.
//!
//! What Capsule returns is cut to what was asked (`limit` for one page, `max_records` with
//! `fetch_all`), whatever Capsule did with `perPage`; the cursor then points inside that page,
//! at the first record not returned. `fetch_all` reads Capsule's largest pages whatever the
//! `limit`, so a small `limit` does not cost a request per record.

use std::future::Future;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CallCx, ToolError};
use crate::unified::{ListResult, Summary};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;
pub const DEFAULT_MAX_RECORDS: u32 = 500;
pub const MAX_MAX_RECORDS: u32 = 5_000;

/// The most o200k_base tokens a list result's text may take (issue 10: ≤ 8,000).
pub const BUDGET_TOKENS: usize = 8_000;
/// Bytes of records' compact JSON a result may hold. The bench (`cargo bench --bench context`)
/// measures 3.1 to 3.4 bytes a token on our list results: 22,000 bytes is ~6,500-7,100 tokens,
/// room for the envelope and for records denser than the sandbox's (2.75 bytes a token).
pub const BUDGET_BYTES: usize = 22_000;

/// Lists of reference data (types, pipelines, stages, users, field definitions, tags): short,
/// read whole. They show no paging arguments to clients and return up to [`MAX_LIMIT`] records
/// a call; the paging arguments are accepted as on every list.
pub const REFERENCE_LISTS: &[&str] = &[
    "crm_list_engagement_types",
    "crm_list_fields",
    "crm_list_pipelines",
    "crm_list_stages",
    "crm_list_tags",
    "crm_list_users",
    "directory_list_users",
];

// How much of each record a list returns: a lean summary (default) or the whole record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Detail {
    #[default]
    Summary,
    Full,
}

impl Detail {
    pub fn apply<T: Summary>(self, record: T) -> T {
        match self {
            Detail::Summary => record.summary(),
            Detail::Full => record,
        }
    }
}

/// Paging arguments of every list tool.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct Paging {
    #[serde(default, deserialize_with = "limit")]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub fetch_all: bool,
    #[serde(default, deserialize_with = "max_records")]
    pub max_records: Option<u32>,
    #[serde(default)]
    pub include_remote_data: bool,
}

impl Paging {
    /// Every page up to `max_records` (default [`DEFAULT_MAX_RECORDS`]): asked by `fetch_all`,
    /// or by `max_records` alone.
    pub fn fetches_all(&self) -> bool {
        self.fetch_all || self.max_records.is_some()
    }
}

// Paging is flattened into each list tool's arguments, where serde loses the field's path: the
// range is said here, naming the argument, rather than as "expected a whole number".
fn limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    count(d, "limit", MAX_LIMIT)
}

fn max_records<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    count(d, "max_records", MAX_MAX_RECORDS)
}

fn count<'de, D: serde::Deserializer<'de>>(
    d: D,
    name: &str,
    max: u32,
) -> Result<Option<u32>, D::Error> {
    match Option::<i64>::deserialize(d)? {
        None => Ok(None),
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| (1..=max).contains(n))
            .map(Some)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("`{name}` must be between 1 and {max}; got {n}"))
            }),
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct CursorState {
    /// Tool the cursor belongs to.
    t: String,
    /// Next Capsule page (1-based).
    p: u32,
    /// Records of page `p` already returned (a page cut to `limit` or `max_records`).
    #[serde(default, skip_serializing_if = "is_zero")]
    o: u32,
    /// Capsule's page size for `p` (pages are numbered at this size).
    l: u32,
    /// The filters of the first call.
    f: Value,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
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

/// Where a list call starts: the Capsule page, the records of it already returned, the page
/// size to ask Capsule for, and how many records this call returns at most.
pub struct Start {
    pub page: u32,
    pub skip: u32,
    pub per_page: u32,
    pub want: usize,
}

/// Resolves paging against the filters given in this call. With a cursor, filters given again
/// must equal the cursor's (they are part of it); different ones are refused.
pub fn start(tool: &str, paging: &Paging, filters: &Value) -> Result<Start, ToolError> {
    start_capped(tool, paging, filters, MAX_LIMIT)
}

/// [`start`] for a list whose Capsule pages hold at most `cap` records.
fn start_capped(
    tool: &str,
    paging: &Paging,
    filters: &Value,
    cap: u32,
) -> Result<Start, ToolError> {
    if let Some(limit) = paging.limit
        && !(1..=MAX_LIMIT).contains(&limit)
    {
        return Err(ToolError::invalid(format!(
            "`limit` must be between 1 and {MAX_LIMIT}; got {limit}"
        )));
    }
    if let Some(max) = paging.max_records
        && !(1..=MAX_MAX_RECORDS).contains(&max)
    {
        return Err(ToolError::invalid(format!(
            "`max_records` must be between 1 and {MAX_MAX_RECORDS}; got {max}"
        )));
    }
    // `max_records` alone asks for every page up to it: `fetch_all` is implied.
    let fetch_all = paging.fetches_all();
    let max_records = paging.max_records.unwrap_or(DEFAULT_MAX_RECORDS) as usize;
    match &paging.cursor {
        None => {
            let default = if REFERENCE_LISTS.contains(&tool) {
                MAX_LIMIT
            } else {
                DEFAULT_LIMIT
            };
            let limit = paging.limit.unwrap_or(default);
            Ok(Start {
                page: 1,
                skip: 0,
                // fetch_all reads the largest pages: `limit: 1` must not cost a request a record.
                per_page: if fetch_all { cap } else { limit.min(cap) },
                want: if fetch_all {
                    max_records
                } else {
                    limit as usize
                },
            })
        }
        Some(cursor) => {
            let state = decode_cursor(cursor, tool)?;
            let given_filters = filters.as_object().is_some_and(|m| !m.is_empty());
            if given_filters && *filters != state.f {
                return Err(ToolError::invalid(
                    "the filters differ from those of the cursor; repeat the first call's \
                     filters or leave them out when passing `cursor`",
                ));
            }
            // Pages stay numbered at the cursor's size; `limit` may differ, the page is cut.
            Ok(Start {
                page: state.p,
                skip: state.o,
                per_page: state.l.min(cap),
                want: if fetch_all {
                    max_records
                } else {
                    paging.limit.unwrap_or(state.l) as usize
                },
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

/// Runs a list: one page, or with `fetch_all` page after page up to the bound. `fetch` gets
/// the Capsule page number and size and returns that page's records (after any local filter).
pub async fn run<T, F, Fut>(
    tool: &str,
    paging: &Paging,
    filters: Value,
    cx: &CallCx,
    fetch: F,
) -> Result<ListResult<T>, ToolError>
where
    T: Serialize,
    F: FnMut(u32, u32) -> Fut,
    Fut: Future<Output = Result<Fetched<T>, ToolError>>,
{
    run_capped(tool, paging, filters, cx, MAX_LIMIT, fetch).await
}

/// [`run`] for a list whose Capsule pages hold at most `cap` records (a record's timeline: 50).
pub async fn run_capped<T, F, Fut>(
    tool: &str,
    paging: &Paging,
    filters: Value,
    cx: &CallCx,
    cap: u32,
    fetch: F,
) -> Result<ListResult<T>, ToolError>
where
    T: Serialize,
    F: FnMut(u32, u32) -> Fut,
    Fut: Future<Output = Result<Fetched<T>, ToolError>>,
{
    run_budgeted(tool, paging, filters, cx, cap, BUDGET_BYTES, fetch).await
}

/// [`run_capped`] with the records' compact JSON held to `budget` bytes: the record that would
/// pass it and those after it are left for `next_cursor` (at least one record is returned).
async fn run_budgeted<T, F, Fut>(
    tool: &str,
    paging: &Paging,
    filters: Value,
    cx: &CallCx,
    cap: u32,
    budget: usize,
    mut fetch: F,
) -> Result<ListResult<T>, ToolError>
where
    T: Serialize,
    F: FnMut(u32, u32) -> Fut,
    Fut: Future<Output = Result<Fetched<T>, ToolError>>,
{
    let start = start_capped(tool, paging, &filters, cap)?;
    let filters = filters_of(tool, paging)?.unwrap_or(filters);
    let mut page = start.page;
    let mut skip = start.skip as usize;
    let mut result = Vec::new();
    let mut pages = 0u32;
    let mut used = 0usize;
    let mut over_budget = false;
    // Where the next call goes on: (Capsule page, records of it already returned).
    let next = loop {
        let fetched = fetch(page, start.per_page).await?;
        pages += 1;
        let on_page = fetched.items.len();
        let room = start.want.saturating_sub(result.len());
        let mut taken = 0usize;
        for item in fetched.items.into_iter().skip(skip).take(room) {
            // A comma or bracket each.
            let size = serde_json::to_vec(&item).map_or(0, |b| b.len()) + 1;
            // `fetch_all` asked for every record up to `max_records`: a page's budget is not its.
            if !paging.fetches_all() && used + size > budget && !result.is_empty() {
                over_budget = true;
                break;
            }
            used += size;
            result.push(item);
            taken += 1;
        }
        if paging.fetches_all() {
            cx.progress(
                result.len() as f64,
                None,
                format!("{} records from {pages} pages", result.len()),
            )
            .await;
        }
        if skip + taken < on_page || over_budget {
            // Cut (to `limit`, `max_records` or the budget): the rest of this page comes next.
            break Some((page, skip + taken));
        }
        if !fetched.has_next {
            break None;
        }
        if !paging.fetches_all() || result.len() >= start.want || cx.ct.is_cancelled() {
            break Some((page + 1, 0));
        }
        page += 1;
        skip = 0;
    };
    let next_cursor = next.map(|(p, o)| {
        encode_cursor(&CursorState {
            t: tool.to_owned(),
            p,
            o: u32::try_from(o).unwrap_or(u32::MAX),
            l: start.per_page,
            f: filters,
        })
    });
    Ok(ListResult {
        result_count: result.len(),
        result,
        next_cursor,
        truncated: over_budget.then(|| "budget".to_owned()),
        searched: None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    fn cx() -> CallCx {
        CallCx {
            peer: None,
            progress_token: None,
            ct: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// A list of `total` records numbered from 1; `honour_per_page: false` answers every page
    /// request with all of them, as an upstream that ignores `perPage`. Logs each request.
    fn source(
        total: u32,
        honour_per_page: bool,
        log: Arc<Mutex<Vec<(u32, u32)>>>,
    ) -> impl FnMut(u32, u32) -> std::future::Ready<Result<Fetched<u32>, ToolError>> {
        move |page, per_page| {
            log.lock().unwrap().push((page, per_page));
            let all: Vec<u32> = (1..=total).collect();
            std::future::ready(Ok(if honour_per_page {
                local_page(&all, page, per_page)
            } else {
                Fetched {
                    items: all,
                    has_next: false,
                }
            }))
        }
    }

    async fn list(paging: Paging, total: u32, honour: bool) -> (ListResult<u32>, Vec<(u32, u32)>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let r = run(
            "t",
            &paging,
            json!({}),
            &cx(),
            source(total, honour, log.clone()),
        )
        .await
        .unwrap();
        let log = log.lock().unwrap().clone();
        (r, log)
    }

    fn paging(
        limit: Option<u32>,
        fetch_all: bool,
        max: Option<u32>,
        cursor: Option<String>,
    ) -> Paging {
        Paging {
            limit,
            cursor,
            fetch_all,
            max_records: max,
            include_remote_data: false,
        }
    }

    #[tokio::test]
    async fn a_page_is_cut_to_limit_and_the_cursor_resumes_after_the_cut() {
        // An upstream that ignores perPage sends 20,481 records for `limit: 2`.
        let (r, _) = list(paging(Some(2), false, None, None), 20_481, false).await;
        assert_eq!(r.result, vec![1, 2]);
        let (r2, _) = list(paging(None, false, None, r.next_cursor), 20_481, false).await;
        assert_eq!(r2.result, vec![3, 4]);
        // Cursors walk the whole of a well-behaved list with nothing twice or missed.
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut first = true;
        loop {
            let limit = first.then_some(7);
            first = false;
            let (r, _) = list(paging(limit, false, None, cursor), 30, true).await;
            seen.extend(r.result);
            match r.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, (1..=30).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn fetch_all_reads_the_largest_pages_and_cuts_to_max_records() {
        let (r, log) = list(paging(Some(1), true, Some(250), None), 1_000, true).await;
        assert_eq!(r.result_count, 250);
        assert_eq!(
            log,
            vec![(1, 100), (2, 100), (3, 100)],
            "pages of 100, not of 1"
        );
        // The cursor points inside page 3, after record 250.
        let (rest, log) = list(paging(None, true, Some(5_000), r.next_cursor), 1_000, true).await;
        assert_eq!(rest.result.first(), Some(&251));
        assert_eq!(rest.result_count, 750);
        assert_eq!(log.first(), Some(&(3, 100)));
        assert!(rest.next_cursor.is_none());
        // An upstream that ignores perPage: one request, cut to the bound.
        let (r, log) = list(paging(None, true, Some(10), None), 20_481, false).await;
        assert_eq!((r.result_count, log.len()), (10, 1));
        assert!(r.next_cursor.is_some());
    }

    #[tokio::test]
    async fn a_page_over_the_budget_is_cut_and_the_cursor_resumes_at_the_cut() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let p = paging(Some(10), false, None, None);
        // Each record is 1-2 bytes of JSON and a comma: 8 bytes hold records 1..=4 (2+2+2+2).
        let r = run_budgeted(
            "t",
            &p,
            json!({}),
            &cx(),
            100,
            8,
            source(30, true, log.clone()),
        )
        .await
        .unwrap();
        assert_eq!(r.result, vec![1, 2, 3, 4]);
        assert_eq!(r.truncated.as_deref(), Some("budget"));
        let (next, _) = list(paging(None, false, None, r.next_cursor), 30, true).await;
        assert_eq!(
            next.result.first(),
            Some(&5),
            "resumes at the first record left out"
        );
        // One record over the budget is still returned: a page always makes progress.
        let r = run_budgeted("t", &p, json!({}), &cx(), 100, 1, source(30, true, log))
            .await
            .unwrap();
        assert_eq!(r.result, vec![1]);
        // Within the budget nothing says truncated.
        let (r, _) = list(paging(Some(10), false, None, None), 30, true).await;
        assert!(r.truncated.is_none());
        assert_eq!(r.result_count, 10);
    }

    #[test]
    fn cursor_round_trip_and_tampering() {
        let state = CursorState {
            t: "crm_list_contacts".into(),
            p: 3,
            o: 7,
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
        p.max_records = Some(0);
        assert!(start("t", &p, &f).is_err(), "max_records is at least 1");
        p.max_records = Some(10);
        let alone = start("t", &p, &f).unwrap();
        assert_eq!(
            alone.want, 10,
            "max_records alone reads every page up to it"
        );
        assert_eq!(alone.per_page, MAX_LIMIT, "with Capsule's largest pages");
        p.fetch_all = true;
        assert_eq!(start("t", &p, &f).unwrap().want, 10);
        p.max_records = Some(5_001);
        assert!(start("t", &p, &f).is_err());
    }

    #[test]
    fn reference_lists_return_up_to_the_largest_page() {
        let p = Paging::default();
        assert_eq!(start("crm_list_users", &p, &json!({})).unwrap().want, 100);
        assert_eq!(start("crm_list_contacts", &p, &json!({})).unwrap().want, 50);
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
            o: 0,
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
