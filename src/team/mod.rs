//! The team server: every person who connects over HTTP acts in Capsule as themselves.
//!
//! - [`store`] is the state that must outlive one process or be shared by replicas: per-person
//!   Capsule tokens, MCP clients and tokens, refresh locks, per-user rate holds. One trait,
//!   [`store::StateStore`], with an embedded engine for one process and Redis for several.
//! - [`seal`] keeps secrets at rest unusable: Capsule tokens sealed, MCP tokens hashed.
//! - [`person`] is who a request acts as, and that person's stored Capsule tokens.
//! - [`people`] gives each person their own app: Capsule client, rate state, caches;
//!   `tokens` refreshes each person's Capsule tokens once per expiry across replicas, and
//!   `rate_hold` holds every replica back for a Capsule user whose window is spent.

pub mod oauth;
pub mod people;
pub mod person;
mod rate_hold;
pub mod seal;
pub mod store;
mod tokens;

#[cfg(test)]
mod people_tests;
