//! Parties ⇄ contacts (people) and accounts (organisations).

use serde_json::{Map, Value, json};

use super::{
    decode_err, fields, format_timestamp, merge_remote, parse_id, party_ref, ref_of,
    segment::Segment, user_ref,
};
use crate::capsule::{
    CapsuleError, Request,
    endpoint::PARTIES,
    wire::{self, FieldDefinition, Party, PartyType},
};
use crate::unified::{
    self, Account, Contact,
    account::AccountFields,
    contact::ContactFields,
    input::{AddressInput, EmailInput, PhoneInput, UrlInput},
};

/// Embeds every party read asks for: the unified record carries tags and custom fields.
pub const EMBED: &str = "tags,fields";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Person,
    Organisation,
}

impl Kind {
    pub fn wire(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Organisation => "organisation",
        }
    }

    fn matches(self, t: Option<PartyType>) -> bool {
        matches!(
            (self, t),
            (Kind::Person, Some(PartyType::Person))
                | (Kind::Organisation, Some(PartyType::Organisation))
        )
    }

    /// Whether a party custom field definition shows on this kind of party.
    pub fn field_applies(self, def: &FieldDefinition) -> bool {
        match def.capture_rule.as_deref() {
            Some("person") => self == Kind::Person,
            Some("organisation") => self == Kind::Organisation,
            _ => true,
        }
    }
}

/// Whether a raw party is of this kind.
pub fn is_kind(raw: &Value, kind: Kind) -> bool {
    let t = raw.get("type").and_then(Value::as_str);
    t == Some(kind.wire())
}

fn emails(p: &Party) -> Vec<unified::EmailAddress> {
    p.email_addresses
        .iter()
        .filter_map(|e| {
            Some(unified::EmailAddress {
                email: e.address.clone()?,
                kind: e.kind.clone(),
            })
        })
        .collect()
}

fn phones(p: &Party) -> Vec<unified::PhoneNumber> {
    p.phone_numbers
        .iter()
        .filter_map(|n| {
            Some(unified::PhoneNumber {
                number: n.number.clone()?,
                kind: n.kind.clone(),
            })
        })
        .collect()
}

fn addresses(p: &Party) -> Vec<unified::Address> {
    p.addresses
        .iter()
        .map(|a| {
            let (street_1, street_2) = match a.street.as_deref() {
                Some(s) => match s.split_once('\n') {
                    Some((one, two)) => (Some(one.to_owned()), Some(two.to_owned())),
                    None => (Some(s.to_owned()), None),
                },
                None => (None, None),
            };
            unified::Address {
                street_1,
                street_2,
                city: a.city.clone(),
                state: a.state.clone(),
                postal_code: a.zip.clone(),
                country: a.country.clone(),
                kind: a.kind.clone(),
            }
        })
        .collect()
}

fn urls(p: &Party) -> Vec<unified::Url> {
    p.websites
        .iter()
        .filter_map(|w| {
            Some(unified::Url {
                url: w.url.clone().or_else(|| w.address.clone())?,
                kind: w.service.clone(),
            })
        })
        .collect()
}

fn tags(p: &Party) -> Vec<unified::Tag> {
    p.tags
        .iter()
        .flatten()
        .filter_map(|t| {
            // Tags are written, removed and filtered by name.
            Some(unified::Tag {
                id: None,
                name: t.name.clone()?,
            })
        })
        .collect()
}

fn decode_party(raw: &Value) -> Result<Party, CapsuleError> {
    wire::decode::<Party>(raw).map_err(decode_err)
}

pub fn to_contact(
    raw: &Value,
    defs: &[FieldDefinition],
    include_raw: bool,
) -> Result<Contact, CapsuleError> {
    let p = decode_party(raw)?;
    Ok(Contact {
        id: p.id.map(|i| i.to_string()).unwrap_or_default(),
        // Whole records carry the two names; a list summary joins them (`Summary`).
        name: None,
        first_name: p.first_name.clone(),
        last_name: p.last_name.clone(),
        title: p.job_title.clone(),
        salutation: p.title.clone(),
        account: party_ref(&p.organisation),
        description: p.about.clone(),
        owner: user_ref(&p.owner),
        team: ref_of(&p.team),
        email_addresses: emails(&p),
        phone_numbers: phones(&p),
        addresses: addresses(&p),
        urls: urls(&p),
        tags: tags(&p),
        custom_fields: fields::read(p.fields.as_deref().unwrap_or_default(), defs),
        picture_url: uploaded_picture(&p.picture_url),
        last_activity_at: p.last_contacted_at.clone(),
        created_at: p.created_at.clone(),
        updated_at: p.updated_at.clone(),
        web_url: None,
        remote_data: include_raw.then(|| raw.clone()),
    })
}

pub fn to_account(
    raw: &Value,
    defs: &[FieldDefinition],
    include_raw: bool,
) -> Result<Account, CapsuleError> {
    let p = decode_party(raw)?;
    let urls = urls(&p);
    let website = p
        .websites
        .iter()
        .find(|w| {
            w.service
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("URL"))
        })
        .and_then(|w| w.url.clone().or_else(|| w.address.clone()));
    Ok(Account {
        id: p.id.map(|i| i.to_string()).unwrap_or_default(),
        name: p.display_name().unwrap_or_default(),
        description: p.about.clone(),
        owner: user_ref(&p.owner),
        team: ref_of(&p.team),
        addresses: addresses(&p),
        phone_numbers: phones(&p),
        email_addresses: emails(&p),
        urls,
        website,
        tags: tags(&p),
        custom_fields: fields::read(p.fields.as_deref().unwrap_or_default(), defs),
        picture_url: uploaded_picture(&p.picture_url),
        last_activity_at: p.last_contacted_at.clone(),
        created_at: p.created_at.clone(),
        updated_at: p.updated_at.clone(),
        web_url: None,
        remote_data: include_raw.then(|| raw.clone()),
    })
}

// ---------------------------------------------------------------- writes

pub use super::Resolved;

fn set_opt(body: &mut Map<String, Value>, key: &str, v: &Option<Option<String>>) {
    if let Some(v) = v {
        body.insert(
            key.into(),
            v.clone().map(Value::String).unwrap_or(Value::Null),
        );
    }
}

fn id_ref(what: &str, id: &str) -> Result<Value, String> {
    Ok(json!({ "id": parse_id(what, id)? }))
}

fn row_id(what: &str, id: &Option<String>, create: bool) -> Result<Option<i64>, String> {
    match id {
        None => Ok(None),
        Some(_) if create => Err(format!(
            "`{what}[].id` is only for updates; leave it out to add a row"
        )),
        Some(id) => parse_id(&format!("{what}[].id"), id).map(Some),
    }
}

/// A nested row: `{id, _delete}` to remove, `{id, ...}` to change, `{...}` to add (or, on an
/// update, to find by value: see [`reconcile_rows`]).
fn row(
    what: &str,
    id: &Option<String>,
    delete: bool,
    create: bool,
    fields: Map<String, Value>,
    required: &str,
) -> Result<Value, String> {
    let id = row_id(what, id, create)?;
    if delete {
        if let Some(id) = id {
            return Ok(json!({ "id": id, "_delete": true }));
        }
        // By value: [`reconcile_rows`] finds the row the record holds and sends its id.
        if fields.get(required).is_none_or(Value::is_null) {
            return Err(format!(
                "`{what}[].delete` needs the row's `{}` (or its `id`)",
                required_name(what, required)
            ));
        }
        let mut out: Map<String, Value> =
            fields.into_iter().filter(|(_, v)| !v.is_null()).collect();
        out.insert("_delete".into(), true.into());
        return Ok(Value::Object(out));
    }
    if id.is_none() && fields.get(required).is_none_or(Value::is_null) {
        return Err(format!(
            "each new `{what}` item needs `{}`",
            required_name(what, required)
        ));
    }
    let mut out = Map::new();
    if let Some(id) = id {
        out.insert("id".into(), id.into());
    }
    out.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
    Ok(Value::Object(out))
}

fn required_name<'a>(what: &str, required: &'a str) -> &'a str {
    match (what, required) {
        ("email_addresses", _) => "email",
        ("addresses", _) => "street_1, city or country",
        ("urls", _) => "url",
        _ => required,
    }
}

fn opt_str(v: &Option<String>) -> Value {
    v.clone().map(Value::String).unwrap_or(Value::Null)
}

fn email_rows(items: &[EmailInput], create: bool) -> Result<Value, String> {
    items
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("address".into(), opt_str(&e.email));
            m.insert("type".into(), opt_str(&e.kind));
            row("email_addresses", &e.id, e.delete, create, m, "address")
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn phone_rows(items: &[PhoneInput], create: bool) -> Result<Value, String> {
    items
        .iter()
        .map(|p| {
            let mut m = Map::new();
            m.insert("number".into(), opt_str(&p.number));
            m.insert("type".into(), opt_str(&p.kind));
            row("phone_numbers", &p.id, p.delete, create, m, "number")
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn address_rows(items: &[AddressInput], create: bool) -> Result<Value, String> {
    items
        .iter()
        .map(|a| {
            let street = match (&a.street_1, &a.street_2) {
                (Some(one), Some(two)) => Some(format!("{one}\n{two}")),
                (Some(one), None) => Some(one.clone()),
                (None, Some(two)) => Some(two.clone()),
                (None, None) => None,
            };
            let mut m = Map::new();
            m.insert("street".into(), opt_str(&street));
            m.insert("city".into(), opt_str(&a.city));
            m.insert("state".into(), opt_str(&a.state));
            m.insert("zip".into(), opt_str(&a.postal_code));
            m.insert("country".into(), opt_str(&a.country));
            m.insert("type".into(), opt_str(&a.kind));
            let any = ["street", "city", "country", "zip", "state"]
                .iter()
                .find(|k| m.get(**k).is_some_and(|v| !v.is_null()))
                .copied()
                .unwrap_or("street");
            row("addresses", &a.id, a.delete, create, m, any)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// Capsule's website services (capsule-api.md, models/website, and the newer ones a 2026
/// client knows). The sandbox keeps its own list on purpose: it plays Capsule, and one list
/// shared by the client and its stand-in would hide a mistake in both.
const WEBSITE_SERVICES: &[&str] = &[
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

/// A URL row's `type` as Capsule spells the service: any case, with or without the
/// underscore or spaces (`LinkedIn`, `linked in`, `LINKED_IN`); `X` is Twitter.
fn website_service(given: &str) -> Result<String, String> {
    let squashed: String = given
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if squashed == "X" {
        return Ok("TWITTER".into());
    }
    WEBSITE_SERVICES
        .iter()
        .find(|s| s.replace('_', "") == squashed)
        .map(|s| (*s).to_owned())
        .ok_or_else(|| {
            format!(
                "`urls[].type` `{given}` is not a Capsule website service; use one of {}",
                WEBSITE_SERVICES.join(", ")
            )
        })
}

fn url_rows(items: &[UrlInput], create: bool) -> Result<Value, String> {
    items
        .iter()
        .map(|u| {
            let mut m = Map::new();
            m.insert("address".into(), opt_str(&u.url));
            let service = u.kind.as_deref().map(website_service).transpose()?;
            let service = if u.id.is_none() {
                Some(service.unwrap_or_else(|| "URL".into()))
            } else {
                service
            };
            m.insert("service".into(), opt_str(&service));
            row("urls", &u.id, u.delete, create, m, "address")
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

struct Common<'a> {
    owner_id: &'a Option<String>,
    team_id: &'a Option<String>,
    email_addresses: &'a Option<Vec<EmailInput>>,
    phone_numbers: &'a Option<Vec<PhoneInput>>,
    addresses: &'a Option<Vec<AddressInput>>,
    urls: &'a Option<Vec<UrlInput>>,
    tags: &'a Option<Vec<String>>,
}

fn common_fields(
    body: &mut Map<String, Value>,
    c: Common<'_>,
    resolved: &Resolved,
    create: bool,
) -> Result<(), String> {
    if let Some(id) = c.owner_id {
        body.insert("owner".into(), id_ref("owner_id", id)?);
    }
    if let Some(id) = c.team_id {
        body.insert("team".into(), id_ref("team_id", id)?);
    }
    if let Some(items) = c.email_addresses {
        body.insert("emailAddresses".into(), email_rows(items, create)?);
    }
    if let Some(items) = c.phone_numbers {
        body.insert("phoneNumbers".into(), phone_rows(items, create)?);
    }
    if let Some(items) = c.addresses {
        body.insert("addresses".into(), address_rows(items, create)?);
    }
    if let Some(items) = c.urls {
        body.insert("websites".into(), url_rows(items, create)?);
    }
    let mut tags: Vec<Value> = Vec::new();
    for name in c.tags.iter().flatten() {
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
    Ok(())
}

/// The Capsule `party` body for a contact write.
pub fn contact_body(
    f: &ContactFields,
    resolved: &Resolved,
    create: bool,
) -> Result<Map<String, Value>, String> {
    let mut body = Map::new();
    if create {
        body.insert("type".into(), "person".into());
        let has_name = [&f.first_name, &f.last_name]
            .iter()
            .any(|n| matches!(n, Some(Some(s)) if !s.trim().is_empty()));
        if !has_name {
            return Err("a contact needs `first_name` or `last_name`".into());
        }
    }
    set_opt(&mut body, "firstName", &f.first_name);
    set_opt(&mut body, "lastName", &f.last_name);
    set_opt(&mut body, "jobTitle", &f.title);
    set_opt(&mut body, "title", &f.salutation);
    set_opt(&mut body, "about", &f.description);
    match &f.account_id {
        Some(Some(id)) => {
            body.insert("organisation".into(), id_ref("account_id", id)?);
        }
        Some(None) => {
            body.insert("organisation".into(), Value::Null);
        }
        None => {}
    }
    common_fields(
        &mut body,
        Common {
            owner_id: &f.owner_id,
            team_id: &f.team_id,
            email_addresses: &f.email_addresses,
            phone_numbers: &f.phone_numbers,
            addresses: &f.addresses,
            urls: &f.urls,
            tags: &f.tags,
        },
        resolved,
        create,
    )?;
    merge_remote(&mut body, f.remote_data.as_ref())?;
    Ok(body)
}

/// The Capsule `party` body for an account write.
pub fn account_body(
    f: &AccountFields,
    resolved: &Resolved,
    create: bool,
) -> Result<Map<String, Value>, String> {
    let mut body = Map::new();
    match &f.name {
        Some(name) if name.trim().is_empty() => return Err("`name` must not be empty".into()),
        Some(name) => {
            body.insert("name".into(), Value::String(name.clone()));
        }
        None if create => return Err("an account needs `name`".into()),
        None => {}
    }
    if create {
        body.insert("type".into(), "organisation".into());
    }
    set_opt(&mut body, "about", &f.description);
    common_fields(
        &mut body,
        Common {
            owner_id: &f.owner_id,
            team_id: &f.team_id,
            email_addresses: &f.email_addresses,
            phone_numbers: &f.phone_numbers,
            addresses: &f.addresses,
            urls: &f.urls,
            tags: &f.tags,
        },
        resolved,
        create,
    )?;
    merge_remote(&mut body, f.remote_data.as_ref())?;
    Ok(body)
}

// ---------------------------------------------------------------- lists

/// The filters of a party list, checked and typed.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub search: Option<String>,
    pub updated_after: Option<chrono::DateTime<chrono::Utc>>,
    /// People of this organisation (contacts only).
    pub account_id: Option<i64>,
    pub owner_id: Option<i64>,
    /// The `tag` argument as given, for the cursor; its resolved id is in `segment`.
    pub tag: Option<String>,
    /// One of the party's addresses, compared without case.
    pub email: Option<String>,
    /// A number in any form, compared by [`same_phone`].
    pub phone: Option<String>,
    /// Digits the stored number ends with: the `phone ends with` condition of a lookup.
    pub phone_suffix: Option<String>,
    pub segment: Segment,
}

/// The one Capsule request that answers a page of a party list. What Capsule cannot apply on
/// that path is applied by [`matches`] to the page.
pub fn list_request(kind: Kind, q: &Query, page: u32, per_page: u32) -> Request {
    let paging = vec![
        ("page".to_owned(), page.to_string()),
        ("perPage".to_owned(), per_page.to_string()),
        ("embed".to_owned(), EMBED.to_owned()),
    ];
    if let Some(search) = &q.search {
        return Request::get(format!("{}/search", PARTIES.path))
            .query("q", search.clone())
            .queries(&paging);
    }
    if let Some(org) = q.account_id {
        return Request::get(format!("{}/{org}/people", PARTIES.path)).queries(&paging);
    }
    let mut conditions = vec![json!({"field": "type", "operator": "is", "value": kind.wire()})];
    if let Some(owner) = q.owner_id {
        conditions.push(json!({"field": "owner", "operator": "is", "value": owner}));
    }
    conditions.extend(q.segment.conditions());
    if let Some(email) = &q.email {
        conditions.push(json!({"field": "email", "operator": "is", "value": email}));
    }
    if let Some(digits) = &q.phone_suffix {
        conditions.push(json!({"field": "phone", "operator": "ends with", "value": digits}));
    }
    if let Some(after) = q.updated_after {
        // The filter works in whole days: take the day before, refine on the page.
        let day = (after - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string();
        conditions.push(json!({"field": "updatedOn", "operator": "is after", "value": day}));
    }
    Request::post_read(format!("{}/filters/results", PARTIES.path))
        .queries(&paging)
        .body(json!({ "filter": { "conditions": conditions } }))
}

/// Whether a party of the page satisfies every filter (the ones Capsule applied hold already).
pub fn matches(kind: Kind, q: &Query, raw: &Value) -> bool {
    let Ok(p) = wire::decode::<Party>(raw) else {
        return false;
    };
    if !kind.matches(p.party_type) {
        return false;
    }
    if let Some(org) = q.account_id
        && p.organisation.as_ref().and_then(|o| o.id) != Some(org)
    {
        return false;
    }
    if let Some(owner) = q.owner_id
        && p.owner.as_ref().and_then(|o| o.id) != Some(owner)
    {
        return false;
    }
    if let Some(tag) = &q.tag
        && !super::has_tag(&p.tags, tag)
    {
        return false;
    }
    if let Some(after) = q.updated_after
        && !super::updated_after(&p.updated_at, after)
    {
        return false;
    }
    if let Some(email) = &q.email
        && !p.email_addresses.iter().any(|e| {
            e.address
                .as_deref()
                .is_some_and(|a| a.trim().eq_ignore_ascii_case(email))
        })
    {
        return false;
    }
    if let Some(phone) = &q.phone
        && !p
            .phone_numbers
            .iter()
            .any(|n| n.number.as_deref().is_some_and(|n| same_phone(n, phone)))
    {
        return false;
    }
    q.segment.matches(raw)
}

/// Fewest digits a phone lookup takes: shorter ones name no number on their own.
pub const MIN_PHONE_DIGITS: usize = 7;

/// A phone number as compared: its digits, and whether they begin with a country code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneKey {
    pub international: bool,
    pub digits: String,
}

/// Reads a number in any common form: `+` or `00` start a country code; without one, a
/// leading trunk `0` is dropped, as is `(0)` after a country code; other characters are
/// punctuation. `None` with fewer than [`MIN_PHONE_DIGITS`] digits left.
pub fn phone_key(number: &str) -> Option<PhoneKey> {
    let number = number.trim().replace("(0)", "");
    let mut digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let mut international = number.starts_with('+');
    if !international {
        if let Some(rest) = digits.strip_prefix("00") {
            digits = rest.to_owned();
            international = true;
        } else if let Some(rest) = digits.strip_prefix('0') {
            digits = rest.to_owned();
        }
    }
    (digits.len() >= MIN_PHONE_DIGITS).then_some(PhoneKey {
        international,
        digits,
    })
}

/// Whether two written numbers name the same number. Both with a country code (or both
/// without): the same digits, a stray trunk `0` after a 1-3 digit country code aside. One
/// without: its national significant number must be the other's after a 1-3 digit country
/// code (the country itself cannot be known from a national number).
pub fn same_phone(a: &str, b: &str) -> bool {
    let (Some(a), Some(b)) = (phone_key(a), phone_key(b)) else {
        return false;
    };
    let ends_after_code = |intl: &str, national: &str| {
        intl.len() > national.len() && intl.len() - national.len() <= 3 && intl.ends_with(national)
    };
    match (a.international, b.international) {
        (true, false) => ends_after_code(&a.digits, &b.digits),
        (false, true) => ends_after_code(&b.digits, &a.digits),
        (false, false) => a.digits == b.digits,
        (true, true) => {
            let (long, short) = if a.digits.len() > b.digits.len() {
                (&a.digits, &b.digits)
            } else {
                (&b.digits, &a.digits)
            };
            long == short
                || (long.len() == short.len() + 1
                    && (1..=3).any(|k| {
                        long.get(..k) == short.get(..k)
                            && long.get(k..k + 1) == Some("0")
                            && long.get(k + 1..) == short.get(k..)
                    }))
        }
    }
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
    if let Some(a) = q.account_id {
        m.insert("account_id".into(), a.to_string().into());
    }
    if let Some(o) = q.owner_id {
        m.insert("owner_id".into(), o.to_string().into());
    }
    if let Some(t) = &q.tag {
        m.insert("tag".into(), t.clone().into());
    }
    if let Some(e) = &q.email {
        m.insert("email".into(), e.clone().into());
    }
    if let Some(p) = &q.phone {
        m.insert("phone".into(), p.clone().into());
    }
    Value::Object(m)
}

/// A picture someone uploaded; Capsule's generated avatars (the same image for everyone, or
/// initials on a placeholder) say nothing and cost tokens on every record.
fn uploaded_picture(url: &Option<String>) -> Option<String> {
    url.as_ref()
        .filter(|u| {
            !(u.contains("capsulecrm.com/theme/default/images/")
                || u.starts_with("https://facehub.appspot.com/default/"))
        })
        .cloned()
}

/// Whether an update body deletes a row by its value, so [`reconcile_rows`] needs the record.
pub fn deletes_by_value(body: &Map<String, Value>) -> bool {
    ROW_LISTS.iter().any(|(list, _)| {
        body.get(*list)
            .and_then(Value::as_array)
            .is_some_and(|rows| {
                rows.iter()
                    .any(|r| r.get("id").is_none() && r.get("_delete").is_some())
            })
    })
}

type RowKey = fn(&Value) -> String;

fn norm(v: Option<&Value>) -> String {
    v.and_then(Value::as_str)
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn digits(v: Option<&Value>) -> String {
    v.and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// How a row is told apart from the others of its list: emails and tag names without case,
/// phone numbers by their digits, web and postal addresses by their text.
const ROW_LISTS: [(&str, RowKey); 5] = [
    ("emailAddresses", |r| norm(r.get("address"))),
    ("phoneNumbers", |r| digits(r.get("number"))),
    ("websites", |r| norm(r.get("address"))),
    ("addresses", |r| {
        ["street", "city", "state", "zip", "country"]
            .iter()
            .map(|k| norm(r.get(*k)))
            .collect::<Vec<_>>()
            .join("|")
    }),
    ("tags", |r| norm(r.get("name"))),
];

/// Matches an update body's rows against the record as Capsule holds it (`current`, tags
/// embedded), so rows are addressed by value and an update stays idempotent:
/// - a new row the record already has is left out (Capsule appends every row it is sent, so the
///   same update sent twice would store a second copy), or, given with another `type` (a web
///   address: another service), becomes a change of that row's type;
/// - a row to delete given by value gets the id of the row it names; naming none is an error;
/// - rows with an `id` are sent as given.
pub fn reconcile_rows(body: &mut Map<String, Value>, current: &Value) -> Result<(), String> {
    for (list, key) in ROW_LISTS {
        let Some(Value::Array(rows)) = body.get_mut(list) else {
            continue;
        };
        let held: Vec<&Value> = current
            .get(list)
            .and_then(Value::as_array)
            .map(|rows| rows.iter().collect())
            .unwrap_or_default();
        let find = |row: &Value| {
            let k = key(row);
            held.iter()
                .find(|r| !k.is_empty() && same_row(list, key, r, row))
                .copied()
        };
        let type_key = if list == "websites" {
            "service"
        } else {
            "type"
        };
        let mut seen: Vec<String> = Vec::new();
        let mut out = Vec::new();
        for row in rows.drain(..) {
            if row.get("id").is_some() {
                out.push(row);
                continue;
            }
            let k = key(&row);
            if row.get("_delete").is_some() {
                let Some(id) = find(&row).and_then(|r| r.get("id")).cloned() else {
                    return Err(format!(
                        "cannot delete {}: the record has no such row (get it to see its rows)",
                        describe(list, &row)
                    ));
                };
                out.push(json!({ "id": id, "_delete": true }));
                continue;
            }
            if k.is_empty() || k.chars().all(|c| c == '|') {
                out.push(row);
                continue;
            }
            if seen.contains(&k) {
                continue;
            }
            seen.push(k.clone());
            match find(&row) {
                None => out.push(row),
                Some(have) => {
                    let want = row.get(type_key).filter(|t| !t.is_null());
                    let changes = want.is_some_and(|w| {
                        // `URL` is also what a web address gets when no type is given.
                        have.get(type_key) != Some(w) && !(list == "websites" && w == "URL")
                    });
                    if let (true, Some(id), Some(w)) = (changes, have.get("id"), want) {
                        out.push(json!({ "id": id, type_key: w }));
                    }
                }
            }
        }
        if out.is_empty() {
            body.remove(list);
        } else {
            *rows = out;
        }
    }
    Ok(())
}

/// Whether two rows of `list` are one: phone numbers as [`same_phone`] compares them (any
/// written form of the same number), the others by their key.
fn same_row(list: &str, key: RowKey, a: &Value, b: &Value) -> bool {
    fn number(r: &Value) -> &str {
        r.get("number").and_then(Value::as_str).unwrap_or_default()
    }
    key(a) == key(b) || (list == "phoneNumbers" && same_phone(number(a), number(b)))
}

fn describe(list: &str, row: &Value) -> String {
    let text = |k: &str| {
        row.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match list {
        "emailAddresses" => format!("email address `{}`", text("address")),
        "phoneNumbers" => format!("phone number `{}`", text("number")),
        "websites" => format!("URL `{}`", text("address")),
        "tags" => format!("tag `{}`", text("name")),
        _ => {
            let parts: Vec<String> = ["street", "city", "zip", "country"]
                .iter()
                .map(|k| text(k))
                .filter(|t| !t.is_empty())
                .collect();
            format!("address `{}`", parts.join(", "))
        }
    }
}

// ---------------------------------------------------------------- web links

/// A party's page in Capsule's web app: `{site}/party/{id}`, people and organisations alike
/// (the path Capsule's own links and support pages use).
pub fn web_url(site: &str, id: &str) -> String {
    format!("{site}/party/{id}")
}

impl crate::capsule::refdata::WebLinked for Contact {
    fn set_web_url(&mut self, site: &str) {
        self.web_url = Some(web_url(site, &self.id));
    }
}

impl crate::capsule::refdata::WebLinked for Account {
    fn set_web_url(&mut self, site: &str) {
        self.web_url = Some(web_url(site, &self.id));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::capsule::map::fixture;

    #[test]
    fn a_number_the_record_has_in_another_form_is_not_added_again() {
        let current =
            json!({"phoneNumbers": [{"id": 7, "number": "+44 7700 900123", "type": "Work"}]});
        let mut body = Map::new();
        body.insert(
            "phoneNumbers".into(),
            json!([{"number": "07700 900123"}, {"number": "07700 900999"}]),
        );
        reconcile_rows(&mut body, &current).unwrap();
        assert_eq!(body["phoneNumbers"], json!([{"number": "07700 900999"}]));
        let mut body = Map::new();
        body.insert(
            "phoneNumbers".into(),
            json!([{"number": "+447700900123", "_delete": true}]),
        );
        reconcile_rows(&mut body, &current).unwrap();
        assert_eq!(body["phoneNumbers"], json!([{"id": 7, "_delete": true}]));
    }

    #[test]
    fn website_services_are_read_in_any_spelling_and_unknown_ones_named() {
        for (given, wire) in [
            ("LinkedIn", "LINKED_IN"),
            ("linked in", "LINKED_IN"),
            ("LINKED_IN", "LINKED_IN"),
            ("url", "URL"),
            ("x", "TWITTER"),
            ("google plus", "GOOGLE_PLUS"),
            ("github", "GITHUB"),
        ] {
            assert_eq!(website_service(given).as_deref(), Ok(wire), "{given}");
        }
        let e = website_service("Myspace").unwrap_err();
        assert!(e.contains("`Myspace`") && e.contains("LINKED_IN"), "{e}");
    }

    #[test]
    fn generated_avatars_are_left_out() {
        for generated in [
            "https://capsulecrm.com/theme/default/images/person_avatar_70.png",
            "https://facehub.appspot.com/default/person?text=AB&size=100",
        ] {
            assert_eq!(super::uploaded_picture(&Some(generated.into())), None);
        }
        let own = Some("https://example.test/me.jpg".to_string());
        assert_eq!(super::uploaded_picture(&own), own);
    }

    #[test]
    fn maps_the_recorded_person() {
        let body = fixture("party_show_full.json");
        let c = to_contact(&body["party"], &[], false).unwrap();
        assert_eq!(c.id, "11587");
        // A whole record gives the two names, a list summary joins them.
        assert_eq!(c.name, None);
        assert_eq!(
            (c.first_name.as_deref(), c.last_name.as_deref()),
            (Some("Scott"), Some("Spacey"))
        );
        assert_eq!(
            crate::unified::Summary::summary(c.clone()).name.as_deref(),
            Some("Scott Spacey")
        );
        assert_eq!(c.title.as_deref(), Some("Creative Director"));
        assert_eq!(c.salutation.as_deref(), Some("Mr"));
        assert_eq!(c.account.as_ref().map(|a| a.id.as_str()), Some("892"));
        assert_eq!(
            c.account.as_ref().and_then(|a| a.name.as_deref()),
            Some("Zestia")
        );
        assert_eq!(
            c.owner.as_ref().and_then(|o| o.name.as_deref()),
            Some("Ted Danson")
        );
        assert_eq!(c.email_addresses[0].email, "scott@homestyleshop.co");
        assert_eq!(c.email_addresses[0].kind.as_deref(), Some("Work"));
        assert_eq!(c.addresses[0].postal_code.as_deref(), Some("65629"));
        assert_eq!(
            c.addresses[0].street_1.as_deref(),
            Some("847 North Rush Street")
        );
        assert_eq!(c.urls[0].kind.as_deref(), Some("URL"));
        assert_eq!(c.tags.len(), 2);
        assert_eq!(c.custom_fields["StringField"], json!("Partner"));
        assert_eq!(c.custom_fields["BoolField"], json!(true));
        assert!(c.remote_data.is_none());
        let with_raw = to_contact(&body["party"], &[], true).unwrap();
        assert_eq!(with_raw.remote_data.as_ref(), Some(&body["party"]));
    }

    #[test]
    fn maps_the_recorded_organisation() {
        let body = fixture("parties_list_first_page.json");
        let a = to_account(&body["parties"][0], &[], false).unwrap();
        assert_eq!(a.id, "254633973");
        assert_eq!(a.name, "Capsule");
        assert_eq!(a.website.as_deref(), Some("http://capsulecrm.com"));
        assert_eq!(a.urls.len(), 5);
        assert_eq!(a.urls[0].kind.as_deref(), Some("TWITTER"));
        assert_eq!(a.urls[0].url, "https://twitter.com/capsulecrm");
        assert_eq!(a.email_addresses[0].email, "support@capsulecrm.com");
        assert!(is_kind(&body["parties"][0], Kind::Organisation));
        assert!(is_kind(&body["parties"][1], Kind::Person));
    }

    #[test]
    fn builds_write_bodies() {
        let f: ContactFields = serde_json::from_value(json!({
            "first_name": "Ada", "account_id": "892",
            "email_addresses": [{"email": "ada@x.io", "type": "Work"}],
            "addresses": [{"street_1": "1 Road", "street_2": "Flat 2", "city": "Leeds"}],
            "urls": [{"url": "https://x.io"}],
            "tags": ["VIP"],
            "remote_data": {"jobTitle": "Raw"}
        }))
        .unwrap();
        let resolved = Resolved {
            field_rows: vec![json!({"definition": {"id": 1}, "value": "x"})],
            remove_tag_ids: vec![],
        };
        let body = contact_body(&f, &resolved, true).unwrap();
        // remote_data may add what the arguments do not set, never replace what they do.
        let mut clash = f.clone();
        clash.title = Some(None);
        assert!(
            contact_body(&clash, &resolved, true)
                .unwrap_err()
                .contains("`remote_data.jobTitle` would replace")
        );
        assert_eq!(
            Value::Object(body),
            json!({
                "type": "person", "firstName": "Ada", "jobTitle": "Raw",
                "organisation": {"id": 892},
                "emailAddresses": [{"address": "ada@x.io", "type": "Work"}],
                "addresses": [{"street": "1 Road\nFlat 2", "city": "Leeds"}],
                "websites": [{"address": "https://x.io", "service": "URL"}],
                "tags": [{"name": "VIP"}],
                "fields": [{"definition": {"id": 1}, "value": "x"}]
            })
        );
        let upd: ContactFields = serde_json::from_value(json!({
            "account_id": null, "email_addresses": [{"id": "12134", "delete": true}]
        }))
        .unwrap();
        let r = Resolved {
            field_rows: vec![],
            remove_tag_ids: vec![555],
        };
        let body = contact_body(&upd, &r, false).unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"organisation": null, "emailAddresses": [{"id": 12134, "_delete": true}],
                   "tags": [{"id": 555, "_delete": true}]})
        );
    }

    #[test]
    fn refuses_bad_write_input() {
        let empty = ContactFields::default();
        assert!(contact_body(&empty, &Resolved::default(), true).is_err());
        let f: ContactFields = serde_json::from_value(json!({
            "last_name": "X", "email_addresses": [{"id": "1", "email": "a@b"}]
        }))
        .unwrap();
        assert!(
            contact_body(&f, &Resolved::default(), true).is_err(),
            "row id on create"
        );
        let f: ContactFields =
            serde_json::from_value(json!({"email_addresses": [{"delete": true}]})).unwrap();
        assert!(
            contact_body(&f, &Resolved::default(), false).is_err(),
            "delete without id"
        );
        let f: ContactFields = serde_json::from_value(json!({"account_id": "acme"})).unwrap();
        assert!(
            contact_body(&f, &Resolved::default(), false).is_err(),
            "bad id"
        );
        assert!(account_body(&AccountFields::default(), &Resolved::default(), true).is_err());
    }

    #[test]
    fn every_written_form_of_a_number_is_the_same_number() {
        let stored = "+44 7700 900004";
        for form in [
            "+447700900004",
            "07700 900004",
            "07700900004",
            "00447700900004",
            "+44 (0)7700 900004",
            "+44-7700-900004",
            "7700 900004",
            "+44 07700 900004",
            " +44 7700 900004 ",
        ] {
            assert!(same_phone(stored, form), "{form}");
            assert!(same_phone(form, stored), "{form}, the other way round");
        }
        assert_eq!(
            phone_key("+44 (0)7700 900004"),
            Some(PhoneKey {
                international: true,
                digits: "447700900004".into()
            })
        );
    }

    #[test]
    fn near_misses_are_other_numbers() {
        let stored = "+44 7700 900004";
        for other in [
            "+44 7700 900005",
            "07700 900005",
            "07700 90004",
            "+44 7700 9000044",
            "+1 7700 900004",
            "+33 7700 900004",
            "0033 7700 900004",
            "900004",
            "0004",
            "",
            "no number",
            "447700900004 0",
            "+4477009000",
        ] {
            assert!(!same_phone(stored, other), "{other}");
            assert!(!same_phone(other, stored), "{other}, the other way round");
        }
        // A national number whose digits are the international one's without its country
        // code would match any country: at least the number itself must be all there.
        assert!(!same_phone("+1 555 0104", "0104"));
        assert!(same_phone("+1 555 0104", "555 0104"));
        assert_eq!(phone_key("12 34"), None, "too short to name a number");
    }

    #[test]
    fn list_plans() {
        let q = Query::default();
        let r = list_request(Kind::Person, &q, 2, 10);
        assert_eq!(r.path, "/parties/filters/results");
        assert_eq!(r.op, crate::capsule::retry::Op::Read, "a filter is a read");
        assert_eq!(
            r.body.unwrap()["filter"]["conditions"][0],
            json!({"field": "type", "operator": "is", "value": "person"})
        );
        let q = Query {
            search: Some("acme".into()),
            ..Default::default()
        };
        let r = list_request(Kind::Organisation, &q, 1, 50);
        assert_eq!(r.path, "/parties/search");
        assert!(r.query.contains(&("q".into(), "acme".into())));
        let q = Query {
            account_id: Some(892),
            ..Default::default()
        };
        assert_eq!(
            list_request(Kind::Person, &q, 1, 50).path,
            "/parties/892/people"
        );
    }
}
