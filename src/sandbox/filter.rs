//! Structured filters: `POST /{parties,opportunities,kases}/filters/results`.
//!
//! Conditions in `filter.conditions` are ANDed; an item that itself holds
//! `conditions` is a group whose conditions are ORed (groups may nest).

use chrono::{Days, NaiveDate};
use serde_json::{Map, Value};

use super::api::*;
use super::routes::Ctx;
use super::store::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Num,
    Bool,
    Date,
    /// An id-or-name reference (tags, pipelines, boards, stages).
    Ref,
}

/// A field's value on one record.
#[derive(Debug)]
enum Fv {
    Str(Vec<String>),
    Num(Option<f64>),
    Bool(bool),
    Date(Option<NaiveDate>),
    Ref(Vec<(i64, String)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Is,
    IsNot,
    StartsWith,
    EndsWith,
    Contains,
    Gt,
    Lt,
    After,
    Before,
    OlderThan,
    WithinLast,
    WithinNext,
}

#[derive(Debug, Clone)]
enum Arg {
    Null,
    Text(String),
    Num(f64),
    Bool(bool),
    Date(NaiveDate),
    Days(u64),
}

#[derive(Debug, Clone)]
enum Node {
    Cond { field: String, op: Op, arg: Arg },
    Or(Vec<Node>),
}

const PARTY_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::Num),
    ("name", Kind::Str),
    ("jobTitle", Kind::Str),
    ("email", Kind::Str),
    ("phone", Kind::Str),
    ("city", Kind::Str),
    ("zip", Kind::Str),
    ("state", Kind::Str),
    ("country", Kind::Str),
    ("type", Kind::Str),
    ("tag", Kind::Ref),
    ("owner", Kind::Num),
    ("team", Kind::Num),
    ("hasEmailAddress", Kind::Bool),
    ("hasPhoneNumber", Kind::Bool),
    ("hasAddress", Kind::Bool),
    ("hasPeople", Kind::Bool),
    ("hasTags", Kind::Bool),
    ("addedOn", Kind::Date),
    ("updatedOn", Kind::Date),
    ("lastContactedOn", Kind::Date),
    ("org.name", Kind::Str),
    ("org.tag", Kind::Ref),
];

const OPPORTUNITY_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::Num),
    ("probability", Kind::Num),
    ("name", Kind::Str),
    ("status", Kind::Str),
    // Strings per the filter reference (the name), unlike `pipeline`, "number or string".
    ("milestone", Kind::Str),
    ("lostReason", Kind::Str),
    ("currency", Kind::Str),
    ("expectedValue", Kind::Num),
    ("pipeline", Kind::Ref),
    ("tag", Kind::Ref),
    ("owner", Kind::Num),
    ("team", Kind::Num),
    ("isOpen", Kind::Bool),
    ("isStale", Kind::Bool),
    ("isOwnedByMe", Kind::Bool),
    ("hasTags", Kind::Bool),
    ("addedOn", Kind::Date),
    ("updatedOn", Kind::Date),
    ("closedOn", Kind::Date),
    ("expectedCloseOn", Kind::Date),
];

const KASE_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::Num),
    ("name", Kind::Str),
    ("status", Kind::Str),
    ("board", Kind::Ref),
    ("stage", Kind::Ref),
    ("tag", Kind::Ref),
    ("owner", Kind::Num),
    ("team", Kind::Num),
    ("isOpen", Kind::Bool),
    ("isOwnedByMe", Kind::Bool),
    ("hasTags", Kind::Bool),
    ("addedOn", Kind::Date),
    ("updatedOn", Kind::Date),
    ("closedOn", Kind::Date),
    ("expectedCloseOn", Kind::Date),
];

const R: &str = "filter";

fn bad_field() -> ApiError {
    invalid(R, Some("conditions.field"), "invalid field name")
}

fn kind_of_def(d: &Definition) -> Kind {
    match d.kind.as_str() {
        "number" => Kind::Num,
        "date" => Kind::Date,
        "boolean" => Kind::Bool,
        _ => Kind::Str,
    }
}

/// The kind of a field, or 422 `invalid field name`.
fn field_kind(store: &Store, e: Entity, field: &str) -> ApiResult<Kind> {
    let (custom_entity, custom) = if let Some(rest) = field.strip_prefix("org.custom:") {
        if e != Entity::Parties {
            return Err(bad_field());
        }
        (Entity::Parties, Some(rest))
    } else {
        (e, field.strip_prefix("custom:"))
    };
    if let Some(id) = custom {
        let id = id.trim().parse::<i64>().map_err(|_| bad_field())?;
        return store
            .definitions
            .get(&id)
            .filter(|d| d.entity == custom_entity)
            .map(kind_of_def)
            .ok_or_else(bad_field);
    }
    let table = match e {
        Entity::Parties => PARTY_FIELDS,
        Entity::Opportunities => OPPORTUNITY_FIELDS,
        Entity::Kases => KASE_FIELDS,
    };
    table
        .iter()
        .find(|(n, _)| *n == field)
        .map(|(_, k)| *k)
        .ok_or_else(bad_field)
}

fn parse_op(s: &str) -> ApiResult<Op> {
    Ok(match s.trim().to_lowercase().as_str() {
        "is" => Op::Is,
        "is not" => Op::IsNot,
        "starts with" => Op::StartsWith,
        "ends with" => Op::EndsWith,
        "contains" => Op::Contains,
        "is greater than" => Op::Gt,
        "is less than" => Op::Lt,
        "is after" => Op::After,
        "is before" => Op::Before,
        "is older than" => Op::OlderThan,
        "is within last" => Op::WithinLast,
        "is within next" => Op::WithinNext,
        _ => {
            return Err(invalid(R, Some("conditions.operator"), "invalid operator"));
        }
    })
}

fn bad_value() -> ApiError {
    invalid(R, Some("conditions.value"), "invalid value for field")
}

fn compile_cond(store: &Store, e: Entity, c: &Map<String, Value>) -> ApiResult<Node> {
    let field = match c.get("field") {
        Some(Value::String(s)) => s.trim().to_string(),
        _ => return Err(bad_field()),
    };
    let kind = field_kind(store, e, &field)?;
    let op = match c.get("operator") {
        Some(Value::String(s)) => parse_op(s)?,
        _ => {
            return Err(invalid(
                R,
                Some("conditions.operator"),
                "operator is required",
            ));
        }
    };
    let allowed = match kind {
        Kind::Str | Kind::Ref => matches!(
            op,
            Op::Is | Op::IsNot | Op::StartsWith | Op::EndsWith | Op::Contains
        ),
        Kind::Num => matches!(op, Op::Is | Op::IsNot | Op::Gt | Op::Lt),
        Kind::Bool => matches!(op, Op::Is | Op::IsNot),
        Kind::Date => matches!(
            op,
            Op::Is
                | Op::IsNot
                | Op::After
                | Op::Before
                | Op::OlderThan
                | Op::WithinLast
                | Op::WithinNext
        ),
    };
    if !allowed {
        return Err(invalid(
            R,
            Some("conditions.operator"),
            format!("operator '{}' is not valid for field {field}", op_name(op)),
        ));
    }
    let raw = c.get("value").unwrap_or(&Value::Null);
    // Money conditions: {"currency": "GBP", "amount": 1000}.
    let raw = match raw {
        Value::Object(m) if kind == Kind::Num => m.get("amount").unwrap_or(&Value::Null),
        v => v,
    };
    let arg = match (op, raw) {
        (Op::Is | Op::IsNot, Value::Null) => Arg::Null,
        (Op::OlderThan | Op::WithinLast | Op::WithinNext, v) => {
            let n = match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            };
            Arg::Days(n.filter(|n| *n <= 1_000_000).ok_or_else(bad_value)?)
        }
        (_, v) => match kind {
            Kind::Str | Kind::Ref => match v {
                Value::String(s) => Arg::Text(s.clone()),
                Value::Number(n) if kind == Kind::Ref => {
                    Arg::Num(n.as_f64().ok_or_else(bad_value)?)
                }
                Value::Number(n) => Arg::Text(n.to_string()),
                _ => return Err(bad_value()),
            },
            Kind::Num => match v {
                Value::Number(n) => Arg::Num(n.as_f64().ok_or_else(bad_value)?),
                Value::String(s) => Arg::Num(s.trim().parse::<f64>().map_err(|_| bad_value())?),
                _ => return Err(bad_value()),
            },
            Kind::Bool => match v {
                Value::Bool(b) => Arg::Bool(*b),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Arg::Bool(true),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Arg::Bool(false),
                _ => return Err(bad_value()),
            },
            Kind::Date => match v {
                Value::String(s) => Arg::Date(
                    parse_date(s)
                        .or_else(|| parse_ts(s).map(|t| t.date_naive()))
                        .ok_or_else(bad_value)?,
                ),
                _ => return Err(bad_value()),
            },
        },
    };
    Ok(Node::Cond { field, op, arg })
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Is => "is",
        Op::IsNot => "is not",
        Op::StartsWith => "starts with",
        Op::EndsWith => "ends with",
        Op::Contains => "contains",
        Op::Gt => "is greater than",
        Op::Lt => "is less than",
        Op::After => "is after",
        Op::Before => "is before",
        Op::OlderThan => "is older than",
        Op::WithinLast => "is within last",
        Op::WithinNext => "is within next",
    }
}

fn compile_list(store: &Store, e: Entity, v: &Value, depth: usize) -> ApiResult<Vec<Node>> {
    if depth > 8 {
        return Err(invalid(
            R,
            Some("conditions"),
            "conditions are nested too deeply",
        ));
    }
    let items = match v {
        Value::Null => return Ok(vec![]),
        Value::Array(a) => a,
        _ => return Err(invalid(R, Some("conditions"), "conditions must be a list")),
    };
    items
        .iter()
        .map(|item| {
            let Some(m) = item.as_object() else {
                return Err(invalid(
                    R,
                    Some("conditions"),
                    "condition must be an object",
                ));
            };
            match m.get("conditions") {
                Some(inner) => Ok(Node::Or(compile_list(store, e, inner, depth + 1)?)),
                None => compile_cond(store, e, m),
            }
        })
        .collect()
}

fn matches(op: Op, arg: &Arg, fv: &Fv, today: NaiveDate) -> bool {
    let text_match = |s: &str, t: &str| -> bool {
        let s = s.to_lowercase();
        let t = t.to_lowercase();
        match op {
            Op::Is | Op::IsNot => s == t,
            Op::StartsWith => s.starts_with(&t),
            Op::EndsWith => s.ends_with(&t),
            Op::Contains => s.contains(&t),
            _ => false,
        }
    };
    let positive = match (fv, arg) {
        (Fv::Str(v), Arg::Null) => v.is_empty(),
        (Fv::Str(v), Arg::Text(t)) => v.iter().any(|s| text_match(s, t)),
        (Fv::Ref(v), Arg::Null) => v.is_empty(),
        (Fv::Ref(v), Arg::Text(t)) => v.iter().any(|(_, s)| text_match(s, t)),
        (Fv::Ref(v), Arg::Num(n)) => v.iter().any(|(id, _)| (*id as f64) == *n),
        (Fv::Num(v), Arg::Null) => v.is_none(),
        (Fv::Num(v), Arg::Num(n)) => match (v, op) {
            (Some(x), Op::Gt) => x > n,
            (Some(x), Op::Lt) => x < n,
            (Some(x), _) => (x - n).abs() < 1e-9,
            (None, _) => false,
        },
        (Fv::Bool(b), Arg::Bool(x)) => b == x,
        (Fv::Bool(b), Arg::Null) => !b,
        (Fv::Date(d), Arg::Null) => d.is_none(),
        (Fv::Date(d), Arg::Date(x)) => match (d, op) {
            (Some(d), Op::After) => d > x,
            (Some(d), Op::Before) => d < x,
            (Some(d), _) => d == x,
            (None, _) => false,
        },
        (Fv::Date(d), Arg::Days(n)) => {
            let Some(d) = d else {
                return false;
            };
            let back = today
                .checked_sub_days(Days::new(*n))
                .unwrap_or(NaiveDate::MIN);
            let fwd = today
                .checked_add_days(Days::new(*n))
                .unwrap_or(NaiveDate::MAX);
            match op {
                Op::OlderThan => *d < back,
                Op::WithinLast => *d >= back && *d <= today,
                Op::WithinNext => *d >= today && *d <= fwd,
                _ => false,
            }
        }
        _ => false,
    };
    if op == Op::IsNot { !positive } else { positive }
}

fn eval_all(nodes: &[Node], get: &dyn Fn(&str) -> Fv, today: NaiveDate) -> bool {
    nodes.iter().all(|n| eval(n, get, today))
}

fn eval(node: &Node, get: &dyn Fn(&str) -> Fv, today: NaiveDate) -> bool {
    match node {
        Node::Cond { field, op, arg } => matches(*op, arg, &get(field), today),
        Node::Or(nodes) => nodes.iter().any(|n| eval(n, get, today)),
    }
}

fn strs(v: impl IntoIterator<Item = Option<String>>) -> Fv {
    Fv::Str(v.into_iter().flatten().collect())
}

fn tag_refs(store: &Store, tags: &[i64]) -> Fv {
    Fv::Ref(
        tags.iter()
            .filter_map(|t| store.tags.get(t))
            .map(|t| (t.id, t.name.clone()))
            .collect(),
    )
}

fn custom(store: &Store, fields: &[FieldValue], field: &str) -> Fv {
    let id = field
        .rsplit(':')
        .next()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let kind = store.definitions.get(&id).map_or(Kind::Str, kind_of_def);
    let v = fields.iter().find(|f| f.definition == id).map(|f| &f.value);
    match kind {
        Kind::Num => Fv::Num(v.and_then(|v| match v {
            Value::String(s) => s.parse::<f64>().ok(),
            Value::Number(n) => n.as_f64(),
            _ => None,
        })),
        Kind::Date => Fv::Date(v.and_then(Value::as_str).and_then(parse_date)),
        Kind::Bool => Fv::Bool(v.and_then(Value::as_bool).unwrap_or(false)),
        _ => strs([v.and_then(Value::as_str).map(str::to_string)]),
    }
}

fn party_value(ctx: &Ctx<'_>, p: &Party, field: &str) -> Fv {
    let s = &*ctx.store;
    let org = || p.organisation.and_then(|o| s.parties.get(&o));
    match field {
        "id" => Fv::Num(Some(p.id as f64)),
        "name" => strs([Some(p.display_name())]),
        "jobTitle" => strs([p.job_title.clone()]),
        "email" => strs(p.emails.iter().map(|e| Some(e.address.clone()))),
        "phone" => strs(p.phones.iter().map(|e| Some(e.number.clone()))),
        "city" => strs(p.addresses.iter().map(|a| a.city.clone())),
        "zip" => strs(p.addresses.iter().map(|a| a.zip.clone())),
        "state" => strs(p.addresses.iter().map(|a| a.state.clone())),
        "country" => strs(p.addresses.iter().map(|a| a.country.clone())),
        "type" => strs([Some(
            match p.kind {
                PartyKind::Person => "person",
                PartyKind::Organisation => "organisation",
            }
            .to_string(),
        )]),
        "tag" => tag_refs(s, &p.tags),
        "owner" => Fv::Num(p.owner.map(|o| o as f64)),
        "team" => Fv::Num(p.team.map(|o| o as f64)),
        "hasEmailAddress" => Fv::Bool(!p.emails.is_empty()),
        "hasPhoneNumber" => Fv::Bool(!p.phones.is_empty()),
        "hasAddress" => Fv::Bool(!p.addresses.is_empty()),
        "hasPeople" => Fv::Bool(s.parties.values().any(|x| x.organisation == Some(p.id))),
        "hasTags" => Fv::Bool(!p.tags.is_empty()),
        "addedOn" => Fv::Date(Some(p.created_at.date_naive())),
        "updatedOn" => Fv::Date(Some(p.updated_at.date_naive())),
        "lastContactedOn" => Fv::Date(p.last_contacted_at.map(|t| t.date_naive())),
        "org.name" => strs([org().map(|o| o.display_name())]),
        "org.tag" => match org() {
            Some(o) => tag_refs(s, &o.tags),
            None => Fv::Ref(vec![]),
        },
        f if f.starts_with("org.custom:") => match org() {
            Some(o) => custom(s, &o.fields, f),
            None => custom(s, &[], f),
        },
        f => custom(s, &p.fields, f),
    }
}

fn opportunity_value(ctx: &Ctx<'_>, o: &Opportunity, field: &str) -> Fv {
    let s = &*ctx.store;
    let m = s.milestones.get(&o.milestone);
    let closed = m.is_some_and(|m| m.complete);
    match field {
        "id" => Fv::Num(Some(o.id as f64)),
        "probability" => Fv::Num(o.probability.map(|p| p as f64)),
        "name" => strs([Some(o.name.clone())]),
        "status" => strs([Some(
            match m {
                Some(m) if m.complete && m.probability > 0 => "Won",
                Some(m) if m.complete => "Lost",
                _ => "Open",
            }
            .to_string(),
        )]),
        "milestone" => strs([m.map(|m| m.name.clone())]),
        "lostReason" => strs([o
            .lost_reason
            .and_then(|l| s.lost_reasons.get(&l))
            .map(|l| l.name.clone())]),
        "currency" => strs([o.value.as_ref().map(|(_, c)| c.clone())]),
        "expectedValue" => Fv::Num(o.value.as_ref().and_then(|(a, _)| a.as_f64())),
        "pipeline" => Fv::Ref(
            m.and_then(|m| s.pipelines.get(&m.pipeline))
                .map(|p| (p.id, p.name.clone()))
                .into_iter()
                .collect(),
        ),
        "tag" => tag_refs(s, &o.tags),
        "owner" => Fv::Num(o.owner.map(|x| x as f64)),
        "team" => Fv::Num(o.team.map(|x| x as f64)),
        "isOpen" => Fv::Bool(!closed),
        "isStale" => Fv::Bool(
            !closed
                && m.and_then(|m| m.days_until_stale).is_some_and(|d| {
                    o.last_stage_changed_at
                        .unwrap_or(o.created_at)
                        .checked_add_days(Days::new(d.max(0) as u64))
                        .is_some_and(|t| t < ctx.now)
                }),
        ),
        "isOwnedByMe" => Fv::Bool(o.owner == Some(ctx.user)),
        "hasTags" => Fv::Bool(!o.tags.is_empty()),
        "addedOn" => Fv::Date(Some(o.created_at.date_naive())),
        "updatedOn" => Fv::Date(Some(o.updated_at.date_naive())),
        "closedOn" => Fv::Date(o.closed_on),
        "expectedCloseOn" => Fv::Date(o.expected_close_on),
        f => custom(s, &o.fields, f),
    }
}

fn kase_value(ctx: &Ctx<'_>, k: &Kase, field: &str) -> Fv {
    let s = &*ctx.store;
    let stage = k.stage.and_then(|x| s.stages.get(&x));
    match field {
        "id" => Fv::Num(Some(k.id as f64)),
        "name" => strs([Some(k.name.clone())]),
        "status" => strs([Some(k.status.clone())]),
        "board" => Fv::Ref(
            stage
                .and_then(|st| s.boards.get(&st.board))
                .map(|b| (b.id, b.name.clone()))
                .into_iter()
                .collect(),
        ),
        "stage" => Fv::Ref(
            stage
                .map(|st| (st.id, st.name.clone()))
                .into_iter()
                .collect(),
        ),
        "tag" => tag_refs(s, &k.tags),
        "owner" => Fv::Num(k.owner.map(|x| x as f64)),
        "team" => Fv::Num(k.team.map(|x| x as f64)),
        "isOpen" => Fv::Bool(k.status == "OPEN"),
        "isOwnedByMe" => Fv::Bool(k.owner == Some(ctx.user)),
        "hasTags" => Fv::Bool(!k.tags.is_empty()),
        "addedOn" => Fv::Date(Some(k.created_at.date_naive())),
        "updatedOn" => Fv::Date(Some(k.updated_at.date_naive())),
        "closedOn" => Fv::Date(k.closed_on),
        "expectedCloseOn" => Fv::Date(k.expected_close_on),
        f => custom(s, &k.fields, f),
    }
}

pub(crate) fn results(ctx: &mut Ctx<'_>, req: &Req, e: Entity) -> ApiResult<Reply> {
    let body = req.json()?;
    let filter = match body.get("filter") {
        Some(Value::Object(f)) => f,
        _ => return Err(invalid(R, Some("filter"), "filter is required")),
    };
    let nodes = compile_list(
        ctx.store,
        e,
        filter.get("conditions").unwrap_or(&Value::Null),
        0,
    )?;
    let today = ctx.now.date_naive();
    let embed = req.embed();
    let c: &Ctx<'_> = ctx;
    match e {
        Entity::Parties => {
            let items: Vec<&Party> = c
                .store
                .parties
                .values()
                .filter(|p| eval_all(&nodes, &|f| party_value(c, p, f), today))
                .collect();
            paged(req, items, MAX_PER_PAGE, "parties", |p| {
                c.store.render_party(p, embed)
            })
        }
        Entity::Opportunities => {
            let items: Vec<&Opportunity> = c
                .store
                .opportunities
                .values()
                .filter(|o| eval_all(&nodes, &|f| opportunity_value(c, o, f), today))
                .collect();
            paged(req, items, MAX_PER_PAGE, "opportunities", |o| {
                c.store.render_opportunity(o, embed)
            })
        }
        Entity::Kases => {
            let items: Vec<&Kase> = c
                .store
                .kases
                .values()
                .filter(|k| eval_all(&nodes, &|f| kase_value(c, k, f), today))
                .collect();
            paged(req, items, MAX_PER_PAGE, "kases", |k| {
                c.store.render_kase(k, embed)
            })
        }
    }
}
