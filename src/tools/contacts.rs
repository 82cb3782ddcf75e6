//! Contacts: people in the CRM.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    Kind, Meta, ToolSpec,
    list::{Detail, Paging},
    parties::{self, Noun},
    tool,
    write::record_id,
};
use crate::capsule::map::party::{self, Kind as PartyKind};
use crate::unified::{Contact, Deleted, ListResult, WriteResult, contact::ContactFields};

const NOUN: Noun = Noun {
    kind: PartyKind::Person,
    noun: "contact",
    list_tool: "crm_list_contacts",
};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListContacts {
    #[serde(flatten)]
    pub paging: Paging,
    #[serde(default)]
    pub detail: Detail,
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub updated_after: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(flatten)]
    pub lookup: parties::Lookup,
    #[serde(flatten)]
    pub segment: parties::SegmentArgs,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetById {
    pub id: String,
    #[serde(default)]
    pub include_remote_data: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateContact {
    #[serde(flatten)]
    pub fields: ContactFields,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateContact {
    pub id: String,
    #[serde(flatten)]
    pub fields: ContactFields,
    #[serde(default)]
    pub remove_tags: Option<Vec<String>>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DeleteById {
    pub id: String,
    #[serde(default)]
    pub dry_run: bool,
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            Meta {
                name: "crm_list_contacts",
                title: "List contacts",
                description: "People, oldest first.",
                toolset: "contacts",
                kind: Kind::Read,
            },
            |app, mut a: ListContacts, cx| async move {
                super::resolve::owner(&app, &mut a.owner_id).await?;
                let given = parties::Given {
                    search: a.search,
                    updated_after: a.updated_after,
                    account_id: a.account_id,
                    owner_id: a.owner_id,
                    tag: a.tag,
                    lookup: a.lookup,
                    segment: a.segment,
                };
                let out: ListResult<Contact> = parties::list(
                    app,
                    &cx,
                    &NOUN,
                    (&a.paging, a.detail),
                    given,
                    party::to_contact,
                )
                .await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_get_contact",
                title: "Get contact",
                description: "A person.",
                toolset: "contacts",
                kind: Kind::Read,
            },
            |app, a: GetById, _cx| async move {
                parties::get(&app, &NOUN, &a.id, a.include_remote_data, party::to_contact).await
            },
        ),
        parties::create_only(tool(
            Meta {
                name: "crm_create_contact",
                title: "Create contact",
                description: "Needs first_name or last_name.",
                toolset: "contacts",
                kind: Kind::Create,
            },
            |app, mut a: CreateContact, _cx| async move {
                parties::check_salutation(&app, &mut a.fields.salutation).await?;
                super::resolve::owner(&app, &mut a.fields.owner_id).await?;
                let resolved = parties::resolve(
                    &app,
                    PartyKind::Person,
                    a.fields.custom_fields.as_ref(),
                    None,
                )
                .await?;
                let body = party::contact_body(&a.fields, &resolved, true)
                    .map_err(super::ToolError::invalid)?;
                let out: WriteResult<Contact> =
                    parties::write(&app, &NOUN, None, body, a.dry_run, party::to_contact).await?;
                Ok(out)
            },
        )),
        tool(
            Meta {
                name: "crm_update_contact",
                title: "Update contact",
                description: "Null clears a field. Rows match by value: new ones are added, one with `delete: true` removed, another `type` changes one.",
                toolset: "contacts",
                kind: Kind::Update,
            },
            |app, mut a: UpdateContact, _cx| async move {
                let n = record_id(&a.id, NOUN.noun, NOUN.list_tool)?;
                parties::check_salutation(&app, &mut a.fields.salutation).await?;
                super::resolve::owner(&app, &mut a.fields.owner_id).await?;
                let resolved = parties::resolve(
                    &app,
                    PartyKind::Person,
                    a.fields.custom_fields.as_ref(),
                    a.remove_tags.as_deref(),
                )
                .await?;
                let body = party::contact_body(&a.fields, &resolved, false)
                    .map_err(super::ToolError::invalid)?;
                let out: WriteResult<Contact> = parties::write(
                    &app,
                    &NOUN,
                    Some((&a.id, n)),
                    body,
                    a.dry_run,
                    party::to_contact,
                )
                .await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_delete_contact",
                title: "Delete contact",
                description: "For good, with its notes, tasks, opportunities and projects.",
                toolset: "contacts",
                kind: Kind::Delete,
            },
            |app, a: DeleteById, _cx| async move {
                let out: WriteResult<Deleted> =
                    parties::delete(&app, &NOUN, &a.id, a.dry_run).await?;
                Ok(out)
            },
        ),
    ]
}
