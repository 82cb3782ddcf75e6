//! Request/response plumbing shared by every `/api/v2` handler: errors in
//! Capsule's shapes, query parsing, JSON body access and pagination.

use axum::body::Bytes;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};

/// One `errors[]` item of a 422 answer.
#[derive(Debug, Clone)]
pub(crate) struct FieldError {
    pub message: String,
    pub resource: String,
    pub field: Option<String>,
}

/// Every way a handler can fail; each maps onto Capsule's documented answer.
#[derive(Debug, Clone)]
pub(crate) enum ApiError {
    BadRequest(String),
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    MethodNotAllowed,
    Validation(Vec<FieldError>),
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// A 422 with one error item.
pub(crate) fn invalid(resource: &str, field: Option<&str>, message: impl Into<String>) -> ApiError {
    ApiError::Validation(vec![FieldError {
        message: message.into(),
        resource: resource.to_string(),
        field: field.map(str::to_string),
    }])
}

pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::NotFound(message.into())
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    pub(crate) fn body(&self) -> Value {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m) => json!({ "message": m }),
            ApiError::MethodNotAllowed => json!({ "message": "Method not allowed" }),
            ApiError::Validation(errors) => {
                let items: Vec<Value> = errors
                    .iter()
                    .map(|e| {
                        json!({ "message": e.message, "resource": e.resource, "field": e.field })
                    })
                    .collect();
                json!({ "message": "Validation Failed", "errors": items })
            }
        }
    }
}

/// A handler's successful answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
    /// A non-JSON body (attachment downloads): content type and bytes.
    pub raw: Option<(String, Vec<u8>)>,
}

impl Reply {
    pub(crate) fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            headers: Vec::new(),
            body: Some(body),
            raw: None,
        }
    }

    pub(crate) fn created(location: String, body: Value) -> Reply {
        Reply {
            status: StatusCode::CREATED,
            headers: vec![("location", location)],
            body: Some(body),
            raw: None,
        }
    }

    pub(crate) fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            headers: Vec::new(),
            body: None,
            raw: None,
        }
    }
}

/// A routed `/api/v2` request.
#[derive(Debug)]
pub(crate) struct Req {
    pub method: Method,
    /// Route template without method, e.g. `/parties/{id}/entries`.
    pub template: &'static str,
    /// The raw path after `/api/v2`, e.g. `/parties/12/entries`.
    pub path: String,
    /// Values captured by `{id}` segments, in order.
    pub params: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Bytes,
    pub headers: http::HeaderMap,
    /// `http://host:port/api/v2`, used for `Location` and `Link`.
    pub api_base: String,
}

impl Req {
    pub(crate) fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    /// The `{id}` segment `i` as an id, or a 404 with `what not found`.
    pub(crate) fn id(&self, i: usize, what: &str) -> ApiResult<i64> {
        parse_id(self.param(i)).ok_or_else(|| not_found(format!("{what} not found")))
    }

    pub(crate) fn embed(&self) -> Embed {
        let mut e = Embed::default();
        if let Some(v) = self.q("embed") {
            for part in v.split(',') {
                match part.trim() {
                    "tags" => e.tags = true,
                    "fields" => e.fields = true,
                    "missingImportantFields" => e.missing = true,
                    "memberships" => e.memberships = true,
                    // Unknown values are ignored, like Capsule does.
                    _ => {}
                }
            }
        }
        e
    }

    /// The JSON body's envelope object, e.g. `{"party": {...}}` → the inner map.
    pub(crate) fn envelope(&self, key: &str) -> ApiResult<Map<String, Value>> {
        let v = self.json()?;
        match v {
            Value::Object(mut m) => match m.remove(key) {
                Some(Value::Object(inner)) => Ok(inner),
                Some(_) => Err(invalid(key, Some(key), format!("{key} must be an object"))),
                None => Err(invalid(key, Some(key), format!("{key} is required"))),
            },
            _ => Err(invalid(key, None, format!("{key} is required"))),
        }
    }

    pub(crate) fn json(&self) -> ApiResult<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Map::new()));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::BadRequest(format!("Malformed JSON in request body: {e}")))
    }

    pub(crate) fn location(&self, collection: &str, id: i64) -> String {
        format!("{}/{collection}/{id}", self.api_base)
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Embed {
    pub tags: bool,
    pub fields: bool,
    pub missing: bool,
    pub memberships: bool,
}

pub(crate) fn parse_id(s: &str) -> Option<i64> {
    s.trim().parse::<i64>().ok()
}

/// Parses a comma list of ids for multi-show (`/parties/1,2,3`).
pub(crate) fn parse_ids(s: &str, resource: &str, what: &str) -> ApiResult<Vec<i64>> {
    let parts: Vec<&str> = s.split(',').filter(|p| !p.trim().is_empty()).collect();
    if parts.len() > 10 {
        return Err(invalid(resource, Some("id"), "too many ids"));
    }
    if parts.is_empty() {
        return Err(not_found(format!("{what} not found")));
    }
    parts
        .iter()
        .map(|p| parse_id(p).ok_or_else(|| not_found(format!("{what} not found"))))
        .collect()
}

// ---------------------------------------------------------------------------
// Time helpers

pub(crate) fn fmt_ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn fmt_date(d: &NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(crate) fn ts_value(t: &Option<DateTime<Utc>>) -> Value {
    t.as_ref().map_or(Value::Null, |t| Value::String(fmt_ts(t)))
}

pub(crate) fn date_value(d: &Option<NaiveDate>) -> Value {
    d.as_ref()
        .map_or(Value::Null, |d| Value::String(fmt_date(d)))
}

pub(crate) fn opt_str(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

/// Lenient ISO-8601 timestamp parsing: RFC 3339, naive (treated as UTC) or a bare date.
pub(crate) fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)))
}

pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// Reads the optional `since` query parameter (422 on a bad timestamp).
pub(crate) fn since_param(req: &Req, resource: &str) -> ApiResult<Option<DateTime<Utc>>> {
    match req.q("since") {
        None => Ok(None),
        Some(s) => parse_ts(s)
            .map(Some)
            .ok_or_else(|| invalid(resource, Some("since"), "since is not a valid timestamp")),
    }
}

// ---------------------------------------------------------------------------
// Typed access to JSON bodies. Each getter returns `None` when the key is
// absent, `Some(None)` for an explicit null and `Some(Some(v))` otherwise, so
// partial updates can tell "leave alone" from "clear".

pub(crate) type Tri<T> = Option<Option<T>>;

fn type_err(resource: &str, key: &str) -> ApiError {
    invalid(resource, Some(key), format!("{key}: invalid type"))
}

pub(crate) fn get_str(
    obj: &Map<String, Value>,
    key: &str,
    resource: &str,
) -> ApiResult<Tri<String>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(type_err(resource, key)),
    }
}

/// A string where an empty string also counts as null.
pub(crate) fn get_text(
    obj: &Map<String, Value>,
    key: &str,
    resource: &str,
) -> ApiResult<Tri<String>> {
    Ok(get_str(obj, key, resource)?.map(|o| o.filter(|s| !s.is_empty())))
}

pub(crate) fn get_bool(
    obj: &Map<String, Value>,
    key: &str,
    resource: &str,
) -> ApiResult<Tri<bool>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Bool(b)) => Ok(Some(Some(*b))),
        Some(_) => Err(type_err(resource, key)),
    }
}

pub(crate) fn get_i64(obj: &Map<String, Value>, key: &str, resource: &str) -> ApiResult<Tri<i64>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(|v| Some(Some(v)))
            .ok_or_else(|| type_err(resource, key)),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(|v| Some(Some(v)))
            .map_err(|_| type_err(resource, key)),
        Some(_) => Err(type_err(resource, key)),
    }
}

pub(crate) fn get_date(
    obj: &Map<String, Value>,
    key: &str,
    resource: &str,
) -> ApiResult<Tri<NaiveDate>> {
    match get_str(obj, key, resource)? {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) if s.is_empty() => Ok(Some(None)),
        Some(Some(s)) => parse_date(&s)
            .map(|d| Some(Some(d)))
            .ok_or_else(|| invalid(resource, Some(key), format!("{key}: invalid date"))),
    }
}

pub(crate) fn get_ts(
    obj: &Map<String, Value>,
    key: &str,
    resource: &str,
) -> ApiResult<Tri<DateTime<Utc>>> {
    match get_str(obj, key, resource)? {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) => parse_ts(&s)
            .map(|d| Some(Some(d)))
            .ok_or_else(|| invalid(resource, Some(key), format!("{key}: invalid timestamp"))),
    }
}

/// A nested reference: `{"id": N}`, a bare number, or `null`.
/// Objects without an id (e.g. `{"name": "Bid"}`) come back as `RefArg::Name`.
#[derive(Debug, Clone)]
pub(crate) enum RefArg {
    Id(i64),
    Name(String),
}

pub(crate) fn get_ref(
    obj: &Map<String, Value>,
    key: &str,
    resource: &str,
) -> ApiResult<Tri<RefArg>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(|v| Some(Some(RefArg::Id(v))))
            .ok_or_else(|| type_err(resource, key)),
        Some(Value::Object(m)) => match m.get("id") {
            Some(Value::Number(n)) => n
                .as_i64()
                .map(|v| Some(Some(RefArg::Id(v))))
                .ok_or_else(|| type_err(resource, key)),
            Some(Value::String(s)) => s
                .parse::<i64>()
                .map(|v| Some(Some(RefArg::Id(v))))
                .map_err(|_| type_err(resource, key)),
            Some(Value::Null) | None => match m.get("name") {
                Some(Value::String(s)) => Ok(Some(Some(RefArg::Name(s.clone())))),
                _ => Err(invalid(
                    resource,
                    Some(key),
                    format!("{key}: id is required"),
                )),
            },
            Some(_) => Err(type_err(resource, key)),
        },
        Some(_) => Err(type_err(resource, key)),
    }
}

/// An array of objects (nested collections); 422 for anything else.
pub(crate) fn get_items<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    resource: &str,
) -> ApiResult<Option<Vec<&'a Map<String, Value>>>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_object().ok_or_else(|| type_err(resource, key)))
            .collect::<ApiResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(type_err(resource, key)),
    }
}

pub(crate) fn is_delete(item: &Map<String, Value>) -> bool {
    matches!(item.get("_delete"), Some(Value::Bool(true)))
}

pub(crate) fn item_id(
    item: &Map<String, Value>,
    resource: &str,
    key: &str,
) -> ApiResult<Option<i64>> {
    match item.get("id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| type_err(resource, key)),
        Some(Value::String(s)) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| type_err(resource, key)),
        Some(_) => Err(type_err(resource, key)),
    }
}

// ---------------------------------------------------------------------------
// Pagination

/// Page size limits. Capsule documents `perPage` as 1–100 (1–50 for a
/// record's entries) but does not say what happens outside that range. The
/// sandbox chooses to answer 422 Validation Failed with a clear message
/// (rather than clamping) so clients notice the mistake in tests.
pub(crate) const MAX_PER_PAGE: usize = 100;
pub(crate) const MAX_ENTRIES_PER_PAGE: usize = 50;
pub(crate) const DEFAULT_PER_PAGE: usize = 50;

#[derive(Debug, Clone, Copy)]
pub(crate) struct PageArgs {
    pub page: usize,
    pub per_page: usize,
}

pub(crate) fn page_args(req: &Req, max: usize) -> ApiResult<PageArgs> {
    let page = match req.q("page") {
        None => 1,
        Some(s) => match s.trim().parse::<usize>() {
            Ok(p) if p >= 1 => p,
            _ => {
                return Err(invalid(
                    "page",
                    Some("page"),
                    "page must be a positive integer",
                ));
            }
        },
    };
    let per_page = match req.q("perPage") {
        None => DEFAULT_PER_PAGE.min(max),
        Some(s) => match s.trim().parse::<usize>() {
            Ok(p) if (1..=max).contains(&p) => p,
            _ => {
                return Err(invalid(
                    "page",
                    Some("perPage"),
                    format!("perPage must be between 1 and {max}"),
                ));
            }
        },
    };
    Ok(PageArgs { page, per_page })
}

/// Slices `items` per the request's page arguments and builds the list
/// answer with `Link` and `X-Pagination-Has-More` headers.
pub(crate) fn paged<T>(
    req: &Req,
    items: Vec<T>,
    max: usize,
    list_key: &str,
    render: impl Fn(&T) -> Value,
) -> ApiResult<Reply> {
    let args = page_args(req, max)?;
    let total = items.len();
    let start = (args.page - 1).saturating_mul(args.per_page);
    let has_more = start.saturating_add(args.per_page) < total;
    let values: Vec<Value> = items
        .iter()
        .skip(start)
        .take(args.per_page)
        .map(render)
        .collect();
    let mut body = Map::new();
    body.insert(list_key.to_string(), Value::Array(values));
    if req
        .q("embed")
        .is_some_and(|e| e.split(',').any(|p| p.trim() == "meta"))
    {
        body.insert("meta".into(), json!({ "totalCount": total }));
    }
    let mut reply = Reply::ok(Value::Object(body));
    let mut links = Vec::new();
    if args.page > 1 {
        links.push(format!(
            "<{}>; rel=\"prev\"",
            page_url(req, args.page - 1, args.per_page)
        ));
    }
    if has_more {
        links.push(format!(
            "<{}>; rel=\"next\"",
            page_url(req, args.page + 1, args.per_page)
        ));
    }
    if !links.is_empty() {
        reply.headers.push(("link", links.join(", ")));
    }
    reply
        .headers
        .push(("x-pagination-has-more", has_more.to_string()));
    Ok(reply)
}

fn page_url(req: &Req, page: usize, per_page: usize) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &req.query {
        if k != "page" && k != "perPage" {
            ser.append_pair(k, v);
        }
    }
    ser.append_pair("page", &page.to_string());
    ser.append_pair("perPage", &per_page.to_string());
    format!("{}{}?{}", req.api_base, req.path, ser.finish())
}

/// A list answer without pagination (users, teams, countries...).
pub(crate) fn unpaged(list_key: &str, values: Vec<Value>) -> Reply {
    let mut body = Map::new();
    body.insert(list_key.to_string(), Value::Array(values));
    Reply::ok(Value::Object(body))
}

pub(crate) fn single(key: &str, value: Value) -> Value {
    let mut body = Map::new();
    body.insert(key.to_string(), value);
    Value::Object(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn req(query: &[(&str, &str)]) -> Req {
        Req {
            method: Method::GET,
            template: "/parties",
            path: "/parties".into(),
            params: vec![],
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Bytes::new(),
            headers: http::HeaderMap::new(),
            api_base: "http://127.0.0.1:1/api/v2".into(),
        }
    }

    #[test]
    fn per_page_out_of_range_is_422() {
        assert!(page_args(&req(&[("perPage", "0")]), 100).is_err());
        assert!(page_args(&req(&[("perPage", "101")]), 100).is_err());
        assert!(page_args(&req(&[("perPage", "51")]), 50).is_err());
        assert!(page_args(&req(&[("page", "-1")]), 100).is_err());
        assert_eq!(page_args(&req(&[]), 100).unwrap().per_page, 50);
    }

    #[test]
    fn link_keeps_other_params() {
        let r = req(&[
            ("since", "2026-01-01T00:00:00Z"),
            ("perPage", "2"),
            ("page", "2"),
        ]);
        let reply = paged(&r, (0..10).collect(), 100, "parties", |i| json!(i)).unwrap();
        let link = reply
            .headers
            .iter()
            .find(|(k, _)| *k == "link")
            .unwrap()
            .1
            .clone();
        assert!(link.contains("since=2026-01-01T00%3A00%3A00Z&page=3&perPage=2>; rel=\"next\""));
        assert!(link.contains("page=1&perPage=2>; rel=\"prev\""));
    }

    #[test]
    fn timestamps_parse_leniently() {
        assert!(parse_ts("2026-01-01T00:00:00Z").is_some());
        assert!(parse_ts("2026-01-01T00:00:00+02:00").is_some());
        assert!(parse_ts("2026-01-01T00:00:00.123Z").is_some());
        assert!(parse_ts("2026-01-01").is_some());
        assert!(parse_ts("yesterday").is_none());
    }

    #[test]
    fn too_many_ids() {
        assert!(parse_ids("1,2,3,4,5,6,7,8,9,10,11", "party", "party").is_err());
        assert_eq!(parse_ids("1,2", "party", "party").unwrap(), vec![1, 2]);
    }
}
