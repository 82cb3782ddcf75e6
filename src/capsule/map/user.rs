//! Capsule users (+ teams) ⇄ CRM users and directory users.

use serde_json::Value;

use super::{decode_err, id_string};
use crate::capsule::{
    CapsuleError,
    wire::{self, Party, Team, User as WireUser},
};
use crate::unified::{
    DirectoryUser, Ref, User,
    user::{DirectoryEmail, DirectoryPhone},
};

/// The flags Capsule gives in `roles` (documented as `{isAccountOwner, isAccountAdmin}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles {
    pub owner: bool,
    pub admin: bool,
}

/// Reads `roles`; `None` when Capsule does not report them. An account owner is an
/// administrator too.
pub fn roles(u: &WireUser) -> Option<Roles> {
    let flag = |r: &Value, key: &str| r.get(key).and_then(Value::as_bool);
    match u.roles.as_ref()? {
        r @ Value::Object(_) => {
            let owner = flag(r, "isAccountOwner");
            let admin = flag(r, "isAccountAdmin");
            if owner.is_none() && admin.is_none() {
                return None;
            }
            let owner = owner.unwrap_or(false);
            Some(Roles {
                owner,
                admin: owner || admin.unwrap_or(false),
            })
        }
        Value::Array(items) => {
            let has = |want: &[&str]| {
                items.iter().filter_map(Value::as_str).any(|s| {
                    let s = s.to_ascii_lowercase().replace(['-', ' '], "_");
                    want.contains(&s.as_str())
                })
            };
            let owner = has(&["account_owner", "owner", "isaccountowner"]);
            Some(Roles {
                owner,
                admin: owner || has(&["admin", "account_admin", "administrator"]),
            })
        }
        _ => None,
    }
}

fn decode_user(raw: &Value) -> Result<WireUser, CapsuleError> {
    wire::decode::<WireUser>(raw).map_err(decode_err)
}

/// The user's own party, whole when Capsule embedded it (`embed=party`).
fn party_of(raw: &Value) -> Option<Party> {
    raw.get("party")
        .filter(|p| p.is_object())
        .and_then(|p| wire::decode::<Party>(p).ok())
}

fn status_of(u: &WireUser) -> Option<String> {
    match (&u.status, u.deleted) {
        (Some(s), _) => Some(s.to_ascii_lowercase()),
        (None, Some(true)) => Some("deleted".into()),
        (None, _) => None,
    }
}

fn name_of(u: &WireUser, party: Option<&Party>) -> String {
    u.name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| party.and_then(Party::display_name))
        .or_else(|| u.username.clone())
        .unwrap_or_default()
}

fn avatar_of(u: &WireUser, party: Option<&Party>) -> Option<String> {
    u.picture_url
        .clone()
        .or_else(|| party.and_then(|p| p.picture_url.clone()))
        .or_else(|| u.party.as_ref().and_then(|p| p.picture_url.clone()))
}

pub fn to_user(raw: &Value, include_raw: bool) -> Result<User, CapsuleError> {
    let u = decode_user(raw)?;
    let party = party_of(raw);
    let roles = roles(&u);
    let status = status_of(&u);
    Ok(User {
        id: id_string(u.id).unwrap_or_default(),
        name: name_of(&u, party.as_ref()),
        email: party
            .as_ref()
            .and_then(|p| p.email_addresses.iter().find_map(|e| e.address.clone())),
        username: u.username.clone(),
        is_active: status.as_deref() == Some("active") && u.deleted != Some(true),
        is_admin: roles.map(|r| r.admin),
        is_account_owner: roles.map(|r| r.owner),
        timezone: u.timezone.clone(),
        last_login_at: u.last_login_at.clone(),
        remote_data: include_raw.then(|| raw.clone()),
    })
}

pub fn to_directory_user(
    raw: &Value,
    teams: &[Team],
    include_raw: bool,
) -> Result<DirectoryUser, CapsuleError> {
    let u = decode_user(raw)?;
    let party = party_of(raw);
    let roles = roles(&u)
        .map(|r| {
            let mut out = Vec::new();
            if r.owner {
                out.push("account_owner".to_owned());
            }
            if r.admin {
                out.push("admin".to_owned());
            }
            out.push("user".to_owned());
            out
        })
        .unwrap_or_default();
    let groups = teams
        .iter()
        .filter(|t| {
            u.id.is_some()
                && t.memberships
                    .iter()
                    .flatten()
                    .any(|m| m.user.as_ref().and_then(|mu| mu.id) == u.id)
        })
        .filter_map(|t| {
            Some(Ref {
                id: t.id?.to_string(),
                name: t.name.clone(),
            })
        })
        .collect();
    let (first_name, last_name) = match (&party, &u.party) {
        (Some(p), _) => (p.first_name.clone(), p.last_name.clone()),
        (None, Some(p)) => (p.first_name.clone(), p.last_name.clone()),
        (None, None) => (None, None),
    };
    let emails = party
        .iter()
        .flat_map(|p| p.email_addresses.iter())
        .filter_map(|e| Some((e.address.clone()?, e.kind.clone())))
        .enumerate()
        .map(|(i, (email, kind))| DirectoryEmail {
            email,
            kind,
            is_primary: i == 0,
        })
        .collect();
    let phones = party
        .iter()
        .flat_map(|p| p.phone_numbers.iter())
        .filter_map(|n| {
            Some(DirectoryPhone {
                number: n.number.clone()?,
                kind: n.kind.clone(),
            })
        })
        .collect();
    Ok(DirectoryUser {
        id: id_string(u.id).unwrap_or_default(),
        username: u.username.clone(),
        name: name_of(&u, party.as_ref()),
        first_name,
        last_name,
        emails,
        phones,
        status: status_of(&u),
        roles,
        groups,
        avatar: avatar_of(&u, party.as_ref()),
        timezone: u.timezone.clone(),
        languages: u.locale.iter().cloned().collect(),
        last_login_at: u.last_login_at.clone(),
        remote_data: include_raw.then(|| raw.clone()),
    })
}

/// Decodes the teams list (with `embed=memberships`).
pub fn decode_teams(raw: &[Value]) -> Result<Vec<Team>, CapsuleError> {
    raw.iter()
        .map(|t| wire::decode::<Team>(t).map_err(decode_err))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::capsule::map::fixture;

    #[test]
    fn maps_the_documented_users() {
        let body = fixture("users_list.json");
        let u = to_user(&body["users"][0], false).unwrap();
        assert_eq!(u.id, "1");
        assert_eq!(u.name, "Scott Spacey");
        assert_eq!(u.username.as_deref(), Some("scott"));
        assert!(u.is_active);
        assert_eq!(u.timezone.as_deref(), Some("Europe/London"));
        assert_eq!(u.last_login_at.as_deref(), Some("2015-12-11T14:01:15Z"));
        // The short party form carries no emails, and the example has no roles.
        assert!(u.email.is_none());
        assert!(u.is_admin.is_none() && u.is_account_owner.is_none());
        assert!(u.remote_data.is_none());

        let d = to_directory_user(&body["users"][1], &[], true).unwrap();
        assert_eq!(d.id, "12345682");
        assert_eq!(d.first_name.as_deref(), Some("John"));
        assert_eq!(d.last_name.as_deref(), Some("Spacey"));
        assert_eq!(d.status.as_deref(), Some("active"));
        assert_eq!(d.languages, ["en_GB"]);
        assert!(d.avatar.as_deref().unwrap().contains("text=JS"));
        assert!(d.roles.is_empty() && d.groups.is_empty() && d.emails.is_empty());
        assert_eq!(d.remote_data.as_ref(), Some(&body["users"][1]));
    }

    #[test]
    fn groups_come_from_team_memberships() {
        let teams = decode_teams(fixture("teams_list.json")["teams"].as_array().unwrap()).unwrap();
        let ted = json!({"id": 61, "username": "ted", "name": "Ted Danson", "status": "ACTIVE"});
        let d = to_directory_user(&ted, &teams, false).unwrap();
        assert_eq!(
            d.groups,
            [Ref {
                id: "5".into(),
                name: Some("Sales".into())
            }]
        );
        let other = json!({"id": 62, "status": "INVITED", "username": "kim"});
        let d = to_directory_user(&other, &teams, false).unwrap();
        assert!(d.groups.is_empty());
        assert_eq!(d.status.as_deref(), Some("invited"));
        assert_eq!(d.name, "kim");
        assert!(!to_user(&other, false).unwrap().is_active);
    }

    #[test]
    fn roles_and_embedded_party() {
        let raw = json!({
            "id": 61, "status": "ACTIVE", "name": "Ted Danson",
            "roles": {"isAccountOwner": true, "isAccountAdmin": false},
            "party": {"id": 120, "type": "person", "firstName": "Ted", "lastName": "Danson",
                      "emailAddresses": [{"id": 1, "type": "Work", "address": "ted@x.io"},
                                         {"id": 2, "address": "ted@home.io"}],
                      "phoneNumbers": [{"id": 3, "type": "Mobile", "number": "+1 555"}]}
        });
        let u = to_user(&raw, false).unwrap();
        assert_eq!(u.email.as_deref(), Some("ted@x.io"));
        assert_eq!(u.is_account_owner, Some(true));
        assert_eq!(u.is_admin, Some(true), "an account owner is an admin");
        let d = to_directory_user(&raw, &[], false).unwrap();
        assert_eq!(d.roles, ["account_owner", "admin", "user"]);
        assert_eq!(d.emails.len(), 2);
        assert!(d.emails[0].is_primary && !d.emails[1].is_primary);
        assert_eq!(d.emails[0].kind.as_deref(), Some("Work"));
        assert_eq!(d.phones[0].number, "+1 555");

        let plain = json!({"id": 6, "roles": {"isAccountOwner": false, "isAccountAdmin": false}});
        let d = to_directory_user(&plain, &[], false).unwrap();
        assert_eq!(d.roles, ["user"]);
        let u = to_user(&plain, false).unwrap();
        assert_eq!((u.is_admin, u.is_account_owner), (Some(false), Some(false)));
        let listed = json!({"id": 7, "roles": ["ADMIN"]});
        assert_eq!(to_user(&listed, false).unwrap().is_admin, Some(true));
    }
}
