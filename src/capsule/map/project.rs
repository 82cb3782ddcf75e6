//! Kases ⇄ projects.

use serde_json::{Map, Value, json};

use super::{
    decode_err, fields, format_timestamp, id_string, merge_remote, parse_id, party::Resolved,
    party_ref, ref_of, segment::Segment, user_ref,
};
use crate::capsule::{
    CapsuleError, Request,
    endpoint::{KASES, OPPORTUNITIES, PARTIES},
    wire::{self, FieldDefinition, Kase, PartyType, Stage},
};
use crate::unified::{self, Project, Ref, project::ProjectFields};

/// Embeds every kase read asks for: the unified record carries tags and custom fields.
pub const EMBED: &str = "tags,fields";

fn decode_kase(raw: &Value) -> Result<Kase, CapsuleError> {
    wire::decode::<Kase>(raw).map_err(decode_err)
}

/// The board of a stage, from the (cached) stage list.
pub fn board_of(stage_id: Option<i64>, stages: &[Stage]) -> Option<Ref> {
    let id = stage_id?;
    let stage = stages.iter().find(|s| s.id == Some(id))?;
    ref_of(&stage.board)
}

/// `defs` are the kase custom field definitions, `stages` the project stages (for the board).
pub fn to_project(
    raw: &Value,
    defs: &[FieldDefinition],
    stages: &[Stage],
    include_raw: bool,
) -> Result<Project, CapsuleError> {
    let k = decode_kase(raw)?;
    let party = party_ref(&k.party);
    let party_type = k.party.as_ref().and_then(|p| p.party_type);
    let (account, contact) = match party_type {
        Some(PartyType::Organisation) => (party, None),
        Some(PartyType::Person) => (None, party),
        _ => (None, None),
    };
    let stage_id = k.stage.as_ref().and_then(|s| s.id);
    Ok(Project {
        id: id_string(k.id).unwrap_or_default(),
        name: k.name.clone().unwrap_or_default(),
        description: k.description.clone(),
        owner: user_ref(&k.owner),
        team: ref_of(&k.team),
        account,
        contact,
        opportunity: ref_of(&k.opportunity),
        stage: ref_of(&k.stage),
        board: board_of(stage_id, stages),
        status: k.status.as_deref().map(str::to_ascii_lowercase),
        close_date: k.closed_on.clone(),
        expected_close_date: k.expected_close_on.clone(),
        tags: k
            .tags
            .iter()
            .flatten()
            .filter_map(|t| {
                Some(unified::Tag {
                    id: None,
                    name: t.name.clone()?,
                })
            })
            .collect(),
        custom_fields: fields::read(k.fields.as_deref().unwrap_or_default(), defs),
        last_activity_at: k.last_contacted_at.clone(),
        created_at: k.created_at.clone(),
        updated_at: k.updated_at.clone(),
        web_url: None,
        remote_data: include_raw.then(|| raw.clone()),
    })
}

/// The current owner and team ids of a raw kase.
pub fn owner_team_of(raw: &Value) -> Result<(Option<i64>, Option<i64>), CapsuleError> {
    let k = decode_kase(raw)?;
    Ok((
        k.owner.as_ref().and_then(|o| o.id),
        k.team.as_ref().and_then(|t| t.id),
    ))
}

// ---------------------------------------------------------------- writes

/// Whether an update must read the project first: Capsule rewrites owner and team together
/// and nulls the one left out, so a lone `owner_id` or `team_id` needs the other's value.
pub fn needs_current_owner_team(f: &ProjectFields) -> bool {
    f.owner_id.is_some() != f.team_id.is_some()
}

fn id_ref(what: &str, id: &str) -> Result<Value, String> {
    Ok(json!({ "id": parse_id(what, id)? }))
}

fn nullable_ref(what: &str, v: &Option<String>) -> Result<Value, String> {
    match v {
        Some(id) => id_ref(what, id),
        None => Ok(Value::Null),
    }
}

fn check_date(what: &str, d: &str) -> Result<(), String> {
    chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
        .map(|_| ())
        .map_err(|_| format!("`{what}` must be a date as YYYY-MM-DD; got \"{d}\""))
}

/// Parses `open` / `closed` into Capsule's `OPEN` / `CLOSED`.
pub fn wire_status(s: &str) -> Result<&'static str, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "open" => Ok("OPEN"),
        "closed" => Ok("CLOSED"),
        _ => Err(format!("`status` must be `open` or `closed`; got \"{s}\"")),
    }
}

/// The Capsule `kase` body. `current` is the project's owner and team ids, needed on update
/// when only one of `owner_id` / `team_id` is given (see [`needs_current_owner_team`]).
pub fn project_body(
    f: &ProjectFields,
    resolved: &Resolved,
    create: bool,
    current: Option<(Option<i64>, Option<i64>)>,
) -> Result<Map<String, Value>, String> {
    let mut body = Map::new();
    match &f.name {
        Some(name) if name.trim().is_empty() => return Err("`name` must not be empty".into()),
        Some(name) => {
            body.insert("name".into(), Value::String(name.clone()));
        }
        None if create => return Err("a project needs `name`".into()),
        None => {}
    }
    if let Some(d) = &f.description {
        body.insert(
            "description".into(),
            d.clone().map(Value::String).unwrap_or(Value::Null),
        );
    }
    match (&f.account_id, &f.contact_id) {
        (Some(_), Some(_)) => {
            return Err(
                "give one of `account_id` or `contact_id`: a project has one main party".into(),
            );
        }
        (Some(id), None) => {
            body.insert("party".into(), id_ref("account_id", id)?);
        }
        (None, Some(id)) => {
            body.insert("party".into(), id_ref("contact_id", id)?);
        }
        (None, None) if create => {
            return Err("a project needs its main party: `account_id` or `contact_id`".into());
        }
        (None, None) => {}
    }
    if let Some(o) = &f.opportunity_id {
        body.insert("opportunity".into(), nullable_ref("opportunity_id", o)?);
    }
    if let Some(s) = &f.stage_id {
        body.insert("stage".into(), nullable_ref("stage_id", s)?);
    }
    if let Some(s) = &f.status {
        body.insert("status".into(), wire_status(s)?.into());
    }
    if let Some(d) = &f.expected_close_date {
        if let Some(d) = d {
            check_date("expected_close_date", d)?;
        }
        body.insert(
            "expectedCloseOn".into(),
            d.clone().map(Value::String).unwrap_or(Value::Null),
        );
    }
    owner_team(&mut body, f, create, current)?;
    let mut tags: Vec<Value> = Vec::new();
    for name in f.tags.iter().flatten() {
        let name = name.trim();
        if name.is_empty() {
            return Err("`tags` items must be non-empty names".into());
        }
        tags.push(json!({ "name": name }));
    }
    for id in &resolved.remove_tag_ids {
        tags.push(json!({ "id": id, "_delete": true }));
    }
    if !tags.is_empty() {
        body.insert("tags".into(), Value::Array(tags));
    }
    if !resolved.field_rows.is_empty() {
        body.insert("fields".into(), Value::Array(resolved.field_rows.clone()));
    }
    merge_remote(&mut body, f.remote_data.as_ref())?;
    Ok(body)
}

fn owner_team(
    body: &mut Map<String, Value>,
    f: &ProjectFields,
    create: bool,
    current: Option<(Option<i64>, Option<i64>)>,
) -> Result<(), String> {
    if f.owner_id.is_none() && f.team_id.is_none() {
        return Ok(());
    }
    let given = |what: &str, v: &Option<Option<String>>| -> Result<Option<Value>, String> {
        v.as_ref().map(|v| nullable_ref(what, v)).transpose()
    };
    let mut owner = given("owner_id", &f.owner_id)?;
    let mut team = given("team_id", &f.team_id)?;
    if !create && (owner.is_none() || team.is_none()) {
        let (cur_owner, cur_team) = current
            .ok_or("owner and team are written together; give both `owner_id` and `team_id`")?;
        let keep = |id: Option<i64>| id.map_or(Value::Null, |id| json!({ "id": id }));
        owner = owner.or_else(|| Some(keep(cur_owner)));
        team = team.or_else(|| Some(keep(cur_team)));
    }
    if !create
        && owner.as_ref().is_none_or(Value::is_null)
        && team.as_ref().is_none_or(Value::is_null)
    {
        return Err("a project keeps an owner or a team: both cannot be cleared".into());
    }
    for (key, v) in [("owner", owner), ("team", team)] {
        match v {
            Some(Value::Null) if create => {}
            Some(v) => {
                body.insert(key.into(), v);
            }
            None => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- lists

/// The filters of a project list, checked and typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub search: Option<String>,
    pub updated_after: Option<chrono::DateTime<chrono::Utc>>,
    pub account_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub opportunity_id: Option<i64>,
    /// `OPEN` or `CLOSED`.
    pub status: Option<&'static str>,
    pub owner_id: Option<i64>,
    /// The `tag` argument as given, for the cursor; its resolved id is in `segment`.
    pub tag: Option<String>,
    pub stage_id: Option<i64>,
    pub board_id: Option<i64>,
    pub segment: Segment,
}

/// The one Capsule request that answers a page of a project list, and the filters that request
/// does not apply, which [`matches`] applies to the page.
///
/// Paths, first that fits: `search` → `/kases/search`; a party → `/parties/{id}/kases`
/// (which also lists projects the party is an additional party of); an opportunity →
/// `/opportunities/{id}/kases`; status, owner, tag, stage or board → the structured filter;
/// otherwise `/kases` with `since`.
pub fn list_request(q: &Query, page: u32, per_page: u32) -> (Request, Query) {
    let paging = vec![
        ("page".to_owned(), page.to_string()),
        ("perPage".to_owned(), per_page.to_string()),
        ("embed".to_owned(), EMBED.to_owned()),
    ];
    if let Some(search) = &q.search {
        let rest = Query {
            search: None,
            ..q.clone()
        };
        let req = Request::get(format!("{}/search", KASES.path))
            .query("q", search.clone())
            .queries(&paging);
        return (req, rest);
    }
    if let Some(party) = q.account_id.or(q.contact_id) {
        let rest = Query {
            account_id: None,
            contact_id: None,
            ..q.clone()
        };
        let req = Request::get(format!("{}/{party}/kases", PARTIES.path)).queries(&paging);
        return (req, rest);
    }
    if let Some(opp) = q.opportunity_id {
        let rest = Query {
            opportunity_id: None,
            ..q.clone()
        };
        let req = Request::get(format!("{}/{opp}/kases", OPPORTUNITIES.path)).queries(&paging);
        return (req, rest);
    }
    let mut conditions = Vec::new();
    if let Some(s) = q.status {
        conditions.push(json!({"field": "status", "operator": "is", "value": s}));
    }
    if let Some(owner) = q.owner_id {
        conditions.push(json!({"field": "owner", "operator": "is", "value": owner}));
    }
    conditions.extend(q.segment.conditions());
    if let Some(stage) = q.stage_id {
        conditions.push(json!({"field": "stage", "operator": "is", "value": stage}));
    }
    if let Some(board) = q.board_id {
        conditions.push(json!({"field": "board", "operator": "is", "value": board}));
    }
    if conditions.is_empty() {
        let mut req = Request::get(KASES.path).queries(&paging);
        if let Some(after) = q.updated_after {
            req = req.query("since", format_timestamp(&after));
        }
        // `since` is inclusive to the second; keep the strict "after" on the page (and a
        // `tag` not resolved into the segment).
        let rest = Query {
            updated_after: q.updated_after,
            tag: q.tag.clone(),
            ..Query::default()
        };
        return (req, rest);
    }
    if let Some(after) = q.updated_after {
        // The filter works in whole days: take the day before, refine on the page.
        let day = (after - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string();
        conditions.push(json!({"field": "updatedOn", "operator": "is after", "value": day}));
    }
    let req = Request::post_read(format!("{}/filters/results", KASES.path))
        .queries(&paging)
        .body(json!({ "filter": { "conditions": conditions } }));
    let rest = Query {
        updated_after: q.updated_after,
        ..Query::default()
    };
    (req, rest)
}

/// Whether a kase of the page satisfies the filters its request did not apply. `stages` maps
/// a stage to its board.
pub fn matches(rest: &Query, raw: &Value, stages: &[Stage]) -> bool {
    let Ok(k) = wire::decode::<Kase>(raw) else {
        return false;
    };
    let party = k.party.as_ref().and_then(|p| p.id);
    let stage = k.stage.as_ref().and_then(|s| s.id);
    let checks = [
        rest.account_id.is_none_or(|id| party == Some(id)),
        rest.contact_id.is_none_or(|id| party == Some(id)),
        rest.opportunity_id
            .is_none_or(|id| k.opportunity.as_ref().and_then(|o| o.id) == Some(id)),
        rest.status.is_none_or(|s| {
            k.status
                .as_deref()
                .is_some_and(|ks| ks.eq_ignore_ascii_case(s))
        }),
        rest.owner_id
            .is_none_or(|id| k.owner.as_ref().and_then(|o| o.id) == Some(id)),
        rest.stage_id.is_none_or(|id| stage == Some(id)),
        rest.board_id
            .is_none_or(|id| board_of(stage, stages).is_some_and(|b| b.id == id.to_string())),
    ];
    if checks.contains(&false) {
        return false;
    }
    if let Some(tag) = &rest.tag
        && !super::has_tag(&k.tags, tag)
    {
        return false;
    }
    if let Some(after) = rest.updated_after
        && !super::updated_after(&k.updated_at, after)
    {
        return false;
    }
    rest.segment.matches(raw)
}

/// The filters as they are echoed in a cursor (the argument names of the list tool).
pub fn query_json(q: &Query) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), v.into());
        }
    };
    put("search", q.search.clone());
    put(
        "updated_after",
        q.updated_after.as_ref().map(format_timestamp),
    );
    put("account_id", id_string(q.account_id));
    put("contact_id", id_string(q.contact_id));
    put("opportunity_id", id_string(q.opportunity_id));
    put("status", q.status.map(str::to_ascii_lowercase));
    put("owner_id", id_string(q.owner_id));
    put("tag", q.tag.clone());
    put("stage_id", id_string(q.stage_id));
    put("board_id", id_string(q.board_id));
    Value::Object(m)
}

// ---------------------------------------------------------------- web links

/// A project's page in Capsule's web app: `{site}/kase/{id}` (Capsule's name for projects).
pub fn web_url(site: &str, id: &str) -> String {
    format!("{site}/kase/{id}")
}

impl crate::capsule::refdata::WebLinked for Project {
    fn set_web_url(&mut self, site: &str) {
        self.web_url = Some(web_url(site, &self.id));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use crate::capsule::map::fixture;

    fn stages() -> Vec<Stage> {
        wire::decode(&json!([
            {"id": 271006, "name": "Planning", "board": {"id": 7, "name": "Onboarding"}},
            {"id": 104607, "name": "Project Brief", "board": {"id": 8, "name": "Delivery"}}
        ]))
        .unwrap()
    }

    fn defs() -> Vec<FieldDefinition> {
        wire::decode(&json!([
            {"id": 926886, "type": "list", "name": "Interests", "options": ["Traveling", "Food", "Art"]},
            {"id": 71, "type": "number", "name": "Hours Estimate"}
        ]))
        .unwrap()
    }

    #[test]
    fn maps_the_recorded_list() {
        let body = fixture("kases_list_fields.json");
        let p = to_project(&body["kases"][0], &defs(), &stages(), false).unwrap();
        assert_eq!(p.id, "5588202");
        assert_eq!(p.name, "Research");
        assert_eq!(p.status.as_deref(), Some("open"));
        assert_eq!(p.contact.as_ref().unwrap().id, "277242033");
        assert_eq!(
            p.contact.as_ref().unwrap().name.as_deref(),
            Some("Maia Hilton")
        );
        assert!(p.account.is_none() && p.team.is_none() && p.opportunity.is_none());
        assert_eq!(
            p.owner.as_ref().unwrap().name.as_deref(),
            Some("Maia Hilton")
        );
        assert_eq!(
            p.stage,
            Some(Ref {
                id: "271006".into(),
                name: Some("Planning".into())
            })
        );
        assert_eq!(
            p.board,
            Some(Ref {
                id: "7".into(),
                name: Some("Onboarding".into())
            })
        );
        assert_eq!(p.expected_close_date.as_deref(), Some("2015-12-09"));
        assert!(p.close_date.is_none());
        assert_eq!(p.custom_fields["Interests"], json!("Skiing"));
        assert!(p.remote_data.is_none());
        let raw = to_project(&body["kases"][0], &[], &[], true).unwrap();
        assert_eq!(raw.remote_data.as_ref(), Some(&body["kases"][0]));
        assert!(raw.board.is_none(), "unknown stage: no board");
    }

    #[test]
    fn maps_the_recorded_create_response_and_numbers() {
        let body = fixture("kase_create_response.json");
        let p = to_project(&body["kase"], &[], &stages(), false).unwrap();
        assert_eq!(p.id, "5271516");
        assert_eq!(p.account.as_ref().unwrap().name.as_deref(), Some("Capsule"));
        assert!(p.contact.is_none());
        assert_eq!(p.board.as_ref().unwrap().id, "8");
        assert_eq!(p.owner.as_ref().unwrap().id, "674197");

        let raw = json!({"id": 1, "name": "x", "fields": [
            {"id": 5, "definition": {"id": 71, "name": "Hours Estimate"}, "value": "40"}]});
        let p = to_project(&raw, &defs(), &[], false).unwrap();
        assert_eq!(p.custom_fields["Hours Estimate"], json!(40));
    }

    #[test]
    fn builds_write_bodies() {
        let f: ProjectFields = serde_json::from_value(json!({
            "name": "Website", "account_id": "892", "stage_id": "71", "status": "Open",
            "expected_close_date": "2025-12-09", "owner_id": "61", "team_id": "5",
            "opportunity_id": "12", "tags": ["Urgent"], "remote_data": {"startOn": "2025-01-01"}
        }))
        .unwrap();
        let resolved = Resolved {
            field_rows: vec![json!({"definition": {"id": 70}, "value": "x"})],
            remove_tag_ids: vec![],
        };
        let body = project_body(&f, &resolved, true, None).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({
                "name": "Website", "party": {"id": 892}, "stage": {"id": 71}, "status": "OPEN",
                "expectedCloseOn": "2025-12-09", "owner": {"id": 61}, "team": {"id": 5},
                "opportunity": {"id": 12}, "tags": [{"name": "Urgent"}],
                "fields": [{"definition": {"id": 70}, "value": "x"}], "startOn": "2025-01-01"
            })
        );
        let upd: ProjectFields = serde_json::from_value(json!({
            "opportunity_id": null, "description": null, "status": "closed"
        }))
        .unwrap();
        let r = Resolved {
            field_rows: vec![],
            remove_tag_ids: vec![21],
        };
        assert!(!needs_current_owner_team(&upd));
        assert_eq!(
            Value::Object(project_body(&upd, &r, false, None).unwrap()),
            json!({"opportunity": null, "description": null, "status": "CLOSED",
                   "tags": [{"id": 21, "_delete": true}]})
        );
    }

    #[test]
    fn owner_and_team_are_written_as_a_pair() {
        let r = Resolved::default();
        let owner_only: ProjectFields = serde_json::from_value(json!({"owner_id": "12"})).unwrap();
        assert!(needs_current_owner_team(&owner_only));
        assert!(
            project_body(&owner_only, &r, false, None).is_err(),
            "needs the current team"
        );
        let body = project_body(&owner_only, &r, false, Some((Some(61), Some(9)))).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"owner": {"id": 12}, "team": {"id": 9}})
        );
        let body = project_body(&owner_only, &r, false, Some((Some(61), None))).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"owner": {"id": 12}, "team": null})
        );
        let team_only: ProjectFields = serde_json::from_value(json!({"team_id": "5"})).unwrap();
        let body = project_body(&team_only, &r, false, Some((Some(61), Some(9)))).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"owner": {"id": 61}, "team": {"id": 5}})
        );
        let clear: ProjectFields = serde_json::from_value(json!({"team_id": null})).unwrap();
        assert!(project_body(&clear, &r, false, Some((None, Some(9)))).is_err());
        // On create nothing is kept: only what is given is sent.
        let create: ProjectFields =
            serde_json::from_value(json!({"name": "x", "contact_id": "1", "owner_id": "61"}))
                .unwrap();
        let body = project_body(&create, &r, true, None).unwrap();
        assert_eq!(body.get("owner"), Some(&json!({"id": 61})));
        assert!(!body.contains_key("team"));
    }

    #[test]
    fn refuses_bad_write_input() {
        let r = Resolved::default();
        let bad = |v: Value, create: bool| {
            let f: ProjectFields = serde_json::from_value(v).unwrap();
            project_body(&f, &r, create, None).is_err()
        };
        assert!(bad(json!({"account_id": "1"}), true), "name");
        assert!(bad(json!({"name": "x"}), true), "party");
        assert!(bad(
            json!({"name": "x", "account_id": "1", "contact_id": "2"}),
            true
        ));
        assert!(bad(json!({"status": "won"}), false));
        assert!(bad(json!({"expected_close_date": "09/12/2025"}), false));
        assert!(bad(json!({"stage_id": "planning"}), false));
        assert!(bad(json!({"name": " "}), false));
    }

    #[test]
    fn list_plans() {
        let all = Query::default();
        let (r, rest) = list_request(&all, 1, 50);
        assert_eq!(
            (r.path.as_str(), r.method),
            ("/kases", crate::capsule::Method::Get)
        );
        assert_eq!(rest, Query::default());

        let after = chrono::DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let q = Query {
            updated_after: Some(after),
            ..Default::default()
        };
        let (r, _) = list_request(&q, 1, 50);
        assert!(
            r.query
                .contains(&("since".into(), "2025-01-02T03:04:05Z".into()))
        );

        let q = Query {
            search: Some("web".into()),
            status: Some("OPEN"),
            ..Default::default()
        };
        let (r, rest) = list_request(&q, 1, 50);
        assert_eq!(r.path, "/kases/search");
        assert_eq!(rest.status, Some("OPEN"), "status applied on the page");
        assert!(rest.search.is_none());

        let q = Query {
            contact_id: Some(5),
            board_id: Some(7),
            ..Default::default()
        };
        let (r, rest) = list_request(&q, 1, 50);
        assert_eq!(r.path, "/parties/5/kases");
        assert!(rest.contact_id.is_none() && rest.board_id == Some(7));

        let q = Query {
            opportunity_id: Some(12),
            ..Default::default()
        };
        assert_eq!(list_request(&q, 1, 50).0.path, "/opportunities/12/kases");

        let q = Query {
            status: Some("CLOSED"),
            owner_id: Some(61),
            tag: Some("Urgent".into()),
            stage_id: Some(71),
            board_id: Some(7),
            updated_after: Some(after),
            segment: Segment {
                tag_ids: vec![21],
                fields: vec![(73, json!("Low"))],
            },
            ..Default::default()
        };
        let (r, rest) = list_request(&q, 2, 10);
        assert_eq!(r.path, "/kases/filters/results");
        assert_eq!(r.op, crate::capsule::retry::Op::Read, "a filter is a read");
        let conds = r.body.unwrap()["filter"]["conditions"].clone();
        assert_eq!(conds.as_array().unwrap().len(), 7);
        assert_eq!(
            conds[0],
            json!({"field": "status", "operator": "is", "value": "CLOSED"})
        );
        assert_eq!(
            conds[2],
            json!({"field": "tag", "operator": "is", "value": 21}),
            "a tag id is a number"
        );
        assert_eq!(
            conds[3],
            json!({"field": "custom:73", "operator": "is", "value": "Low"})
        );
        assert_eq!(conds[6]["value"], "2025-01-01");
        assert_eq!(
            rest,
            Query {
                updated_after: Some(after),
                ..Default::default()
            }
        );
    }

    #[test]
    fn matches_applies_what_the_path_did_not() {
        let body = fixture("kases_list_fields.json");
        let raw = &body["kases"][0];
        let s = stages();
        let q = |f: fn(&mut Query)| {
            let mut q = Query::default();
            f(&mut q);
            q
        };
        assert!(matches(&Query::default(), raw, &s));
        assert!(matches(&q(|q| q.board_id = Some(7)), raw, &s));
        assert!(!matches(&q(|q| q.board_id = Some(8)), raw, &s));
        assert!(matches(&q(|q| q.stage_id = Some(271006)), raw, &s));
        assert!(matches(&q(|q| q.status = Some("OPEN")), raw, &s));
        assert!(!matches(&q(|q| q.status = Some("CLOSED")), raw, &s));
        assert!(matches(&q(|q| q.contact_id = Some(277242033)), raw, &s));
        assert!(!matches(&q(|q| q.account_id = Some(1)), raw, &s));
        assert!(matches(&q(|q| q.owner_id = Some(694320)), raw, &s));
        assert!(!matches(&q(|q| q.opportunity_id = Some(1)), raw, &s));
        assert!(!matches(&q(|q| q.tag = Some("Urgent".into())), raw, &s));
    }
}
