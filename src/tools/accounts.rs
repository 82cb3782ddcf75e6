//! Accounts: organisations in the CRM.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    Kind, Meta, ToolError, ToolSpec,
    contacts::{DeleteById, GetById},
    list::{Detail, Paging},
    parties::{self, Noun},
    tool,
    write::record_id,
};
use crate::capsule::map::party::{self, Kind as PartyKind};
use crate::unified::{Account, Deleted, ListResult, WriteResult, account::AccountFields};

const NOUN: Noun = Noun {
    kind: PartyKind::Organisation,
    noun: "account",
    list_tool: "crm_list_accounts",
};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListAccounts {
    #[serde(flatten)]
    pub paging: Paging,
    #[serde(default)]
    pub detail: Detail,
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub updated_after: Option<String>,
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
pub struct CreateAccount {
    #[serde(flatten)]
    pub fields: AccountFields,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateAccount {
    pub id: String,
    #[serde(flatten)]
    pub fields: AccountFields,
    #[serde(default)]
    pub remove_tags: Option<Vec<String>>,
    #[serde(default)]
    pub dry_run: bool,
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            Meta {
                name: "crm_list_accounts",
                title: "List accounts",
                description: "Organisations, oldest first.",
                toolset: "accounts",
                kind: Kind::Read,
            },
            |app, mut a: ListAccounts, cx| async move {
                super::resolve::owner(&app, &mut a.owner_id).await?;
                let given = parties::Given {
                    search: a.search,
                    updated_after: a.updated_after,
                    account_id: None,
                    owner_id: a.owner_id,
                    tag: a.tag,
                    lookup: a.lookup,
                    segment: a.segment,
                };
                let out: ListResult<Account> = parties::list(
                    app,
                    &cx,
                    &NOUN,
                    (&a.paging, a.detail),
                    given,
                    party::to_account,
                )
                .await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_get_account",
                title: "Get account",
                description: "An organisation.",
                toolset: "accounts",
                kind: Kind::Read,
            },
            |app, a: GetById, _cx| async move {
                parties::get(&app, &NOUN, &a.id, a.include_remote_data, party::to_account).await
            },
        ),
        parties::create_only(
            tool(
                Meta {
                    name: "crm_create_account",
                    title: "Create account",
                    description: "An organisation.",
                    toolset: "accounts",
                    kind: Kind::Create,
                },
                |app, mut a: CreateAccount, _cx| async move {
                    super::resolve::owner(&app, &mut a.fields.owner_id).await?;
                    let resolved = parties::resolve(
                        &app,
                        PartyKind::Organisation,
                        a.fields.custom_fields.as_ref(),
                        None,
                    )
                    .await?;
                    let body = party::account_body(&a.fields, &resolved, true)
                        .map_err(ToolError::invalid)?;
                    let out: WriteResult<Account> =
                        parties::write(&app, &NOUN, None, body, a.dry_run, party::to_account)
                            .await?;
                    Ok(out)
                },
            )
            .require(&["name"]),
        ),
        tool(
            Meta {
                name: "crm_update_account",
                title: "Update account",
                description: "Null clears a field. Rows match by value: new ones are added, one with `delete: true` removed, another `type` changes one.",
                toolset: "accounts",
                kind: Kind::Update,
            },
            |app, mut a: UpdateAccount, _cx| async move {
                let n = record_id(&a.id, NOUN.noun, NOUN.list_tool)?;
                super::resolve::owner(&app, &mut a.fields.owner_id).await?;
                let resolved = parties::resolve(
                    &app,
                    PartyKind::Organisation,
                    a.fields.custom_fields.as_ref(),
                    a.remove_tags.as_deref(),
                )
                .await?;
                let body =
                    party::account_body(&a.fields, &resolved, false).map_err(ToolError::invalid)?;
                let out: WriteResult<Account> = parties::write(
                    &app,
                    &NOUN,
                    Some((&a.id, n)),
                    body,
                    a.dry_run,
                    party::to_account,
                )
                .await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_delete_account",
                title: "Delete account",
                description: "For good, with its notes, tasks, opportunities and projects; not its people.",
                toolset: "accounts",
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
