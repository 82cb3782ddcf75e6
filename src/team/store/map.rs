//! The in-process model of the store: a map whose entries expire on a monotonic clock, with
//! every operation of [`super::StateStore`] as one step on it. The memory engine is this map
//! under a lock; the file engine is the same map under a lock, persisted.
//!
//! Each mutation also says whether it touched a *kept* entry — one set without a TTL or with a
//! TTL of at least [`KEEP_AT_LEAST`] — before or after, which is what the file engine persists.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// Entries set with a shorter TTL (refresh locks, one-use codes, short holds) live in memory
/// only: losing them on a restart costs at most a retry, and a lock of a process that died is
/// not carried into the next one.
pub(super) const KEEP_AT_LEAST: Duration = Duration::from_secs(60);

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
    /// Set without a TTL or with one of at least [`KEEP_AT_LEAST`].
    kept: bool,
}

impl Entry {
    fn new(value: Vec<u8>, ttl: Option<Duration>, now: Instant) -> Self {
        Self {
            value,
            expires: ttl.map(|t| now.checked_add(t).unwrap_or_else(|| far_future(now))),
            kept: ttl.is_none_or(|t| t >= KEEP_AT_LEAST),
        }
    }

    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

/// A TTL too long for the clock is as good as a century.
fn far_future(now: Instant) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(CENTURY).unwrap_or(now)
}

/// One kept entry as it is written down: its expiry as time left from a moment.
pub(super) struct Saved {
    pub key: String,
    pub value: Vec<u8>,
    /// `None`: never expires.
    pub left: Option<Duration>,
}

#[derive(Default)]
pub(super) struct Map {
    entries: HashMap<String, Entry>,
}

/// What a mutation did to the kept entries: `true` when one was set, replaced or removed.
pub(super) type Touched = bool;

impl Map {
    /// The live entry under `key`; an expired one is removed.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| !e.live(now)) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn insert(&mut self, key: &str, entry: Entry) -> Touched {
        let kept = entry.kept;
        let old = self.entries.insert(key.to_owned(), entry);
        kept || old.is_some_and(|e| e.kept)
    }

    pub(super) fn get(&mut self, key: &str, now: Instant) -> Option<Vec<u8>> {
        self.live(key, now).map(|e| e.value.clone())
    }

    /// Sets `key` (only when absent or expired if `only_new`): whether it was set.
    pub(super) fn put(
        &mut self,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
        only_new: bool,
        now: Instant,
    ) -> (bool, Touched) {
        if only_new && self.live(key, now).is_some() {
            return (false, false);
        }
        (true, self.insert(key, Entry::new(value, ttl, now)))
    }

    pub(super) fn take(&mut self, key: &str, now: Instant) -> (Option<Vec<u8>>, Touched) {
        match self.entries.remove(key) {
            Some(e) if e.live(now) => (Some(e.value), e.kept),
            Some(e) => (None, e.kept),
            None => (None, false),
        }
    }

    pub(super) fn delete_if(
        &mut self,
        key: &str,
        expected: &[u8],
        now: Instant,
    ) -> (bool, Touched) {
        match self.live(key, now) {
            Some(e) if e.value == expected => {
                let kept = e.kept;
                self.entries.remove(key);
                (true, kept)
            }
            _ => (false, false),
        }
    }

    pub(super) fn delete(&mut self, key: &str) -> Touched {
        self.entries.remove(key).is_some_and(|e| e.kept)
    }

    pub(super) fn raise(
        &mut self,
        key: &str,
        value: i64,
        ttl: Duration,
        now: Instant,
    ) -> (i64, Touched) {
        let held = self
            .live(key, now)
            .and_then(|e| std::str::from_utf8(&e.value).ok()?.parse::<i64>().ok());
        if let Some(held) = held
            && held >= value
        {
            return (held, false);
        }
        let touched = self.insert(
            key,
            Entry::new(value.to_string().into_bytes(), Some(ttl), now),
        );
        (value, touched)
    }

    /// The live kept entries, with the time each has left after `now`.
    pub(super) fn saved(&self, now: Instant) -> Vec<Saved> {
        let mut out: Vec<Saved> = self
            .entries
            .iter()
            .filter(|(_, e)| e.kept && e.live(now))
            .map(|(k, e)| Saved {
                key: k.clone(),
                value: e.value.clone(),
                left: e.expires.map(|x| x.saturating_duration_since(now)),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Puts back what [`Map::saved`] wrote down, counting time left from `now`. Entries with no
    /// time left are dropped.
    pub(super) fn restore(&mut self, saved: Vec<Saved>, now: Instant) {
        for s in saved {
            if s.left.is_some_and(|l| l.is_zero()) {
                continue;
            }
            self.entries.insert(
                s.key,
                Entry {
                    value: s.value,
                    expires: s
                        .left
                        .map(|l| now.checked_add(l).unwrap_or_else(|| far_future(now))),
                    kept: true,
                },
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Map;

    #[test]
    fn only_long_lived_entries_are_kept_and_their_changes_reported() {
        let now = Instant::now();
        let mut m = Map::default();
        assert!(
            !m.put(
                "lock",
                b"n".to_vec(),
                Some(Duration::from_secs(30)),
                true,
                now
            )
            .1
        );
        assert!(m.put("person", b"p".to_vec(), None, false, now).1);
        assert!(
            m.put(
                "code",
                b"c".to_vec(),
                Some(Duration::from_secs(3600)),
                false,
                now
            )
            .1
        );
        assert!(!m.delete_if("lock", b"n", now).1);
        assert!(m.take("code", now).1);
        // A short entry replacing a kept one still changes what is kept.
        assert!(
            m.put(
                "person",
                b"q".to_vec(),
                Some(Duration::from_secs(1)),
                false,
                now
            )
            .1
        );
        assert!(!m.raise("hold", 5, Duration::from_secs(10), now).1);
        assert!(m.raise("hold", 6, Duration::from_secs(600), now).1);
        assert!(!m.raise("hold", 1, Duration::from_secs(600), now).1);
        let saved = m.saved(now);
        let keys: Vec<_> = saved.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["hold"]);
        assert_eq!(saved[0].left, Some(Duration::from_secs(600)));
    }

    #[test]
    fn restore_drops_what_has_no_time_left() {
        let now = Instant::now();
        let mut m = Map::default();
        m.put("a", b"1".to_vec(), None, false, now);
        m.put(
            "b",
            b"2".to_vec(),
            Some(Duration::from_secs(90)),
            false,
            now,
        );
        let mut saved = m.saved(now);
        saved.push(super::Saved {
            key: "c".into(),
            value: b"3".to_vec(),
            left: Some(Duration::ZERO),
        });
        let mut back = Map::default();
        back.restore(saved, now);
        assert_eq!(back.get("a", now).as_deref(), Some(&b"1"[..]));
        assert_eq!(back.get("b", now).as_deref(), Some(&b"2"[..]));
        assert_eq!(back.get("c", now), None);
        assert_eq!(back.get("b", now + Duration::from_secs(91)), None);
    }
}
