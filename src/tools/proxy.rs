//! `capsule_api_request`: the raw proxy for the parts of Capsule's API the unified tools do not
//! cover. It takes a path under the API root, never a URL or a host; the server adds the
//! credential, and a path that could leave the API root is refused before any request.

use std::collections::BTreeMap;

use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Kind, Meta, ToolError, ToolSpec, tool};
use crate::capsule::{Method, Request};

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Delete,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ApiRequest {
    /// Only GET in read-only mode.
    pub method: HttpMethod,
    /// E.g. `/parties/11/entries`.
    pub path: String,
    #[serde(default)]
    pub query: Option<BTreeMap<String, String>>,
    /// In Capsule's envelope, e.g. `{"party": {...}}`.
    #[serde(default)]
    pub body: Option<Value>,
}

/// What the proxy says of itself in read-only mode.
pub const READ_ONLY_DESCRIPTION: &str = "GET a Capsule API v2 path the crm_* tools lack.";

/// The proxy's input schema in read-only mode: `method` can only be `GET`, and a GET has no
/// body.
pub fn read_only_input(schema: &JsonObject) -> JsonObject {
    let mut schema = schema.clone();
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props.shift_remove("body");
        props.insert(
            "method".into(),
            serde_json::json!({"type": "string", "enum": ["GET"]}),
        );
    }
    schema
}

/// Capsule's answer, as it came.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApiResponse {
    pub status: u16,
    /// `Link`, `Location` and `X-RateLimit-*` when Capsule sent them.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

/// Refuses anything that could reach outside the API root: `..` and `.` segments, `//`,
/// `@`, backslashes, schemes, encoded separators or dots, control characters, queries and
/// fragments. Only a plain percent-encoded path under `/` passes.
pub fn check_path(path: &str) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "`path` refused: {why}. Give a path such as /parties/11587"
        ))
    };
    if !path.starts_with('/') {
        return refuse("it must start with /");
    }
    if path.len() > 2048 {
        return refuse("it is too long");
    }
    if path.starts_with("//") || path.contains("//") {
        return refuse("it must not contain //");
    }
    for c in path.chars() {
        let ok = c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | ',' | '~' | '%');
        if !ok {
            return match c {
                '?' | '#' => refuse("put query parameters in `query`, not in the path"),
                '@' | ':' | '\\' => refuse("hosts, schemes and credentials are not allowed"),
                c if c.is_control() => refuse("control characters are not allowed"),
                _ => refuse("only letters, digits and / - _ . , ~ are allowed"),
            };
        }
    }
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = path.get(i + 1..i + 3).unwrap_or("");
            let Ok(byte) = u8::from_str_radix(hex, 16) else {
                return refuse("a % must start an encoded byte");
            };
            if !(byte.is_ascii_alphanumeric() || byte == b' ' || byte == b'-' || byte == b'_') {
                return refuse("encoded separators, dots and control characters are not allowed");
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return refuse("it must not contain . or .. segments");
    }
    Ok(())
}

pub fn tools() -> Vec<ToolSpec> {
    vec![tool(
        Meta {
            name: "capsule_api_request",
            title: "Capsule API request",
            description: "Any Capsule API v2 endpoint the crm_* tools lack (tracks, filters, site, ...). Writes are sent once, never retried.",
            toolset: "proxy",
            kind: Kind::Proxy,
        },
        |app, a: ApiRequest, _cx| async move {
            check_path(&a.path).map_err(ToolError::invalid)?;
            let method = match a.method {
                HttpMethod::Get => Method::Get,
                HttpMethod::Post => Method::Post,
                HttpMethod::Put => Method::Put,
                HttpMethod::Delete => Method::Delete,
            };
            if app.read_only && method != Method::Get {
                return Err(ToolError::forbidden(
                    "this server is read-only: capsule_api_request only sends GET",
                ));
            }
            if a.body.is_some() && matches!(method, Method::Get | Method::Delete) {
                return Err(ToolError::invalid("`body` is only for POST and PUT"));
            }
            // Only a GET is known to be a read here; any other method is a write and, as the
            // description promises, goes on the wire once (not even a 429 is sent again).
            let mut req = Request::new(method, a.path.clone());
            if method != Method::Get {
                req = req.once();
            }
            for (k, v) in a.query.iter().flatten() {
                req = req.query(k, v.clone());
            }
            if let Some(body) = a.body {
                req = req.body(body);
            }
            let resp = app.client.execute(&req).await?;
            if !resp.is_success() {
                let err = ToolError::from(resp.to_error());
                let mut details = err.0.details.clone();
                details.push(serde_json::json!({ "body": resp.body }));
                return Err(err.with_details(details));
            }
            let headers = resp
                .headers
                .iter()
                .map(|(k, v)| (canonical(k), v.clone()))
                .collect();
            Ok(ApiResponse {
                status: resp.status,
                headers,
                body: resp.body,
            })
        },
    )]
}

fn canonical(name: &str) -> String {
    match name {
        "link" => "Link".into(),
        "location" => "Location".into(),
        "x-ratelimit-limit" => "X-RateLimit-Limit".into(),
        "x-ratelimit-remaining" => "X-RateLimit-Remaining".into(),
        "x-ratelimit-reset" => "X-RateLimit-Reset".into(),
        "x-pagination-has-more" => "X-Pagination-Has-More".into(),
        "retry-after" => "Retry-After".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn allows_api_paths() {
        for ok in [
            "/parties",
            "/parties/11587/entries",
            "/parties/1,2,3",
            "/kases/fields/definitions",
            "/users/current",
            "/parties/search",
            "/tags/VIP%20Client",
        ] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_paths_that_could_leave_the_api_root() {
        for bad in [
            "parties",
            "//evil.example/x",
            "/parties//x",
            "/../oauth/token",
            "/parties/../../oauth/token",
            "/parties/./1",
            "/%2e%2e/oauth",
            "/%2E%2E/oauth",
            "/parties%2f..%2foauth",
            "/parties%5c..",
            "/x@evil.example",
            "/http://evil.example",
            "/parties?page=2",
            "/parties#frag",
            "/parties\r\nHost: evil",
            "/parties\\..",
            "/parties%0d%0a",
            "/parties%",
            "/parties%zz",
            "/parties%252e",
            "/ü",
            "",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
