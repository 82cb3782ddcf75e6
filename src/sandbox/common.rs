//! Helpers shared by the record handlers: nested references, tag and custom
//! field merges, deleted feeds.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::api::*;
use super::routes::Ctx;
use super::store::*;

pub(crate) fn user_ref(store: &Store, r: &RefArg, resource: &str) -> ApiResult<i64> {
    let found = match r {
        RefArg::Id(id) => store.users.get(id).map(|u| u.id),
        RefArg::Name(n) => store
            .users
            .values()
            .find(|u| u.username.eq_ignore_ascii_case(n) || u.name.eq_ignore_ascii_case(n))
            .map(|u| u.id),
    };
    found.ok_or_else(|| invalid(resource, Some("owner"), "owner: user not found"))
}

pub(crate) fn team_ref(store: &Store, r: &RefArg, resource: &str) -> ApiResult<i64> {
    let found = match r {
        RefArg::Id(id) => store.teams.get(id).map(|t| t.id),
        RefArg::Name(n) => store
            .teams
            .values()
            .find(|t| t.name.eq_ignore_ascii_case(n))
            .map(|t| t.id),
    };
    found.ok_or_else(|| invalid(resource, Some("team"), "team: team not found"))
}

/// A referenced party that must exist (404 `party not found`).
pub(crate) fn party_ref(store: &Store, r: &RefArg) -> ApiResult<i64> {
    match r {
        RefArg::Id(id) if store.parties.contains_key(id) => Ok(*id),
        _ => Err(not_found("party not found")),
    }
}

pub(crate) fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    hay.to_lowercase().contains(needle_lower)
}

/// Applies a `tags` array: add by id or name (creating missing names),
/// `_delete: true` removes (422 when the tag is not on the record).
pub(crate) fn merge_tags(
    store: &mut Store,
    entity: Entity,
    tags: &mut Vec<i64>,
    items: &[&Map<String, Value>],
    resource: &str,
) -> ApiResult<()> {
    for item in items {
        let id = item_id(item, resource, "tags")?;
        let name = match item.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        };
        let existing = match (id, &name) {
            (Some(id), _) => Some(id),
            (None, Some(n)) => store
                .tags
                .values()
                .find(|t| t.entity == entity && t.name.eq_ignore_ascii_case(n))
                .map(|t| t.id),
            (None, None) => {
                return Err(invalid(
                    resource,
                    Some("tags"),
                    "tag: id or name is required",
                ));
            }
        };
        if is_delete(item) {
            match existing {
                Some(tid) if tags.contains(&tid) => tags.retain(|t| *t != tid),
                _ => return Err(invalid(resource, Some("tags"), "tag not found to delete")),
            }
            continue;
        }
        let tid = match existing {
            Some(tid) => {
                if store.tags.get(&tid).is_none_or(|t| t.entity != entity) {
                    return Err(not_found("tag not found"));
                }
                tid
            }
            None => {
                let tid = store.alloc("tag");
                store.tags.insert(
                    tid,
                    Tag {
                        id: tid,
                        entity,
                        name: name.unwrap_or_default(),
                        description: None,
                        data_tag: false,
                    },
                );
                tid
            }
        };
        if !tags.contains(&tid) {
            tags.push(tid);
        }
    }
    Ok(())
}

/// Checks a custom field value against its definition. `Ok(None)` means
/// "clear the value". Numbers are stored (and read back) as strings.
pub(crate) fn normalize_value(
    def: &Definition,
    v: &Value,
    resource: &str,
) -> ApiResult<Option<Value>> {
    let bad = || {
        invalid(
            resource,
            Some("field.value"),
            "field.value: invalid type for field",
        )
    };
    if v.is_null() {
        return if def.kind == "boolean" {
            Err(bad())
        } else {
            Ok(None)
        };
    }
    match def.kind.as_str() {
        "boolean" => match v {
            Value::Bool(_) => Ok(Some(v.clone())),
            _ => Err(bad()),
        },
        "number" => match v {
            Value::Number(n) => Ok(Some(Value::String(n.to_string()))),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
                Ok(Some(Value::String(s.trim().to_string())))
            }
            _ => Err(bad()),
        },
        "date" => match v {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) if parse_date(s).is_some() => Ok(Some(v.clone())),
            _ => Err(invalid(
                resource,
                Some("field.value"),
                "field.value: invalid date",
            )),
        },
        // Capsule does not hold list values to the options: a recorded live project has one
        // outside them (capsule-api.md §8.1), so any text is stored as given.
        "list" => match v {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(_) => Ok(Some(v.clone())),
            _ => Err(bad()),
        },
        _ => match v {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(_) => Ok(Some(v.clone())),
            _ => Err(bad()),
        },
    }
}

/// Applies a `fields` array: set by definition id, update by row id,
/// `_delete: true` removes a row, `value: null` clears (not for booleans).
pub(crate) fn merge_fields(
    store: &mut Store,
    entity: Entity,
    fields: &mut Vec<FieldValue>,
    items: &[&Map<String, Value>],
    resource: &str,
) -> ApiResult<()> {
    for item in items {
        let row_id = item_id(item, resource, "fields")?;
        if is_delete(item) {
            let Some(rid) = row_id else {
                return Err(invalid(
                    resource,
                    Some("fields"),
                    "field: id is required to delete",
                ));
            };
            if !fields.iter().any(|f| f.id == rid) {
                return Err(not_found("field not found"));
            }
            fields.retain(|f| f.id != rid);
            continue;
        }
        let def_id = match get_ref(item, "definition", resource)? {
            Some(Some(RefArg::Id(id))) => Some(id),
            Some(Some(RefArg::Name(n))) => store
                .definitions
                .values()
                .find(|d| d.entity == entity && d.name.eq_ignore_ascii_case(&n))
                .map(|d| d.id)
                .or(Some(-1)),
            _ => None,
        };
        let def_id = match (def_id, row_id) {
            (Some(d), _) => d,
            (None, Some(rid)) => match fields.iter().find(|f| f.id == rid) {
                Some(f) => f.definition,
                None => return Err(not_found("field not found")),
            },
            (None, None) => {
                return Err(invalid(
                    resource,
                    Some("field.definition"),
                    "field.definition: definition is required",
                ));
            }
        };
        let Some(def) = store
            .definitions
            .get(&def_id)
            .filter(|d| d.entity == entity)
            .cloned()
        else {
            return Err(invalid(
                resource,
                Some("field.definition"),
                "field.definition: unknown field definition",
            ));
        };
        let Some(raw) = item.get("value") else {
            return Err(invalid(
                resource,
                Some("field.value"),
                "field.value: value is required",
            ));
        };
        let value = normalize_value(&def, raw, resource)?;
        let pos = match row_id {
            Some(rid) => match fields.iter().position(|f| f.id == rid) {
                Some(p) => Some(p),
                None => return Err(not_found("field not found")),
            },
            None => fields.iter().position(|f| f.definition == def.id),
        };
        match (pos, value) {
            (Some(p), Some(v)) => {
                if let Some(f) = fields.get_mut(p) {
                    f.value = v;
                    f.definition = def.id;
                }
            }
            (Some(p), None) => {
                fields.remove(p);
            }
            (None, Some(v)) => {
                let id = store.alloc("row");
                fields.push(FieldValue {
                    id,
                    definition: def.id,
                    value: v,
                });
            }
            (None, None) => {}
        }
    }
    Ok(())
}

/// Applies the `tags` and `fields` keys of a record body, if present.
pub(crate) fn merge_tags_and_fields(
    store: &mut Store,
    entity: Entity,
    obj: &Map<String, Value>,
    tags: &mut Vec<i64>,
    fields: &mut Vec<FieldValue>,
) -> ApiResult<()> {
    let resource = entity.singular();
    if let Some(items) = get_items(obj, "tags", resource)? {
        merge_tags(store, entity, tags, &items, resource)?;
    }
    if let Some(items) = get_items(obj, "fields", resource)? {
        merge_fields(store, entity, fields, &items, resource)?;
    }
    Ok(())
}

/// `GET /{entity}/deleted?since=`: tombstones after `since`, plus the
/// `restricted*` list.
pub(crate) fn deleted_feed(
    req: &Req,
    tombstones: &[Tombstone],
    restricted: &[(DateTime<Utc>, Value)],
    entity: Entity,
    restricted_key: &str,
) -> ApiResult<Reply> {
    let resource = entity.singular();
    let Some(raw) = req.q("since") else {
        return Err(invalid(resource, Some("since"), "since is required"));
    };
    let since = parse_ts(raw)
        .ok_or_else(|| invalid(resource, Some("since"), "since is not a valid timestamp"))?;
    let mut items: Vec<&Tombstone> = tombstones.iter().filter(|t| t.deleted_at > since).collect();
    items.sort_by_key(|t| (t.deleted_at, t.id));
    let mut reply = paged(
        req,
        items,
        MAX_PER_PAGE,
        entity.segment(),
        |t| json!({ "id": t.id, "deletedAt": fmt_ts(&t.deleted_at) }),
    )?;
    let restricted_items: Vec<Value> = restricted
        .iter()
        .filter(|(at, _)| *at > since)
        .map(|(_, v)| v.clone())
        .collect();
    if let Some(Value::Object(m)) = reply.body.as_mut() {
        m.insert(restricted_key.into(), Value::Array(restricted_items));
    }
    Ok(reply)
}

/// Moves `lastContactedAt` forward on the record an entry is linked to, when
/// the entry's activity type counts as contact.
pub(crate) fn touch_last_contacted(ctx: &mut Ctx<'_>, entry: &Entry) {
    let counts = entry.kind == "email"
        || entry
            .activity_type
            .and_then(|a| ctx.store.activity_type(a))
            .is_some_and(|a| a.update_last_contacted);
    if !counts {
        return;
    }
    let at = Some(entry.entry_at);
    if let Some(p) = entry.party.and_then(|id| ctx.store.parties.get_mut(&id)) {
        p.last_contacted_at = p.last_contacted_at.max(at);
    }
    if let Some(o) = entry
        .opportunity
        .and_then(|id| ctx.store.opportunities.get_mut(&id))
    {
        o.last_contacted_at = o.last_contacted_at.max(at);
    }
    if let Some(k) = entry.kase.and_then(|id| ctx.store.kases.get_mut(&id)) {
        k.last_contacted_at = k.last_contacted_at.max(at);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn def(kind: &str) -> Definition {
        Definition {
            id: 1,
            entity: Entity::Parties,
            name: "x".into(),
            kind: kind.into(),
            description: None,
            important: false,
            display_order: 1,
            capture_rule: None,
            options: vec!["A".into()],
            tag: None,
        }
    }

    #[test]
    fn numbers_become_strings_and_boolean_null_is_refused() {
        assert_eq!(
            normalize_value(&def("number"), &json!(3), "party").unwrap(),
            Some(json!("3"))
        );
        assert_eq!(
            normalize_value(&def("number"), &json!(2.5), "party").unwrap(),
            Some(json!("2.5"))
        );
        assert!(normalize_value(&def("number"), &json!("abc"), "party").is_err());
        assert!(normalize_value(&def("boolean"), &Value::Null, "party").is_err());
        assert_eq!(
            normalize_value(&def("text"), &Value::Null, "party").unwrap(),
            None
        );
        assert_eq!(
            normalize_value(&def("list"), &json!("B"), "party").unwrap(),
            Some(json!("B")),
            "a value outside the options is stored"
        );
        assert!(normalize_value(&def("date"), &json!("2026-02-30"), "party").is_err());
    }
}
