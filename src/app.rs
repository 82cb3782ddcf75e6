//! What every tool call shares: the Capsule client for the configured credential, the
//! reference-data and completion caches, and the serving policy. Anything cached from what
//! the credential can see lives here, so that on a team server (one app per person) nobody
//! is answered from another person's cache.

use std::time::Duration;

use crate::capsule::{CapsuleClient, refdata::RefData};

pub struct App {
    pub client: CapsuleClient,
    pub refdata: RefData,
    /// Recent record searches for `completion/complete`.
    pub completions: crate::completions::Cache,
    /// Only read-only tools are served, and the proxy answers GET only.
    pub read_only: bool,
}

impl App {
    pub fn new(client: CapsuleClient, cache_ttl: Duration, read_only: bool) -> Self {
        Self {
            client,
            refdata: RefData::new(cache_ttl),
            completions: Default::default(),
            read_only,
        }
    }
}
