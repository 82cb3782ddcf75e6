//! Capsule CRM REST API v2: the only module that knows Capsule's wire format.

pub mod wire;
