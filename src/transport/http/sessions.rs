//! Stateful sessions: rmcp's in-memory [`LocalSessionManager`] with a ceiling that evicts
//! instead of refusing, and one request in flight per JSON-RPC id.
//!
//! - **Cap**: at [`HttpOptions::max_sessions`](super::HttpOptions::max_sessions) live
//!   sessions a new `initialize` closes the session idle the longest (no request in flight,
//!   oldest last activity) and takes its place; abandoned sessions cannot lock new clients
//!   out. Only when every session has a request running is the new one refused (503).
//! - **In-flight ids**: rmcp routes answers by JSON-RPC id, so a second request reusing an id
//!   still in flight in the same session would take the first one's stream and leave one
//!   answer lost. The second is refused (`-32600`, HTTP 400) and never runs; the id is free
//!   again when its response stream ends (answered, cancelled, or dropped by the client).
//! - **Direct calls** (`direct.rs`): a `tools/call` in a session whose handler state it cannot
//!   change (no log level set, and no client that would be asked before a delete) may be run
//!   outside rmcp's session worker. It is booked here like any request (in flight, activity),
//!   and because rmcp's worker then never sees it, idle sessions are reaped here
//!   ([`Sessions::spawn_reaper`]) instead of by rmcp's keep-alive.

use std::{
    collections::{HashMap, HashSet},
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError, atomic::Ordering},
    task::{Context, Poll},
    time::Instant,
};

use futures_util::Stream;
use rmcp::{
    model::{ClientJsonRpcMessage, RequestId, ServerJsonRpcMessage},
    transport::streamable_http_server::session::{
        ServerSseMessage, SessionId, SessionManager,
        local::{LocalSessionManager, LocalSessionManagerError},
    },
};

use super::front::SIGNALS;

#[derive(Debug)]
struct Activity {
    in_flight: HashSet<RequestId>,
    /// Last time a request, notification or stream touched the session, or a request ended.
    last: Instant,
    /// What the front end saw of the session, once its `initialize` was answered.
    facts: Option<Facts>,
}

/// What decides whether a session's calls may run outside its rmcp worker.
#[derive(Debug, Clone, Copy)]
struct Facts {
    /// The client can answer elicitations: a delete would ask it first.
    elicits: bool,
    /// The client set a log level: calls send it log notifications.
    logs: bool,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: HashSet::new(),
            last: Instant::now(),
            facts: None,
        }
    }
}

/// Whether a session's `tools/call` runs directly.
pub(super) enum Begin {
    /// Yes: the request is booked in flight until the guard drops.
    Go(InFlightGuard),
    /// The id is already in flight in this session: refuse it, as rmcp's path would.
    Duplicate,
    /// Leave it to rmcp (an unknown or closed session, a log level set, a delete to confirm).
    Rmcp,
}

type ActivityMap = Arc<Mutex<HashMap<SessionId, Activity>>>;

fn lock(map: &ActivityMap) -> MutexGuard<'_, HashMap<SessionId, Activity>> {
    map.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) struct Sessions {
    inner: LocalSessionManager,
    max_sessions: usize,
    /// Serializes count-evict-create so concurrent `initialize`s cannot overshoot the cap.
    create_lock: tokio::sync::Mutex<()>,
    activity: ActivityMap,
}

impl Sessions {
    pub(super) fn new(inner: LocalSessionManager, max_sessions: usize) -> Self {
        Self {
            inner,
            max_sessions,
            create_lock: tokio::sync::Mutex::new(()),
            activity: Arc::default(),
        }
    }

    /// The session `id` was created by an `initialize` whose client `elicits` or not.
    pub(super) fn record_initialize(&self, id: &str, elicits: bool) {
        if let Some(a) = lock(&self.activity).get_mut(id) {
            a.facts = Some(Facts {
                elicits,
                logs: false,
            });
        }
    }

    /// The session's client asked for log notifications: its calls stay with rmcp.
    pub(super) fn record_log_level(&self, id: &str) {
        if let Some(Some(f)) = lock(&self.activity).get_mut(id).map(|a| a.facts.as_mut()) {
            f.logs = true;
        }
    }

    /// Books request `rid` of session `id` to run directly, when nothing of the session's
    /// handler state matters to it; `deletes` is a tool that would ask before deleting.
    pub(super) async fn begin_direct(&self, id: &str, rid: &RequestId, deletes: bool) -> Begin {
        let sid: SessionId = id.into();
        if !self.inner.has_session(&sid).await.unwrap_or(false) {
            return Begin::Rmcp;
        }
        let mut activity = lock(&self.activity);
        let Some(entry) = activity.get_mut(id) else {
            return Begin::Rmcp;
        };
        match entry.facts {
            // Not when logs are on, nor for a delete the client would be asked to confirm.
            Some(f) if !(f.logs || deletes && f.elicits) => {}
            _ => return Begin::Rmcp,
        }
        match self.book(entry, sid, rid) {
            Some(guard) => Begin::Go(guard),
            None => Begin::Duplicate,
        }
    }

    /// Puts `rid` in flight in the session `entry` is, until the guard drops; `None` when
    /// the id already is.
    fn book(&self, entry: &mut Activity, sid: SessionId, rid: &RequestId) -> Option<InFlightGuard> {
        entry.last = Instant::now();
        if !entry.in_flight.insert(rid.clone()) {
            tracing::warn!(%rid, "refused a request whose id is in flight in its session");
            return None;
        }
        Some(InFlightGuard {
            activity: self.activity.clone(),
            session: sid,
            request: rid.clone(),
        })
    }

    /// Closes sessions idle (nothing in flight, no activity) for longer than `idle`, checking
    /// a few times per `idle`, until `shutdown`. Used instead of rmcp's keep-alive when calls
    /// may bypass its session worker.
    pub(super) fn spawn_reaper(
        self: &Arc<Self>,
        idle: std::time::Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let sessions = Arc::downgrade(self);
        let every = (idle / 4).clamp(
            std::time::Duration::from_millis(50),
            std::time::Duration::from_secs(30),
        );
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                let Some(sessions) = sessions.upgrade() else {
                    return;
                };
                let expired: Vec<SessionId> = lock(&sessions.activity)
                    .iter()
                    .filter(|(_, a)| a.in_flight.is_empty() && a.last.elapsed() > idle)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in expired {
                    tracing::debug!("closing a session idle for the session idle timeout");
                    let _ = sessions.close_session(&id).await;
                }
            }
        });
    }

    fn touch(&self, id: &SessionId) {
        lock(&self.activity)
            .entry(id.clone())
            .or_insert_with(Activity::new)
            .last = Instant::now();
    }

    /// The live session idle the longest, if any has no request in flight.
    async fn eviction_candidate(&self) -> Option<SessionId> {
        let live: HashSet<SessionId> = self.inner.sessions.read().await.keys().cloned().collect();
        let activity = lock(&self.activity);
        live.into_iter()
            .filter_map(|id| match activity.get(&id) {
                Some(a) if !a.in_flight.is_empty() => None,
                Some(a) => Some((Some(a.last), id)),
                // Never seen by this wrapper (not possible in practice): the oldest of all.
                None => Some((None, id)),
            })
            .min_by_key(|(last, _)| *last)
            .map(|(_, id)| id)
    }
}

#[derive(Debug, thiserror::Error)]
pub(super) enum SessionsError {
    #[error("session limit of {0} live sessions reached, each with a request in flight")]
    LimitReached(usize),
    #[error("request id {0} is already in flight in this session")]
    DuplicateId(RequestId),
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

type LocalTransport = <LocalSessionManager as SessionManager>::Transport;

impl SessionManager for Sessions {
    type Error = SessionsError;
    type Transport = LocalTransport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let _serialized = self.create_lock.lock().await;
        let live = self.inner.sessions.read().await.len();
        if live >= self.max_sessions {
            let Some(victim) = self.eviction_candidate().await else {
                let _ = SIGNALS.try_with(|s| s.cap_hit.store(true, Ordering::Relaxed));
                tracing::warn!(
                    live,
                    max = self.max_sessions,
                    "refused a new session: every session has a request in flight"
                );
                return Err(SessionsError::LimitReached(self.max_sessions));
            };
            tracing::info!(
                live,
                max = self.max_sessions,
                "session limit reached: closing the session idle the longest"
            );
            lock(&self.activity).remove(&victim);
            self.inner.close_session(&victim).await?;
        }
        let (id, transport) = self.inner.create_session().await?;
        lock(&self.activity).insert(id.clone(), Activity::new());
        tracing::debug!(
            live = live.min(self.max_sessions - 1) + 1,
            "MCP session created"
        );
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.touch(id);
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        lock(&self.activity).remove(id);
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let request_id = match &message {
            ClientJsonRpcMessage::Request(r) => Some(r.id.clone()),
            _ => None,
        };
        let guard = match request_id {
            Some(rid) => {
                let mut activity = lock(&self.activity);
                let entry = activity.entry(id.clone()).or_insert_with(Activity::new);
                let Some(guard) = self.book(entry, id.clone(), &rid) else {
                    drop(activity);
                    let _ = SIGNALS.try_with(|s| s.duplicate_id.store(true, Ordering::Relaxed));
                    return Err(SessionsError::DuplicateId(rid));
                };
                Some(guard)
            }
            None => {
                self.touch(id);
                None
            }
        };
        // On error the guard drops here and frees the id.
        let stream = self.inner.create_stream(id, message).await?;
        Ok(Tracked {
            inner: Box::pin(stream),
            guard,
        })
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.touch(id);
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        Ok(self.inner.resume(id, last_event_id).await?)
    }
    // `restore_session` keeps the trait default (NotSupported): there is no external session
    // store, and restoring would bypass the cap.
}

/// Holds a request id in flight in its session until dropped.
pub(super) struct InFlightGuard {
    activity: ActivityMap,
    session: SessionId,
    request: RequestId,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Some(a) = lock(&self.activity).get_mut(&self.session) {
            a.in_flight.remove(&self.request);
            a.last = Instant::now();
        }
    }
}

/// A request's response stream; the request is in flight until the stream ends or is dropped.
struct Tracked {
    inner: Pin<Box<dyn Stream<Item = ServerSseMessage> + Send + Sync>>,
    guard: Option<InFlightGuard>,
}

impl Stream for Tracked {
    type Item = ServerSseMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let polled = this.inner.as_mut().poll_next(cx);
        if let Poll::Ready(None) = polled {
            this.guard = None;
        }
        polled
    }
}
