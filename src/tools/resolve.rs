//! Names where ids are: a value that parses as an id is an id; anything else is a name,
//! matched ignoring case and surrounding space against a cached reference list (stages,
//! pipelines, boards, users, engagement types). A name that misses the cached list fetches the
//! list again once before failing; a hit never fetches. Unknown or ambiguous names come back
//! as `invalid_argument` naming candidates (with ids) and the list tool that shows them all.

use std::{future::Future, time::Instant};

use serde_json::Value;

use super::{ToolError, entries, pipelines, users};
use crate::app::App;
use crate::capsule::{
    endpoint::{BOARDS, PIPELINES},
    map::{self, entry, pipeline::Entity},
};

/// How many candidates an error lists.
const MAX_CANDIDATES: usize = 10;

/// Something a name can pick: its id, the names it answers to, the group it belongs to (a
/// stage's pipeline or board) and how an error shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: i64,
    pub names: Vec<String>,
    pub group: Option<i64>,
    pub label: String,
}

/// What a given value picks from the candidates.
#[derive(Debug, PartialEq)]
pub enum Pick {
    /// An id (given as one, or the one name that matched).
    Id(i64),
    Unknown,
    /// Several candidates answer to the name.
    Ambiguous(Vec<usize>),
}

/// An argument that takes an id or a name.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    /// `stage_id`
    pub name: &'static str,
    /// `stage`
    pub noun: &'static str,
    /// `crm_list_stages`
    pub list_tool: &'static str,
}

pub const STAGE: Arg = Arg {
    name: "stage_id",
    noun: "stage",
    list_tool: "crm_list_stages",
};
pub const OWNER: Arg = Arg {
    name: "owner_id",
    noun: "user",
    list_tool: "crm_list_users",
};
pub const PIPELINE: Arg = Arg {
    name: "pipeline_id",
    noun: "pipeline",
    list_tool: "crm_list_pipelines",
};
pub const BOARD: Arg = Arg {
    name: "board_id",
    noun: "board",
    list_tool: "crm_list_pipelines",
};

/// The id a value stands for when it parses as one.
pub fn as_id(given: &str) -> Option<i64> {
    map::parse_id("", given).ok()
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Picks by id or by name. With `scope`, a name is looked for in that group first, then in
/// every group (so a stage of another pipeline is still found, for the caller to refuse).
pub fn pick(cands: &[Candidate], given: &str, scope: Option<i64>) -> Pick {
    if let Some(id) = as_id(given) {
        return Pick::Id(id);
    }
    let wanted = norm(given);
    let hits: Vec<usize> = cands
        .iter()
        .enumerate()
        .filter(|(_, c)| c.names.iter().any(|n| norm(n) == wanted))
        .map(|(i, _)| i)
        .collect();
    let scoped: Vec<usize> = match scope {
        Some(g) => hits
            .iter()
            .copied()
            .filter(|i| cands[*i].group == Some(g))
            .collect(),
        None => Vec::new(),
    };
    let chosen = if scoped.is_empty() { hits } else { scoped };
    match chosen.as_slice() {
        [] => Pick::Unknown,
        [one] => Pick::Id(cands[*one].id),
        _ => Pick::Ambiguous(chosen),
    }
}

fn listed<'a>(labels: impl ExactSizeIterator<Item = &'a str>) -> String {
    let total = labels.len();
    let mut out: Vec<&str> = labels.take(MAX_CANDIDATES).collect();
    let more;
    if total > MAX_CANDIDATES {
        more = format!("and {} more", total - MAX_CANDIDATES);
        out.push(&more);
    }
    if out.is_empty() {
        "(none)".to_owned()
    } else {
        out.join(", ")
    }
}

/// The refusal for a name that picked nothing, or several. An unknown name lists the
/// candidates of `scope` when it has any, else all of them.
pub fn refusal(
    arg: &Arg,
    given: &str,
    cands: &[Candidate],
    scope: Option<i64>,
    pick: &Pick,
) -> ToolError {
    let given = given.trim();
    match pick {
        Pick::Ambiguous(hits) => ToolError::invalid(format!(
            "`{}` \"{given}\" names more than one {}: {}; pass the id (from {})",
            arg.name,
            arg.noun,
            listed(hits.iter().map(|i| cands[*i].label.as_str())),
            arg.list_tool
        )),
        _ => {
            let in_scope: Vec<&Candidate> = cands
                .iter()
                .filter(|c| scope.is_some_and(|s| c.group == Some(s)))
                .collect();
            let shown: Vec<&Candidate> = if in_scope.is_empty() {
                cands.iter().collect()
            } else {
                in_scope
            };
            ToolError::invalid(format!(
                "`{}` \"{given}\" is no {} id or name; candidates: {}; find them with {}",
                arg.name,
                arg.noun,
                listed(shown.iter().map(|c| c.label.as_str())),
                arg.list_tool
            ))
        }
    }
}

/// Resolves `given` against the list `load` gives (`load(Some(t))` fetches it again unless it
/// was fetched since `t`): a miss refreshes once; an ambiguous name fails at once.
pub async fn resolve<L, F>(
    arg: &Arg,
    given: &str,
    scope: Option<i64>,
    load: L,
) -> Result<i64, ToolError>
where
    L: Fn(Option<Instant>) -> F,
    F: Future<Output = Result<Vec<Candidate>, ToolError>>,
{
    if given.trim().is_empty() {
        return Err(ToolError::invalid(format!(
            "`{}` must not be empty; give an id or a name (from {})",
            arg.name, arg.list_tool
        )));
    }
    if let Some(id) = as_id(given) {
        return Ok(id);
    }
    let since = Instant::now();
    let cands = load(None).await?;
    let first = pick(&cands, given, scope);
    let (cands, picked) = match first {
        Pick::Unknown => {
            let fresh = load(Some(since)).await?;
            let again = pick(&fresh, given, scope);
            (fresh, again)
        }
        other => (cands, other),
    };
    match picked {
        Pick::Id(id) => Ok(id),
        other => Err(refusal(arg, given, &cands, scope, &other)),
    }
}

/// Replaces a name in an optional argument with the id it stands for.
pub async fn in_place<L, F>(
    arg: &Arg,
    value: &mut Option<String>,
    scope: Option<i64>,
    load: L,
) -> Result<(), ToolError>
where
    L: Fn(Option<Instant>) -> F,
    F: Future<Output = Result<Vec<Candidate>, ToolError>>,
{
    if let Some(v) = value.as_mut()
        && as_id(v).is_none()
    {
        *v = resolve(arg, v, scope, load).await?.to_string();
    }
    Ok(())
}

// ------------------------------------------------------------------ the lists

fn id_name(raw: &Value) -> Option<(i64, String)> {
    let id = raw.get("id")?.as_i64()?;
    let name = raw.get("name")?.as_str()?.to_owned();
    Some((id, name))
}

/// The stages of every opportunity pipeline (`Entity::Opportunity`) or project board, each
/// in its group. A stage's label names its group when there are several.
pub async fn stages(
    app: &App,
    entity: Entity,
    since: Option<Instant>,
) -> Result<Vec<Candidate>, ToolError> {
    let sets = pipelines::sets_since(app, entity, None, since).await?;
    let many = sets.len() > 1;
    let mut out = Vec::new();
    for set in &sets {
        let head = id_name(&set.raw);
        for (id, name) in set.stages.iter().filter_map(id_name) {
            let label = match (&head, many) {
                (Some((_, group)), true) => format!("{name} ({id}) in {group}"),
                _ => format!("{name} ({id})"),
            };
            out.push(Candidate {
                id,
                names: vec![name],
                group: head.as_ref().map(|(g, _)| *g),
                label,
            });
        }
    }
    Ok(out)
}

/// Opportunity pipelines or project boards by name.
pub async fn heads(
    app: &App,
    entity: Entity,
    since: Option<Instant>,
) -> Result<Vec<Candidate>, ToolError> {
    let ep = match entity {
        Entity::Opportunity => &PIPELINES,
        Entity::Project => &BOARDS,
    };
    let all = app
        .refdata
        .list_since(&app.client, (ep.path, ep.plural), &[], since)
        .await?;
    Ok(all
        .iter()
        .filter_map(id_name)
        .map(|(id, name)| Candidate {
            id,
            label: format!("{name} ({id})"),
            names: vec![name],
            group: None,
        })
        .collect())
}

/// CRM users by username or by any email address of their own party.
pub async fn owners(app: &App, since: Option<Instant>) -> Result<Vec<Candidate>, ToolError> {
    let all = users::all_users_since(app, since).await?;
    Ok(all.iter().filter_map(user_candidate).collect())
}

fn user_candidate(raw: &Value) -> Option<Candidate> {
    let id = raw.get("id")?.as_i64()?;
    let username = raw.get("username").and_then(Value::as_str);
    let mut names: Vec<String> = username.map(str::to_owned).into_iter().collect();
    if let Some(emails) = raw
        .get("party")
        .and_then(|p| p.get("emailAddresses"))
        .and_then(Value::as_array)
    {
        names.extend(
            emails
                .iter()
                .filter_map(|e| e.get("address").and_then(Value::as_str))
                .map(str::to_owned),
        );
    }
    let shown = username
        .or_else(|| raw.get("name").and_then(Value::as_str))
        .unwrap_or("user");
    Some(Candidate {
        id,
        label: format!("{shown} ({id})"),
        names,
        group: None,
    })
}

/// `owner_id` as an id: a username or email address becomes its user's id.
pub async fn owner(app: &App, value: &mut Option<String>) -> Result<(), ToolError> {
    in_place(&OWNER, value, None, |since| owners(app, since)).await
}

/// As [`owner`], for an argument where `null` clears the owner.
pub async fn owner_nullable(
    app: &App,
    value: &mut Option<Option<String>>,
) -> Result<(), ToolError> {
    match value {
        Some(v) => owner(app, v).await,
        None => Ok(()),
    }
}

/// `pipeline_id` (opportunity pipelines) or `board_id` (project boards) as an id.
pub async fn head(app: &App, entity: Entity, value: &mut Option<String>) -> Result<(), ToolError> {
    let arg = match entity {
        Entity::Opportunity => PIPELINE,
        Entity::Project => BOARD,
    };
    head_as(app, entity, arg.name, value).await
}

/// As [`head`], for an argument of another name (crm_list_stages' `pipeline_id` of a board).
pub async fn head_as(
    app: &App,
    entity: Entity,
    name: &'static str,
    value: &mut Option<String>,
) -> Result<(), ToolError> {
    let arg = match entity {
        Entity::Opportunity => Arg { name, ..PIPELINE },
        Entity::Project => Arg { name, ..BOARD },
    };
    in_place(&arg, value, None, |since| heads(app, entity, since)).await
}

/// A stage id or name; a name is looked for in `scope` (a pipeline or board) first.
pub async fn stage(
    app: &App,
    entity: Entity,
    given: &str,
    scope: Option<i64>,
) -> Result<i64, ToolError> {
    resolve(&STAGE, given, scope, |since| stages(app, entity, since)).await
}

/// An activity type id for an `engagement_type` name (built-in or custom), fetching the types
/// again once when the name is not among them.
pub async fn activity_type(app: &App, name: &str) -> Result<i64, ToolError> {
    let since = Instant::now();
    let types = types_of(entries::activity_types(app).await?);
    match entry::resolve_activity_type(&types, name) {
        Ok(id) => Ok(id),
        Err(_) if norm(name) != "email" => {
            let fresh = types_of(entries::activity_types_since(app, Some(since)).await?);
            entry::resolve_activity_type(&fresh, name).map_err(ToolError::invalid)
        }
        Err(e) => Err(ToolError::invalid(e)),
    }
}

/// The `engagement_type` value a filter name stands for (built-in or custom, as Capsule spells
/// it), fetching the types again once on a miss.
pub async fn engagement_type_name(app: &App, name: &str) -> Result<String, ToolError> {
    let wanted = name.trim();
    let since = Instant::now();
    let mut fresh = None;
    loop {
        let types = types_of(entries::activity_types_since(app, fresh).await?);
        let known = entry::known_names(&types);
        if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(wanted)) {
            return Ok(k.clone());
        }
        if fresh.is_some() {
            return Err(ToolError::invalid(format!(
                "no engagement type `{wanted}`; known: {}",
                known.join(", ")
            )));
        }
        fresh = Some(since);
    }
}

fn types_of(
    list: Vec<(Value, crate::capsule::wire::ActivityType)>,
) -> Vec<crate::capsule::wire::ActivityType> {
    list.into_iter().map(|(_, a)| a).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn c(id: i64, name: &str, group: i64) -> Candidate {
        Candidate {
            id,
            names: vec![name.to_owned()],
            group: Some(group),
            label: format!("{name} ({id})"),
        }
    }

    fn stages() -> Vec<Candidate> {
        vec![
            c(1, "New", 10),
            c(2, "Bid", 10),
            c(3, "Won", 10),
            c(7, "Negotiation", 11),
            c(8, "Won", 11),
        ]
    }

    #[test]
    fn an_id_is_an_id_without_looking() {
        assert_eq!(pick(&[], "42", None), Pick::Id(42));
        assert_eq!(pick(&stages(), " 3 ", None), Pick::Id(3));
        // Not a positive whole number: a name.
        assert_eq!(pick(&stages(), "-3", None), Pick::Unknown);
        assert_eq!(pick(&stages(), "3a", None), Pick::Unknown);
    }

    #[test]
    fn names_match_ignoring_case_and_surrounding_space() {
        assert_eq!(pick(&stages(), "bid", None), Pick::Id(2));
        assert_eq!(pick(&stages(), "  NEGOTIATION\t", None), Pick::Id(7));
        assert_eq!(
            pick(&stages(), "Bi", None),
            Pick::Unknown,
            "no prefix match"
        );
    }

    #[test]
    fn a_scope_picks_among_namesakes_and_falls_back_to_every_group() {
        assert_eq!(pick(&stages(), "won", Some(10)), Pick::Id(3));
        assert_eq!(pick(&stages(), "Won", Some(11)), Pick::Id(8));
        assert_eq!(pick(&stages(), "Won", None), Pick::Ambiguous(vec![2, 4]));
        assert_eq!(
            pick(&stages(), "negotiation", Some(10)),
            Pick::Id(7),
            "another group's stage is found, for the caller to refuse"
        );
        assert_eq!(
            pick(&stages(), "won", Some(99)),
            Pick::Ambiguous(vec![2, 4])
        );
    }

    #[test]
    fn a_candidate_answers_to_each_of_its_names() {
        let users = vec![Candidate {
            id: 6,
            names: vec!["scottspacey".into(), "Scott@Example.com".into()],
            group: None,
            label: "scottspacey (6)".into(),
        }];
        assert_eq!(pick(&users, "SCOTTSPACEY", None), Pick::Id(6));
        assert_eq!(pick(&users, "scott@example.COM ", None), Pick::Id(6));
    }

    #[test]
    fn refusals_name_candidates_and_the_list_tool() {
        let s = stages();
        let e = refusal(&STAGE, " Signed ", &s, Some(10), &Pick::Unknown);
        let m = &e.0.message;
        assert_eq!(e.0.code, "invalid_argument");
        assert!(
            m.contains("\"Signed\"") && m.contains("crm_list_stages"),
            "{m}"
        );
        assert!(
            m.contains("Bid (2)") && !m.contains("Negotiation"),
            "scoped: {m}"
        );
        let e = refusal(&STAGE, "Won", &s, None, &pick(&s, "Won", None));
        assert!(e.0.message.contains("Won (3), Won (8)"), "{}", e.0.message);
        let many: Vec<Candidate> = (1..=25).map(|i| c(i, &format!("S{i}"), 1)).collect();
        let e = refusal(&STAGE, "x", &many, None, &Pick::Unknown);
        assert!(
            e.0.message.contains("S10 (10), and 15 more"),
            "{}",
            e.0.message
        );
        assert!(!e.0.message.contains("S11 (11)"));
    }

    #[tokio::test]
    async fn a_miss_refreshes_once_and_a_hit_never() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let loads = AtomicUsize::new(0);
        let fresh_loads = AtomicUsize::new(0);
        let load = |since: Option<Instant>| {
            loads.fetch_add(1, Ordering::SeqCst);
            if since.is_some() {
                fresh_loads.fetch_add(1, Ordering::SeqCst);
            }
            let mut list = stages();
            if since.is_some() {
                list.push(c(20, "Contract", 10));
            }
            async move { Ok(list) }
        };
        assert_eq!(resolve(&STAGE, "bid", None, &load).await.unwrap(), 2);
        assert_eq!(
            fresh_loads.load(Ordering::SeqCst),
            0,
            "a hit never refreshes"
        );
        assert_eq!(resolve(&STAGE, "contract", None, &load).await.unwrap(), 20);
        assert_eq!(fresh_loads.load(Ordering::SeqCst), 1);
        assert!(resolve(&STAGE, "nope", None, &load).await.is_err());
        assert_eq!(
            fresh_loads.load(Ordering::SeqCst),
            2,
            "one refresh per miss"
        );
        assert!(
            resolve(&STAGE, "won", None, &load).await.is_err(),
            "ambiguous"
        );
        assert_eq!(
            fresh_loads.load(Ordering::SeqCst),
            2,
            "ambiguity does not refresh"
        );
        assert_eq!(resolve(&STAGE, "17", None, &load).await.unwrap(), 17);
        assert_eq!(loads.load(Ordering::SeqCst), 6, "an id loads nothing");
        assert!(resolve(&STAGE, "  ", None, &load).await.is_err());
    }
}
