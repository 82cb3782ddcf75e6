//! Typed errors for everything that can go wrong talking to Capsule.
//!
//! Every variant keeps what the caller needs to act: Capsule's own message and 422 field errors,
//! when to come back after a 429, and whether a failed write may have reached Capsule anyway.

use std::time::Duration;

use serde_json::Value;

use super::retry::Op;

/// One of Capsule's 422 field errors (`errors[]`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldError {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A write whose outcome is unknown: what it was, so the caller can be told what to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsure {
    pub op: Op,
    /// The record, e.g. `task 701`, `a new party`, or the request, `PUT /parties/11587`.
    pub what: String,
}

/// Why no request may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateReason {
    /// Capsule answered 429, or said no requests remain in the window.
    Exhausted,
    /// Few requests remain: they are spread evenly until the reset, and the next slot is later
    /// than this call can wait.
    Paced,
}

/// What Capsule's rate-limit headers last said, for an honest message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateInfo {
    /// `X-RateLimit-Limit`: requests per hour.
    pub limit: Option<u64>,
    /// `X-RateLimit-Remaining`, less the requests sent since.
    pub remaining: Option<u64>,
    /// Seconds until `X-RateLimit-Reset`.
    pub reset_in_secs: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CapsuleError {
    /// Capsule answered with a 4xx or 5xx status (after any retries).
    #[error("Capsule answered {status}: {message}")]
    Api {
        status: u16,
        /// Capsule's `message` (or `error`) text.
        message: String,
        /// 422 field errors, as Capsule sent them.
        errors: Vec<FieldError>,
        /// For a write that failed with 5xx: Capsule may have applied it anyway.
        outcome_unknown: Option<Unsure>,
        /// `Retry-After` of the answer, in seconds, when it sent one.
        retry_after_secs: Option<u64>,
    },
    /// 429, a known exhausted window, or a paced budget: no request may go before then.
    #[error("Capsule's rate limit allows no request now; retry in {retry_after_secs} s")]
    RateLimited {
        retry_after_secs: u64,
        reason: RateReason,
        info: RateInfo,
    },
    /// An attempt or the whole call ran out of time.
    #[error("Capsule did not answer within {:.0?}", after)]
    Timeout {
        after: Duration,
        /// The request may have reached Capsule (a write may have happened).
        outcome_unknown: Option<Unsure>,
    },
    /// Connection-level failure.
    #[error("cannot reach Capsule: {message}")]
    Transport {
        message: String,
        outcome_unknown: Option<Unsure>,
    },
    /// A write was answered with a 2xx whose body could not be read (HTML, truncated JSON, no
    /// record): Capsule probably applied it, but what it stored is not known.
    #[error("Capsule answered {status} to a write but the answer could not be read: {detail}")]
    Unreadable {
        status: u16,
        detail: String,
        write: Unsure,
    },
    /// Capsule's answer did not have the expected shape.
    #[error("unexpected answer from Capsule at `{path}`: {message}")]
    Decode { path: String, message: String },
    /// The credential could not be obtained or refreshed.
    #[error("{0}")]
    Auth(String),
    /// Bad configuration (base URL, token).
    #[error("{0}")]
    Config(String),
    /// The caller cancelled the call.
    #[error("the call was cancelled")]
    Cancelled,
}

impl CapsuleError {
    /// The HTTP status Capsule answered with, where there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            CapsuleError::Api { status, .. } | CapsuleError::Unreadable { status, .. } => {
                Some(*status)
            }
            CapsuleError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// Build an `Api` error from a status and a (possibly empty or non-JSON) body.
    pub fn from_response(status: u16, body: &Value) -> CapsuleError {
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| body.get("error").and_then(Value::as_str))
            .map(str::to_owned)
            .unwrap_or_else(|| default_message(status).to_owned());
        let errors = body
            .get("errors")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|item| FieldError {
                        message: item
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        resource: item
                            .get("resource")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        field: item.get("field").and_then(Value::as_str).map(str::to_owned),
                    })
                    .collect()
            })
            .unwrap_or_default();
        CapsuleError::Api {
            status,
            message,
            errors,
            outcome_unknown: None,
            retry_after_secs: None,
        }
    }

    /// Whether a failed write may still have been applied by Capsule.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            CapsuleError::Api {
                outcome_unknown, ..
            }
            | CapsuleError::Timeout {
                outcome_unknown, ..
            }
            | CapsuleError::Transport {
                outcome_unknown, ..
            } => outcome_unknown.is_some(),
            CapsuleError::Unreadable { .. } => true,
            _ => false,
        }
    }
}

fn default_message(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Could not find resource",
        405 => "Method not allowed",
        422 => "Validation Failed",
        429 => "rate limit reached",
        500..=599 => "Capsule server error",
        _ => "unexpected status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_capsule_message_and_field_errors() {
        let body = json!({"message": "Validation Failed", "errors": [
            {"message": "dueOn is required", "resource": "task", "field": "dueOn"},
            {"message": "no field"}
        ]});
        match CapsuleError::from_response(422, &body) {
            CapsuleError::Api {
                status,
                message,
                errors,
                ..
            } => {
                assert_eq!(status, 422);
                assert_eq!(message, "Validation Failed");
                assert_eq!(errors.len(), 2);
                assert_eq!(errors[0].field.as_deref(), Some("dueOn"));
                assert_eq!(errors[1].resource, None);
            }
            other => unreachable!("unexpected {other:?}"),
        }
    }

    #[test]
    fn reads_the_error_key_and_empty_bodies() {
        let e = CapsuleError::from_response(404, &json!({"error": "NOT FOUND"}));
        assert_eq!(e.to_string(), "Capsule answered 404: NOT FOUND");
        let e = CapsuleError::from_response(405, &Value::Null);
        assert_eq!(e.to_string(), "Capsule answered 405: Method not allowed");
    }
}
