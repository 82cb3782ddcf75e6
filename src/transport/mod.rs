//! How MCP clients reach the server: stdio (a screening front end before rmcp) and
//! streamable HTTP, both sharing the JSON-RPC screening in [`jsonrpc`].

pub mod http;
pub mod jsonrpc;
pub mod stdio;
