//! The embedded engine, the default for one process: the memory engine's [`Map`], persisted
//! to `team-state.json` in the config directory so logins survive a restart.
//!
//! - The file is 0600 inside a 0700 directory, written whole to a temp file, synced and renamed
//!   over the old one (as `credentials.rs` writes the login), and refused when others can read
//!   it. Expiry is written as an absolute unix millisecond; what has expired is dropped on load.
//! - Only entries set without a TTL or with one of at least a minute are written
//!   ([`super::map::KEEP_AT_LEAST`]): people's tokens, MCP clients and tokens, rate holds. Refresh
//!   locks and one-use codes live in memory only, so changing them costs no write and a lock of
//!   a process that died does not outlive it.
//! - A change to a written entry returns once the file holding it is on disk. Writes run on the
//!   blocking pool, one at a time, and coalesce: a write covers every change made before it
//!   began, so concurrent changes share one write.
//! - `team-state.lock` beside the file is held exclusively for the store's lifetime: a second
//!   process on the same file is refused at start-up, because two writers of one file lose each
//!   other's changes. Several processes share state through Redis.

use std::{
    fs::{self, File, OpenOptions},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use serde::{Deserialize, Serialize};

use super::{
    BoxFuture, StateStore, StoreError,
    map::{Map, Saved, Touched},
};

const FILE_NAME: &str = "team-state.json";
const LOCK_NAME: &str = "team-state.lock";
const TEMP_PREFIX: &str = ".team-state.";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    entries: Vec<DiskEntry>,
}

#[derive(Serialize, Deserialize)]
struct DiskEntry {
    key: String,
    /// Base64 of the value's bytes.
    value: String,
    /// Unix milliseconds; absent: never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at_ms: Option<i64>,
}

pub struct FileStore {
    shared: Arc<Shared>,
    /// Holds the exclusive lock on `team-state.lock` until the store is dropped.
    _lock: HeldLock,
}

struct Shared {
    path: PathBuf,
    state: Mutex<State>,
    /// The last change on disk; held while a write is under way, so writes run one at a time.
    written: Mutex<u64>,
}

#[derive(Default)]
struct State {
    map: Map,
    /// Counts changes to written entries; the file holds every change up to `written`.
    changes: u64,
}

struct HeldLock(File);

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = fs4::fs_std::FileExt::unlock(&self.0);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl FileStore {
    /// The directory the state lives in by default: the config directory of `credentials.rs`.
    pub fn default_dir() -> Result<PathBuf, StoreError> {
        crate::credentials::config_dir().map_err(|e| StoreError(format!("file: {e}")))
    }

    /// Opens (creating when absent) `team-state.json` in `dir` and takes its lock. Blocking:
    /// for start-up.
    pub fn open_in(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        let fail = |what: &str, e: std::io::Error| {
            StoreError(format!("file {}: cannot {what}: {e}", path.display()))
        };
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .map_err(|e| fail("create its directory", e))?;

        let held = take_lock(&dir.join(LOCK_NAME)).map_err(|e| fail("lock it", e))?;
        let Some(held) = held else {
            return Err(StoreError(format!(
                "file {}: another capsule-mcp process is using it (it holds {}); stop that \
                 process, or give each process its own directory, or share one state between \
                 processes with --state-url redis://…",
                path.display(),
                dir.join(LOCK_NAME).display()
            )));
        };
        // What a write that died half-way left behind; nobody else writes here while we hold
        // the lock.
        remove_temp_files(dir);

        let mut map = Map::default();
        if let Some(saved) = load(&path)? {
            map.restore(saved, Instant::now());
        }
        Ok(Self {
            shared: Arc::new(Shared {
                path,
                state: Mutex::new(State { map, changes: 0 }),
                written: Mutex::new(0),
            }),
            _lock: held,
        })
    }

    /// Runs `f` on the map; when it touched a written entry, returns the change to wait for.
    fn change<T>(&self, f: impl FnOnce(&mut Map, Instant) -> (T, Touched)) -> (T, Option<u64>) {
        let mut state = lock(&self.shared.state);
        let (out, touched) = f(&mut state.map, Instant::now());
        if !touched {
            return (out, None);
        }
        state.changes += 1;
        (out, Some(state.changes))
    }

    /// Returns once the file holds change `upto` (at once when there is none to wait for).
    async fn persisted(&self, upto: Option<u64>) -> Result<(), StoreError> {
        let Some(upto) = upto else { return Ok(()) };
        let shared = self.shared.clone();
        // The write goes on when the caller stops waiting: the file never lags behind memory
        // for a caller that gave up.
        tokio::task::spawn_blocking(move || shared.write_through(upto))
            .await
            .map_err(|e| StoreError(format!("file: the write did not finish: {e}")))?
    }
}

impl Shared {
    fn fail(&self, what: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError(format!(
            "file {}: cannot {what}: {e}; the change holds in memory but may not survive a \
             restart (check the disk and the directory's permissions)",
            self.path.display()
        ))
    }

    /// Writes the file unless a write since change `upto` already has.
    fn write_through(&self, upto: u64) -> Result<(), StoreError> {
        let mut written = lock(&self.written);
        if *written >= upto {
            return Ok(());
        }
        let (saved, changes) = {
            let state = lock(&self.state);
            (state.map.saved(Instant::now()), state.changes)
        };
        let now_ms = unix_ms_now();
        let disk = OnDisk {
            version: VERSION,
            entries: saved
                .into_iter()
                .map(|s| DiskEntry {
                    key: s.key,
                    value: B64.encode(&s.value),
                    expires_at_ms: s.left.map(|l| now_ms.saturating_add(millis(l))),
                })
                .collect(),
        };
        let json = serde_json::to_vec(&disk).map_err(|e| self.fail("encode the state", e))?;
        crate::credentials::write_private(&self.path, TEMP_PREFIX, &json)
            .map_err(|e| self.fail("write", e))?;
        *written = changes;
        Ok(())
    }
}

/// The exclusive lock on `path`, or `None` when another process (or another store in this
/// one) holds it.
fn take_lock(path: &Path) -> std::io::Result<Option<HeldLock>> {
    let mut opts = OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(path)?;
    if fs4::fs_std::FileExt::try_lock_exclusive(&file)? {
        Ok(Some(HeldLock(file)))
    } else {
        Ok(None)
    }
}

fn remove_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(TEMP_PREFIX) && name.ends_with(".tmp") {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The entries `path` holds with the time each has left, `None` when there is no file yet.
fn load(path: &Path) -> Result<Option<Vec<Saved>>, StoreError> {
    let text = match fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError(format!(
                "file {}: cannot read it: {e}",
                path.display()
            )));
        }
    };
    check_private(path)?;
    let corrupt = |why: String| {
        StoreError(format!(
            "file {}: not a state file capsule-mcp wrote ({why}); delete it (everyone then logs \
             in again) or restore a backup",
            path.display()
        ))
    };
    // serde's message can quote a value: say where only.
    let disk: OnDisk = serde_json::from_slice(&text).map_err(|e| {
        corrupt(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    if disk.version != VERSION {
        return Err(StoreError(format!(
            "file {}: written in format {} by another capsule-mcp version, this one reads \
             format {VERSION}; run the version that wrote it, or delete the file (everyone then \
             logs in again)",
            path.display(),
            disk.version
        )));
    }
    let now_ms = unix_ms_now();
    let mut saved = Vec::with_capacity(disk.entries.len());
    for (i, e) in disk.entries.into_iter().enumerate() {
        let left = match e.expires_at_ms {
            None => None,
            Some(at) if at <= now_ms => continue,
            Some(at) => Some(Duration::from_millis(
                u64::try_from(at.saturating_sub(now_ms)).unwrap_or(0),
            )),
        };
        let value = B64
            .decode(e.value.as_bytes())
            .map_err(|_| corrupt(format!("entry {i} has a value that is not base64")))?;
        saved.push(Saved {
            key: e.key,
            value,
            left,
        });
    }
    Ok(Some(saved))
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path)
        .map_err(|e| StoreError(format!("file {}: cannot read it: {e}", path.display())))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(StoreError(format!(
            "file {p} can be read by other users; run `chmod 600 {p}` (and `chmod 700` on its \
             directory)",
            p = path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<(), StoreError> {
    Ok(())
}

impl StateStore for FileStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move { Ok(lock(&self.shared.state).map.get(key, Instant::now())) })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let (_, upto) = self.change(|m, now| m.put(key, value, ttl, false, now));
            self.persisted(upto).await
        })
    }

    fn put_new<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let (set, upto) = self.change(|m, now| m.put(key, value, ttl, true, now));
            self.persisted(upto).await.map(|()| set)
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let (value, upto) = self.change(|m, now| m.take(key, now));
            self.persisted(upto).await.map(|()| value)
        })
    }

    fn delete_if<'a>(
        &'a self,
        key: &'a str,
        expected: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let (removed, upto) = self.change(|m, now| m.delete_if(key, expected, now));
            self.persisted(upto).await.map(|()| removed)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let ((), upto) = self.change(|m, _| ((), m.delete(key)));
            self.persisted(upto).await
        })
    }

    fn raise<'a>(
        &'a self,
        key: &'a str,
        value: i64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<i64, StoreError>> {
        Box::pin(async move {
            let (held, upto) = self.change(|m, now| m.raise(key, value, ttl, now));
            self.persisted(upto).await.map(|()| held)
        })
    }

    fn describe(&self) -> String {
        format!("file {}", self.shared.path.display())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use super::{FILE_NAME, FileStore};
    use crate::team::store::{StateStore, contract};

    #[tokio::test]
    async fn keeps_the_store_contract() {
        for run in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let store = FileStore::open_in(dir.path()).unwrap();
            match run {
                0 => contract::holds(&store).await,
                1 => contract::expires(&store).await,
                _ => contract::one_winner(Arc::new(store)).await,
            }
        }
    }

    #[tokio::test]
    async fn the_contract_holds_for_entries_that_are_written_too() {
        // The contract's keys have no TTL or a short one; these go through the file.
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FileStore::open_in(dir.path()).unwrap());
        let long = Some(Duration::from_secs(3600));
        let mut tasks = Vec::new();
        for i in 0..32u8 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.put_new("code", vec![i], long).await.unwrap()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1);
        drop(store);
        let store = FileStore::open_in(dir.path()).unwrap();
        assert!(store.take("code").await.unwrap().is_some());
        drop(store);
        let store = FileStore::open_in(dir.path()).unwrap();
        assert_eq!(store.take("code").await.unwrap(), None, "a take is on disk");
    }

    #[tokio::test]
    async fn survives_a_reopen_and_expires_across_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open_in(dir.path()).unwrap();
        store
            .put("person:1", b"sealed".to_vec(), None)
            .await
            .unwrap();
        store
            .put("token:a", b"t".to_vec(), Some(Duration::from_secs(3600)))
            .await
            .unwrap();
        store
            .put("token:b", b"u".to_vec(), Some(Duration::from_secs(60)))
            .await
            .unwrap();
        store
            .put(
                "lock:refresh:1",
                b"n".to_vec(),
                Some(Duration::from_secs(30)),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .raise("hold:1", 42, Duration::from_secs(600))
                .await
                .unwrap(),
            42
        );
        store.put("gone", b"x".to_vec(), None).await.unwrap();
        store.delete("gone").await.unwrap();
        drop(store);

        let store = FileStore::open_in(dir.path()).unwrap();
        assert_eq!(
            store.get("person:1").await.unwrap().as_deref(),
            Some(&b"sealed"[..])
        );
        assert_eq!(
            store.get("token:a").await.unwrap().as_deref(),
            Some(&b"t"[..])
        );
        assert_eq!(store.get("gone").await.unwrap(), None);
        assert_eq!(
            store.get("lock:refresh:1").await.unwrap(),
            None,
            "short-lived entries stay in memory"
        );
        assert_eq!(
            store
                .raise("hold:1", 7, Duration::from_secs(600))
                .await
                .unwrap(),
            42
        );
        drop(store);

        // Rewrite token:b's expiry into the past, as if the process had been down a while.
        let path = dir.path().join(FILE_NAME);
        let mut disk: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut found = false;
        for e in disk["entries"].as_array_mut().unwrap() {
            if e["key"] == "token:b" {
                e["expires_at_ms"] = serde_json::json!(super::unix_ms_now() - 1);
                found = true;
            }
        }
        assert!(found, "token:b was written: {disk}");
        std::fs::write(&path, serde_json::to_vec(&disk).unwrap()).unwrap();
        let store = FileStore::open_in(dir.path()).unwrap();
        assert_eq!(store.get("token:b").await.unwrap(), None);
        assert_eq!(
            store.get("token:a").await.unwrap().as_deref(),
            Some(&b"t"[..])
        );
    }

    #[tokio::test]
    async fn the_file_holds_each_expiry_as_a_unix_millisecond() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open_in(dir.path()).unwrap();
        // Kept (a minute or more) but checked after a short wait: the file holds an absolute
        // expiry, so time spent closed counts.
        store
            .put("t", b"1".to_vec(), Some(Duration::from_secs(60)))
            .await
            .unwrap();
        drop(store);
        let path = dir.path().join(FILE_NAME);
        let disk: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let at = disk["entries"][0]["expires_at_ms"].as_i64().unwrap();
        let now = super::unix_ms_now();
        assert!((now + 59_000..=now + 60_000).contains(&at), "{at} vs {now}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_file_is_private_and_no_temp_file_is_left() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("capsule-mcp");
        let store = FileStore::open_in(&dir).unwrap();
        store.put("k", b"v".to_vec(), None).await.unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join(FILE_NAME)), 0o600);
        assert_eq!(mode(&dir), 0o700);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["team-state.json", "team-state.lock"]);
        assert_eq!(
            store.describe(),
            format!("file {}", dir.join(FILE_NAME).display())
        );
        drop(store);

        std::fs::set_permissions(dir.join(FILE_NAME), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let e = FileStore::open_in(&dir).err().unwrap().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }

    #[tokio::test]
    async fn a_second_open_while_the_first_lives_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = FileStore::open_in(dir.path()).unwrap();
        let e = FileStore::open_in(dir.path()).err().unwrap().to_string();
        assert!(e.contains("another capsule-mcp process"), "{e}");
        assert!(e.contains("redis://"), "{e}");
        drop(first);
        FileStore::open_in(dir.path()).unwrap();
    }

    #[test]
    fn a_second_process_is_refused() {
        // The lock is the OS's, so another process sees it as this one does.
        let dir = tempfile::tempdir().unwrap();
        let _held = FileStore::open_in(dir.path()).unwrap();
        let lock = dir.path().join(super::LOCK_NAME);
        let out = std::process::Command::new("flock")
            .args(["--nonblock", "--exclusive"])
            .arg(&lock)
            .arg("true")
            .status()
            .expect("flock (util-linux) runs");
        assert!(!out.success(), "another process got the lock");
    }

    #[tokio::test]
    async fn a_corrupt_file_is_refused_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&path).unwrap();
            f.write_all(br#"{"version":1,"entries":[{"key":"k","value":7,"CANARY":1}]}"#)
                .unwrap();
        }
        let e = FileStore::open_in(dir.path()).err().unwrap().to_string();
        assert!(e.contains("delete it") && !e.contains("CANARY"), "{e}");
    }
}
