//! Search answers (`/parties/search`, `/opportunities/search`, `/kases/search`) → search hits.
//!
//! A hit's `context` is a short line that tells records of the same name apart: a contact's
//! organisation and first email (or phone), an account's first email (or phone) and city, an
//! opportunity's stage, amount and party, a project's stage (or status) and party.

use serde_json::Value;

use super::decode_err;
use crate::capsule::{
    CapsuleError, Request,
    endpoint::{KASES, OPPORTUNITIES, PARTIES},
    wire::{self, Kase, Opportunity, Party, PartyType},
};
use crate::unified::{EntityType, search::SearchHit};

/// Longest `context` kept (characters).
pub const MAX_CONTEXT_CHARS: usize = 120;

/// The search request of one endpoint: `GET {path}/search?q=&perPage=`.
pub fn request(entity: EntityType, q: &str, per_page: u32) -> Request {
    let path = match entity {
        EntityType::Contact | EntityType::Account => PARTIES.path,
        EntityType::Opportunity => OPPORTUNITIES.path,
        EntityType::Project => KASES.path,
    };
    Request::get(format!("{path}/search"))
        .query("q", q)
        .query("perPage", per_page.to_string())
}

/// The list key of an endpoint's answer.
pub fn plural(entity: EntityType) -> &'static str {
    match entity {
        EntityType::Contact | EntityType::Account => PARTIES.plural,
        EntityType::Opportunity => OPPORTUNITIES.plural,
        EntityType::Project => KASES.plural,
    }
}

/// The non-empty parts joined by ` · `, cut to [`MAX_CONTEXT_CHARS`].
fn context(parts: &[Option<String>]) -> Option<String> {
    let joined = parts
        .iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    if joined.is_empty() {
        return None;
    }
    Some(match joined.char_indices().nth(MAX_CONTEXT_CHARS) {
        None => joined,
        Some((at, _)) => format!("{}…", joined[..at].trim_end()),
    })
}

fn first_email(p: &Party) -> Option<String> {
    p.email_addresses.iter().find_map(|e| e.address.clone())
}

fn first_phone(p: &Party) -> Option<String> {
    p.phone_numbers.iter().find_map(|n| n.number.clone())
}

/// A party hit: a contact (person) or an account (organisation).
pub fn party_hit(raw: &Value) -> Result<Option<SearchHit>, CapsuleError> {
    let p: Party = wire::decode(raw).map_err(decode_err)?;
    let Some(id) = p.id else { return Ok(None) };
    let name = p.display_name().unwrap_or_default();
    let contact_point = first_email(&p).or_else(|| first_phone(&p));
    let (kind, context) = match p.party_type {
        Some(PartyType::Organisation) => {
            let city = p.addresses.iter().find_map(|a| a.city.clone());
            (EntityType::Account, context(&[contact_point, city]))
        }
        _ => {
            let org = p.organisation.as_ref().and_then(|o| o.display_name());
            (EntityType::Contact, context(&[org, contact_point]))
        }
    };
    Ok(Some(SearchHit {
        kind,
        id: id.to_string(),
        name,
        context,
    }))
}

/// `1200 GBP`, whole amounts without decimals.
fn money(m: &wire::Money) -> Option<String> {
    let amount = m.amount?;
    let a = if amount.fract() == 0.0 && amount.abs() < 1e15 {
        format!("{amount:.0}")
    } else {
        format!("{amount:.2}")
    };
    Some(match m.currency.as_deref() {
        Some(c) => format!("{a} {c}"),
        None => a,
    })
}

pub fn opportunity_hit(raw: &Value) -> Result<Option<SearchHit>, CapsuleError> {
    let o: Opportunity = wire::decode(raw).map_err(decode_err)?;
    let Some(id) = o.id else { return Ok(None) };
    let stage = o.milestone.as_ref().and_then(|m| m.name.clone());
    let value = o.value.as_ref().and_then(money);
    let party = o.party.as_ref().and_then(|p| p.display_name());
    Ok(Some(SearchHit {
        kind: EntityType::Opportunity,
        id: id.to_string(),
        name: o.name.unwrap_or_default(),
        context: context(&[stage, value, party]),
    }))
}

pub fn project_hit(raw: &Value) -> Result<Option<SearchHit>, CapsuleError> {
    let k: Kase = wire::decode(raw).map_err(decode_err)?;
    let Some(id) = k.id else { return Ok(None) };
    let stage = k
        .stage
        .as_ref()
        .and_then(|s| s.name.clone())
        .or_else(|| k.status.as_deref().map(str::to_lowercase));
    let party = k.party.as_ref().and_then(|p| p.display_name());
    Ok(Some(SearchHit {
        kind: EntityType::Project,
        id: id.to_string(),
        name: k.name.unwrap_or_default(),
        context: context(&[stage, party]),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::capsule::map::fixture;
    use serde_json::json;

    #[test]
    fn hits_of_the_recorded_records() {
        let parties = fixture("parties_list_first_page.json");
        let person = parties["parties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["type"] == "person")
            .unwrap();
        let h = party_hit(person).unwrap().unwrap();
        assert_eq!(h.kind, EntityType::Contact);
        assert_eq!(h.id, person["id"].as_i64().unwrap().to_string());
        let org = json!({"id": 892, "type": "organisation", "name": "Zestia",
                         "emailAddresses": [{"address": "hi@zestia.example"}],
                         "addresses": [{"city": "London"}]});
        let h = party_hit(&org).unwrap().unwrap();
        assert_eq!(
            (h.kind, h.name.as_str(), h.context.as_deref()),
            (
                EntityType::Account,
                "Zestia",
                Some("hi@zestia.example · London")
            )
        );
        let opp = json!({"id": 83, "name": "Consulting", "milestone": {"id": 1, "name": "Bid"},
                         "value": {"amount": 500.0, "currency": "GBP"},
                         "party": {"id": 892, "type": "organisation", "name": "Zestia"}});
        let h = opportunity_hit(&opp).unwrap().unwrap();
        assert_eq!(h.context.as_deref(), Some("Bid · 500 GBP · Zestia"));
        let kase = json!({"id": 5, "name": "Website", "status": "OPEN",
                          "party": {"id": 11, "type": "person", "firstName": "Scott", "lastName": "Spacey"}});
        let h = project_hit(&kase).unwrap().unwrap();
        assert_eq!(h.context.as_deref(), Some("open · Scott Spacey"));
        assert_eq!(party_hit(&json!({"name": "no id"})).unwrap(), None);
    }

    #[test]
    fn context_is_short() {
        let long = Some("x".repeat(300));
        let c = context(&[long]).unwrap();
        assert_eq!(c.chars().count(), MAX_CONTEXT_CHARS + 1);
        assert_eq!(context(&[None, Some("  ".into())]), None);
    }

    #[test]
    fn one_request_per_endpoint() {
        let r = request(EntityType::Account, "acme", 10);
        assert_eq!(r.path, "/parties/search");
        assert!(r.query.contains(&("q".into(), "acme".into())));
        assert_eq!(request(EntityType::Project, "x", 5).path, "/kases/search");
        assert_eq!(plural(EntityType::Opportunity), "opportunities");
    }
}
