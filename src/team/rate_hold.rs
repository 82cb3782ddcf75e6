//! A Capsule user's rate budget shared by every replica: "no request for this user before
//! epoch millisecond N" under `rate:hold:{capsule_user_id}`, pushed only later with
//! [`StateStore::raise`] and gone shortly after the reset. Capsule counts requests per user,
//! so two MCP clients of one person, on any replicas, share one hold.

use std::{sync::Arc, time::Duration};

use super::store::StateStore;
use crate::capsule::{
    auth::BoxFuture,
    rate_share::{RateShare, now_epoch_ms},
};

/// How long a hold outlives its reset in the store (clocks of replicas differ a little).
const LINGER: Duration = Duration::from_secs(5);

pub(crate) fn hold_key(capsule_user_id: i64) -> String {
    format!("rate:hold:{capsule_user_id}")
}

pub(crate) struct StoreRateHold {
    store: Arc<dyn StateStore>,
    key: String,
}

impl StoreRateHold {
    pub(crate) fn new(store: Arc<dyn StateStore>, capsule_user_id: i64) -> Self {
        Self {
            store,
            key: hold_key(capsule_user_id),
        }
    }
}

impl RateShare for StoreRateHold {
    fn held_until(&self) -> BoxFuture<'_, Option<i64>> {
        Box::pin(async move {
            match self.store.get(&self.key).await {
                // `raise` keeps the integer as decimal text, in every engine.
                Ok(v) => v.and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse().ok()),
                Err(e) => {
                    tracing::warn!(error = %e, "the shared rate-limit hold could not be read");
                    None
                }
            }
        })
    }

    fn hold(&self, until_epoch_ms: i64) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let left = until_epoch_ms.saturating_sub(now_epoch_ms()).max(0);
            let ttl = Duration::from_millis(u64::try_from(left).unwrap_or(0)) + LINGER;
            if let Err(e) = self.store.raise(&self.key, until_epoch_ms, ttl).await {
                tracing::warn!(error = %e, "the shared rate-limit hold could not be set");
            }
        })
    }
}
