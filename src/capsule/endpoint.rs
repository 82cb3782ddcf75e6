//! Descriptions of Capsule collections: where they live and how their bodies are wrapped.
//! One generic client serves every entity through these.

/// A Capsule collection: its path under the API root and its envelope keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Path under the API root, e.g. `/parties`.
    pub path: &'static str,
    /// Key wrapping one record, e.g. `party`.
    pub single: &'static str,
    /// Key wrapping a list, e.g. `parties`.
    pub plural: &'static str,
    /// Singular noun for messages, e.g. `party`.
    pub noun: &'static str,
}

const fn ep(
    path: &'static str,
    single: &'static str,
    plural: &'static str,
    noun: &'static str,
) -> Endpoint {
    Endpoint {
        path,
        single,
        plural,
        noun,
    }
}

pub const PARTIES: Endpoint = ep("/parties", "party", "parties", "party");
pub const OPPORTUNITIES: Endpoint = ep(
    "/opportunities",
    "opportunity",
    "opportunities",
    "opportunity",
);
pub const KASES: Endpoint = ep("/kases", "kase", "kases", "project");
pub const TASKS: Endpoint = ep("/tasks", "task", "tasks", "task");
pub const ENTRIES: Endpoint = ep("/entries", "entry", "entries", "entry");
pub const USERS: Endpoint = ep("/users", "user", "users", "user");
pub const TEAMS: Endpoint = ep("/teams", "team", "teams", "team");
pub const PIPELINES: Endpoint = ep("/pipelines", "pipeline", "pipelines", "pipeline");
pub const MILESTONES: Endpoint = ep("/milestones", "milestone", "milestones", "milestone");
pub const LOST_REASONS: Endpoint = ep("/lostreasons", "lostReason", "lostReasons", "lost reason");
pub const BOARDS: Endpoint = ep("/boards", "board", "boards", "board");
pub const STAGES: Endpoint = ep("/stages", "stage", "stages", "stage");
pub const ACTIVITY_TYPES: Endpoint = ep(
    "/activitytypes",
    "activityType",
    "activityTypes",
    "activity type",
);
pub const CATEGORIES: Endpoint = ep("/categories", "category", "categories", "task category");
pub const PARTY_FIELDS: Endpoint = ep(
    "/parties/fields/definitions",
    "definition",
    "definitions",
    "custom field",
);
pub const OPPORTUNITY_FIELDS: Endpoint = ep(
    "/opportunities/fields/definitions",
    "definition",
    "definitions",
    "custom field",
);
pub const KASE_FIELDS: Endpoint = ep(
    "/kases/fields/definitions",
    "definition",
    "definitions",
    "custom field",
);
pub const PARTY_TAGS: Endpoint = ep("/parties/tags", "tag", "tags", "tag");
pub const OPPORTUNITY_TAGS: Endpoint = ep("/opportunities/tags", "tag", "tags", "tag");
pub const KASE_TAGS: Endpoint = ep("/kases/tags", "tag", "tags", "tag");

/// The record collections a write can target, for naming what a write was about.
const RECORDS: &[Endpoint] = &[
    PARTIES,
    OPPORTUNITIES,
    KASES,
    TASKS,
    ENTRIES,
    USERS,
    TEAMS,
    PIPELINES,
    MILESTONES,
    LOST_REASONS,
    BOARDS,
    STAGES,
    ACTIVITY_TYPES,
    CATEGORIES,
    PARTY_FIELDS,
    OPPORTUNITY_FIELDS,
    KASE_FIELDS,
    PARTY_TAGS,
    OPPORTUNITY_TAGS,
    KASE_TAGS,
];

/// What a request to `path` (under the API root, without a query) is about, for messages:
/// `task 701` for `/tasks/701`, `a new party` for `/parties`, else the path itself.
pub fn describe(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    for ep in RECORDS {
        if path == ep.path {
            return format!("a new {}", ep.noun);
        }
        if let Some(id) = path
            .strip_prefix(ep.path)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
        {
            return format!("{} {id}", ep.noun);
        }
    }
    format!("`{path}`")
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn names_the_record_a_path_is_about() {
        assert_eq!(describe("/tasks/701"), "task 701");
        assert_eq!(describe("/kases/5?embed=tags"), "project 5");
        assert_eq!(describe("/parties"), "a new party");
        assert_eq!(
            describe("/parties/fields/definitions"),
            "a new custom field"
        );
        assert_eq!(describe("/parties/1/entries"), "`/parties/1/entries`");
        assert_eq!(describe("/tracks"), "`/tracks`");
    }
}
