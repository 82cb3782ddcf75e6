//! Typed errors for everything that can go wrong talking to Capsule.
//!
//! Every variant keeps what the caller needs to act: Capsule's own message and 422 field errors,
//! when to come back after a 429, and whether a failed write may have reached Capsule anyway.

use std::time::Duration;

use serde_json::Value;

/// One of Capsule's 422 field errors (`errors[]`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldError {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
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
        /// For a POST that failed with 5xx: Capsule may have stored the record anyway.
        outcome_unknown: bool,
    },
    /// 429, or a known exhausted window: no request may be sent before the reset.
    #[error("Capsule's rate limit is reached; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// An attempt or the whole call ran out of time.
    #[error("Capsule did not answer within {:.0?}", after)]
    Timeout {
        after: Duration,
        /// The request may have reached Capsule (a write may have happened).
        outcome_unknown: bool,
    },
    /// Connection-level failure.
    #[error("cannot reach Capsule: {message}")]
    Transport {
        message: String,
        outcome_unknown: bool,
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
            CapsuleError::Api { status, .. } => Some(*status),
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
            outcome_unknown: false,
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
            } => *outcome_unknown,
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
