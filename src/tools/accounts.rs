//! Accounts: organisations in the CRM.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    Kind, Meta, ToolError, ToolSpec,
    contacts::{DeleteById, GetById},
    list::Paging,
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
    /// Free text matched against names, email addresses and phone numbers.
    #[serde(default)]
    pub search: Option<String>,
    /// Only accounts changed after this ISO-8601 timestamp.
    #[serde(default)]
    pub updated_after: Option<String>,
    /// Only accounts owned by this user (id from crm_list_users).
    #[serde(default)]
    pub owner_id: Option<String>,
    /// Only accounts with this tag (name or id).
    #[serde(default)]
    pub tag: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateAccount {
    #[serde(flatten)]
    pub fields: AccountFields,
    /// Check and resolve everything, return the Capsule request without sending it.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateAccount {
    /// Account id from crm_list_accounts.
    pub id: String,
    #[serde(flatten)]
    pub fields: AccountFields,
    /// Tag names (or ids) to take off the account.
    #[serde(default)]
    pub remove_tags: Option<Vec<String>>,
    /// Check and resolve everything, return the Capsule request without sending it.
    #[serde(default)]
    pub dry_run: bool,
}

pub fn tools() -> Vec<ToolSpec> {
    vec![
        tool(
            Meta {
                name: "crm_list_accounts",
                title: "List accounts",
                description: "List organisations in the CRM, newest last. Filters combine \
                    (AND). One page per call: pass `next_cursor` back as `cursor`; `fetch_all` \
                    reads up to `max_records` at once.",
                toolset: "accounts",
                kind: Kind::Read,
            },
            |app, a: ListAccounts, cx| async move {
                let q = parties::query(&a.search, &a.updated_after, &None, &a.owner_id, &a.tag)?;
                let out: ListResult<Account> =
                    parties::list(app, &cx, &NOUN, &a.paging, q, party::to_account).await?;
                Ok(out)
            },
        ),
        tool(
            Meta {
                name: "crm_get_account",
                title: "Get account",
                description: "Get one account (organisation) by id, with emails, phones, \
                    addresses, websites, tags and custom fields. Its people: \
                    crm_list_contacts with `account_id`.",
                toolset: "accounts",
                kind: Kind::Read,
            },
            |app, a: GetById, _cx| async move {
                parties::get(&app, &NOUN, &a.id, a.include_remote_data, party::to_account).await
            },
        ),
        tool(
            Meta {
                name: "crm_create_account",
                title: "Create account",
                description: "Create an account (organisation). Needs `name`. Returns the \
                    stored account.",
                toolset: "accounts",
                kind: Kind::Create,
            },
            |app, a: CreateAccount, _cx| async move {
                let resolved = parties::resolve(
                    &app,
                    PartyKind::Organisation,
                    a.fields.custom_fields.as_ref(),
                    None,
                )
                .await?;
                let body =
                    party::account_body(&a.fields, &resolved, true).map_err(ToolError::invalid)?;
                let out: WriteResult<Account> =
                    parties::write(&app, &NOUN, None, body, a.dry_run, party::to_account).await?;
                Ok(out)
            },
        )
        .require(&["name"]),
        tool(
            Meta {
                name: "crm_update_account",
                title: "Update account",
                description: "Change an account. Fields left out keep their value; null clears \
                    one. List items are added; give a row `id` to change it or `id` + `delete` \
                    to remove it. Returns the stored account.",
                toolset: "accounts",
                kind: Kind::Update,
            },
            |app, a: UpdateAccount, _cx| async move {
                let n = record_id(&a.id, NOUN.noun, NOUN.list_tool)?;
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
                description: "Delete an account (organisation) for good, with its notes, tasks, \
                    opportunities and projects (Capsule cascades; its people stay, unlinked).",
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
