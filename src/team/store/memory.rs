//! The in-process engine: a map under one lock, with expiry checked on read. What a single
//! process needs when nothing must survive a restart, and the model the other engines match.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use super::{BoxFuture, StateStore, StoreError};

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

#[derive(Default)]
pub struct MemoryStore {
    map: Mutex<HashMap<String, Entry>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live entry under `key`; an expired one is removed.
    fn live<'m>(
        map: &'m mut HashMap<String, Entry>,
        key: &str,
        now: Instant,
    ) -> Option<&'m mut Entry> {
        if map.get(key).is_some_and(|e| !e.live(now)) {
            map.remove(key);
        }
        map.get_mut(key)
    }

    fn get_now(&self, key: &str) -> Option<Vec<u8>> {
        let mut map = self.lock();
        Self::live(&mut map, key, Instant::now()).map(|e| e.value.clone())
    }

    fn put_now(&self, key: &str, value: Vec<u8>, ttl: Option<Duration>, only_new: bool) -> bool {
        let now = Instant::now();
        let mut map = self.lock();
        if only_new && Self::live(&mut map, key, now).is_some() {
            return false;
        }
        map.insert(
            key.to_owned(),
            Entry {
                value,
                expires: ttl.and_then(|t| now.checked_add(t)),
            },
        );
        true
    }

    fn take_now(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        let mut map = self.lock();
        map.remove(key).filter(|e| e.live(now)).map(|e| e.value)
    }

    fn delete_if_now(&self, key: &str, expected: &[u8]) -> bool {
        let mut map = self.lock();
        match Self::live(&mut map, key, Instant::now()) {
            Some(e) if e.value == expected => {
                map.remove(key);
                true
            }
            _ => false,
        }
    }

    fn raise_now(&self, key: &str, value: i64, ttl: Duration) -> i64 {
        let now = Instant::now();
        let mut map = self.lock();
        let held = Self::live(&mut map, key, now)
            .and_then(|e| std::str::from_utf8(&e.value).ok()?.parse::<i64>().ok());
        if let Some(held) = held
            && held >= value
        {
            return held;
        }
        map.insert(
            key.to_owned(),
            Entry {
                value: value.to_string().into_bytes(),
                expires: now.checked_add(ttl),
            },
        );
        value
    }
}

impl StateStore for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move { Ok(self.get_now(key)) })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.put_now(key, value, ttl, false);
            Ok(())
        })
    }

    fn put_new<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.put_now(key, value, ttl, true)) })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move { Ok(self.take_now(key)) })
    }

    fn delete_if<'a>(
        &'a self,
        key: &'a str,
        expected: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.delete_if_now(key, expected)) })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.lock().remove(key);
            Ok(())
        })
    }

    fn raise<'a>(
        &'a self,
        key: &'a str,
        value: i64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<i64, StoreError>> {
        Box::pin(async move { Ok(self.raise_now(key, value, ttl)) })
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::MemoryStore;
    use crate::team::store::contract;

    #[tokio::test]
    async fn keeps_the_store_contract() {
        contract::holds(&MemoryStore::new()).await;
        contract::expires(&MemoryStore::new()).await;
        contract::one_winner(Arc::new(MemoryStore::new())).await;
    }
}
