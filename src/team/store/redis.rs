//! The Redis engine, for several processes or replicas sharing one state (`redis://…`).
//!
//! One [`ConnectionManager`] (multiplexed, reconnects on its own). Keys are prefixed
//! `capsule-mcp:` so a shared Redis is safe. Each operation is one atomic Redis step:
//! `put` is `SET [PX]`, `put_new` `SET NX [PX]`, `take` `GETDEL` (Redis 6.2 or later),
//! `delete_if` and `raise` small Lua scripts. A Redis that does not answer within
//! [`TIMEOUT`] is an error, not a hang. Errors name the operation and `host:port/db`, never
//! the URL's password.

use std::time::Duration;

use redis::{ConnectionAddr, Script, aio::ConnectionManager, aio::ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};

use super::{BoxFuture, StateStore, StoreError};

const PREFIX: &str = "capsule-mcp:";

/// How long one operation (or the connection at start-up) may take.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The longest TTL sent: a century, well inside what Redis accepts.
const MAX_PX: u128 = 100 * 365 * 24 * 3600 * 1000;

const DELETE_IF: &str = r"
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
";

/// Keeps the larger of the held integer and ARGV[1]; only a raise sets the TTL. Compared as
/// Lua numbers (doubles): exact below 2^53, which epoch milliseconds are for 285,000 years.
const RAISE: &str = r"
local held = redis.call('get', KEYS[1])
if held and string.match(held, '^%-?%d+$') and tonumber(held) >= tonumber(ARGV[1]) then
  return held
end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
";

pub struct RedisStore {
    conn: ConnectionManager,
    /// `host:port/db`, for logs and errors.
    place: String,
    /// Kept only to scrub it from error text, should a client error ever quote it.
    password: Option<SecretString>,
    delete_if: Script,
    raise: Script,
}

fn px(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis().clamp(1, MAX_PX)).unwrap_or(u64::MAX)
}

impl RedisStore {
    /// Connects to `url` and checks it with a PING, within [`TIMEOUT`] or a little over.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url
            .get(..9)
            .is_some_and(|s| s.eq_ignore_ascii_case("rediss://"))
        {
            return Err(StoreError(
                "redis: rediss:// (TLS) is not built into capsule-mcp; use redis:// on a private \
                 network, or reach a TLS-only Redis through a local TLS tunnel (stunnel, \
                 spiped) given as redis://127.0.0.1:PORT"
                    .into(),
            ));
        }
        // The parse error may quote the URL: say what to write instead.
        let client = redis::Client::open(url).map_err(|_| {
            StoreError(
                "redis: --state-url is not a Redis URL; write redis://[:password@]host[:port][/db]"
                    .into(),
            )
        })?;
        let info = client.get_connection_info();
        let place = match info.addr() {
            ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
            other => other.to_string(),
        };
        let place = format!("{place}/{}", info.redis_settings().db());
        let password = info
            .redis_settings()
            .password()
            .filter(|p| !p.is_empty())
            .map(|p| SecretString::from(p.to_owned()));
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let store = Self {
            // Connected below, under a deadline.
            conn: ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
                StoreError(format!("redis {place}: cannot set up a connection: {e}"))
            })?,
            place,
            password,
            delete_if: Script::new(DELETE_IF),
            raise: Script::new(RAISE),
        };
        let pong: String = store
            .run("connect (PING)", {
                let mut c = store.conn.clone();
                async move { redis::cmd("PING").query_async(&mut c).await }
            })
            .await?;
        if pong != "PONG" {
            return Err(store.fail("connect (PING)", format!("answered {pong:?}")));
        }
        Ok(store)
    }

    fn key(key: &str) -> String {
        format!("{PREFIX}{key}")
    }

    fn fail(&self, op: &str, e: impl std::fmt::Display) -> StoreError {
        let mut text = e.to_string();
        if let Some(p) = &self.password {
            text = text.replace(p.expose_secret(), "***");
        }
        StoreError(format!(
            "redis {}: {op} failed: {text}; check that Redis is running, reachable and that \
             --state-url's password and db are right",
            self.place
        ))
    }

    /// Runs one Redis call under [`TIMEOUT`] (plus a margin for the client's own timeout to
    /// speak first), naming `op` in its error.
    async fn run<T>(
        &self,
        op: &str,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(TIMEOUT + Duration::from_secs(1), call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.fail(op, e)),
            Err(_) => Err(self.fail(
                op,
                format!(
                    "no answer within {} s",
                    (TIMEOUT + Duration::from_secs(1)).as_secs()
                ),
            )),
        }
    }

    fn set(key: &str, value: &[u8], ttl: Option<Duration>, only_new: bool) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(Self::key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(px(ttl));
        }
        if only_new {
            cmd.arg("NX");
        }
        cmd
    }
}

impl StateStore for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            self.run("GET", async move {
                redis::cmd("GET")
                    .arg(Self::key(key))
                    .query_async(&mut c)
                    .await
            })
            .await
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            self.run("SET", async move {
                Self::set(key, &value, ttl, false).query_async(&mut c).await
            })
            .await
        })
    }

    fn put_new<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let set: Option<String> = self
                .run("SET NX", async move {
                    Self::set(key, &value, ttl, true).query_async(&mut c).await
                })
                .await?;
            Ok(set.is_some())
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            self.run("GETDEL (needs Redis 6.2 or later)", async move {
                redis::cmd("GETDEL")
                    .arg(Self::key(key))
                    .query_async(&mut c)
                    .await
            })
            .await
        })
    }

    fn delete_if<'a>(
        &'a self,
        key: &'a str,
        expected: &'a [u8],
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let removed: i64 = self
                .run("delete-if script", async move {
                    self.delete_if
                        .key(Self::key(key))
                        .arg(expected)
                        .invoke_async(&mut c)
                        .await
                })
                .await?;
            Ok(removed == 1)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            self.run("DEL", async move {
                redis::cmd("DEL")
                    .arg(Self::key(key))
                    .query_async(&mut c)
                    .await
            })
            .await
        })
    }

    fn raise<'a>(
        &'a self,
        key: &'a str,
        value: i64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<i64, StoreError>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let held: String = self
                .run("raise script", async move {
                    self.raise
                        .key(Self::key(key))
                        .arg(value)
                        .arg(px(ttl))
                        .invoke_async(&mut c)
                        .await
                })
                .await?;
            held.parse()
                .map_err(|_| self.fail("raise script", "it answered something not an integer"))
        })
    }

    fn describe(&self) -> String {
        format!("redis {}", self.place)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::{
        sync::Arc,
        time::{Duration, Instant},
    };

    use super::RedisStore;
    use crate::team::store::{StateStore, contract, open, redis_server::RedisServer};

    fn server() -> RedisServer {
        RedisServer::start().unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn keeps_the_store_contract() {
        let redis = server();
        // A database each, so each part starts from an empty store.
        contract::holds(&RedisStore::connect(&redis.url(1)).await.unwrap()).await;
        contract::expires(&RedisStore::connect(&redis.url(2)).await.unwrap()).await;
        contract::one_winner(Arc::new(RedisStore::connect(&redis.url(3)).await.unwrap())).await;
    }

    #[tokio::test]
    async fn keys_carry_the_prefix_and_values_are_the_bytes() {
        let redis = server();
        let store = RedisStore::connect(&redis.url(0)).await.unwrap();
        assert_eq!(
            store.describe(),
            format!("redis 127.0.0.1:{}/0", redis.port())
        );
        let bytes = vec![0u8, 255, 10, 13];
        store.put("person:1", bytes.clone(), None).await.unwrap();
        store
            .put_new(
                "lock:refresh:1",
                b"n".to_vec(),
                Some(Duration::from_secs(30)),
            )
            .await
            .unwrap();
        let raw = redis::Client::open(redis.url(0)).unwrap();
        let mut raw = raw.get_multiplexed_async_connection().await.unwrap();
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut raw)
            .await
            .unwrap();
        keys.sort();
        assert_eq!(keys, ["capsule-mcp:lock:refresh:1", "capsule-mcp:person:1"]);
        let held: Vec<u8> = redis::cmd("GET")
            .arg("capsule-mcp:person:1")
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(held, bytes);
        let pttl: i64 = redis::cmd("PTTL")
            .arg("capsule-mcp:lock:refresh:1")
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!((25_000..=30_000).contains(&pttl), "{pttl}");
        // A key of someone else's in the same Redis is not ours.
        let () = redis::cmd("SET")
            .arg("other")
            .arg("x")
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(store.get("other").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_raise_keeps_the_ttl_of_a_larger_hold() {
        let redis = server();
        let store = RedisStore::connect(&redis.url(0)).await.unwrap();
        assert_eq!(
            store
                .raise("h", 100, Duration::from_secs(600))
                .await
                .unwrap(),
            100
        );
        assert_eq!(
            store.raise("h", 50, Duration::from_secs(5)).await.unwrap(),
            100
        );
        let raw = redis::Client::open(redis.url(0)).unwrap();
        let mut raw = raw.get_multiplexed_async_connection().await.unwrap();
        let pttl: i64 = redis::cmd("PTTL")
            .arg("capsule-mcp:h")
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!(
            pttl > 500_000,
            "the lower raise must not shorten the hold: {pttl}"
        );
        let big = 1_800_000_000_000_i64;
        assert_eq!(
            store.raise("h", big, Duration::from_secs(5)).await.unwrap(),
            big
        );
        let pttl: i64 = redis::cmd("PTTL")
            .arg("capsule-mcp:h")
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!((1..=5_000).contains(&pttl), "a raise sets its TTL: {pttl}");
        assert_eq!(
            store.raise("h", -3, Duration::from_secs(5)).await.unwrap(),
            big
        );
    }

    #[tokio::test]
    async fn concurrent_raises_end_at_the_max() {
        let redis = server();
        let store: Arc<dyn StateStore> =
            Arc::new(RedisStore::connect(&redis.url(0)).await.unwrap());
        let mut tasks = Vec::new();
        for i in 0..64_i64 {
            let s = store.clone();
            // Shuffled so the largest is not simply the last sent.
            let v = 1_700_000_000_000 + (i * 37) % 64;
            tasks.push(tokio::spawn(async move {
                let held = s.raise("hold", v, Duration::from_secs(60)).await.unwrap();
                assert!(held >= v, "{held} < {v}");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            store.get("hold").await.unwrap().as_deref(),
            Some(b"1700000000063".as_slice())
        );
    }

    #[tokio::test]
    async fn open_connects_and_pings_with_the_password() {
        let redis = RedisServer::start_with_password("CANARY-pw").unwrap_or_else(|e| panic!("{e}"));
        let store = open(Some(&redis.url(4))).await.unwrap();
        assert_eq!(
            store.describe(),
            format!("redis 127.0.0.1:{}/4", redis.port())
        );
        store.put("k", b"v".to_vec(), None).await.unwrap();
        assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        let wrong = format!("redis://:CANARY-wrong@127.0.0.1:{}/0", redis.port());
        let e = open(Some(&wrong)).await.err().unwrap().to_string();
        assert!(e.contains("redis") && e.contains("connect"), "{e}");
        assert!(!e.contains("CANARY"), "{e}");
    }

    #[tokio::test]
    async fn a_redis_that_is_not_there_fails_at_open_quickly_without_the_password() {
        let started = Instant::now();
        let e = open(Some("redis://:hunter2@127.0.0.1:1"))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        assert!(
            e.contains("redis 127.0.0.1:1/0") && e.contains("connect"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[tokio::test]
    async fn a_redis_that_never_answers_is_an_error_not_a_hang() {
        // Accepts connections and says nothing.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let started = Instant::now();
        let e = open(Some(&format!("redis://:hunter2@127.0.0.1:{port}/0")))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert!(e.contains("connect") && !e.contains("hunter2"), "{e}");
        silent.abort();
    }

    #[tokio::test]
    async fn an_operation_on_a_redis_that_stops_answering_times_out() {
        let redis = server();
        let store = RedisStore::connect(&redis.url(0)).await.unwrap();
        store.put("k", b"v".to_vec(), None).await.unwrap();
        let pause = |sig: &str| {
            // The shell's own kill: no procps needed.
            let ok = std::process::Command::new("sh")
                .args(["-c", &format!("kill {sig} {}", redis.pid())])
                .status()
                .expect("sh runs")
                .success();
            assert!(ok, "kill {sig}");
        };
        pause("-STOP");
        let started = Instant::now();
        let e = store.get("k").await.err().map(|e| e.to_string());
        let waited = started.elapsed();
        pause("-CONT");
        let e = e.expect("a paused Redis cannot answer");
        assert!(waited < Duration::from_secs(6), "{waited:?}");
        assert!(e.contains("GET failed"), "{e}");
        // And the manager reconnects once it answers again.
        let mut back = None;
        for _ in 0..20 {
            if let Ok(v) = store.get("k").await {
                back = v;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(back.as_deref(), Some(&b"v"[..]));
    }

    #[tokio::test]
    async fn tls_urls_are_refused_with_what_to_do() {
        let e = open(Some("rediss://:hunter2@example.invalid:6380"))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("rediss://") && e.contains("tunnel"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}
