//! What a team server shares between requests, processes and replicas, behind one trait.
//!
//! Keys are plain strings chosen by the callers (`person:{id}`, `lock:refresh:{id}`, …); an
//! engine may prefix them (Redis uses `capsule-mcp:`). Values are opaque bytes: secrets are
//! sealed or hashed before they get here, so no engine ever holds a usable credential.
//!
//! Every operation is atomic on its own key, in every engine: that is what single-flight
//! refreshes (`put_new` as a lock, `delete_if` to release it), one-use authorization codes and
//! rotated refresh tokens (`take`), and shared rate holds (`raise`) are built on.

mod memory;

use std::{future::Future, pin::Pin, time::Duration};

pub use memory::MemoryStore;

/// The store a server runs with: the embedded engine without a URL, Redis for `redis://…`.
pub async fn open(url: Option<&str>) -> Result<std::sync::Arc<dyn StateStore>, StoreError> {
    match url {
        None => Ok(std::sync::Arc::new(MemoryStore::new())),
        Some(_) => Err(StoreError(
            "only the embedded store is built so far; leave --state-url unset".into(),
        )),
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A store that could not answer. The message names the engine and what failed, never a value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("state store: {0}")]
pub struct StoreError(pub String);

pub trait StateStore: Send + Sync + 'static {
    /// The value under `key`, if it is there and has not expired.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Sets `key` to `value`, replacing what was there; it expires after `ttl` (`None`: never).
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Sets `key` only when it is absent (or expired): `true` when this call set it. A lock is
    /// `put_new(lock_key, nonce, Some(lease))`.
    fn put_new<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Removes `key` and returns what it held, in one step: of two concurrent takes, one gets
    /// the value and the other `None` (one-use codes, rotated refresh tokens).
    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Removes `key` only while it still holds `expected` (releasing a lock this holder owns,
    /// not one that expired and was taken by another): `true` when removed.
    fn delete_if<'a>(
        &'a self,
        key: &'a str,
        expected: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Removes `key`; nothing happens when it is absent.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Raises the integer under `key` to at least `value` and returns what it holds after; the
    /// key then expires after `ttl`, unless it already held a larger value, whose expiry stays.
    /// An absent or non-integer key counts as lower than anything. (A rate hold: "no requests
    /// for this user until epoch millisecond N", which replicas only ever push later.)
    fn raise<'a>(
        &'a self,
        key: &'a str,
        value: i64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<i64, StoreError>>;

    /// The engine and where it lives, for logs (`memory`, `file /path`, `redis host:port`),
    /// never a password.
    fn describe(&self) -> String;
}

/// The contract every engine keeps, run by each engine's tests against a fresh store.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod contract {
    use std::time::Duration;

    use super::StateStore;

    pub(crate) async fn holds(store: &dyn StateStore) {
        assert_eq!(store.get("a").await.unwrap(), None);
        store.put("a", b"1".to_vec(), None).await.unwrap();
        assert_eq!(store.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
        store.put("a", b"2".to_vec(), None).await.unwrap();
        assert_eq!(store.get("a").await.unwrap().as_deref(), Some(&b"2"[..]));

        assert!(!store.put_new("a", b"3".to_vec(), None).await.unwrap());
        assert!(store.put_new("b", b"x".to_vec(), None).await.unwrap());
        assert!(!store.delete_if("b", b"y").await.unwrap());
        assert!(store.delete_if("b", b"x").await.unwrap());
        assert_eq!(store.get("b").await.unwrap(), None);

        assert_eq!(store.take("a").await.unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(store.take("a").await.unwrap(), None);

        store.put("c", b"1".to_vec(), None).await.unwrap();
        store.delete("c").await.unwrap();
        store.delete("c").await.unwrap();
        assert_eq!(store.get("c").await.unwrap(), None);

        let long = Duration::from_secs(60);
        assert_eq!(store.raise("r", 10, long).await.unwrap(), 10);
        assert_eq!(store.raise("r", 5, long).await.unwrap(), 10);
        assert_eq!(store.raise("r", 20, long).await.unwrap(), 20);
        store.put("s", b"junk".to_vec(), None).await.unwrap();
        assert_eq!(store.raise("s", 3, long).await.unwrap(), 3);
    }

    pub(crate) async fn expires(store: &dyn StateStore) {
        let short = Some(Duration::from_millis(150));
        store.put("t", b"1".to_vec(), short).await.unwrap();
        assert!(store.put_new("l", b"n".to_vec(), short).await.unwrap());
        store
            .raise("h", 7, Duration::from_millis(150))
            .await
            .unwrap();
        assert!(store.get("t").await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(store.get("t").await.unwrap(), None);
        assert!(
            store.put_new("l", b"m".to_vec(), None).await.unwrap(),
            "an expired lock can be taken again"
        );
        assert_eq!(
            store.raise("h", 1, Duration::from_secs(5)).await.unwrap(),
            1
        );
    }

    /// Of many concurrent `put_new`s and `take`s on one key, exactly one wins each.
    pub(crate) async fn one_winner(store: std::sync::Arc<dyn StateStore>) {
        let mut locks = Vec::new();
        for i in 0..32u8 {
            let s = store.clone();
            locks.push(tokio::spawn(async move {
                s.put_new("race", vec![i], None).await.unwrap()
            }));
        }
        let mut won = 0;
        for l in locks {
            won += usize::from(l.await.unwrap());
        }
        assert_eq!(won, 1);
        let mut takes = Vec::new();
        for _ in 0..32 {
            let s = store.clone();
            takes.push(tokio::spawn(async move {
                s.take("race").await.unwrap().is_some()
            }));
        }
        let mut taken = 0;
        for t in takes {
            taken += usize::from(t.await.unwrap());
        }
        assert_eq!(taken, 1);
    }
}
