//! One integration-test binary: the real binary and real MCP clients against the sandbox
//! Capsule on loopback, plus the recorded Capsule fixtures.

mod client;
mod common;
mod entries;
mod faults;
mod fixtures;
mod mcp;
mod oauth;
mod opportunities;
mod people;
mod projects;
mod sandbox;
mod shape;
mod tasks;
mod upstream;
