//! Opportunities ⇄ unified opportunities: read mapping, write bodies, list request plans.

use serde_json::{Map, Value, json};

use super::{
    Resolved, decode_err, fields, format_timestamp, merge_remote, parse_id, party_ref,
    pipeline::MilestoneIndex, ref_of, segment::Segment, tag_rows, tags_of, user_ref,
};
use crate::capsule::{
    CapsuleError, Request,
    endpoint::{OPPORTUNITIES, PARTIES},
    wire::{self, FieldDefinition, Opportunity as Wire, PartyType},
};
use crate::unified::{Opportunity, opportunity::OpportunityFields};

/// Every opportunity read embeds tags and custom fields.
pub const EMBED: &str = "tags,fields";

const DURATION_BASES: &[&str] = &["FIXED", "HOUR", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    Won,
    Lost,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Won => "won",
            Status::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Result<Status, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(Status::Open),
            "won" => Ok(Status::Won),
            "lost" => Ok(Status::Lost),
            _ => Err(format!(
                "`status` must be `open`, `won` or `lost`; got \"{s}\""
            )),
        }
    }

    /// Structured filter conditions for the status, on fields whose values Capsule documents
    /// (the `status` field's strings are not): `isOpen`, and for a closed deal its probability,
    /// which closing sets to 100 (Won) or 0 (Lost) and which cannot change once closed.
    fn conditions(self) -> Vec<Value> {
        let open = |b: bool| json!({"field": "isOpen", "operator": "is", "value": b});
        match self {
            Status::Open => vec![open(true)],
            Status::Won => vec![
                open(false),
                json!({"field": "probability", "operator": "is greater than", "value": 0}),
            ],
            Status::Lost => vec![
                open(false),
                json!({"field": "probability", "operator": "is", "value": 0}),
            ],
        }
    }
}

/// The status of an opportunity: from its milestone when the index knows it (complete with
/// probability 0 is lost, other complete ones won), a lost reason means lost; without the
/// milestone, a closed date decides by the opportunity's own probability.
pub fn status_of(o: &Wire, idx: &MilestoneIndex) -> Status {
    let known = o
        .milestone
        .as_ref()
        .and_then(|m| m.id)
        .and_then(|id| idx.get(id));
    if o.lost_reason.as_ref().is_some_and(|r| r.id.is_some()) {
        return Status::Lost;
    }
    match known.map(|m| m.status) {
        Some("won") => Status::Won,
        Some("lost") => Status::Lost,
        Some(_) => Status::Open,
        None if o.closed_on.is_some() => {
            if o.probability == Some(0) {
                Status::Lost
            } else {
                Status::Won
            }
        }
        None => Status::Open,
    }
}

/// The pipeline id of the opportunity's current milestone, if the index knows it.
pub fn pipeline_of(raw: &Value, idx: &MilestoneIndex) -> Option<String> {
    let id = raw.get("milestone")?.get("id")?.as_i64()?;
    idx.get(id).map(|m| m.pipeline.id.clone())
}

pub fn to_opportunity(
    raw: &Value,
    defs: &[FieldDefinition],
    idx: &MilestoneIndex,
    include_raw: bool,
) -> Result<Opportunity, CapsuleError> {
    let o: Wire = wire::decode(raw).map_err(decode_err)?;
    let status = status_of(&o, idx);
    let milestone = o
        .milestone
        .as_ref()
        .and_then(|m| m.id)
        .and_then(|id| idx.get(id));
    let mut stage = ref_of(&o.milestone);
    if let (Some(s), Some(m)) = (stage.as_mut(), milestone)
        && s.name.is_none()
    {
        s.name = m.name.clone();
    }
    let party = party_ref(&o.party);
    let person = o
        .party
        .as_ref()
        .is_some_and(|p| p.party_type == Some(PartyType::Person));
    let (account, contact) = if person { (None, party) } else { (party, None) };
    Ok(Opportunity {
        id: o.id.map(|i| i.to_string()).unwrap_or_default(),
        name: o.name.clone().unwrap_or_default(),
        description: o.description.clone(),
        amount: o.value.as_ref().and_then(|v| v.amount),
        currency: o.value.as_ref().and_then(|v| v.currency.clone()),
        owner: user_ref(&o.owner),
        team: ref_of(&o.team),
        account,
        contact,
        stage,
        pipeline: milestone.map(|m| m.pipeline.clone()),
        status: status.name().to_owned(),
        probability: o.probability,
        // Capsule keeps `closedOn` only for closed deals; the expected date is its own field.
        close_date: o.closed_on.clone(),
        expected_close_date: o.expected_close_on.clone(),
        lost_reason: ref_of(&o.lost_reason),
        duration: o.duration,
        duration_basis: o.duration_basis.clone(),
        tags: tags_of(&o.tags),
        custom_fields: fields::read(o.fields.as_deref().unwrap_or_default(), defs),
        last_activity_at: o.last_contacted_at.clone(),
        created_at: o.created_at.clone(),
        updated_at: o.updated_at.clone(),
        web_url: None,
        remote_data: include_raw.then(|| raw.clone()),
    })
}

// ---------------------------------------------------------------- writes

fn id_ref(what: &str, id: &str) -> Result<Value, String> {
    Ok(json!({ "id": parse_id(what, id)? }))
}

fn check_date(what: &str, d: &str) -> Result<(), String> {
    chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d")
        .map(|_| ())
        .map_err(|_| format!("`{what}` must be a date as YYYY-MM-DD; got \"{d}\""))
}

/// The Capsule `opportunity` body for a write.
pub fn body(
    f: &OpportunityFields,
    resolved: &Resolved,
    create: bool,
) -> Result<Map<String, Value>, String> {
    let mut body = Map::new();
    match &f.name {
        Some(n) if n.trim().is_empty() => return Err("`name` must not be empty".into()),
        Some(n) => {
            body.insert("name".into(), n.clone().into());
        }
        None if create => return Err("an opportunity needs `name`".into()),
        None => {}
    }
    if let Some(d) = &f.description {
        body.insert(
            "description".into(),
            d.clone().map_or(Value::Null, Value::from),
        );
    }
    match (&f.account_id, &f.contact_id) {
        (Some(_), Some(_)) => {
            return Err("give `account_id` or `contact_id`, not both: one main party".into());
        }
        (Some(id), None) => {
            body.insert("party".into(), id_ref("account_id", id)?);
        }
        (None, Some(id)) => {
            body.insert("party".into(), id_ref("contact_id", id)?);
        }
        (None, None) if create => {
            return Err("an opportunity needs a party: `account_id` or `contact_id`".into());
        }
        (None, None) => {}
    }
    match &f.stage_id {
        Some(id) => {
            body.insert("milestone".into(), id_ref("stage_id", id)?);
        }
        None if create => {
            return Err("an opportunity needs `stage_id` (ids from crm_list_stages)".into());
        }
        None => {}
    }
    if f.amount.is_some() || f.currency.is_some() {
        let mut value = Map::new();
        if let Some(a) = f.amount {
            if !a.is_finite() || a < 0.0 {
                return Err(format!("`amount` must be a number of 0 or more; got {a}"));
            }
            value.insert("amount".into(), json!(a));
        }
        if let Some(c) = &f.currency {
            let c = c.trim().to_ascii_uppercase();
            if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                return Err(format!(
                    "`currency` must be an ISO 4217 code such as GBP; got \"{c}\""
                ));
            }
            value.insert("currency".into(), c.into());
        }
        body.insert("value".into(), Value::Object(value));
    }
    match &f.lost_reason_id {
        Some(Some(id)) => {
            body.insert("lostReason".into(), id_ref("lost_reason_id", id)?);
        }
        Some(None) => {
            body.insert("lostReason".into(), Value::Null);
        }
        None => {}
    }
    match &f.expected_close_date {
        Some(Some(d)) => {
            check_date("expected_close_date", d)?;
            body.insert("expectedCloseOn".into(), d.trim().into());
        }
        Some(None) => {
            body.insert("expectedCloseOn".into(), Value::Null);
        }
        None => {}
    }
    if let Some(p) = f.probability {
        if !(0..=100).contains(&p) {
            return Err(format!("`probability` must be 0-100; got {p}"));
        }
        body.insert("probability".into(), p.into());
    }
    let basis = match &f.duration_basis {
        Some(b) => {
            let up = b.trim().to_ascii_uppercase();
            if !DURATION_BASES.contains(&up.as_str()) {
                return Err(format!(
                    "`duration_basis` must be one of {}; got \"{b}\"",
                    DURATION_BASES.join(", ")
                ));
            }
            body.insert("durationBasis".into(), up.clone().into());
            Some(up)
        }
        None => None,
    };
    match &f.duration {
        Some(Some(d)) => {
            if basis.as_deref() == Some("FIXED") {
                return Err("`duration` must be null with `duration_basis` FIXED".into());
            }
            if *d < 1 {
                return Err(format!("`duration` must be 1 or more; got {d}"));
            }
            body.insert("duration".into(), (*d).into());
        }
        Some(None) => {
            body.insert("duration".into(), Value::Null);
        }
        None => {}
    }
    if let Some(id) = &f.owner_id {
        body.insert("owner".into(), id_ref("owner_id", id)?);
    }
    if let Some(id) = &f.team_id {
        body.insert("team".into(), id_ref("team_id", id)?);
    }
    let tags = tag_rows(f.tags.as_ref(), &resolved.remove_tag_ids)?;
    if !tags.is_empty() {
        body.insert("tags".into(), Value::Array(tags));
    }
    if !resolved.field_rows.is_empty() {
        body.insert("fields".into(), Value::Array(resolved.field_rows.clone()));
    }
    merge_remote(&mut body, f.remote_data.as_ref())?;
    Ok(body)
}

// ---------------------------------------------------------------- lists

/// The filters of an opportunity list, checked and typed.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub search: Option<String>,
    pub updated_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Opportunities of this party (`account_id` or `contact_id`).
    pub party_id: Option<i64>,
    /// Which argument named the party: `account_id` or `contact_id`.
    pub party_arg: Option<&'static str>,
    pub status: Option<Status>,
    pub owner_id: Option<i64>,
    /// The `tag` argument as given, for the cursor; its resolved id is in `segment`.
    pub tag: Option<String>,
    pub pipeline_id: Option<i64>,
    /// Closed (`closedOn`) strictly after / before.
    pub closed_after: Option<chrono::NaiveDate>,
    pub closed_before: Option<chrono::NaiveDate>,
    /// Expected to close (`expectedCloseOn`) strictly after / before.
    pub expected_close_after: Option<chrono::NaiveDate>,
    pub expected_close_before: Option<chrono::NaiveDate>,
    pub stage: Option<StageFilter>,
    pub segment: Segment,
}

/// A stage (milestone) filter: the filter's `milestone` field is a string, the milestone's
/// name, which is only unique within its pipeline: both go, and the id is checked locally.
#[derive(Debug, Clone, PartialEq)]
pub struct StageFilter {
    pub id: i64,
    pub name: Option<String>,
    pub pipeline_id: Option<i64>,
}

impl Query {
    fn dated(&self) -> bool {
        self.closed_after.is_some()
            || self.closed_before.is_some()
            || self.expected_close_after.is_some()
            || self.expected_close_before.is_some()
    }
}

fn day(d: chrono::NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Whether a record's date (`YYYY-MM-DD`) is strictly after `after` and before `before`; an
/// absent date is neither.
fn date_within(
    date: &Option<String>,
    after: Option<chrono::NaiveDate>,
    before: Option<chrono::NaiveDate>,
) -> bool {
    if after.is_none() && before.is_none() {
        return true;
    }
    let Some(d) = date
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d").ok())
    else {
        return false;
    };
    after.is_none_or(|a| d > a) && before.is_none_or(|b| d < b)
}

/// Which Capsule path answers a list. Everything the path does not apply, [`matches`] applies
/// to the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Search,
    Party,
    Filter,
    Since,
    All,
}

pub fn path(q: &Query) -> Path {
    if q.search.is_some() {
        Path::Search
    } else if q.party_id.is_some() {
        Path::Party
    } else if q.status.is_some()
        || q.owner_id.is_some()
        || q.tag.is_some()
        || q.pipeline_id.is_some()
        || q.stage.is_some()
        || q.dated()
        || !q.segment.is_empty()
    {
        Path::Filter
    } else if q.updated_after.is_some() {
        Path::Since
    } else {
        Path::All
    }
}

/// The one Capsule request that answers a page of the list.
pub fn list_request(q: &Query, page: u32, per_page: u32) -> Request {
    let paging = vec![
        ("page".to_owned(), page.to_string()),
        ("perPage".to_owned(), per_page.to_string()),
        ("embed".to_owned(), EMBED.to_owned()),
    ];
    match path(q) {
        Path::Search => Request::get(format!("{}/search", OPPORTUNITIES.path))
            .query("q", q.search.clone().unwrap_or_default())
            .queries(&paging),
        Path::Party => Request::get(format!(
            "{}/{}/opportunities",
            PARTIES.path,
            q.party_id.unwrap_or_default()
        ))
        .queries(&paging),
        Path::Since | Path::All => {
            let mut r = Request::get(OPPORTUNITIES.path).queries(&paging);
            if let Some(after) = q.updated_after {
                r = r.query("since", format_timestamp(&after));
            }
            r
        }
        Path::Filter => {
            let mut conditions = Vec::new();
            if let Some(s) = q.status {
                conditions.extend(s.conditions());
            }
            if let Some(p) = q.pipeline_id {
                conditions.push(json!({"field": "pipeline", "operator": "is", "value": p}));
            }
            if let Some(stage) = &q.stage {
                if let Some(name) = &stage.name {
                    conditions.push(json!({"field": "milestone", "operator": "is", "value": name}));
                }
                if let Some(p) = stage.pipeline_id.filter(|p| q.pipeline_id != Some(*p)) {
                    conditions.push(json!({"field": "pipeline", "operator": "is", "value": p}));
                }
            }
            if let Some(o) = q.owner_id {
                conditions.push(json!({"field": "owner", "operator": "is", "value": o}));
            }
            conditions.extend(q.segment.conditions());
            for (field, op, d) in [
                ("closedOn", "is after", q.closed_after),
                ("closedOn", "is before", q.closed_before),
                ("expectedCloseOn", "is after", q.expected_close_after),
                ("expectedCloseOn", "is before", q.expected_close_before),
            ] {
                if let Some(d) = d {
                    conditions.push(json!({"field": field, "operator": op, "value": day(d)}));
                }
            }
            if let Some(after) = q.updated_after {
                // The filter works in whole days: take the day before, refine on the page.
                let day = (after - chrono::Duration::days(1))
                    .format("%Y-%m-%d")
                    .to_string();
                conditions
                    .push(json!({"field": "updatedOn", "operator": "is after", "value": day}));
            }
            Request::post_read(format!("{}/filters/results", OPPORTUNITIES.path))
                .queries(&paging)
                .body(json!({ "filter": { "conditions": conditions } }))
        }
    }
}

/// Whether an opportunity of the page satisfies every filter. The search text is Capsule's
/// alone to judge; the party filter on the party path too (it includes additional parties).
pub fn matches(q: &Query, raw: &Value, idx: &MilestoneIndex) -> bool {
    let Ok(o) = wire::decode::<Wire>(raw) else {
        return false;
    };
    if let Some(party) = q.party_id
        && path(q) != Path::Party
        && o.party.as_ref().and_then(|p| p.id) != Some(party)
    {
        return false;
    }
    if let Some(s) = q.status
        && status_of(&o, idx) != s
    {
        return false;
    }
    if let Some(p) = q.pipeline_id
        && pipeline_of(raw, idx) != Some(p.to_string())
    {
        return false;
    }
    if let Some(owner) = q.owner_id
        && o.owner.as_ref().and_then(|u| u.id) != Some(owner)
    {
        return false;
    }
    if let Some(tag) = &q.tag
        && !super::has_tag(&o.tags, tag)
    {
        return false;
    }
    if let Some(after) = q.updated_after
        && !super::updated_after(&o.updated_at, after)
    {
        return false;
    }
    if let Some(stage) = &q.stage
        && o.milestone.as_ref().and_then(|m| m.id) != Some(stage.id)
    {
        return false;
    }
    date_within(&o.closed_on, q.closed_after, q.closed_before)
        && date_within(
            &o.expected_close_on,
            q.expected_close_after,
            q.expected_close_before,
        )
        && q.segment.matches(raw)
}

/// The filters as they are echoed in a cursor.
pub fn query_json(q: &Query) -> Value {
    let mut m = Map::new();
    if let Some(s) = &q.search {
        m.insert("search".into(), s.clone().into());
    }
    if let Some(t) = q.updated_after {
        m.insert("updated_after".into(), format_timestamp(&t).into());
    }
    if let (Some(p), Some(arg)) = (q.party_id, q.party_arg) {
        m.insert(arg.into(), p.to_string().into());
    }
    if let Some(s) = q.status {
        m.insert("status".into(), s.name().into());
    }
    if let Some(o) = q.owner_id {
        m.insert("owner_id".into(), o.to_string().into());
    }
    if let Some(t) = &q.tag {
        m.insert("tag".into(), t.clone().into());
    }
    if let Some(p) = q.pipeline_id {
        m.insert("pipeline_id".into(), p.to_string().into());
    }
    for (k, d) in [
        ("closed_after", q.closed_after),
        ("closed_before", q.closed_before),
        ("expected_close_after", q.expected_close_after),
        ("expected_close_before", q.expected_close_before),
    ] {
        if let Some(d) = d {
            m.insert(k.into(), day(d).into());
        }
    }
    if let Some(s) = &q.stage {
        m.insert("stage_id".into(), s.id.to_string().into());
    }
    Value::Object(m)
}

// ---------------------------------------------------------------- web links

/// An opportunity's page in Capsule's web app: `{site}/opportunity/{id}`.
pub fn web_url(site: &str, id: &str) -> String {
    format!("{site}/opportunity/{id}")
}

impl crate::capsule::refdata::WebLinked for Opportunity {
    fn set_web_url(&mut self, site: &str) {
        self.web_url = Some(web_url(site, &self.id));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::capsule::map::pipeline::{Entity, Set};

    use crate::capsule::map::fixture;

    /// The doc pipeline 10 with milestones 14 (Bid), 15 (Won), 16 (Lost), without nested
    /// pipelines, as the legacy `/milestones` list sends them.
    fn index() -> MilestoneIndex {
        MilestoneIndex::build(&[Set {
            entity: Entity::Opportunity,
            raw: fixture("pipelines_list.json")["pipelines"][0].clone(),
            stages: vec![
                json!({"id": 14, "name": "Bid", "complete": false, "probability": 50}),
                json!({"id": 15, "name": "Won", "complete": true, "probability": 100}),
                json!({"id": 16, "name": "Lost", "complete": true, "probability": 0}),
            ],
        }])
        .unwrap()
    }

    #[test]
    fn maps_the_recorded_opportunity() {
        let body = fixture("opportunities_list.json");
        let raw = &body["opportunities"][0];
        let o = to_opportunity(raw, &[], &index(), false).unwrap();
        assert_eq!(o.id, "12");
        assert_eq!(o.name, "Consulting");
        assert_eq!(o.amount, Some(500.0));
        assert_eq!(o.currency.as_deref(), Some("GBP"));
        assert_eq!(o.account.as_ref().unwrap().id, "581");
        assert_eq!(o.account.as_ref().unwrap().name.as_deref(), Some("Capsule"));
        assert!(o.contact.is_none());
        assert_eq!(o.stage.as_ref().unwrap().name.as_deref(), Some("Bid"));
        assert_eq!(o.pipeline.as_ref().unwrap().id, "10");
        assert_eq!(
            o.pipeline.as_ref().unwrap().name.as_deref(),
            Some("SMB clients")
        );
        assert_eq!(o.status, "open");
        assert_eq!(o.probability, Some(50));
        assert_eq!(o.close_date, None, "an open deal has not closed");
        assert_eq!(o.expected_close_date.as_deref(), Some("2015-10-31"));
        assert_eq!(o.duration_basis.as_deref(), Some("FIXED"));
        assert_eq!(
            o.owner.as_ref().unwrap().name.as_deref(),
            Some("Scott Spacey")
        );
        assert!(o.remote_data.is_none());
        let with_raw = to_opportunity(raw, &[], &index(), true).unwrap();
        assert_eq!(with_raw.remote_data.as_ref(), Some(raw));
    }

    #[test]
    fn status_comes_from_the_milestone_or_the_lost_reason() {
        let idx = index();
        let mut raw = fixture("opportunities_list.json")["opportunities"][0].clone();
        raw["milestone"] = json!({"id": 15, "name": "Won"});
        raw["closedOn"] = json!("2015-11-02");
        let o = to_opportunity(&raw, &[], &idx, false).unwrap();
        assert_eq!(o.status, "won");
        assert_eq!(o.close_date.as_deref(), Some("2015-11-02"));
        raw["milestone"] = json!({"id": 16, "name": "Lost"});
        assert_eq!(
            to_opportunity(&raw, &[], &idx, false).unwrap().status,
            "lost"
        );
        raw["milestone"] = json!({"id": 14});
        raw["closedOn"] = Value::Null;
        raw["lostReason"] = json!({"id": 3, "name": "Too expensive"});
        let o = to_opportunity(&raw, &[], &idx, false).unwrap();
        assert_eq!(o.status, "lost");
        assert_eq!(
            o.stage.unwrap().name.as_deref(),
            Some("Bid"),
            "name from the index"
        );
        assert_eq!(
            o.lost_reason.unwrap().name.as_deref(),
            Some("Too expensive")
        );
        // A person as main party is a contact; an unknown closed milestone decides by probability.
        raw["party"] = json!({"id": 7, "type": "person", "firstName": "Ada", "lastName": "L"});
        raw["lostReason"] = Value::Null;
        raw["milestone"] = json!({"id": 99, "name": "Won"});
        raw["closedOn"] = json!("2015-11-02");
        raw["probability"] = json!(100);
        let o = to_opportunity(&raw, &[], &MilestoneIndex::default(), false).unwrap();
        assert_eq!(o.contact.unwrap().name.as_deref(), Some("Ada L"));
        assert_eq!(o.status, "won");
        assert!(o.pipeline.is_none());
    }

    #[test]
    fn builds_the_recorded_create_body() {
        let f: OpportunityFields = serde_json::from_value(json!({
            "account_id": "581", "stage_id": "14", "name": "Consulting",
            "description": "Scope and design web site shopping cart",
            "amount": 500, "currency": "gbp", "expected_close_date": "2015-10-31",
            "probability": 50, "duration_basis": "month", "duration": 6, "owner_id": "6",
            "tags": ["Upsell"]
        }))
        .unwrap();
        let resolved = Resolved {
            field_rows: vec![json!({"definition": {"id": 51}, "value": 42})],
            remove_tag_ids: vec![],
        };
        let b = body(&f, &resolved, true).unwrap();
        let recorded = fixture("opportunity_create_body.json");
        let mut ours = Value::Object(b);
        ours["value"]["amount"] = json!(500);
        for key in recorded["opportunity"].as_object().unwrap().keys() {
            assert_eq!(ours[key], recorded["opportunity"][key], "{key}");
        }
    }

    #[test]
    fn refuses_bad_write_input() {
        let r = Resolved::default();
        let f = |v: Value| serde_json::from_value::<OpportunityFields>(v).unwrap();
        assert!(
            body(&f(json!({"name": "x", "stage_id": "1"})), &r, true).is_err(),
            "party"
        );
        assert!(
            body(&f(json!({"name": "x", "account_id": "1"})), &r, true).is_err(),
            "stage"
        );
        assert!(
            body(&f(json!({"account_id": "1", "stage_id": "1"})), &r, true).is_err(),
            "name"
        );
        assert!(body(&f(json!({"account_id": "1", "contact_id": "2"})), &r, false).is_err());
        assert!(body(&f(json!({"probability": 101})), &r, false).is_err());
        assert!(body(&f(json!({"expected_close_date": "31/10/2015"})), &r, false).is_err());
        assert!(
            body(
                &f(json!({"duration_basis": "FIXED", "duration": 3})),
                &r,
                false
            )
            .is_err()
        );
        assert!(body(&f(json!({"duration_basis": "fortnight"})), &r, false).is_err());
        assert!(body(&f(json!({"currency": "pounds"})), &r, false).is_err());
        let clear = body(
            &f(json!({"lost_reason_id": null, "expected_close_date": null, "stage_id": "4"})),
            &Resolved {
                field_rows: vec![],
                remove_tag_ids: vec![9],
            },
            false,
        )
        .unwrap();
        assert_eq!(
            Value::Object(clear),
            json!({"milestone": {"id": 4}, "lostReason": null, "expectedCloseOn": null,
                   "tags": [{"id": 9, "_delete": true}]})
        );
    }

    #[test]
    fn list_plans_and_local_matching() {
        let q = Query::default();
        assert_eq!(list_request(&q, 1, 50).path, "/opportunities");
        let q = Query {
            updated_after: Some(chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
            ..Default::default()
        };
        let r = list_request(&q, 1, 50);
        assert!(
            r.query
                .contains(&("since".into(), "2023-11-14T22:13:20Z".into()))
        );
        let q = Query {
            status: Some(Status::Won),
            pipeline_id: Some(10),
            ..Default::default()
        };
        let r = list_request(&q, 2, 10);
        assert_eq!(r.path, "/opportunities/filters/results");
        assert_eq!(r.op, crate::capsule::retry::Op::Read, "a filter is a read");
        let conds = r.body.unwrap()["filter"]["conditions"].clone();
        assert_eq!(
            conds,
            json!([
                {"field": "isOpen", "operator": "is", "value": false},
                {"field": "probability", "operator": "is greater than", "value": 0},
                {"field": "pipeline", "operator": "is", "value": 10}
            ])
        );
        let dated = Query {
            status: Some(Status::Lost),
            closed_after: chrono::NaiveDate::from_ymd_opt(2026, 6, 1),
            expected_close_before: chrono::NaiveDate::from_ymd_opt(2026, 9, 1),
            stage: Some(StageFilter {
                id: 16,
                name: Some("Lost".into()),
                pipeline_id: Some(10),
            }),
            segment: Segment {
                tag_ids: vec![11],
                fields: vec![(60, json!("Event"))],
            },
            ..Default::default()
        };
        let conds = list_request(&dated, 1, 50).body.unwrap()["filter"]["conditions"].clone();
        assert_eq!(
            conds,
            json!([
                {"field": "isOpen", "operator": "is", "value": false},
                {"field": "probability", "operator": "is", "value": 0},
                {"field": "milestone", "operator": "is", "value": "Lost"},
                {"field": "pipeline", "operator": "is", "value": 10},
                {"field": "tag", "operator": "is", "value": 11},
                {"field": "custom:60", "operator": "is", "value": "Event"},
                {"field": "closedOn", "operator": "is after", "value": "2026-06-01"},
                {"field": "expectedCloseOn", "operator": "is before", "value": "2026-09-01"}
            ])
        );
        let mut closed = fixture("opportunities_list.json")["opportunities"][0].clone();
        closed["closedOn"] = json!("2026-06-01");
        let after = |d: &str| Query {
            closed_after: chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok(),
            ..Default::default()
        };
        assert!(matches(&after("2026-05-31"), &closed, &index()));
        assert!(
            !matches(&after("2026-06-01"), &closed, &index()),
            "strictly after"
        );
        closed["closedOn"] = Value::Null;
        assert!(
            !matches(&after("2026-05-31"), &closed, &index()),
            "open: not closed"
        );
        let q = Query {
            party_id: Some(581),
            party_arg: Some("account_id"),
            status: Some(Status::Open),
            ..Default::default()
        };
        assert_eq!(list_request(&q, 1, 50).path, "/parties/581/opportunities");
        let raw = &fixture("opportunities_list.json")["opportunities"][0];
        let idx = index();
        assert!(matches(&q, raw, &idx));
        let won = Query {
            status: Some(Status::Won),
            ..q.clone()
        };
        assert!(
            !matches(&won, raw, &idx),
            "status applied locally on the party path"
        );
        let searched = Query {
            search: Some("consult".into()),
            party_id: Some(1),
            ..Default::default()
        };
        assert_eq!(list_request(&searched, 1, 50).path, "/opportunities/search");
        assert!(
            !matches(&searched, raw, &idx),
            "party applied locally on search"
        );
        let in_11 = Query {
            search: Some("x".into()),
            pipeline_id: Some(11),
            ..Default::default()
        };
        assert!(!matches(&in_11, raw, &idx));
        assert_eq!(
            query_json(&q),
            json!({"account_id": "581", "status": "open"})
        );
    }
}
