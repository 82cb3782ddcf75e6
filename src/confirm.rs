//! Confirmed deletes: when the client declares elicitation, a delete tool asks the person to
//! confirm, naming the record and what Capsule cascades, before anything is sent. Without
//! elicitation (or on a 2026-07-28 peer, which has no server-to-client requests) nothing changes;
//! `dry_run` never asks.

use std::sync::Arc;

use rmcp::{
    Peer, RoleServer,
    model::{ClientCapabilities, JsonObject, ProtocolVersion},
    service::ElicitationError,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::{
    app::App,
    server::Registry,
    tools::{CallCx, Kind, ToolError, ToolSpec},
};

/// The answer the person gives.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Confirmation {
    /// Delete it for good?
    pub confirm: bool,
}

rmcp::elicit_safe!(Confirmation);

/// Whether this request may ask the person: elicitation declared, and a protocol that still has
/// server-to-client requests.
pub fn can_ask(version: Option<ProtocolVersion>, caps: Option<&ClientCapabilities>) -> bool {
    version.is_none_or(|v| v < ProtocolVersion::V_2026_07_28)
        && caps.is_some_and(|c| c.elicitation.is_some())
}

fn refused(message: String) -> ToolError {
    ToolError::new(409, "not_confirmed", message)
}

/// Asks before a delete; Err is the result to return instead of deleting.
pub async fn before_delete(
    app: &Arc<App>,
    reg: &Registry,
    spec: &ToolSpec,
    args: Option<&JsonObject>,
    peer: &Peer<RoleServer>,
) -> Result<(), ToolError> {
    if spec.kind() != Kind::Delete {
        return Ok(());
    }
    let dry_run = args
        .and_then(|a| a.get("dry_run"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(id) = args.and_then(|a| a.get("id")).and_then(Value::as_str) else {
        // Without an id the delete's own argument check answers; nothing is sent.
        return Ok(());
    };
    if dry_run {
        return Ok(());
    }
    let get_name = spec.name().replacen("crm_delete_", "crm_get_", 1);
    let noun = spec
        .name()
        .trim_start_matches("crm_delete_")
        .replace('_', " ");
    let record = match reg.get(&get_name) {
        Some(get) => {
            let mut a = JsonObject::new();
            a.insert("id".into(), Value::String(id.to_owned()));
            // A record that cannot be read is not deleted either: its error comes back.
            Some(get.call(app.clone(), Some(a), CallCx::default()).await?)
        }
        None => None,
    };
    let name = record
        .as_ref()
        .and_then(crate::unified::title_of)
        .map(|n| {
            let short: String = n.chars().take(80).collect();
            format!(" “{short}”")
        })
        .unwrap_or_default();
    let what = spec.description();
    let message = format!("Delete {noun}{name} (id {id})? {what} This cannot be undone.");
    match peer.elicit::<Confirmation>(message).await {
        Ok(Some(Confirmation { confirm: true })) => Ok(()),
        Ok(_) | Err(ElicitationError::UserDeclined) | Err(ElicitationError::UserCancelled) => {
            Err(refused(format!(
                "the person did not confirm deleting {noun} {id}: nothing was deleted"
            )))
        }
        Err(ElicitationError::CapabilityNotSupported) => Ok(()),
        Err(e) => Err(refused(format!(
            "could not ask the person to confirm deleting {noun} {id} ({e}): nothing was deleted"
        ))),
    }
}
