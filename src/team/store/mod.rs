//! What a team server shares between requests, processes and replicas, behind one trait.
//!
//! Keys are plain strings chosen by the callers (`person:{id}`, `lock:refresh:{id}`, …); an
//! engine may prefix them (Redis uses `capsule-mcp:`). Values are opaque bytes: secrets are
//! sealed or hashed before they get here, so no engine ever holds a usable credential.
//!
//! Every operation is atomic on its own key, in every engine: that is what single-flight
//! refreshes (`put_new` as a lock, `delete_if` to release it), one-use authorization codes and
//! rotated refresh tokens (`take`), and shared rate holds (`raise`) are built on.

mod file;
mod map;
mod memory;
mod redis;
pub mod redis_server;

use std::{future::Future, path::Path, pin::Pin, sync::Arc, time::Duration};

pub use file::FileStore;
pub use memory::MemoryStore;
pub use redis::RedisStore;

/// The schemes `--state-url` accepts, for the error that names them.
const SCHEMES: &str = "redis://[:password@]host[:port][/db] (several processes or replicas), \
    file:///directory (the embedded store in that directory), memory: (nothing survives the \
    process; for tests); or leave it unset for the embedded store in the config directory";

/// The store a server runs with: the embedded file engine in the config directory without a
/// URL, Redis for `redis://…` (connected and pinged, so a wrong URL fails at start-up).
pub async fn open(url: Option<&str>) -> Result<Arc<dyn StateStore>, StoreError> {
    match given(url) {
        None => open_file(FileStore::default_dir()?).await,
        Some(url) => open_url(url).await,
    }
}

/// As [`open`], with the embedded engine in `dir` instead of the config directory.
pub async fn open_in(url: Option<&str>, dir: &Path) -> Result<Arc<dyn StateStore>, StoreError> {
    match given(url) {
        None => open_file(dir.to_path_buf()).await,
        Some(url) => open_url(url).await,
    }
}

fn given(url: Option<&str>) -> Option<&str> {
    url.map(str::trim).filter(|u| !u.is_empty())
}

async fn open_file(dir: std::path::PathBuf) -> Result<Arc<dyn StateStore>, StoreError> {
    let store = tokio::task::spawn_blocking(move || FileStore::open_in(&dir))
        .await
        .map_err(|e| StoreError(format!("file: opening did not finish: {e}")))??;
    Ok(Arc::new(store))
}

async fn open_url(url: &str) -> Result<Arc<dyn StateStore>, StoreError> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("redis" | "rediss") => Ok(Arc::new(RedisStore::connect(url).await?)),
        Some("memory") => Ok(Arc::new(MemoryStore::new())),
        Some("file") => {
            let dir = url
                .get(..8)
                .filter(|p| p.eq_ignore_ascii_case("file:///"))
                .and_then(|_| url::Url::parse(url).ok())
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| {
                    StoreError(format!(
                        "file: `{url}` is not a file URL of a directory; write file:///absolute/path"
                    ))
                })?;
            open_file(dir).await
        }
        // Scheme only: the rest of the URL may hold a password.
        Some(other) => Err(StoreError(format!(
            "--state-url with scheme `{other}:` is not supported; use {SCHEMES}"
        ))),
        None => Err(StoreError(format!(
            "--state-url is not a URL; use {SCHEMES}"
        ))),
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::{open, open_in};

    #[tokio::test]
    async fn without_a_url_the_embedded_file_engine_opens_in_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_in(None, dir.path()).await.unwrap();
        assert_eq!(
            store.describe(),
            format!("file {}", dir.path().join("team-state.json").display())
        );
        let blank = open_in(Some("  "), dir.path()).await.err().unwrap();
        assert!(
            blank.to_string().contains("another capsule-mcp process"),
            "{blank}"
        );
    }

    #[tokio::test]
    async fn memory_and_file_urls_open_their_engines() {
        assert_eq!(open(Some("memory:")).await.unwrap().describe(), "memory");
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let store = open(Some(url.as_str())).await.unwrap();
        assert!(
            store.describe().starts_with("file "),
            "{}",
            store.describe()
        );
        let e = open(Some("file:relative")).await.err().unwrap().to_string();
        assert!(e.contains("file:///absolute/path"), "{e}");
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_refused_naming_the_accepted_ones_and_not_the_url() {
        for url in ["postgres://me:hunter2@db/x", "hunter2"] {
            let e = open(Some(url)).await.err().unwrap().to_string();
            assert!(e.contains("redis://") && e.contains("memory:"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
