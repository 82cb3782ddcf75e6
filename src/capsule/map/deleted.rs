//! `GET /{parties|opportunities|kases}/deleted` ⇄ the unified deleted-records feed.

use serde_json::Value;

use super::{decode_err, format_timestamp, id_string};
use crate::capsule::{
    CapsuleError, Request,
    endpoint::{Endpoint, KASES, OPPORTUNITIES, PARTIES},
    wire::{self, DeletedRecord as Tombstone, PartyType, RestrictedRecord},
};
use crate::unified::{DeletedRecord, EntityType};

/// The collection whose feed answers for `entity`, and the key of its restricted list.
pub fn source(entity: EntityType) -> (&'static Endpoint, &'static str) {
    match entity {
        EntityType::Contact | EntityType::Account => (&PARTIES, "restrictedParties"),
        EntityType::Opportunity => (&OPPORTUNITIES, "restrictedOpportunities"),
        EntityType::Project => (&KASES, "restrictedKases"),
    }
}

/// One page of the feed.
pub fn request(
    entity: EntityType,
    since: &chrono::DateTime<chrono::Utc>,
    page: u32,
    per_page: u32,
) -> Request {
    let (ep, _) = source(entity);
    Request::get(format!("{}/deleted", ep.path))
        .query("since", format_timestamp(since))
        .query("page", page.to_string())
        .query("perPage", per_page.to_string())
}

/// Whether a restricted record can be of `entity`. Tombstones carry no party type, but
/// restricted parties do: a restricted organisation is not reported as a contact.
fn restricted_applies(r: &RestrictedRecord, entity: EntityType) -> bool {
    !matches!(
        (entity, r.party_type),
        (EntityType::Contact, Some(PartyType::Organisation))
            | (EntityType::Account, Some(PartyType::Person))
    )
}

/// The tombstones of a feed page, and (when `with_restricted`) its restricted records.
pub fn from_feed(
    body: &Value,
    entity: EntityType,
    with_restricted: bool,
    include_raw: bool,
) -> Result<Vec<DeletedRecord>, CapsuleError> {
    let (ep, restricted_key) = source(entity);
    let raws: Vec<Value> = wire::unwrap_list(body, ep.plural).map_err(decode_err)?;
    let mut out = Vec::with_capacity(raws.len());
    for raw in &raws {
        let t = wire::decode::<Tombstone>(raw).map_err(decode_err)?;
        let Some(id) = id_string(t.id) else { continue };
        out.push(DeletedRecord {
            id,
            deleted_at: t.deleted_at.clone(),
            restricted: false,
            remote_data: include_raw.then(|| raw.clone()),
        });
    }
    if with_restricted && body.get(restricted_key).is_some() {
        let raws: Vec<Value> = wire::unwrap_list(body, restricted_key).map_err(decode_err)?;
        for raw in &raws {
            let r = wire::decode::<RestrictedRecord>(raw).map_err(decode_err)?;
            if !restricted_applies(&r, entity) {
                continue;
            }
            let Some(id) = id_string(r.id) else { continue };
            out.push(DeletedRecord {
                id,
                deleted_at: None,
                restricted: true,
                remote_data: include_raw.then(|| raw.clone()),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::capsule::map::fixture;

    #[test]
    fn maps_the_documented_party_feed() {
        let body = fixture("parties_deleted.json");
        let out = from_feed(&body, EntityType::Contact, true, false).unwrap();
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!([
                {"id": "11587", "deleted_at": "2016-02-24T08:37:40Z", "restricted": false},
                {"id": "11590", "deleted_at": null, "restricted": true}
            ])
        );
        // The restricted record is a person: not an account. Tombstones go to both.
        let accounts = from_feed(&body, EntityType::Account, true, true).unwrap();
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].remote_data.as_ref(), Some(&body["parties"][0]));
        // Later pages leave the restricted records out (the first page has them).
        assert_eq!(
            from_feed(&body, EntityType::Contact, false, false)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn reads_opportunity_and_kase_feeds() {
        let body = json!({"kases": [{"id": 490, "deletedAt": "2024-01-02T00:00:00Z"}],
                          "restrictedKases": [{"id": 491, "name": "Private", "isRestricted": true}]});
        let out = from_feed(&body, EntityType::Project, true, false).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out[1].restricted && out[1].deleted_at.is_none());
        let body = json!({"opportunities": []});
        assert!(
            from_feed(&body, EntityType::Opportunity, true, false)
                .unwrap()
                .is_empty()
        );
        assert!(from_feed(&json!({}), EntityType::Opportunity, true, false).is_err());
        let since = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let r = request(EntityType::Account, &since, 2, 50);
        assert_eq!(r.path, "/parties/deleted");
        assert!(
            r.query
                .contains(&("since".into(), "2024-01-01T00:00:00Z".into()))
        );
        assert!(r.query.contains(&("page".into(), "2".into())));
    }
}
