//! capsule-mcp: an MCP server that gives AI agents a unified CRM API over a Capsule CRM account.
//!
//! - [`capsule`] is the only module that knows Capsule's wire format: a generic client over
//!   endpoint descriptions (auth, rate-limit gate, retries, timeouts, pagination), lenient
//!   wire types, and the mappings between Capsule records and the unified models.
//! - [`unified`] holds the provider-neutral models the agent sees: strict, documented and
//!   described by JSON Schema.
//! - [`tools`] turns those into MCP tools, one file per resource, composed into one registry
//!   whose invariants and public catalogue (`tools/`) are tested.
//! - [`server`] is the rmcp `ServerHandler`: it filters the registry (read-only mode, toolsets,
//!   allow-lists), checks arguments, and runs each call under its cancellation token.
//! - [`transport`] serves it over stdio and streamable HTTP; [`config`] reads flags and
//!   environment once at start-up.
//! - [`team`] lets everyone on a shared HTTP server act in Capsule as themselves, with the
//!   state replicas share behind one store.
//! - [`sandbox`] is an in-process Capsule that answers the same paths, envelopes, status codes
//!   and headers as the real API: the ground of every test and a way to try the server.

pub mod app;
pub mod capsule;
pub mod completions;
pub mod config;
pub mod confirm;
pub mod credentials;
pub mod login;
pub mod prompts;
pub mod resources;
pub mod sandbox;
pub mod server;
pub mod team;
pub mod tools;
pub mod transport;
pub mod unified;
