//! Failures the model can act on, as `isError` tool results with the unified error shape.

use serde_json::{Value, json};

use crate::capsule::CapsuleError;
use crate::capsule::error::{RateInfo, RateReason, Unsure};
use crate::capsule::retry::Op;
use crate::unified::{ErrorBody, ErrorInfo};

#[derive(Debug, Clone)]
pub struct ToolError(pub ErrorInfo);

impl ToolError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self(ErrorInfo {
            status,
            code: code.to_owned(),
            message: message.into(),
            details: Vec::new(),
            retry_after_seconds: None,
        })
    }

    /// Bad arguments, caught before any request goes to Capsule.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_argument", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }

    pub fn with_details(mut self, details: Vec<Value>) -> Self {
        self.0.details = details;
        self
    }

    /// Replaces the message of a 404 with one that says what to do next.
    pub fn on_not_found(mut self, message: impl Into<String>) -> Self {
        if self.0.status == 404 {
            let capsule = std::mem::replace(&mut self.0.message, message.into());
            self.0.details.push(json!({ "capsule_message": capsule }));
        }
        self
    }

    /// A 404 on a write: on a create only a linked record can be missing (a bad argument); on
    /// an update, the record itself or a linked one.
    pub fn on_write_not_found(mut self, record_missing: Option<String>) -> Self {
        if self.0.status != 404 {
            return self;
        }
        let capsule = std::mem::take(&mut self.0.message);
        self.0.details.push(json!({ "capsule_message": capsule }));
        match record_missing {
            Some(message) => {
                self.0.message = format!(
                    "{message}; or a record it links to does not exist: check the *_id arguments"
                );
            }
            None => {
                self.0.status = 400;
                self.0.code = "invalid_argument".into();
                self.0.message = "a record this create links to does not exist: check the *_id \
                                  arguments (ids come from the list tools)"
                    .into();
            }
        }
        self
    }

    pub fn status(&self) -> u16 {
        self.0.status
    }

    pub fn code(&self) -> &str {
        &self.0.code
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(ErrorBody {
            error: self.0.clone(),
        })
        .unwrap_or_else(|_| json!({ "error": { "message": self.0.message } }))
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.0.code, self.0.status, self.0.message)
    }
}

/// What to do about a write whose outcome is unknown, by kind of write.
fn unknown_write(failure: &str, w: &Unsure) -> String {
    let what = &w.what;
    match w.op {
        Op::Create => format!(
            "{failure} while creating {what}; it may or may not have been stored. Search for it \
             (a list tool with `search`) before trying again, or a duplicate may be made."
        ),
        Op::Update => format!(
            "{failure} while updating {what}; the change may or may not have been applied. \
             Read it back with its get tool (crm_get_*) to see what Capsule holds before \
             trying again: a repeated update can add nested rows (emails, phones, tags) twice."
        ),
        Op::Delete => format!(
            "{failure} while deleting {what}; it may or may not be deleted. Read it back with \
             its get tool (crm_get_*): a 404 (not_found) means it is gone; if it is still \
             there, delete it again."
        ),
        // Reads are retried, never reported unknown; kept total for safety.
        Op::Read => format!("{failure} while reading {what}; try again."),
    }
}

fn seconds(n: u64) -> String {
    if n == 1 {
        "1 s".to_owned()
    } else {
        format!("{n} s")
    }
}

/// The truth about the rate limit: the limit Capsule stated, what remains, when it resets.
fn rate_limited(retry_after_secs: u64, reason: RateReason, info: RateInfo) -> String {
    let limit = match info.limit {
        Some(l) => format!("Capsule's rate limit of {l} requests an hour"),
        None => "Capsule's rate limit".to_owned(),
    };
    let reset = info
        .reset_in_secs
        .map(|r| format!(" until the window resets in {}", seconds(r)))
        .unwrap_or_default();
    match reason {
        RateReason::Exhausted => format!(
            "{limit} is used up{reset}; retry in {}. Prefer fewer, larger calls.",
            seconds(retry_after_secs)
        ),
        RateReason::Paced => {
            let left = match (info.remaining, info.limit) {
                (Some(r), Some(l)) => format!("{r} of {l} requests remain"),
                (Some(r), None) => format!("{r} requests remain"),
                _ => "few requests remain".to_owned(),
            };
            let reset = info
                .reset_in_secs
                .map(|r| format!(" until the window resets in {}", seconds(r)))
                .unwrap_or_default();
            format!(
                "Capsule's rate limit is running low: {left}{reset}, so requests are spread \
                 evenly over that time and the next may go in {}. Retry then; prefer fewer, \
                 larger calls (fetch_all, higher limits).",
                seconds(retry_after_secs)
            )
        }
    }
}

impl From<CapsuleError> for ToolError {
    fn from(e: CapsuleError) -> Self {
        match e {
            CapsuleError::Api {
                status,
                message,
                errors,
                outcome_unknown,
                retry_after_secs,
            } => {
                let mut details: Vec<Value> = errors
                    .iter()
                    .filter_map(|fe| serde_json::to_value(fe).ok())
                    .collect();
                if let Some(w) = outcome_unknown {
                    let mut t = ToolError::new(
                        status,
                        "outcome_unknown",
                        unknown_write(&format!("Capsule failed with {status} ({message})"), &w),
                    );
                    t.0.details.push(json!({ "capsule_message": message }));
                    return t;
                }
                let (code, text) = match status {
                    400 => (
                        "bad_request",
                        format!("Capsule refused the request: {message}"),
                    ),
                    401 => (
                        "unauthorized",
                        format!(
                            "Capsule refused the credential ({message}). The operator must fix \
                             CAPSULE_ACCESS_TOKEN or run `capsule-mcp auth login`."
                        ),
                    ),
                    403 => (
                        "forbidden",
                        format!(
                            "Capsule does not allow this for the connected user ({message}); \
                             it may need an administrator or a token with write scope."
                        ),
                    ),
                    404 => ("not_found", format!("Capsule found nothing: {message}")),
                    405 => (
                        "method_not_allowed",
                        format!("Capsule does not support this method on this path: {message}"),
                    ),
                    422 => {
                        let fields: Vec<String> =
                            errors.iter().map(|fe| fe.message.clone()).collect();
                        (
                            "validation_failed",
                            if fields.is_empty() {
                                format!("Capsule rejected the request: {message}")
                            } else {
                                format!(
                                    "Capsule rejected the request: {}. Fix these and try again.",
                                    fields.join("; ")
                                )
                            },
                        )
                    }
                    500..=599 => (
                        "upstream_error",
                        match retry_after_secs {
                            Some(n) => format!(
                                "Capsule failed ({status}: {message}) and asks to retry in {}; \
                                 that is longer than this call may wait, so retry then.",
                                seconds(n)
                            ),
                            None => {
                                format!("Capsule failed ({status}: {message}); try again later.")
                            }
                        },
                    ),
                    _ => (
                        "upstream_error",
                        format!("Capsule answered {status}: {message}"),
                    ),
                };
                if details.is_empty() && status != 404 {
                    details.push(json!({ "capsule_message": message }));
                }
                let mut t = ToolError::new(status, code, text).with_details(details);
                t.0.retry_after_seconds = retry_after_secs;
                t
            }
            CapsuleError::RateLimited {
                retry_after_secs,
                reason,
                info,
            } => {
                let mut t = ToolError::new(
                    429,
                    "rate_limited",
                    rate_limited(retry_after_secs, reason, info),
                );
                t.0.retry_after_seconds = Some(retry_after_secs);
                t
            }
            CapsuleError::Timeout {
                after,
                outcome_unknown,
            } => {
                let failure = format!("Capsule did not answer within {}", seconds(after.as_secs()));
                match outcome_unknown {
                    Some(w) => ToolError::new(504, "outcome_unknown", unknown_write(&failure, &w)),
                    None => ToolError::new(
                        504,
                        "timeout",
                        format!("{failure}; try again later or ask for less."),
                    ),
                }
            }
            CapsuleError::Transport {
                message,
                outcome_unknown,
            } => match outcome_unknown {
                Some(w) => ToolError::new(
                    502,
                    "outcome_unknown",
                    unknown_write(&capitalise(&message), &w),
                ),
                None => ToolError::new(
                    502,
                    "upstream_unavailable",
                    format!("{}; try again later.", capitalise(&message)),
                ),
            },
            CapsuleError::Unreadable {
                status,
                detail,
                write,
            } => ToolError::new(
                502,
                "outcome_unknown",
                unknown_write(
                    &format!(
                        "Capsule answered {status} (success) but its answer could not be read ({detail})"
                    ),
                    &write,
                ),
            ),
            CapsuleError::Decode { path, message } => ToolError::new(
                502,
                "upstream_error",
                format!("Capsule's answer was not understood at `{path}`: {message}"),
            ),
            CapsuleError::Auth(message) => ToolError::new(401, "unauthorized", message),
            CapsuleError::Config(message) => ToolError::new(500, "internal", message),
            CapsuleError::Cancelled => ToolError::new(499, "cancelled", "the call was cancelled"),
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn unsure(op: Op, what: &str) -> Option<Unsure> {
        Some(Unsure {
            op,
            what: what.to_owned(),
        })
    }

    #[test]
    fn an_unknown_outcome_says_what_to_check_for_each_kind_of_write() {
        let api = |op, what: &str| {
            let mut e = CapsuleError::from_response(502, &Value::Null);
            if let CapsuleError::Api {
                outcome_unknown, ..
            } = &mut e
            {
                *outcome_unknown = unsure(op, what);
            }
            ToolError::from(e)
        };
        let create = api(Op::Create, "a new party");
        assert_eq!(create.code(), "outcome_unknown");
        assert!(create.0.message.contains("creating a new party"));
        assert!(create.0.message.contains("Search for it"));
        let update = api(Op::Update, "party 120");
        assert!(update.0.message.contains("updating party 120"));
        assert!(update.0.message.contains("Read it back"));
        assert!(!update.0.message.contains("create"));
        let delete = ToolError::from(CapsuleError::Timeout {
            after: Duration::from_secs(20),
            outcome_unknown: unsure(Op::Delete, "task 701"),
        });
        assert_eq!((delete.code(), delete.status()), ("outcome_unknown", 504));
        assert!(delete.0.message.contains("deleting task 701"));
        assert!(
            delete
                .0
                .message
                .contains("404 (not_found) means it is gone")
        );
        let broken = ToolError::from(CapsuleError::Transport {
            message: "the connection to Capsule broke before it answered".into(),
            outcome_unknown: unsure(Op::Update, "`PUT /tracks/3`"),
        });
        assert!(
            broken
                .0
                .message
                .starts_with("The connection to Capsule broke before it answered while updating")
        );
        let unreadable = ToolError::from(CapsuleError::Unreadable {
            status: 201,
            detail: "it is not JSON".into(),
            write: Unsure {
                op: Op::Create,
                what: "a new task".into(),
            },
        });
        assert_eq!(unreadable.code(), "outcome_unknown");
        assert!(unreadable.0.message.contains("201 (success)"));
        // A read never reads as a write.
        let read = ToolError::from(CapsuleError::from_response(503, &Value::Null));
        assert_eq!(read.code(), "upstream_error");
        assert!(!read.0.message.contains("create"));
    }

    #[test]
    fn rate_limit_messages_tell_the_limit_what_remains_and_the_reset() {
        let paced = ToolError::from(CapsuleError::RateLimited {
            retry_after_secs: 19,
            reason: RateReason::Paced,
            info: RateInfo {
                limit: Some(100),
                remaining: Some(5),
                reset_in_secs: Some(95),
            },
        });
        assert_eq!(paced.code(), "rate_limited");
        assert_eq!(paced.0.retry_after_seconds, Some(19));
        let m = &paced.0.message;
        assert!(m.contains("5 of 100 requests remain"), "{m}");
        assert!(m.contains("resets in 95 s"), "{m}");
        assert!(m.contains("in 19 s"), "{m}");
        assert!(!m.contains("used up") && !m.contains("4,000"), "{m}");
        let spent = ToolError::from(CapsuleError::RateLimited {
            retry_after_secs: 40,
            reason: RateReason::Exhausted,
            info: RateInfo {
                limit: Some(100),
                remaining: Some(0),
                reset_in_secs: Some(40),
            },
        });
        let m = &spent.0.message;
        assert!(m.contains("100 requests an hour is used up"), "{m}");
        assert!(m.contains("retry in 40 s"), "{m}");
    }

    #[test]
    fn a_server_error_with_retry_after_hands_it_back() {
        let mut e = CapsuleError::from_response(503, &Value::Null);
        if let CapsuleError::Api {
            retry_after_secs, ..
        } = &mut e
        {
            *retry_after_secs = Some(30);
        }
        let t = ToolError::from(e);
        assert_eq!(t.0.retry_after_seconds, Some(30));
        assert!(t.0.message.contains("retry in 30 s"), "{}", t.0.message);
    }
}
