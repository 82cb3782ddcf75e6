//! What write tools share: `dry_run` plans and id arguments.

use serde_json::{Map, Value};

use super::ToolError;
use crate::capsule::map::parse_id;
use crate::unified::DryRun;

/// The exact request a write would send.
pub fn plan(method: &str, path: String, wrapper: &str, body: Option<Map<String, Value>>) -> DryRun {
    DryRun {
        dry_run: true,
        method: method.to_owned(),
        path,
        body: body.map(|b| {
            let mut outer = Map::new();
            outer.insert(wrapper.to_owned(), Value::Object(b));
            Value::Object(outer)
        }),
    }
}

/// Parses an `id` argument, naming the tool that lists valid ones.
pub fn record_id(id: &str, noun: &str, list_tool: &str) -> Result<i64, ToolError> {
    parse_id("id", id).map_err(|_| {
        ToolError::invalid(format!(
            "`id` must be a {noun} id such as \"11587\" (from {list_tool}); got \"{id}\""
        ))
    })
}
