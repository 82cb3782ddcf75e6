//! How MCP clients reach the server. stdio is served by rmcp directly; HTTP lives here.

pub mod http;
