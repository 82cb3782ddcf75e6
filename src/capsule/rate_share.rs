//! A rate budget shared beyond one client: when several processes act for the same Capsule
//! user (replicas of a team server), a 429 one of them sees must hold back the others until
//! the window resets, or each would spend a request to learn it.
//!
//! The client asks [`RateShare::held_until`] before every request and calls
//! [`RateShare::hold`] when Capsule says the window is spent (a 429, or
//! `X-RateLimit-Remaining: 0`). A client without a share (one credential, one process) never
//! asks anything: its own rate gate is all it needs.

use super::auth::BoxFuture;

pub trait RateShare: Send + Sync + 'static {
    /// The epoch millisecond before which no request may be sent, when a hold is known.
    /// A share that cannot answer says `None`: Capsule itself still refuses with a 429.
    fn held_until(&self) -> BoxFuture<'_, Option<i64>>;

    /// No request before `until_epoch_ms`. Holds only ever move later.
    fn hold(&self, until_epoch_ms: i64) -> BoxFuture<'_, ()>;
}

pub(crate) fn now_epoch_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
