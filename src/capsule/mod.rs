//! Capsule CRM REST API v2: the only module that knows Capsule's wire format.

pub mod auth;
pub mod client;
pub mod endpoint;
pub mod error;
pub mod identity;
pub mod map;
pub mod oauth;
pub mod page;
pub mod rate_share;
pub mod refdata;
pub mod retry;
pub mod wire;

pub use client::{CapsuleClient, ClientOptions, Page, Request, Response};
pub use error::CapsuleError;
pub use retry::Method;
