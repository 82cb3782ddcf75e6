//! Failures the model can act on, as `isError` tool results with the unified error shape.

use serde_json::{Value, json};

use crate::capsule::CapsuleError;
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

impl From<CapsuleError> for ToolError {
    fn from(e: CapsuleError) -> Self {
        match e {
            CapsuleError::Api {
                status,
                message,
                errors,
                outcome_unknown,
            } => {
                let mut details: Vec<Value> = errors
                    .iter()
                    .filter_map(|fe| serde_json::to_value(fe).ok())
                    .collect();
                if outcome_unknown {
                    return ToolError::new(
                        status,
                        "outcome_unknown",
                        format!(
                            "Capsule failed with {status} ({message}) while handling a create; \
                             it may or may not have stored the record. Search for it (e.g. a list \
                             tool with `search`) before trying again, or a duplicate may be made."
                        ),
                    );
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
                        format!("Capsule failed ({status}: {message}); try again later."),
                    ),
                    _ => (
                        "upstream_error",
                        format!("Capsule answered {status}: {message}"),
                    ),
                };
                if details.is_empty() && status != 404 {
                    details.push(json!({ "capsule_message": message }));
                }
                ToolError::new(status, code, text).with_details(details)
            }
            CapsuleError::RateLimited { retry_after_secs } => {
                let mut t = ToolError::new(
                    429,
                    "rate_limited",
                    format!(
                        "Capsule's rate limit (4,000 requests an hour) is used up; retry in \
                         {retry_after_secs} s. Prefer fewer, larger calls."
                    ),
                );
                t.0.retry_after_seconds = Some(retry_after_secs);
                t
            }
            CapsuleError::Timeout {
                after,
                outcome_unknown,
            } => {
                if outcome_unknown {
                    ToolError::new(
                        504,
                        "outcome_unknown",
                        format!(
                            "Capsule did not answer within {}s while handling a create; it may or \
                             may not have stored the record. Search for it before trying again.",
                            after.as_secs()
                        ),
                    )
                } else {
                    ToolError::new(
                        504,
                        "timeout",
                        format!(
                            "Capsule did not answer within {}s; try again later or ask for less.",
                            after.as_secs()
                        ),
                    )
                }
            }
            CapsuleError::Transport {
                message,
                outcome_unknown,
            } => ToolError::new(
                502,
                if outcome_unknown {
                    "outcome_unknown"
                } else {
                    "upstream_unavailable"
                },
                if outcome_unknown {
                    format!(
                        "{message}; a create may or may not have been stored. Search for the \
                         record before trying again."
                    )
                } else {
                    format!("{message}; try again later.")
                },
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
