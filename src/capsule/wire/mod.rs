//! Lenient serde types for Capsule's wire format.
