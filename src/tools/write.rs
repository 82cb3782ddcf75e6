//! What write tools share: where a write goes, its `dry_run` plan, sending it, id arguments.

use serde_json::{Map, Value};

use super::ToolError;
use crate::app::App;
use crate::capsule::{Method, Request, client::unwrap_key, endpoint::Endpoint, map::parse_id};
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

/// Where a write goes: a create (POST to the collection) or an update (PUT to one record).
pub enum Target {
    Create,
    /// `missing` is the message when Capsule says there is no such record.
    Update {
        id: i64,
        missing: String,
    },
}

impl Target {
    fn route(&self, ep: &Endpoint) -> (Method, &'static str, String) {
        match self {
            Target::Create => (Method::Post, "POST", ep.path.to_owned()),
            Target::Update { id, .. } => (Method::Put, "PUT", format!("{}/{id}", ep.path)),
        }
    }

    /// The exact request [`Target::send`] would make, for `dry_run`.
    pub fn plan(&self, ep: &Endpoint, body: Map<String, Value>) -> DryRun {
        let (_, verb, path) = self.route(ep);
        plan(verb, path, ep.single, Some(body))
    }

    /// Sends `body` in `ep`'s envelope (asking for `embed` in the answer) and returns the
    /// stored record. A 404 names what is missing: on a create only a linked record can be.
    pub async fn send(
        self,
        app: &App,
        ep: &Endpoint,
        body: Map<String, Value>,
        embed: Option<&str>,
    ) -> Result<Value, ToolError> {
        let (method, _, path) = self.route(ep);
        let mut wrapped = Map::new();
        wrapped.insert(ep.single.to_owned(), Value::Object(body));
        let mut req = Request::new(method, path).body(Value::Object(wrapped));
        if let Some(embed) = embed {
            req = req.query("embed", embed);
        }
        let resp = app.client.send(&req).await.map_err(|e| {
            ToolError::from(e).on_write_not_found(match self {
                Target::Create => None,
                Target::Update { missing, .. } => Some(missing),
            })
        })?;
        Ok(unwrap_key(resp.body, ep.single)?)
    }
}
