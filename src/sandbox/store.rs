//! The in-memory store and the rendering of records into Capsule's JSON shapes.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::api::{Embed, date_value, fmt_ts, opt_str, ts_value};

/// Which record type a tag, custom field definition or filter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Entity {
    Parties,
    Opportunities,
    Kases,
}

impl Entity {
    pub(crate) fn from_segment(s: &str) -> Option<Entity> {
        match s {
            "parties" => Some(Entity::Parties),
            "opportunities" => Some(Entity::Opportunities),
            "kases" => Some(Entity::Kases),
            _ => None,
        }
    }

    pub(crate) fn segment(self) -> &'static str {
        match self {
            Entity::Parties => "parties",
            Entity::Opportunities => "opportunities",
            Entity::Kases => "kases",
        }
    }

    pub(crate) fn singular(self) -> &'static str {
        match self {
            Entity::Parties => "party",
            Entity::Opportunities => "opportunity",
            Entity::Kases => "kase",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub admin: bool,
    /// The Capsule account's owner (an administrator too).
    pub account_owner: bool,
    pub party: Option<i64>,
    pub locale: String,
    pub currency: String,
    pub timezone: String,
    pub last_login_at: DateTime<Utc>,
    pub task_reminder: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Team {
    pub id: i64,
    pub name: String,
    pub members: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Email {
    pub id: i64,
    pub kind: Option<String>,
    pub address: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Phone {
    pub id: i64,
    pub kind: Option<String>,
    pub number: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Address {
    pub id: i64,
    pub kind: Option<String>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub zip: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Website {
    pub id: i64,
    pub kind: Option<String>,
    pub service: String,
    pub address: String,
}

impl Website {
    /// The read-only `url`, derived from service + address.
    pub(crate) fn url(&self) -> String {
        let a = self.address.trim();
        if a.starts_with("http://") || a.starts_with("https://") {
            return a.to_string();
        }
        let handle = a.trim_start_matches('@');
        match self.service.as_str() {
            "TWITTER" => format!("https://twitter.com/{handle}"),
            "FACEBOOK" => format!("https://www.facebook.com/{handle}"),
            "LINKED_IN" => format!("https://www.linkedin.com/in/{handle}"),
            "GITHUB" => format!("https://github.com/{handle}"),
            "YOUTUBE" => format!("https://www.youtube.com/user/{handle}"),
            "INSTAGRAM" => format!("https://www.instagram.com/{handle}"),
            "PINTEREST" => format!("https://www.pinterest.com/{handle}"),
            "FLICKR" => format!("https://www.flickr.com/photos/{handle}"),
            "XING" => format!("https://www.xing.com/profile/{handle}"),
            "TIKTOK" => format!("https://www.tiktok.com/@{handle}"),
            "THREADS" => format!("https://www.threads.net/@{handle}"),
            "BLUESKY" => format!("https://bsky.app/profile/{handle}"),
            "SNAPCHAT" => format!("https://www.snapchat.com/add/{handle}"),
            "SKYPE" => format!("skype:{handle}"),
            _ => format!("http://{a}"),
        }
    }
}

pub(crate) const WEBSITE_SERVICES: &[&str] = &[
    "URL",
    "SKYPE",
    "TWITTER",
    "LINKED_IN",
    "FACEBOOK",
    "XING",
    "FEED",
    "GOOGLE_PLUS",
    "FLICKR",
    "GITHUB",
    "YOUTUBE",
    "INSTAGRAM",
    "PINTEREST",
    "TIKTOK",
    "THREADS",
    "BLUESKY",
    "SNAPCHAT",
];

#[derive(Debug, Clone)]
pub(crate) struct FieldValue {
    pub id: i64,
    pub definition: i64,
    /// Stored as it reads back (numbers as strings).
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PartyKind {
    Person,
    Organisation,
}

#[derive(Debug, Clone)]
pub(crate) struct Party {
    pub id: i64,
    pub kind: PartyKind,
    pub title: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub job_title: Option<String>,
    pub name: Option<String>,
    pub about: Option<String>,
    pub organisation: Option<i64>,
    pub owner: Option<i64>,
    pub team: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_contacted_at: Option<DateTime<Utc>>,
    pub emails: Vec<Email>,
    pub phones: Vec<Phone>,
    pub addresses: Vec<Address>,
    pub websites: Vec<Website>,
    pub tags: Vec<i64>,
    pub fields: Vec<FieldValue>,
}

impl Party {
    pub(crate) fn display_name(&self) -> String {
        match self.kind {
            PartyKind::Organisation => self.name.clone().unwrap_or_default(),
            PartyKind::Person => [self.first_name.as_deref(), self.last_name.as_deref()]
                .iter()
                .flatten()
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    fn initials(&self) -> String {
        self.display_name()
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .take(2)
            .collect::<String>()
            .to_uppercase()
    }

    pub(crate) fn picture_url(&self) -> String {
        match self.kind {
            PartyKind::Organisation => {
                "https://capsulecrm.com/theme/default/images/org_avatar_70.png".to_string()
            }
            PartyKind::Person => format!(
                "https://facehub.appspot.com/default/person?text={}&size=100",
                self.initials()
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Opportunity {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub party: i64,
    pub milestone: i64,
    pub last_open_milestone: Option<i64>,
    pub owner: Option<i64>,
    pub team: Option<i64>,
    pub value: Option<(serde_json::Number, String)>,
    pub expected_close_on: Option<NaiveDate>,
    pub probability: Option<i64>,
    pub duration_basis: Option<String>,
    pub duration: Option<i64>,
    pub closed_on: Option<NaiveDate>,
    pub lost_reason: Option<i64>,
    pub last_contacted_at: Option<DateTime<Utc>>,
    pub last_stage_changed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tags: Vec<i64>,
    pub fields: Vec<FieldValue>,
    pub additional_parties: Vec<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct Kase {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub party: i64,
    pub opportunity: Option<i64>,
    pub status: String,
    pub stage: Option<i64>,
    pub owner: Option<i64>,
    pub team: Option<i64>,
    pub expected_close_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    pub start_on: Option<NaiveDate>,
    pub last_contacted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tags: Vec<i64>,
    pub fields: Vec<FieldValue>,
    pub additional_parties: Vec<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub id: i64,
    pub description: String,
    pub detail: Option<String>,
    pub category: Option<i64>,
    pub due_on: NaiveDate,
    pub due_time: Option<String>,
    pub status: String,
    pub party: Option<i64>,
    pub opportunity: Option<i64>,
    pub kase: Option<i64>,
    pub owner: Option<i64>,
    pub completed_by: Option<i64>,
    pub completed_at: Option<DateTime<Utc>>,
    pub repeat: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub id: i64,
    pub kind: String,
    pub creator: Option<i64>,
    pub activity_type: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub entry_at: DateTime<Utc>,
    pub subject: Option<String>,
    pub content: Option<String>,
    pub party: Option<i64>,
    pub opportunity: Option<i64>,
    pub kase: Option<i64>,
    pub parties: Vec<i64>,
    pub participants: Vec<Value>,
    pub attachments: Vec<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct Attachment {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub(crate) struct Tag {
    pub id: i64,
    pub entity: Entity,
    pub name: String,
    pub description: Option<String>,
    pub data_tag: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Definition {
    pub id: i64,
    pub entity: Entity,
    pub name: String,
    pub kind: String,
    pub description: Option<String>,
    pub important: bool,
    pub display_order: i64,
    pub capture_rule: Option<String>,
    pub options: Vec<String>,
    pub tag: Option<i64>,
}

pub(crate) const FIELD_TYPES: &[&str] = &[
    "text",
    "large_text",
    "number",
    "date",
    "boolean",
    "list",
    "link",
];

#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Milestone {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub complete: bool,
    pub probability: i64,
    pub days_until_stale: Option<i64>,
    pub pipeline: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct LostReason {
    pub id: i64,
    pub name: String,
    pub included_for_conversion: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Board {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub team: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Stage {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub display_order: i64,
    pub board: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Category {
    pub id: i64,
    pub name: String,
    pub colour: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ActivityType {
    pub id: i64,
    pub name: String,
    pub update_last_contacted: bool,
    pub icon: String,
    pub order: i64,
    pub system: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Title {
    pub id: i64,
    pub title: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Tombstone {
    pub id: i64,
    pub deleted_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub(crate) struct Country {
    pub name: &'static str,
    pub alpha2: &'static str,
    pub alpha3: &'static str,
    pub numeric: &'static str,
}

/// Everything the sandbox knows. Handlers lock it for the duration of one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    pub users: BTreeMap<i64, User>,
    pub teams: BTreeMap<i64, Team>,
    pub parties: BTreeMap<i64, Party>,
    pub opportunities: BTreeMap<i64, Opportunity>,
    pub kases: BTreeMap<i64, Kase>,
    pub tasks: BTreeMap<i64, Task>,
    pub entries: BTreeMap<i64, Entry>,
    pub attachments: BTreeMap<i64, Attachment>,
    /// Uploaded but not yet attached files, by token.
    pub uploads: BTreeMap<String, Attachment>,
    pub tags: BTreeMap<i64, Tag>,
    pub definitions: BTreeMap<i64, Definition>,
    pub pipelines: BTreeMap<i64, Pipeline>,
    pub milestones: BTreeMap<i64, Milestone>,
    pub lost_reasons: BTreeMap<i64, LostReason>,
    pub boards: BTreeMap<i64, Board>,
    pub stages: BTreeMap<i64, Stage>,
    pub categories: BTreeMap<i64, Category>,
    pub activity_types: Vec<ActivityType>,
    pub titles: BTreeMap<i64, Title>,
    pub countries: Vec<Country>,
    pub currencies: Vec<&'static str>,
    pub deleted_parties: Vec<Tombstone>,
    pub deleted_opportunities: Vec<Tombstone>,
    pub deleted_kases: Vec<Tombstone>,
    /// Records the demo users lost access to: (when, placeholder JSON).
    pub restricted_parties: Vec<(DateTime<Utc>, Value)>,
    pub(crate) counters: BTreeMap<&'static str, i64>,
}

impl Store {
    /// Next id of a sequence; ids only ever grow.
    pub(crate) fn alloc(&mut self, seq: &'static str) -> i64 {
        let c = self.counters.entry(seq).or_insert(1);
        let id = *c;
        *c += 1;
        id
    }

    pub(crate) fn set_counter(&mut self, seq: &'static str, next: i64) {
        self.counters.insert(seq, next);
    }

    // ---- nested short forms ------------------------------------------------

    pub(crate) fn nested_user(&self, id: Option<i64>) -> Value {
        match id.and_then(|id| self.users.get(&id)) {
            None => Value::Null,
            Some(u) => json!({
                "id": u.id,
                "deleted": false,
                "username": u.username,
                "pictureURL": user_picture(&u.name),
                "name": u.name,
            }),
        }
    }

    pub(crate) fn nested_team(&self, id: Option<i64>) -> Value {
        match id.and_then(|id| self.teams.get(&id)) {
            None => Value::Null,
            Some(t) => json!({ "id": t.id, "name": t.name }),
        }
    }

    pub(crate) fn nested_party(&self, id: Option<i64>) -> Value {
        match id.and_then(|id| self.parties.get(&id)) {
            None => Value::Null,
            Some(p) => nested_party_of(p),
        }
    }

    pub(crate) fn nested_milestone(&self, id: Option<i64>) -> Value {
        match id.and_then(|id| self.milestones.get(&id)) {
            None => Value::Null,
            Some(m) => json!({ "id": m.id, "name": m.name }),
        }
    }

    pub(crate) fn nested_opportunity(&self, id: Option<i64>) -> Value {
        match id.and_then(|id| self.opportunities.get(&id)) {
            None => Value::Null,
            Some(o) => json!({ "id": o.id, "name": o.name }),
        }
    }

    pub(crate) fn nested_kase(&self, id: Option<i64>) -> Value {
        match id.and_then(|id| self.kases.get(&id)) {
            None => Value::Null,
            Some(k) => json!({ "id": k.id, "name": k.name }),
        }
    }

    pub(crate) fn activity_type(&self, id: i64) -> Option<&ActivityType> {
        self.activity_types.iter().find(|a| a.id == id)
    }

    // ---- tags and fields ---------------------------------------------------

    fn render_tags(&self, tags: &[i64]) -> Value {
        Value::Array(
            tags.iter()
                .filter_map(|id| self.tags.get(id))
                .map(|t| json!({ "id": t.id, "name": t.name, "dataTag": t.data_tag }))
                .collect(),
        )
    }

    fn render_fields(&self, fields: &[FieldValue]) -> Value {
        Value::Array(
            fields
                .iter()
                .filter_map(|f| {
                    let d = self.definitions.get(&f.definition)?;
                    let mut m = Map::new();
                    m.insert("id".into(), json!(f.id));
                    m.insert("definition".into(), json!({ "id": d.id, "name": d.name }));
                    m.insert("value".into(), f.value.clone());
                    if let Some(tag) = d.tag {
                        m.insert("tagId".into(), json!(tag));
                    }
                    Some(Value::Object(m))
                })
                .collect(),
        )
    }

    /// Whether an `important` field applying to this record has no value.
    fn missing_important(
        &self,
        entity: Entity,
        kind: Option<PartyKind>,
        tags: &[i64],
        fields: &[FieldValue],
    ) -> bool {
        self.definitions.values().any(|d| {
            d.entity == entity
                && d.important
                && capture_applies(d, kind)
                && d.tag.is_none_or(|t| tags.contains(&t))
                && !fields.iter().any(|f| f.definition == d.id)
        })
    }

    fn add_embeds(
        &self,
        m: &mut Map<String, Value>,
        embed: Embed,
        entity: Entity,
        kind: Option<PartyKind>,
        tags: &[i64],
        fields: &[FieldValue],
    ) {
        if embed.tags {
            m.insert("tags".into(), self.render_tags(tags));
        }
        if embed.fields {
            m.insert("fields".into(), self.render_fields(fields));
        }
        if embed.missing {
            m.insert(
                "missingImportantFields".into(),
                Value::Bool(self.missing_important(entity, kind, tags, fields)),
            );
        }
    }

    // ---- full records -----------------------------------------------------

    pub(crate) fn render_party(&self, p: &Party, embed: Embed) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(p.id));
        m.insert("owner".into(), self.nested_user(p.owner));
        m.insert("team".into(), self.nested_team(p.team));
        match p.kind {
            PartyKind::Organisation => {
                m.insert("type".into(), json!("organisation"));
                m.insert("about".into(), opt_str(&p.about));
                m.insert("name".into(), opt_str(&p.name));
                m.insert("createdAt".into(), json!(fmt_ts(&p.created_at)));
                m.insert("updatedAt".into(), json!(fmt_ts(&p.updated_at)));
            }
            PartyKind::Person => {
                m.insert("type".into(), json!("person"));
                m.insert("about".into(), opt_str(&p.about));
                m.insert("firstName".into(), opt_str(&p.first_name));
                m.insert("lastName".into(), opt_str(&p.last_name));
                m.insert("jobTitle".into(), opt_str(&p.job_title));
                m.insert("createdAt".into(), json!(fmt_ts(&p.created_at)));
                m.insert("updatedAt".into(), json!(fmt_ts(&p.updated_at)));
                m.insert("organisation".into(), self.nested_party(p.organisation));
            }
        }
        m.insert("lastContactedAt".into(), ts_value(&p.last_contacted_at));
        m.insert("pictureURL".into(), json!(p.picture_url()));
        if p.kind == PartyKind::Person {
            m.insert("title".into(), opt_str(&p.title));
        }
        m.insert("enrichment".into(), Value::Null);
        m.insert(
            "phoneNumbers".into(),
            Value::Array(
                p.phones
                    .iter()
                    .map(|x| json!({ "id": x.id, "type": x.kind, "number": x.number }))
                    .collect(),
            ),
        );
        m.insert(
            "addresses".into(),
            Value::Array(
                p.addresses
                    .iter()
                    .map(|a| {
                        json!({
                            "id": a.id, "type": a.kind, "city": a.city, "country": a.country,
                            "street": a.street, "state": a.state, "zip": a.zip,
                        })
                    })
                    .collect(),
            ),
        );
        m.insert(
            "emailAddresses".into(),
            Value::Array(
                p.emails
                    .iter()
                    .map(|x| json!({ "id": x.id, "type": x.kind, "address": x.address }))
                    .collect(),
            ),
        );
        m.insert(
            "websites".into(),
            Value::Array(
                p.websites
                    .iter()
                    .map(|w| {
                        json!({
                            "id": w.id, "type": w.kind, "address": w.address,
                            "service": w.service, "url": w.url(),
                        })
                    })
                    .collect(),
            ),
        );
        self.add_embeds(
            &mut m,
            embed,
            Entity::Parties,
            Some(p.kind),
            &p.tags,
            &p.fields,
        );
        Value::Object(m)
    }

    pub(crate) fn render_opportunity(&self, o: &Opportunity, embed: Embed) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(o.id));
        m.insert("name".into(), json!(o.name));
        m.insert("description".into(), opt_str(&o.description));
        m.insert("owner".into(), self.nested_user(o.owner));
        m.insert("team".into(), self.nested_team(o.team));
        m.insert("party".into(), self.nested_party(Some(o.party)));
        m.insert(
            "lostReason".into(),
            match o.lost_reason.and_then(|id| self.lost_reasons.get(&id)) {
                None => Value::Null,
                Some(l) => json!({ "id": l.id, "name": l.name }),
            },
        );
        m.insert("milestone".into(), self.nested_milestone(Some(o.milestone)));
        m.insert(
            "lastOpenMilestone".into(),
            self.nested_milestone(o.last_open_milestone),
        );
        m.insert(
            "value".into(),
            match &o.value {
                None => Value::Null,
                Some((amount, currency)) => json!({ "amount": amount, "currency": currency }),
            },
        );
        m.insert("expectedCloseOn".into(), date_value(&o.expected_close_on));
        m.insert("probability".into(), json!(o.probability));
        m.insert("durationBasis".into(), opt_str(&o.duration_basis));
        m.insert("duration".into(), json!(o.duration));
        m.insert("closedOn".into(), date_value(&o.closed_on));
        m.insert("lastContactedAt".into(), ts_value(&o.last_contacted_at));
        m.insert(
            "lastStageChangedAt".into(),
            ts_value(&o.last_stage_changed_at),
        );
        m.insert("createdAt".into(), json!(fmt_ts(&o.created_at)));
        m.insert("updatedAt".into(), json!(fmt_ts(&o.updated_at)));
        self.add_embeds(
            &mut m,
            embed,
            Entity::Opportunities,
            None,
            &o.tags,
            &o.fields,
        );
        Value::Object(m)
    }

    pub(crate) fn render_kase(&self, k: &Kase, embed: Embed) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(k.id));
        m.insert("owner".into(), self.nested_user(k.owner));
        m.insert("team".into(), self.nested_team(k.team));
        m.insert("party".into(), self.nested_party(Some(k.party)));
        m.insert("status".into(), json!(k.status));
        m.insert("opportunity".into(), self.nested_opportunity(k.opportunity));
        m.insert(
            "stage".into(),
            match k.stage.and_then(|id| self.stages.get(&id)) {
                None => Value::Null,
                Some(s) => json!({ "name": s.name, "id": s.id }),
            },
        );
        m.insert("createdAt".into(), json!(fmt_ts(&k.created_at)));
        m.insert("updatedAt".into(), json!(fmt_ts(&k.updated_at)));
        m.insert("description".into(), opt_str(&k.description));
        m.insert("name".into(), json!(k.name));
        m.insert("closedOn".into(), date_value(&k.closed_on));
        m.insert("lastContactedAt".into(), ts_value(&k.last_contacted_at));
        m.insert("expectedCloseOn".into(), date_value(&k.expected_close_on));
        m.insert("startOn".into(), date_value(&k.start_on));
        self.add_embeds(&mut m, embed, Entity::Kases, None, &k.tags, &k.fields);
        Value::Object(m)
    }

    pub(crate) fn render_task(&self, t: &Task) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(t.id));
        m.insert(
            "category".into(),
            match t.category.and_then(|id| self.categories.get(&id)) {
                None => Value::Null,
                Some(c) => json!({ "id": c.id, "name": c.name, "colour": c.colour }),
            },
        );
        m.insert("description".into(), json!(t.description));
        m.insert("detail".into(), opt_str(&t.detail));
        m.insert("dueTime".into(), opt_str(&t.due_time));
        m.insert("status".into(), json!(t.status));
        m.insert("party".into(), self.nested_party(t.party));
        m.insert("opportunity".into(), self.nested_opportunity(t.opportunity));
        m.insert("owner".into(), self.nested_user(t.owner));
        m.insert("daysAfter".into(), Value::Null);
        m.insert("taskDelayRule".into(), Value::Null);
        m.insert("nextTask".into(), Value::Null);
        m.insert("active".into(), Value::Bool(true));
        m.insert("createdAt".into(), json!(fmt_ts(&t.created_at)));
        m.insert("updatedAt".into(), json!(fmt_ts(&t.updated_at)));
        m.insert("dueOn".into(), json!(super::api::fmt_date(&t.due_on)));
        m.insert(
            "completedBy".into(),
            match t.completed_by.and_then(|id| self.users.get(&id)) {
                None => Value::Null,
                Some(u) => json!(u.username),
            },
        );
        m.insert("completedAt".into(), ts_value(&t.completed_at));
        m.insert("kase".into(), self.nested_kase(t.kase));
        m.insert("taskDayDelayRule".into(), json!("TRACK_DAYS"));
        m.insert("overrideToCurrentUser".into(), Value::Null);
        m.insert("repeat".into(), t.repeat.clone());
        m.insert("hasTrack".into(), Value::Bool(false));
        Value::Object(m)
    }

    pub(crate) fn render_entry(&self, e: &Entry) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(e.id));
        m.insert("type".into(), json!(e.kind));
        if !e.attachments.is_empty() {
            m.insert(
                "attachments".into(),
                Value::Array(
                    e.attachments
                        .iter()
                        .filter_map(|id| self.attachments.get(id))
                        .map(|a| {
                            json!({
                                "id": a.id, "filename": a.filename,
                                "contentType": a.content_type, "size": a.bytes.len(),
                            })
                        })
                        .collect(),
                ),
            );
        }
        m.insert("creator".into(), self.nested_user(e.creator));
        m.insert(
            "activityType".into(),
            match e.activity_type.and_then(|id| self.activity_type(id)) {
                None => Value::Null,
                Some(a) => json!({ "id": a.id, "name": a.name }),
            },
        );
        m.insert("createdAt".into(), json!(fmt_ts(&e.created_at)));
        m.insert("updatedAt".into(), json!(fmt_ts(&e.updated_at)));
        if e.kind == "email" {
            m.insert("subject".into(), opt_str(&e.subject));
        }
        m.insert("content".into(), opt_str(&e.content));
        m.insert("entryAt".into(), json!(fmt_ts(&e.entry_at)));
        if e.party.is_some() {
            m.insert("party".into(), self.nested_party(e.party));
        }
        if e.opportunity.is_some() {
            m.insert("opportunity".into(), self.nested_opportunity(e.opportunity));
        }
        if e.kase.is_some() {
            m.insert("kase".into(), self.nested_kase(e.kase));
        }
        if e.kind == "email" {
            m.insert(
                "parties".into(),
                Value::Array(
                    e.parties
                        .iter()
                        .map(|id| self.nested_party(Some(*id)))
                        .collect(),
                ),
            );
            m.insert("participants".into(), Value::Array(e.participants.clone()));
        }
        Value::Object(m)
    }

    /// A user; `embed=party` gives the user's whole party (emails, phones) instead of its
    /// short form. `roles` follows Capsule's documented user model.
    pub(crate) fn render_user(&self, u: &User, embed_party: bool) -> Value {
        let party = match u.party.and_then(|id| self.parties.get(&id)) {
            Some(p) if embed_party => self.render_party(p, Embed::default()),
            _ => self.nested_party(u.party),
        };
        json!({
            "id": u.id,
            "locale": u.locale,
            "currency": u.currency,
            "status": "ACTIVE",
            "party": party,
            "roles": { "isAccountOwner": u.account_owner, "isAccountAdmin": u.admin },
            "username": u.username,
            "timezone": u.timezone,
            "lastLoginAt": fmt_ts(&u.last_login_at),
            "name": u.name,
            "taskReminder": u.task_reminder,
        })
    }

    pub(crate) fn render_team(&self, t: &Team, embed: Embed) -> Value {
        let mut v = json!({
            "id": t.id,
            "name": t.name,
            "createdAt": fmt_ts(&t.created_at),
            "updatedAt": fmt_ts(&t.updated_at),
        });
        if embed.memberships
            && let Some(m) = v.as_object_mut()
        {
            m.insert(
                "memberships".into(),
                Value::Array(
                    t.members
                        .iter()
                        .map(|u| json!({ "user": self.nested_user(Some(*u)) }))
                        .collect(),
                ),
            );
        }
        v
    }

    pub(crate) fn render_definition(&self, d: &Definition) -> Value {
        json!({
            "id": d.id,
            "type": d.kind,
            "description": d.description,
            "important": d.important,
            "displayOrder": d.display_order,
            "name": d.name,
            "tag": match d.tag.and_then(|t| self.tags.get(&t)) {
                None => Value::Null,
                Some(t) => json!({ "id": t.id, "name": t.name, "dataTag": t.data_tag }),
            },
            "captureRule": d.capture_rule,
            "options": if d.kind == "list" { json!(d.options) } else { Value::Null },
        })
    }

    pub(crate) fn render_tag(&self, t: &Tag) -> Value {
        json!({ "id": t.id, "name": t.name, "description": t.description, "dataTag": t.data_tag })
    }

    pub(crate) fn render_pipeline(&self, p: &Pipeline) -> Value {
        json!({
            "id": p.id, "name": p.name, "description": p.description,
            "createdAt": fmt_ts(&p.created_at), "updatedAt": fmt_ts(&p.updated_at),
        })
    }

    pub(crate) fn render_milestone(&self, m: &Milestone) -> Value {
        json!({
            "id": m.id,
            "name": m.name,
            "description": m.description,
            "complete": m.complete,
            "probability": m.probability,
            "pipeline": match self.pipelines.get(&m.pipeline) {
                None => Value::Null,
                Some(p) => json!({ "name": p.name, "id": p.id }),
            },
            "daysUntilStale": m.days_until_stale,
            "createdAt": fmt_ts(&m.created_at),
            "updatedAt": fmt_ts(&m.updated_at),
        })
    }

    pub(crate) fn render_lost_reason(&self, l: &LostReason) -> Value {
        json!({
            "id": l.id, "name": l.name, "includedForConversion": l.included_for_conversion,
            "createdAt": fmt_ts(&l.created_at), "updatedAt": fmt_ts(&l.updated_at),
        })
    }

    pub(crate) fn render_board(&self, b: &Board) -> Value {
        json!({
            "id": b.id, "name": b.name, "description": b.description,
            "createdAt": fmt_ts(&b.created_at), "updatedAt": fmt_ts(&b.updated_at),
        })
    }

    pub(crate) fn render_stage(&self, s: &Stage) -> Value {
        json!({
            "id": s.id,
            "name": s.name,
            "description": s.description,
            "displayOrder": s.display_order,
            "board": match self.boards.get(&s.board) {
                None => Value::Null,
                Some(b) => json!({ "id": b.id, "name": b.name }),
            },
            "createdAt": fmt_ts(&s.created_at),
            "updatedAt": fmt_ts(&s.updated_at),
        })
    }

    pub(crate) fn render_activity_type(&self, a: &ActivityType) -> Value {
        json!({
            "id": a.id,
            "name": a.name,
            "updateLastContacted": a.update_last_contacted,
            "icon": {
                "id": a.icon, "iconName": a.icon, "displayName": a.name,
                "isSystem": a.system, "order": a.order,
            },
        })
    }
}

pub(crate) fn nested_party_of(p: &Party) -> Value {
    match p.kind {
        PartyKind::Person => json!({
            "id": p.id, "type": "person", "firstName": p.first_name,
            "lastName": p.last_name, "pictureURL": p.picture_url(),
        }),
        PartyKind::Organisation => json!({
            "id": p.id, "type": "organisation", "name": p.name, "pictureURL": p.picture_url(),
        }),
    }
}

pub(crate) fn capture_applies(d: &Definition, kind: Option<PartyKind>) -> bool {
    !matches!(
        (d.capture_rule.as_deref(), kind),
        (Some("person"), Some(PartyKind::Organisation))
            | (Some("organisation"), Some(PartyKind::Person))
    )
}

fn user_picture(name: &str) -> String {
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .collect::<String>()
        .to_uppercase();
    format!("https://facehub.appspot.com/default/person?text={initials}&size=100")
}
