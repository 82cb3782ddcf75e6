//! Prompts for the common CRM jobs. Each names the tools to use and embeds the records it needs
//! as embedded resources (read like `resources/read`, so the same shape as the get tools). A
//! prompt is offered only when every tool it names is served.

use std::sync::Arc;

use rmcp::{
    ErrorData as McpError,
    model::{GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, Role},
};
use serde_json::{Value, json};

use crate::{app::App, resources, server::Registry};

/// What a prompt argument completes from (see `completions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Complete {
    /// A record of this `resources::TEMPLATES` collection, by a prefix of its name.
    Record(&'static str),
    ProjectBoards,
    ProjectStages,
    Users,
    PartyTags,
    LostReasons,
    Fixed(&'static [&'static str]),
    Nothing,
}

pub struct Arg {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
    pub complete: Complete,
}

pub struct Def {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub args: &'static [Arg],
    /// Every tool the messages name.
    pub tools: &'static [&'static str],
}

const fn arg(name: &'static str, description: &'static str, complete: Complete) -> Arg {
    Arg {
        name,
        description,
        required: true,
        complete,
    }
}

const fn opt(name: &'static str, description: &'static str, complete: Complete) -> Arg {
    Arg {
        name,
        description,
        required: false,
        complete,
    }
}

pub const PROMPTS: &[Def] = &[
    Def {
        name: "log_call",
        title: "Log a call",
        description: "Log a call with a contact on their timeline, with a follow-up task if one is needed.",
        args: &[
            arg(
                "contact",
                "The contact: an id, or a completion value such as \"Ada Lovelace (#11587)\"",
                Complete::Record("contacts"),
            ),
            arg("summary", "What happened on the call", Complete::Nothing),
        ],
        tools: &[
            "crm_create_engagement",
            "crm_list_engagement_types",
            "crm_create_task",
        ],
    },
    Def {
        name: "prepare_meeting",
        title: "Prepare a meeting",
        description: "Brief me before a meeting with an account: its people, open deals, recent activity and open tasks.",
        args: &[arg(
            "account",
            "The account: an id, or a completion value such as \"Acme Ltd (#11587)\"",
            Complete::Record("accounts"),
        )],
        tools: &[
            "crm_list_contacts",
            "crm_list_opportunities",
            "crm_list_engagements",
            "crm_list_tasks",
        ],
    },
    Def {
        name: "close_deal",
        title: "Close a deal",
        description: "Close an opportunity as won or lost, recording why.",
        args: &[
            arg(
                "opportunity",
                "The opportunity: an id, or a completion value such as \"Big deal (#42)\"",
                Complete::Record("opportunities"),
            ),
            arg("outcome", "won or lost", Complete::Fixed(&["won", "lost"])),
            opt(
                "reason",
                "Why it was won or lost (for lost deals, ideally one of Capsule's lost reasons)",
                Complete::LostReasons,
            ),
        ],
        tools: &[
            "crm_list_stages",
            "crm_update_opportunity",
            "crm_create_note",
        ],
    },
    Def {
        name: "onboard_won_deal",
        title: "Onboard a won deal",
        description: "Turn a won opportunity into a delivery project with its first tasks.",
        args: &[
            arg(
                "opportunity",
                "The won opportunity: an id, or a completion value such as \"Big deal (#42)\"",
                Complete::Record("opportunities"),
            ),
            opt(
                "board",
                "The project board to use (name)",
                Complete::ProjectBoards,
            ),
            opt(
                "stage",
                "The project stage to start in (name)",
                Complete::ProjectStages,
            ),
            opt("owner", "Who owns the project (user name)", Complete::Users),
        ],
        tools: &[
            "crm_list_pipelines",
            "crm_list_users",
            "crm_create_project",
            "crm_create_task",
        ],
    },
    Def {
        name: "enrich_ticket",
        title: "Enrich a support ticket",
        description: "Find who is behind an email address in the CRM (contact, account, open deals) for a support ticket.",
        args: &[
            arg(
                "email",
                "The email address on the ticket",
                Complete::Nothing,
            ),
            opt(
                "tag",
                "A tag to add to the contact (name)",
                Complete::PartyTags,
            ),
        ],
        tools: &[
            "crm_list_contacts",
            "crm_list_opportunities",
            "crm_list_engagements",
            "crm_update_contact",
            "crm_create_contact",
        ],
    },
];

/// The prompts this server offers.
pub fn served(reg: &Registry) -> impl Iterator<Item = &'static Def> + '_ {
    PROMPTS
        .iter()
        .filter(|p| p.tools.iter().all(|t| reg.get(t).is_some()) && needs_served(p, reg))
}

/// The record collections a prompt embeds must be served too.
fn needs_served(p: &Def, reg: &Registry) -> bool {
    p.args.iter().all(|a| match a.complete {
        Complete::Record(c) => resources::template(reg, c).is_some(),
        _ => true,
    })
}

pub fn find(reg: &Registry, name: &str) -> Option<&'static Def> {
    served(reg).find(|p| p.name == name)
}

pub fn list(reg: &Registry) -> Vec<Prompt> {
    served(reg)
        .map(|p| {
            let args = p
                .args
                .iter()
                .map(|a| {
                    PromptArgument::new(a.name)
                        .with_description(a.description)
                        .with_required(a.required)
                })
                .collect();
            Prompt::new(p.name, Some(p.description), Some(args)).with_title(p.title)
        })
        .collect()
}

/// The record id in a prompt argument: an id, or a completion value ending in `(#id)`.
pub fn id_of(value: &str) -> &str {
    let v = value.trim();
    if let Some(start) = v.rfind("(#")
        && let Some(id) = v[start + 2..].strip_suffix(')')
    {
        return id.trim();
    }
    v
}

fn invalid(message: String) -> McpError {
    McpError::invalid_params(message, None)
}

struct Args<'a>(&'a JsonObject);

impl Args<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match self.0.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// An embedded record and its display name.
struct Embedded {
    uri: String,
    value: Value,
}

impl Embedded {
    fn name(&self) -> String {
        crate::unified::title_of(&self.value).unwrap_or_else(|| "(no name)".to_owned())
    }

    fn id(&self) -> String {
        self.value
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    fn message(&self) -> PromptMessage {
        PromptMessage::new_resource(
            Role::User,
            self.uri.clone(),
            Some(resources::MIME.to_owned()),
            Some(self.value.to_string()),
            None,
            None,
            None,
        )
    }
}

async fn embed(
    app: &Arc<App>,
    reg: &Registry,
    collection: &str,
    id: &str,
) -> Result<Embedded, McpError> {
    let uri = format!("{}{collection}/{id}", resources::SCHEME);
    let value = resources::read(app.clone(), reg, &uri).await?;
    Ok(Embedded { uri, value })
}

/// The messages of one prompt.
pub async fn get(
    app: Arc<App>,
    reg: &Registry,
    name: &str,
    arguments: Option<JsonObject>,
) -> Result<GetPromptResult, McpError> {
    let Some(def) = find(reg, name) else {
        let known: Vec<&str> = served(reg).map(|p| p.name).collect();
        return Err(invalid(format!(
            "unknown prompt `{name}`; prompts: {}",
            known.join(", ")
        )));
    };
    let arguments = arguments.unwrap_or_default();
    let args = Args(&arguments);
    for a in def.args.iter().filter(|a| a.required) {
        if args.get(a.name).is_none() {
            return Err(invalid(format!(
                "prompt `{name}` needs argument `{}`: {}",
                a.name, a.description
            )));
        }
    }
    let req = |n: &str| args.get(n).unwrap_or_default();
    let (text, embedded) = match def.name {
        "log_call" => {
            let c = embed(&app, reg, "contacts", id_of(&req("contact"))).await?;
            let text = format!(
                "Log a call with {} (contact id \"{}\", attached) on their timeline.\n\
                 1. Call crm_create_engagement with contact_id \"{}\", engagement_type \"Call\" \
                 (other types: crm_list_engagement_types) and content: a short, factual summary of \
                 what happened: {}\n\
                 2. If the call agreed a next step, create it with crm_create_task (subject, \
                 due_date YYYY-MM-DD, contact_id \"{}\").\n\
                 Say what you logged.",
                c.name(),
                c.id(),
                c.id(),
                req("summary"),
                c.id()
            );
            (text, vec![c])
        }
        "prepare_meeting" => {
            let a = embed(&app, reg, "accounts", id_of(&req("account"))).await?;
            let text = format!(
                "Prepare me for a meeting with {} (account id \"{}\", attached). Gather, with \
                 account_id \"{}\": its people (crm_list_contacts), its open deals \
                 (crm_list_opportunities, status open), the last activity \
                 (crm_list_engagements, limit 10) and open tasks (crm_list_tasks). Then write a \
                 one-page brief: who is who, where each deal stands, what happened lately, what \
                 is overdue, and three questions to ask.",
                a.name(),
                a.id(),
                a.id()
            );
            (text, vec![a])
        }
        "close_deal" => {
            let o = embed(&app, reg, "opportunities", id_of(&req("opportunity"))).await?;
            let outcome = req("outcome").to_ascii_lowercase();
            if outcome != "won" && outcome != "lost" {
                return Err(invalid(format!(
                    "`outcome` must be won or lost; got `{outcome}`"
                )));
            }
            let reason = args
                .get("reason")
                .map(|r| format!(" The reason: {r}."))
                .unwrap_or_else(|| " Ask me for the reason if I have not given one.".to_owned());
            let lost = if outcome == "lost" {
                " For a lost deal, lost_reason_id takes one of Capsule's lost reasons if one fits."
            } else {
                ""
            };
            let text = format!(
                "Close the opportunity {} (id \"{}\", attached) as {outcome}.{reason}\n\
                 1. Find the {outcome} stage of its pipeline with crm_list_stages (pipeline_id of \
                 the attached record's pipeline; status {outcome}).\n\
                 2. Call crm_update_opportunity with id \"{}\" and that stage_id.{lost}\n\
                 3. Record why with crm_create_note (opportunity_id \"{}\").\n\
                 Say what changed.",
                o.name(),
                o.id(),
                o.id(),
                o.id()
            );
            (text, vec![o])
        }
        "onboard_won_deal" => {
            let o = embed(&app, reg, "opportunities", id_of(&req("opportunity"))).await?;
            let pick = |what: &str, v: Option<String>, how: &str| match v {
                Some(v) => format!("{what} \"{v}\" (its id from {how})"),
                None => format!("the right {what} from {how} (ask me if unsure)"),
            };
            let text = format!(
                "Onboard the won deal {} (opportunity id \"{}\", attached).\n\
                 1. Create the delivery project with crm_create_project: a name from the deal, \
                 opportunity_id \"{}\", the deal's account_id or contact_id, the stage_id of {} \
                 on {}, owner_id of {}.\n\
                 2. Create the first tasks with crm_create_task linked by project_id: a kickoff \
                 call within 3 days, a welcome email today, and anything the deal's description \
                 promises.\n\
                 If the deal is not won yet, stop and say so.",
                o.name(),
                o.id(),
                o.id(),
                pick("stage", args.get("stage"), "crm_list_pipelines"),
                pick(
                    "project board",
                    args.get("board"),
                    "crm_list_pipelines with entity_type project"
                ),
                pick("owner", args.get("owner"), "crm_list_users"),
            );
            (text, vec![o])
        }
        "enrich_ticket" => {
            let email = req("email");
            let found = contacts_by_email(&app, reg, &email).await?;
            let mut embedded = Vec::new();
            for id in found.iter().take(3) {
                embedded.push(embed(&app, reg, "contacts", id).await?);
            }
            let who = if embedded.is_empty() {
                format!(
                    "No contact has {email}. Say so, and offer to create one with \
                     crm_create_contact (I confirm first)."
                )
            } else {
                let names: Vec<String> = embedded
                    .iter()
                    .map(|e| format!("{} (contact id \"{}\")", e.name(), e.id()))
                    .collect();
                format!(
                    "Contacts with {email} (attached): {}. For the best match, get its \
                     account's open deals (crm_list_opportunities with account_id) and its last \
                     activity (crm_list_engagements with contact_id, limit 5).",
                    names.join(", ")
                )
            };
            let tag = args
                .get("tag")
                .map(|t| format!(" Then tag the contact \"{t}\" with crm_update_contact (tags)."))
                .unwrap_or_default();
            let text = format!(
                "A support ticket came from {email}. {who}{tag} Summarise for the support agent: \
                 who this is, their company, what they bought or are buying, and anything open."
            );
            (text, embedded)
        }
        _ => return Err(invalid(format!("unknown prompt `{name}`"))),
    };
    let mut messages = vec![PromptMessage::new_text(Role::User, text)];
    messages.extend(embedded.iter().map(Embedded::message));
    Ok(GetPromptResult::new(messages).with_description(def.description))
}

/// Ids of the contacts an email address finds (one search through crm_list_contacts).
async fn contacts_by_email(
    app: &Arc<App>,
    reg: &Registry,
    email: &str,
) -> Result<Vec<String>, McpError> {
    let Some(spec) = reg.get("crm_list_contacts") else {
        return Ok(Vec::new());
    };
    let args = json!({"search": email, "limit": 10});
    let list = spec
        .call(app.clone(), args.as_object().cloned(), Default::default())
        .await
        .map_err(|e| McpError::internal_error(e.0.message.clone(), Some(e.to_value())))?;
    let wanted = email.to_ascii_lowercase();
    Ok(list
        .get("result")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| {
            c.get("email_addresses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|e| {
                    e.get("email")
                        .and_then(Value::as_str)
                        .is_some_and(|a| a.eq_ignore_ascii_case(&wanted))
                })
        })
        .filter_map(|c| c.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::server::Selection;

    #[test]
    fn ids_from_completion_values() {
        assert_eq!(id_of("Ada Lovelace (#11587)"), "11587");
        assert_eq!(id_of(" 42 "), "42");
        assert_eq!(id_of("Smith (Jr) (#7)"), "7");
    }

    #[test]
    fn prompts_name_only_served_tools_and_follow_the_selection() {
        let reg = Registry::build(&Selection::default()).unwrap();
        assert_eq!(list(&reg).len(), PROMPTS.len());
        let ro = Registry::build(&Selection {
            read_only: true,
            ..Default::default()
        })
        .unwrap();
        let names: Vec<String> = list(&ro).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["prepare_meeting"]);
    }
}
