//! `crm_search`: one free-text search across contacts, accounts, opportunities and projects.
//!
//! Capsule has a search endpoint per entity (`/parties/search`, `/opportunities/search`,
//! `/kases/search`); the call asks the ones the wanted types need, at once, one request each.
//! Contacts and accounts share `/parties/search`. An endpoint that fails costs only its types'
//! hits: they are named in `failed` and the others come back.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Kind, Meta, ToolError, ToolSpec, tool};
use crate::app::App;
use crate::capsule::map::search;
use crate::unified::{
    EntityType,
    search::{SearchFailure, SearchHit, SearchResult},
};

/// Hits per type unless `limit` says otherwise.
pub const DEFAULT_LIMIT: u32 = 5;
pub const MAX_LIMIT: u32 = 25;

const ALL: [EntityType; 4] = [
    EntityType::Contact,
    EntityType::Account,
    EntityType::Opportunity,
    EntityType::Project,
];

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    pub query: String,
    #[serde(default)]
    pub entity_types: Option<Vec<EntityType>>,
    #[serde(default)]
    pub limit: Option<u32>,
}

type Found = Result<Vec<SearchHit>, ToolError>;

/// One endpoint's hits, or its error; `None` when no wanted type needs it.
async fn ask(
    app: &App,
    wanted: &[EntityType],
    endpoint: EntityType,
    q: &str,
    per_page: u32,
    to_hit: fn(&serde_json::Value) -> Result<Option<SearchHit>, crate::capsule::CapsuleError>,
) -> Option<Found> {
    let serves = |t: &EntityType| search::plural(*t) == search::plural(endpoint);
    if !wanted.iter().any(serves) {
        return None;
    }
    let req = search::request(endpoint, q, per_page);
    let found = async {
        let page = app.client.list_page(&req, search::plural(endpoint)).await?;
        let mut hits = Vec::new();
        for raw in &page.items {
            if let Some(h) = to_hit(raw)? {
                hits.push(h);
            }
        }
        Ok(hits)
    };
    Some(
        found
            .await
            .map_err(|e: crate::capsule::CapsuleError| ToolError::from(e)),
    )
}

async fn run(app: &App, a: SearchArgs) -> Result<SearchResult, ToolError> {
    let q = a.query.trim();
    if q.is_empty() {
        return Err(ToolError::invalid("`query` must not be empty"));
    }
    let limit = a.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ToolError::invalid(format!(
            "`limit` must be 1-{MAX_LIMIT} (hits per type); got {limit}"
        )));
    }
    let mut wanted: Vec<EntityType> = Vec::new();
    for t in a.entity_types.unwrap_or_else(|| ALL.to_vec()) {
        if !wanted.contains(&t) {
            wanted.push(t);
        }
    }
    if wanted.is_empty() {
        return Err(ToolError::invalid(format!(
            "`entity_types` must name at least one of {}",
            EntityType::VALUES
        )));
    }
    // People and organisations come mixed from one endpoint: ask for more, keep `limit` each.
    let party_page = (limit * 4).min(100);
    let (parties, opportunities, projects) = tokio::join!(
        ask(
            app,
            &wanted,
            EntityType::Contact,
            q,
            party_page,
            search::party_hit
        ),
        ask(
            app,
            &wanted,
            EntityType::Opportunity,
            q,
            limit,
            search::opportunity_hit
        ),
        ask(
            app,
            &wanted,
            EntityType::Project,
            q,
            limit,
            search::project_hit
        ),
    );
    let mut out = SearchResult {
        hits: Vec::new(),
        failed: Vec::new(),
    };
    let mut first_error = None;
    for (types, found) in [
        (&[EntityType::Contact, EntityType::Account][..], parties),
        (&[EntityType::Opportunity][..], opportunities),
        (&[EntityType::Project][..], projects),
    ] {
        let Some(found) = found else { continue };
        let types = types.iter().filter(|t| wanted.contains(t));
        match found {
            Ok(hits) => {
                for t in types {
                    out.hits.extend(
                        hits.iter()
                            .filter(|h| h.kind == *t)
                            .take(limit as usize)
                            .cloned(),
                    );
                }
            }
            Err(e) => {
                for t in types {
                    out.failed.push(SearchFailure {
                        kind: *t,
                        status: e.0.status,
                        code: e.0.code.clone(),
                        message: e.0.message.clone(),
                    });
                }
                first_error.get_or_insert(e);
            }
        }
    }
    // Nothing to show but errors: say so as an error.
    if out.failed.len() == wanted.len()
        && let Some(e) = first_error
    {
        return Err(e);
    }
    Ok(out)
}

pub fn tools() -> Vec<ToolSpec> {
    vec![tool(
        Meta {
            name: "crm_search",
            title: "Search records",
            description: "Free text across contacts, accounts, opportunities and projects.",
            toolset: "search",
            kind: Kind::Read,
        },
        |app, a: SearchArgs, _cx| async move { run(&app, a).await },
    )]
}
