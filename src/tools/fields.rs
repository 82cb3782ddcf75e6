//! Custom field definitions of contacts, accounts, opportunities and projects.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{
    Kind, Meta, ToolError, ToolSpec,
    list::{self, Paging},
    tool,
    write::{plan, record_id},
};
use crate::app::App;
use crate::capsule::map::field_def::{self, NewField};
use crate::unified::{EntityType, Field, FieldType, ListResult, WriteResult};

const LIST_TOOL: &str = "crm_list_fields";

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListFields {
    #[serde(flatten)]
    pub paging: Paging,
    #[serde(default)]
    pub entity_type: Option<EntityType>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetField {
    pub id: String,
    #[serde(default)]
    pub entity_type: Option<EntityType>,
    #[serde(default)]
    pub include_remote_data: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateField {
    #[serde(default)]
    pub entity_type: Option<EntityType>,
    pub name: String,
    /// `text` is long text.
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(default)]
    pub description: Option<String>,
    /// Strings or `{label, value}`.
    #[serde(default)]
    pub options: Option<Vec<OptionInput>>,
    /// Flag records missing it.
    #[serde(default)]
    pub is_important: Option<bool>,
    #[serde(default)]
    pub dry_run: bool,
}

/// An `enum` choice: a plain string or the `{label, value}` shape fields are read in.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OptionInput {
    Text(String),
    Pair {
        #[serde(default)]
        label: Option<String>,
        value: String,
    },
}

impl OptionInput {
    fn value(&self) -> String {
        match self {
            OptionInput::Text(s) => s.clone(),
            OptionInput::Pair { value, .. } => value.clone(),
        }
    }
}

fn required() -> ToolError {
    ToolError::invalid(format!(
        "`entity_type` is required: one of {}",
        EntityType::VALUES
    ))
}

/// The entity type in force: the cursor's, else the argument.
fn entity_of(paging: &Paging, given: Option<EntityType>) -> Result<EntityType, ToolError> {
    let from_cursor = list::filters_of(LIST_TOOL, paging)?
        .and_then(|f| {
            f.get("entity_type")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .and_then(|s| EntityType::parse(&s));
    from_cursor.or(given).ok_or_else(required)
}

/// Every definition of the entity's Capsule collection (cached).
async fn definitions(app: &App, entity: EntityType) -> Result<Arc<Vec<Value>>, ToolError> {
    let ep = field_def::endpoint(entity);
    Ok(app
        .refdata
        .list(&app.client, ep.path, ep.plural, &[])
        .await?)
}

fn applies(raw: &Value, entity: EntityType) -> Result<bool, ToolError> {
    Ok(field_def::applies(&field_def::decode(raw)?, entity))
}

async fn list_fields(
    app: Arc<App>,
    a: ListFields,
    cx: super::CallCx,
) -> Result<ListResult<Field>, ToolError> {
    let filters = match a.entity_type {
        Some(e) => serde_json::json!({ "entity_type": e.as_str() }),
        None => serde_json::json!({}),
    };
    let entity = entity_of(&a.paging, a.entity_type)?;
    let include_raw = a.paging.include_remote_data;
    list::run(LIST_TOOL, &a.paging, filters, &cx, |page, limit| {
        let app = app.clone();
        async move {
            let raw = definitions(&app, entity).await?;
            let mut fields = Vec::new();
            for d in raw.iter() {
                if applies(d, entity)? {
                    fields.push(field_def::to_field(d, entity, include_raw)?);
                }
            }
            Ok(list::local_page(&fields, page, limit))
        }
    })
    .await
}

async fn get_field(app: Arc<App>, a: GetField) -> Result<Field, ToolError> {
    let entity = a.entity_type.ok_or_else(required)?;
    let n = record_id(&a.id, "custom field", LIST_TOOL)?;
    let not_found = || {
        ToolError::not_found(format!(
            "no {} field {}; find ids with {LIST_TOOL} (entity_type {})",
            entity.as_str(),
            a.id,
            entity.as_str()
        ))
    };
    let cached = definitions(&app, entity).await?;
    let raw = match cached
        .iter()
        .find(|d| d.get("id").and_then(Value::as_i64) == Some(n))
    {
        Some(raw) => raw.clone(),
        // Made since the list was cached: ask Capsule.
        None => app
            .client
            .show(field_def::endpoint(entity), n, &[])
            .await
            .map_err(|e| ToolError::from(e).on_not_found(not_found().0.message))?,
    };
    if !applies(&raw, entity)? {
        return Err(not_found());
    }
    Ok(field_def::to_field(&raw, entity, a.include_remote_data)?)
}

async fn create_field(app: Arc<App>, a: CreateField) -> Result<WriteResult<Field>, ToolError> {
    let entity = a.entity_type.ok_or_else(required)?;
    let options: Option<Vec<String>> = a
        .options
        .as_ref()
        .map(|o| o.iter().map(OptionInput::value).collect());
    let body = field_def::create_body(&NewField {
        entity,
        name: &a.name,
        kind: a.kind,
        description: a.description.as_deref(),
        options: options.as_deref(),
        is_important: a.is_important,
    })
    .map_err(ToolError::invalid)?;
    let ep = field_def::endpoint(entity);
    if a.dry_run {
        return Ok(WriteResult::DryRun(plan(
            "POST",
            ep.path.to_owned(),
            ep.single,
            Some(body),
        )));
    }
    let raw = app
        .client
        .create(ep, Value::Object(body))
        .await
        .map_err(|e| {
            let t = ToolError::from(e);
            if t.status() == 403 {
                ToolError::forbidden(
                    "only a Capsule administrator can create custom fields; ask one, or \
                     connect with an administrator's token",
                )
                .with_details(t.0.details)
            } else {
                t
            }
        })?;
    app.refdata.invalidate(ep.path);
    Ok(WriteResult::Record(field_def::to_field(
        &raw, entity, false,
    )?))
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            Meta {
                name: LIST_TOOL,
                title: "List custom fields",
                description: "Definitions: the keys of `custom_fields`.",
                toolset: "fields",
                kind: Kind::Read,
            },
            list_fields,
        )
        .require(&["entity_type"]),
        tool(
            Meta {
                name: "crm_get_field",
                title: "Get custom field",
                description: "With options.",
                toolset: "fields",
                kind: Kind::Read,
            },
            |app, a: GetField, _cx| get_field(app, a),
        )
        .require(&["entity_type"]),
        tool(
            Meta {
                name: "crm_create_field",
                title: "Create custom field",
                description: "Capsule admins only; `enum` needs `options`.",
                toolset: "fields",
                kind: Kind::Create,
            },
            |app, a: CreateField, _cx| create_field(app, a),
        )
        .require(&["entity_type"]),
    ]
}
