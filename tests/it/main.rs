//! One integration-test binary: the real binary and real MCP clients against the sandbox
//! Capsule on loopback, plus the recorded Capsule fixtures.

mod arguments;
mod beyond;
mod catalogue;
mod client;
mod common;
mod entries;
mod faults;
mod filters;
mod fixtures;
mod jobs;
mod mcp;
mod names;
mod oauth;
mod opportunities;
mod people;
mod projects;
mod real_clients;
mod records;
mod sandbox;
mod shape;
mod state;
mod stdio;
mod tasks;
mod team;
mod team_cimd;
mod team_replicas;
mod tokens;
mod transport;
mod upstream;
