//! One integration-test binary: every module below runs against the sandbox Capsule on loopback.

mod fixtures;
mod common;
mod mcp;
