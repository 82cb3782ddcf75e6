//! One integration-test binary: every module below runs against the sandbox Capsule on loopback.

mod common;
mod fixtures;
mod mcp;
mod opportunities;
