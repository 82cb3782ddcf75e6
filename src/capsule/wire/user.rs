//! Users (`/users`, keys `user` / `users`) and teams (`/teams`, keys `team` / `teams`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::number;
use super::common::{NestedParty, NestedUser};

/// A Capsule user (§9.1). `loggedIn` is true for the token's own user.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// e.g. `en_GB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// ISO 4217.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// IANA, e.g. `Europe/London`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `ACTIVE`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<NestedParty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<String>,
    #[serde(
        default,
        rename = "pictureURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub picture_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_in: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_reminder: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_preference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_to_call_preference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_email_from_address: Option<String>,
    /// Old docs: `{isAccountOwner, isAccountAdmin}`; not seen in current data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A team (§9.2); `memberships` only with `embed=memberships`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memberships: Option<Vec<TeamMembership>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `memberships[]`: `{"user": {nested user}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TeamMembership {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<NestedUser>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::capsule::wire::{unwrap_list, unwrap_single};
    use serde_json::json;

    #[test]
    fn decodes_the_doc_users() {
        let body: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/capsule/users_list.json"
        ))
        .unwrap();
        let users: Vec<User> = unwrap_list(&body, "users").unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].username.as_deref(), Some("scott"));
        assert_eq!(users[0].timezone.as_deref(), Some("Europe/London"));
        assert_eq!(users[0].task_reminder, Some(true));
        assert_eq!(users[1].id, Some(12345682));
        assert_eq!(
            users[1].party.as_ref().unwrap().display_name().as_deref(),
            Some("John Spacey")
        );
        assert!(users[1].roles.is_none());
    }

    #[test]
    fn decodes_live_user_extras() {
        let body = json!({"user": {
            "id": 645048, "pictureURL": "https://x", "deleted": false, "loggedIn": true,
            "roles": {"isAccountOwner": true, "isAccountAdmin": true}, "clickToCallPreference": "TEL",
            "newSetting": 1
        }});
        let u: User = unwrap_single(&body, "user").unwrap();
        assert_eq!(u.logged_in, Some(true));
        assert_eq!(u.picture_url.as_deref(), Some("https://x"));
        assert_eq!(u.roles.as_ref().unwrap()["isAccountOwner"], json!(true));
        assert_eq!(u.click_to_call_preference.as_deref(), Some("TEL"));
        assert_eq!(u.extra.get("newSetting"), Some(&json!(1)));
    }

    #[test]
    fn decodes_teams_with_memberships() {
        let body: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/capsule/teams_list.json"
        ))
        .unwrap();
        let teams: Vec<Team> = unwrap_list(&body, "teams").unwrap();
        let members = teams[0].memberships.as_ref().unwrap();
        assert_eq!(
            members[0].user.as_ref().unwrap().name.as_deref(),
            Some("Ted Danson")
        );

        let bare: Team = serde_json::from_value(json!({"id": 5, "memberships": null})).unwrap();
        assert!(bare.memberships.is_none());
    }

    #[test]
    fn decode_error_names_the_path() {
        let body = json!({"teams": [{"id": 5, "memberships": [{"user": {"deleted": "no"}}]}]});
        let err = unwrap_list::<Team>(&body, "teams").unwrap_err();
        assert_eq!(err.path, "teams[0].memberships[0].user.deleted");
    }
}
