//! What every tool call shares: the Capsule client for the configured credential, the
//! reference-data cache, and the serving policy.

use std::time::Duration;

use crate::capsule::{CapsuleClient, refdata::RefData};

pub struct App {
    pub client: CapsuleClient,
    pub refdata: RefData,
    /// Only read-only tools are served, and the proxy answers GET only.
    pub read_only: bool,
}

impl App {
    pub fn new(client: CapsuleClient, cache_ttl: Duration, read_only: bool) -> Self {
        Self {
            client,
            refdata: RefData::new(cache_ttl),
            read_only,
        }
    }
}
