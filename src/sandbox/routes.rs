//! The `/api/v2` route table and dispatch. Route templates (e.g.
//! `/parties/{id}/entries`) double as the keys of `/_sandbox/stats` and
//! `/_sandbox/faults`, prefixed with the method: `"GET /parties/{id}/entries"`.

use chrono::{DateTime, Utc};

use super::api::{ApiError, ApiResult, Reply, Req};
use super::store::{Entity, Store};
use super::{entries, filter, kases, opportunities, parties, refdata, tasks};

/// Known paths and the methods each allows. A path matching a template with
/// the wrong method answers 405; a path matching nothing answers 404.
pub(crate) const ROUTES: &[(&str, &[&str])] = &[
    ("/parties", &["GET", "POST"]),
    ("/parties/search", &["GET"]),
    ("/parties/deleted", &["GET"]),
    ("/parties/filters/results", &["POST"]),
    ("/parties/fields/definitions", &["GET", "POST"]),
    (
        "/parties/fields/definitions/{id}",
        &["GET", "PUT", "DELETE"],
    ),
    ("/parties/tags", &["GET", "POST"]),
    ("/parties/tags/{id}", &["GET", "PUT", "DELETE"]),
    ("/parties/tags/{id}/definitions", &["GET"]),
    ("/parties/{id}", &["GET", "PUT", "DELETE"]),
    ("/parties/{id}/people", &["GET"]),
    ("/parties/{id}/opportunities", &["GET"]),
    ("/parties/{id}/kases", &["GET"]),
    ("/parties/{id}/entries", &["GET"]),
    ("/opportunities", &["GET", "POST"]),
    ("/opportunities/search", &["GET"]),
    ("/opportunities/deleted", &["GET"]),
    ("/opportunities/filters/results", &["POST"]),
    ("/opportunities/fields/definitions", &["GET", "POST"]),
    (
        "/opportunities/fields/definitions/{id}",
        &["GET", "PUT", "DELETE"],
    ),
    ("/opportunities/tags", &["GET", "POST"]),
    ("/opportunities/tags/{id}", &["GET", "PUT", "DELETE"]),
    ("/opportunities/tags/{id}/definitions", &["GET"]),
    ("/opportunities/{id}", &["GET", "PUT", "DELETE"]),
    ("/opportunities/{id}/entries", &["GET"]),
    ("/opportunities/{id}/kases", &["GET"]),
    ("/opportunities/{id}/parties", &["GET"]),
    ("/opportunities/{id}/parties/{id}", &["POST", "DELETE"]),
    ("/kases", &["GET", "POST"]),
    ("/kases/search", &["GET"]),
    ("/kases/deleted", &["GET"]),
    ("/kases/filters/results", &["POST"]),
    ("/kases/fields/definitions", &["GET", "POST"]),
    ("/kases/fields/definitions/{id}", &["GET", "PUT", "DELETE"]),
    ("/kases/tags", &["GET", "POST"]),
    ("/kases/tags/{id}", &["GET", "PUT", "DELETE"]),
    ("/kases/tags/{id}/definitions", &["GET"]),
    ("/kases/{id}", &["GET", "PUT", "DELETE"]),
    ("/kases/{id}/entries", &["GET"]),
    ("/kases/{id}/parties", &["GET"]),
    ("/kases/{id}/parties/{id}", &["POST", "DELETE"]),
    ("/tasks", &["GET", "POST"]),
    ("/tasks/{id}", &["GET", "PUT", "DELETE"]),
    ("/entries", &["GET", "POST"]),
    ("/entries/{id}", &["GET", "PUT", "DELETE"]),
    ("/attachments/upload", &["POST"]),
    ("/attachments/{id}", &["GET"]),
    ("/users", &["GET"]),
    ("/users/current", &["GET"]),
    ("/users/{id}", &["GET", "PUT"]),
    ("/teams", &["GET"]),
    ("/teams/{id}", &["GET"]),
    ("/pipelines", &["GET", "POST"]),
    ("/pipelines/{id}", &["GET", "PUT", "DELETE"]),
    ("/pipelines/{id}/milestones", &["GET"]),
    ("/milestones", &["GET", "POST"]),
    ("/milestones/{id}", &["GET", "PUT", "DELETE"]),
    ("/lostreasons", &["GET", "POST"]),
    ("/lostreasons/{id}", &["GET", "PUT", "DELETE"]),
    ("/boards", &["GET", "POST"]),
    ("/boards/{id}", &["GET", "PUT", "DELETE"]),
    ("/boards/{id}/stages", &["GET"]),
    ("/stages", &["GET", "POST"]),
    ("/stages/{id}", &["GET", "PUT", "DELETE"]),
    ("/categories", &["GET", "POST"]),
    ("/categories/{id}", &["GET", "PUT", "DELETE"]),
    ("/activitytypes", &["GET", "POST"]),
    ("/activitytypes/{id}", &["GET", "PUT", "DELETE"]),
    ("/titles", &["GET", "POST"]),
    ("/titles/{id}", &["DELETE"]),
    ("/countries", &["GET"]),
    ("/currencies", &["GET"]),
    ("/site", &["GET"]),
    // Track instances are not simulated; `GET /tracks` is a documented 405.
    ("/tracks", &[]),
];

/// Finds the best template for `path` (the part after `/api/v2`). Literal
/// segments beat `{id}` captures, earliest segment first.
pub(crate) type Matched = (&'static str, Vec<String>, &'static [&'static str]);

pub(crate) fn match_route(path: &str) -> Option<Matched> {
    let trimmed = path.trim_end_matches('/');
    let segs: Vec<String> = trimmed
        .split('/')
        .skip(1)
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let mut best: Option<(Vec<bool>, Matched)> = None;
    for (template, methods) in ROUTES {
        let tsegs: Vec<&str> = template.split('/').skip(1).collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut score = Vec::with_capacity(tsegs.len());
        let mut params = Vec::new();
        let mut ok = true;
        for (t, s) in tsegs.iter().zip(&segs) {
            if *t == "{id}" {
                if s.is_empty() {
                    ok = false;
                    break;
                }
                score.push(false);
                params.push(s.clone());
            } else if t == s {
                score.push(true);
            } else {
                ok = false;
                break;
            }
        }
        if ok && best.as_ref().is_none_or(|(b, ..)| score > *b) {
            best = Some((score, (template, params, methods)));
        }
    }
    best.map(|(_, m)| m)
}

/// Per-request context: the store and who is asking.
pub(crate) struct Ctx<'a> {
    pub store: &'a mut Store,
    pub user: i64,
    pub admin: bool,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    pub(crate) fn require_admin(&self) -> ApiResult<()> {
        if self.admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "You must be an administrator to perform this action".into(),
            ))
        }
    }
}

fn entity_of(req: &Req) -> Entity {
    req.template
        .split('/')
        .nth(1)
        .and_then(Entity::from_segment)
        .unwrap_or(Entity::Parties)
}

/// Routes a matched request to its handler.
pub(crate) fn dispatch(ctx: &mut Ctx<'_>, req: &Req) -> ApiResult<Reply> {
    let m = req.method.as_str();
    let t = req.template;
    // Entity-generic sub-resources.
    if let Some(rest) = t
        .split_once('/')
        .map(|(_, r)| r)
        .and_then(|r| r.split_once('/').map(|(_, r)| r))
    {
        let e = entity_of(req);
        match (m, rest) {
            ("GET", "fields/definitions") => return refdata::list_definitions(ctx, req, e),
            ("POST", "fields/definitions") => return refdata::create_definition(ctx, req, e),
            ("GET", "fields/definitions/{id}") => return refdata::show_definition(ctx, req, e),
            ("PUT", "fields/definitions/{id}") => return refdata::update_definition(ctx, req, e),
            ("DELETE", "fields/definitions/{id}") => {
                return refdata::delete_definition(ctx, req, e);
            }
            ("GET", "tags") => return refdata::list_tags(ctx, req, e),
            ("POST", "tags") => return refdata::create_tag(ctx, req, e),
            ("GET", "tags/{id}") => return refdata::show_tag(ctx, req, e),
            ("PUT", "tags/{id}") => return refdata::update_tag(ctx, req, e),
            ("DELETE", "tags/{id}") => return refdata::delete_tag(ctx, req, e),
            ("GET", "tags/{id}/definitions") => return refdata::tag_definitions(ctx, req, e),
            ("POST", "filters/results") => return filter::results(ctx, req, e),
            _ => {}
        }
    }
    match (m, t) {
        ("GET", "/parties") => parties::list(ctx, req),
        ("POST", "/parties") => parties::create(ctx, req),
        ("GET", "/parties/search") => parties::search(ctx, req),
        ("GET", "/parties/deleted") => parties::deleted(ctx, req),
        ("GET", "/parties/{id}") => parties::show(ctx, req),
        ("PUT", "/parties/{id}") => parties::update(ctx, req),
        ("DELETE", "/parties/{id}") => parties::delete(ctx, req),
        ("GET", "/parties/{id}/people") => parties::people(ctx, req),
        ("GET", "/parties/{id}/opportunities") => opportunities::of_party(ctx, req),
        ("GET", "/parties/{id}/kases") => kases::of_party(ctx, req),
        ("GET", "/parties/{id}/entries") => entries::of_record(ctx, req, Entity::Parties),

        ("GET", "/opportunities") => opportunities::list(ctx, req),
        ("POST", "/opportunities") => opportunities::create(ctx, req),
        ("GET", "/opportunities/search") => opportunities::search(ctx, req),
        ("GET", "/opportunities/deleted") => opportunities::deleted(ctx, req),
        ("GET", "/opportunities/{id}") => opportunities::show(ctx, req),
        ("PUT", "/opportunities/{id}") => opportunities::update(ctx, req),
        ("DELETE", "/opportunities/{id}") => opportunities::delete(ctx, req),
        ("GET", "/opportunities/{id}/entries") => {
            entries::of_record(ctx, req, Entity::Opportunities)
        }
        ("GET", "/opportunities/{id}/kases") => kases::of_opportunity(ctx, req),
        ("GET", "/opportunities/{id}/parties") => {
            parties::additional(ctx, req, Entity::Opportunities)
        }
        ("POST", "/opportunities/{id}/parties/{id}") => {
            parties::add_additional(ctx, req, Entity::Opportunities)
        }
        ("DELETE", "/opportunities/{id}/parties/{id}") => {
            parties::remove_additional(ctx, req, Entity::Opportunities)
        }

        ("GET", "/kases") => kases::list(ctx, req),
        ("POST", "/kases") => kases::create(ctx, req),
        ("GET", "/kases/search") => kases::search(ctx, req),
        ("GET", "/kases/deleted") => kases::deleted(ctx, req),
        ("GET", "/kases/{id}") => kases::show(ctx, req),
        ("PUT", "/kases/{id}") => kases::update(ctx, req),
        ("DELETE", "/kases/{id}") => kases::delete(ctx, req),
        ("GET", "/kases/{id}/entries") => entries::of_record(ctx, req, Entity::Kases),
        ("GET", "/kases/{id}/parties") => parties::additional(ctx, req, Entity::Kases),
        ("POST", "/kases/{id}/parties/{id}") => parties::add_additional(ctx, req, Entity::Kases),
        ("DELETE", "/kases/{id}/parties/{id}") => {
            parties::remove_additional(ctx, req, Entity::Kases)
        }

        ("GET", "/tasks") => tasks::list(ctx, req),
        ("POST", "/tasks") => tasks::create(ctx, req),
        ("GET", "/tasks/{id}") => tasks::show(ctx, req),
        ("PUT", "/tasks/{id}") => tasks::update(ctx, req),
        ("DELETE", "/tasks/{id}") => tasks::delete(ctx, req),

        ("GET", "/entries") => entries::list(ctx, req),
        ("POST", "/entries") => entries::create(ctx, req),
        ("GET", "/entries/{id}") => entries::show(ctx, req),
        ("PUT", "/entries/{id}") => entries::update(ctx, req),
        ("DELETE", "/entries/{id}") => entries::delete(ctx, req),
        ("POST", "/attachments/upload") => entries::upload(ctx, req),
        ("GET", "/attachments/{id}") => entries::download(ctx, req),

        ("GET", "/users") => refdata::users(ctx, req),
        ("GET", "/users/current") => refdata::current_user(ctx, req),
        ("GET", "/users/{id}") => refdata::user(ctx, req),
        ("PUT", "/users/{id}") => Err(ApiError::Forbidden("Requires additional scope".into())),
        ("GET", "/teams") => refdata::teams(ctx, req),
        ("GET", "/teams/{id}") => refdata::team(ctx, req),

        ("GET", "/pipelines") => refdata::list_pipelines(ctx, req),
        ("POST", "/pipelines") => refdata::create_pipeline(ctx, req),
        ("GET", "/pipelines/{id}") => refdata::show_pipeline(ctx, req),
        ("PUT", "/pipelines/{id}") => refdata::update_pipeline(ctx, req),
        ("DELETE", "/pipelines/{id}") => refdata::delete_pipeline(ctx, req),
        ("GET", "/pipelines/{id}/milestones") => refdata::pipeline_milestones(ctx, req),
        ("GET", "/milestones") => refdata::list_milestones(ctx, req),
        ("POST", "/milestones") => refdata::create_milestone(ctx, req),
        ("GET", "/milestones/{id}") => refdata::show_milestone(ctx, req),
        ("PUT", "/milestones/{id}") => refdata::update_milestone(ctx, req),
        ("DELETE", "/milestones/{id}") => refdata::delete_milestone(ctx, req),
        ("GET", "/lostreasons") => refdata::list_lost_reasons(ctx, req),
        ("POST", "/lostreasons") => refdata::create_lost_reason(ctx, req),
        ("GET", "/lostreasons/{id}") => refdata::show_lost_reason(ctx, req),
        ("PUT", "/lostreasons/{id}") => refdata::update_lost_reason(ctx, req),
        ("DELETE", "/lostreasons/{id}") => refdata::delete_lost_reason(ctx, req),
        ("GET", "/boards") => refdata::list_boards(ctx, req),
        ("POST", "/boards") => refdata::create_board(ctx, req),
        ("GET", "/boards/{id}") => refdata::show_board(ctx, req),
        ("PUT", "/boards/{id}") => refdata::update_board(ctx, req),
        ("DELETE", "/boards/{id}") => refdata::delete_board(ctx, req),
        ("GET", "/boards/{id}/stages") => refdata::board_stages(ctx, req),
        ("GET", "/stages") => refdata::list_stages(ctx, req),
        ("POST", "/stages") => refdata::create_stage(ctx, req),
        ("GET", "/stages/{id}") => refdata::show_stage(ctx, req),
        ("PUT", "/stages/{id}") => refdata::update_stage(ctx, req),
        ("DELETE", "/stages/{id}") => refdata::delete_stage(ctx, req),
        ("GET", "/categories") => refdata::list_categories(ctx, req),
        ("POST", "/categories") => refdata::create_category(ctx, req),
        ("GET", "/categories/{id}") => refdata::show_category(ctx, req),
        ("PUT", "/categories/{id}") => refdata::update_category(ctx, req),
        ("DELETE", "/categories/{id}") => refdata::delete_category(ctx, req),
        ("GET", "/activitytypes") => refdata::list_activity_types(ctx, req),
        ("POST", "/activitytypes") => refdata::create_activity_type(ctx, req),
        ("GET", "/activitytypes/{id}") => refdata::show_activity_type(ctx, req),
        ("PUT", "/activitytypes/{id}") => refdata::update_activity_type(ctx, req),
        ("DELETE", "/activitytypes/{id}") => refdata::delete_activity_type(ctx, req),
        ("GET", "/titles") => refdata::list_titles(ctx, req),
        ("POST", "/titles") => refdata::create_title(ctx, req),
        ("DELETE", "/titles/{id}") => refdata::delete_title(ctx, req),
        ("GET", "/countries") => refdata::countries(ctx, req),
        ("GET", "/currencies") => refdata::currencies(ctx, req),
        ("GET", "/site") => refdata::site(ctx, req),
        _ => Err(ApiError::MethodNotAllowed),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win() {
        assert_eq!(match_route("/parties/search").unwrap().0, "/parties/search");
        assert_eq!(match_route("/parties/12").unwrap().0, "/parties/{id}");
        assert_eq!(match_route("/parties/1,2,3").unwrap().1, vec!["1,2,3"]);
        assert_eq!(match_route("/parties/1%2C2").unwrap().1, vec!["1,2"]);
        assert_eq!(match_route("/users/current").unwrap().0, "/users/current");
        assert_eq!(
            match_route("/opportunities/3/parties/4").unwrap().0,
            "/opportunities/{id}/parties/{id}"
        );
        assert!(match_route("/nothing").is_none());
        assert!(match_route("/parties/1/nothing").is_none());
        assert_eq!(match_route("/tracks").unwrap().2.len(), 0);
    }

    #[test]
    fn every_template_has_a_handler_for_each_method() {
        // A template/method pair listed in ROUTES must not fall through to 405.
        let mut store = crate::sandbox::seed::seed();
        for (template, methods) in ROUTES {
            for m in *methods {
                let mut ctx = Ctx {
                    store: &mut store,
                    user: 61,
                    admin: true,
                    now: chrono::Utc::now(),
                };
                let req = Req {
                    method: m.parse().unwrap(),
                    template,
                    path: template.replace("{id}", "999999"),
                    params: vec!["999999".into(), "999999".into()],
                    query: vec![],
                    body: axum::body::Bytes::from_static(b"{}"),
                    headers: http::HeaderMap::new(),
                    api_base: "http://x/api/v2".into(),
                };
                let r = dispatch(&mut ctx, &req);
                assert!(
                    !matches!(r, Err(ApiError::MethodNotAllowed)),
                    "{m} {template} has no handler"
                );
            }
        }
    }
}
