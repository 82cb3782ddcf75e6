//! Lean records for list results: what an agent uses to choose a record (id, name, the primary
//! email and phone, links, owner, stage/status, amounts, dates, tags by name), nothing else.
//! The get tools return the whole record; `detail: "full"` asks a list for whole records.
//!
//! A summary is the same record type with fields left out; every left-out field is optional in
//! the record's schema, so a summary validates against the list tool's output schema.

use super::{
    Account, Contact, EmailAddress, Engagement, Note, Opportunity, PhoneNumber, Project, Tag, Task,
};

/// Characters of long text (a note's or engagement's content) a summary keeps.
pub const PREVIEW_CHARS: usize = 200;

/// The lean form of a record, for list results.
pub trait Summary {
    fn summary(self) -> Self;
}

/// Tags by name only.
fn tag_names(tags: Vec<Tag>) -> Vec<Tag> {
    tags.into_iter()
        .map(|t| Tag {
            id: None,
            name: t.name,
        })
        .collect()
}

/// The first email address, without its type.
fn primary_email(emails: Vec<EmailAddress>) -> Vec<EmailAddress> {
    emails
        .into_iter()
        .take(1)
        .map(|e| EmailAddress {
            email: e.email,
            kind: None,
        })
        .collect()
}

/// The first phone number, without its type.
fn primary_phone(phones: Vec<PhoneNumber>) -> Vec<PhoneNumber> {
    phones
        .into_iter()
        .take(1)
        .map(|p| PhoneNumber {
            number: p.number,
            kind: None,
        })
        .collect()
}

/// Long text cut to [`PREVIEW_CHARS`] characters (on a char boundary), `…` marking a cut.
pub fn preview(text: Option<String>) -> Option<String> {
    let text = text?;
    match text.char_indices().nth(PREVIEW_CHARS) {
        None => Some(text),
        Some((at, _)) => {
            let mut cut = text[..at].trim_end().to_owned();
            cut.push('…');
            Some(cut)
        }
    }
}

impl Summary for Contact {
    fn summary(self) -> Self {
        let name = super::person_name(self.first_name.as_deref(), self.last_name.as_deref())
            .unwrap_or_default();
        Contact {
            // `name` is first and last name together: one form, not two.
            name: self.name.or(Some(name)),
            first_name: None,
            last_name: None,
            salutation: None,
            description: None,
            team: None,
            email_addresses: primary_email(self.email_addresses),
            phone_numbers: primary_phone(self.phone_numbers),
            addresses: Vec::new(),
            urls: Vec::new(),
            tags: tag_names(self.tags),
            custom_fields: Default::default(),
            picture_url: None,
            created_at: None,
            // A page address per record costs more than it helps a choice: get has it.
            web_url: None,
            ..self
        }
    }
}

impl Summary for Account {
    fn summary(self) -> Self {
        Account {
            description: None,
            team: None,
            addresses: Vec::new(),
            phone_numbers: primary_phone(self.phone_numbers),
            email_addresses: primary_email(self.email_addresses),
            // `website` keeps the plain web address.
            urls: Vec::new(),
            tags: tag_names(self.tags),
            custom_fields: Default::default(),
            picture_url: None,
            created_at: None,
            // A page address per record costs more than it helps a choice: get has it.
            web_url: None,
            ..self
        }
    }
}

impl Summary for Opportunity {
    fn summary(self) -> Self {
        Opportunity {
            description: None,
            team: None,
            lost_reason: None,
            duration: None,
            duration_basis: None,
            tags: tag_names(self.tags),
            custom_fields: Default::default(),
            created_at: None,
            // A page address per record costs more than it helps a choice: get has it.
            web_url: None,
            ..self
        }
    }
}

impl Summary for Project {
    fn summary(self) -> Self {
        Project {
            description: None,
            team: None,
            tags: tag_names(self.tags),
            custom_fields: Default::default(),
            created_at: None,
            // A page address per record costs more than it helps a choice: get has it.
            web_url: None,
            ..self
        }
    }
}

impl Summary for Task {
    fn summary(self) -> Self {
        Task {
            content: None,
            completed_by: None,
            created_at: None,
            ..self
        }
    }
}

impl Summary for Note {
    fn summary(self) -> Self {
        Note {
            content: preview(self.content),
            created_at: None,
            updated_at: None,
            ..self
        }
    }
}

impl Summary for Engagement {
    fn summary(self) -> Self {
        Engagement {
            content: preview(self.content),
            // `engagement_type` names it.
            activity_type: None,
            // `start_time` says it; the recording is for the full record.
            occurred_at: None,
            recording_url: None,
            participants: Vec::new(),
            attachments: Vec::new(),
            created_at: None,
            updated_at: None,
            ..self
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn previews_cut_long_text_on_a_char_boundary() {
        assert_eq!(preview(None), None);
        assert_eq!(preview(Some("short".into())).as_deref(), Some("short"));
        let long = "é".repeat(PREVIEW_CHARS + 5);
        let p = preview(Some(long)).unwrap();
        assert_eq!(p.chars().count(), PREVIEW_CHARS + 1);
        assert!(p.ends_with('…'));
        let exact = "a".repeat(PREVIEW_CHARS);
        assert_eq!(preview(Some(exact.clone())), Some(exact));
    }

    #[test]
    fn a_contact_summary_keeps_what_picks_a_contact() {
        let c: Contact = serde_json::from_value(serde_json::json!({
            "id": "1", "first_name": "Ted", "last_name": "Danson", "name": "Ted Danson",
            "title": "CEO", "description": "long background",
            "account": {"id": "100", "name": "Acme"}, "owner": {"id": "6", "name": "Scott"},
            "email_addresses": [{"id": "9", "email": "a@x.example", "type": "Work"},
                                {"id": "10", "email": "b@x.example"}],
            "phone_numbers": [{"id": "11", "number": "+44 1", "type": "Mobile"}],
            "addresses": [{"id": "12", "city": "Prague"}],
            "urls": [{"id": "13", "url": "https://x.example"}],
            "tags": [{"id": "1", "name": "Customer"}],
            "custom_fields": {"Background": "text"},
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z"
        }))
        .unwrap();
        let s = serde_json::to_value(c.summary()).unwrap();
        assert_eq!(
            s,
            serde_json::json!({
                "id": "1", "name": "Ted Danson", "title": "CEO",
                "account": {"id": "100", "name": "Acme"}, "owner": {"id": "6", "name": "Scott"},
                "email_addresses": [{"email": "a@x.example"}],
                "phone_numbers": [{"number": "+44 1"}],
                "tags": [{"name": "Customer"}],
                "updated_at": "2026-01-02T00:00:00Z"
            })
        );
    }
}
