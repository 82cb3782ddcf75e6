//! Opportunity pipelines + milestones and project boards + stages ⇄ unified pipelines and
//! stages. Capsule gives a milestone's position only by its place in the pipeline's list, and
//! an opportunity's nested milestone carries no pipeline: [`MilestoneIndex`] answers both.

use std::collections::HashMap;

use serde_json::Value;

use super::{decode_err, ref_of};
use crate::capsule::{
    CapsuleError,
    wire::{self, Board, Milestone, Pipeline as WirePipeline, Stage as WireStage},
};
use crate::unified::{Pipeline, Ref, Stage, pipeline::PipelineStage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Opportunity,
    Project,
}

impl Entity {
    pub fn name(self) -> &'static str {
        match self {
            Entity::Opportunity => "opportunity",
            Entity::Project => "project",
        }
    }

    pub fn parse(s: &str) -> Result<Entity, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "opportunity" => Ok(Entity::Opportunity),
            "project" => Ok(Entity::Project),
            _ => Err(format!(
                "`entity_type` must be `opportunity` or `project`; got \"{s}\""
            )),
        }
    }
}

/// One pipeline (or board) as Capsule sent it, with its milestones (or stages) in list order.
#[derive(Debug, Clone)]
pub struct Set {
    pub entity: Entity,
    pub raw: Value,
    pub stages: Vec<Value>,
}

/// `open`, `won` or `lost` of a milestone: complete ones are won unless their probability is 0.
pub fn milestone_status(m: &Milestone) -> &'static str {
    match (m.complete, m.probability) {
        (Some(true), Some(0)) => "lost",
        (Some(true), _) => "won",
        _ => "open",
    }
}

/// A pipeline's (or board's) reference, description, created and updated timestamps.
type Head = (Ref, Option<String>, Option<String>, Option<String>);

fn head(set: &Set) -> Result<Head, CapsuleError> {
    let (id, name, description, created, updated) = match set.entity {
        Entity::Opportunity => {
            let p: WirePipeline = wire::decode(&set.raw).map_err(decode_err)?;
            (p.id, p.name, p.description, p.created_at, p.updated_at)
        }
        Entity::Project => {
            let b: Board = wire::decode(&set.raw).map_err(decode_err)?;
            (b.id, b.name, b.description, b.created_at, b.updated_at)
        }
    };
    Ok((
        Ref {
            id: id.map(|i| i.to_string()).unwrap_or_default(),
            name,
        },
        description,
        created,
        updated,
    ))
}

/// The stages of a set, in order.
pub fn to_stages(set: &Set, include_raw: bool) -> Result<Vec<Stage>, CapsuleError> {
    let (pipeline, _, _, _) = head(set)?;
    let mut out = Vec::new();
    for (i, raw) in set.stages.iter().enumerate() {
        let stage = match set.entity {
            Entity::Opportunity => {
                let m: Milestone = wire::decode(raw).map_err(decode_err)?;
                let status = milestone_status(&m).to_owned();
                Stage {
                    id: m.id.map(|i| i.to_string()).unwrap_or_default(),
                    name: m.name.unwrap_or_default(),
                    description: m.description,
                    position: i as i64 + 1,
                    probability: m.probability,
                    status: Some(status),
                    days_until_stale: m.days_until_stale,
                    pipeline: pipeline.clone(),
                    entity: set.entity.name().to_owned(),
                    created_at: m.created_at,
                    updated_at: m.updated_at,
                    remote_data: include_raw.then(|| raw.clone()),
                }
            }
            Entity::Project => {
                let s: WireStage = wire::decode(raw).map_err(decode_err)?;
                Stage {
                    id: s.id.map(|i| i.to_string()).unwrap_or_default(),
                    name: s.name.unwrap_or_default(),
                    description: s.description,
                    position: s.display_order.unwrap_or(i as i64 + 1),
                    probability: None,
                    status: None,
                    days_until_stale: None,
                    pipeline: ref_of(&s.board).unwrap_or_else(|| pipeline.clone()),
                    entity: set.entity.name().to_owned(),
                    created_at: s.created_at,
                    updated_at: s.updated_at,
                    remote_data: include_raw.then(|| raw.clone()),
                }
            }
        };
        out.push(stage);
    }
    Ok(out)
}

pub fn to_pipeline(set: &Set, include_raw: bool) -> Result<Pipeline, CapsuleError> {
    let (r, description, created_at, updated_at) = head(set)?;
    let stages = to_stages(set, false)?
        .into_iter()
        .map(|s| PipelineStage {
            id: s.id,
            name: s.name,
            position: s.position,
            probability: s.probability,
            status: s.status,
        })
        .collect();
    Ok(Pipeline {
        id: r.id,
        name: r.name.unwrap_or_default(),
        description,
        entity: set.entity.name().to_owned(),
        stages,
        created_at,
        updated_at,
        remote_data: include_raw.then(|| set.raw.clone()),
    })
}

/// What an opportunity needs to know about a milestone.
#[derive(Debug, Clone)]
pub struct MilestoneInfo {
    pub name: Option<String>,
    pub pipeline: Ref,
    pub status: &'static str,
}

/// Every milestone of every opportunity pipeline, by id.
#[derive(Debug, Clone, Default)]
pub struct MilestoneIndex(HashMap<i64, MilestoneInfo>);

impl MilestoneIndex {
    pub fn build(sets: &[Set]) -> Result<Self, CapsuleError> {
        let mut map = HashMap::new();
        for set in sets.iter().filter(|s| s.entity == Entity::Opportunity) {
            let (pipeline, _, _, _) = head(set)?;
            for raw in &set.stages {
                let m: Milestone = wire::decode(raw).map_err(decode_err)?;
                let Some(id) = m.id else { continue };
                map.insert(
                    id,
                    MilestoneInfo {
                        name: m.name.clone(),
                        pipeline: ref_of(&m.pipeline)
                            .filter(|p| p.name.is_some())
                            .unwrap_or_else(|| pipeline.clone()),
                        status: milestone_status(&m),
                    },
                );
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, milestone: i64) -> Option<&MilestoneInfo> {
        self.0.get(&milestone)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::capsule::map::fixture;

    fn smb() -> Set {
        let mut stages = fixture("milestones_pipeline_list.json")["milestones"]
            .as_array()
            .unwrap()
            .clone();
        stages.push(json!({"id": 3, "name": "Won", "complete": true, "probability": 100}));
        stages.push(json!({"id": 4, "name": "Lost", "complete": true, "probability": 0}));
        Set {
            entity: Entity::Opportunity,
            raw: fixture("pipelines_list.json")["pipelines"][0].clone(),
            stages,
        }
    }

    #[test]
    fn maps_the_recorded_pipeline_and_milestones() {
        let p = to_pipeline(&smb(), false).unwrap();
        assert_eq!(p.id, "10");
        assert_eq!(p.name, "SMB clients");
        assert_eq!(p.entity, "opportunity");
        assert_eq!(p.stages.len(), 4);
        assert_eq!(p.stages[0].name, "Prospect");
        assert_eq!(p.stages[0].position, 1);
        assert_eq!(p.stages[0].probability, Some(5));
        assert_eq!(p.stages[0].status.as_deref(), Some("open"));
        assert_eq!(p.stages[2].status.as_deref(), Some("won"));
        assert_eq!(p.stages[3].status.as_deref(), Some("lost"));

        let stages = to_stages(&smb(), true).unwrap();
        assert_eq!(stages[0].days_until_stale, Some(10));
        assert_eq!(stages[0].pipeline.name.as_deref(), Some("SMB clients"));
        assert_eq!(stages[1].position, 2);
        assert!(stages[0].remote_data.is_some());
    }

    #[test]
    fn maps_the_recorded_board_and_stages() {
        let set = Set {
            entity: Entity::Project,
            raw: fixture("boards_list.json")["boards"][0].clone(),
            stages: fixture("stages_list.json")["stages"]
                .as_array()
                .unwrap()
                .clone(),
        };
        let p = to_pipeline(&set, false).unwrap();
        assert_eq!(p.entity, "project");
        assert_eq!(p.name, "Onboarding");
        assert_eq!(p.stages[0].name, "Planning");
        assert_eq!(p.stages[0].position, 1);
        assert!(p.stages[0].probability.is_none() && p.stages[0].status.is_none());
        let s = to_stages(&set, false).unwrap();
        assert_eq!(s[0].pipeline.id, "7");
        assert_eq!(s[0].entity, "project");
    }

    #[test]
    fn index_fills_the_pipeline_of_a_bare_milestone() {
        let idx = MilestoneIndex::build(&[smb()]).unwrap();
        let won = idx.get(3).unwrap();
        assert_eq!(won.pipeline.id, "10");
        assert_eq!(won.pipeline.name.as_deref(), Some("SMB clients"));
        assert_eq!(won.status, "won");
        assert_eq!(idx.get(1).unwrap().status, "open");
        assert!(idx.get(99).is_none());
        assert!(Entity::parse("Project").is_ok() && Entity::parse("task").is_err());
    }
}
