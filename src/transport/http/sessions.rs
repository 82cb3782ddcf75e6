//! Stateful sessions: kept here, with rmcp's session worker ([`LocalSessionManager`]) started
//! only while a request needs it, a ceiling that evicts instead of refusing, and one request
//! in flight per JSON-RPC id.
//!
//! - **Dormant sessions**: a plain `initialize` is answered by the front end, which opens the
//!   session here ([`Sessions::open`]) without an rmcp worker: the worker's channels and tasks
//!   are most of a session's memory (about 126 KB each), and the calls a session makes mostly
//!   run without it (`direct.rs`). A request only rmcp serves (a delete the client confirms,
//!   resources, prompts, a log level…) wakes the session: rmcp gets a worker under the same
//!   id, the session's `initialize` is replayed into it, and the request goes on. A woken
//!   session goes dormant again after [`DOZE_AFTER`] without an rmcp request, unless its
//!   client set a log level (the level lives in the worker's handler). Sessions rmcp created
//!   itself (an `initialize` the front end left to it) keep their worker for life.
//! - **Standalone stream** (`GET /mcp`): always ours ([`Standalone`]). A dormant session's
//!   stays open without waking it; while the session is awake it carries rmcp's session-wide
//!   messages (log notifications), as rmcp's own stream would.
//! - **Cap**: at [`HttpOptions::max_sessions`](super::HttpOptions::max_sessions) sessions a
//!   new `initialize` closes the session idle the longest (no request in flight, oldest last
//!   activity) and takes its place; abandoned sessions cannot lock new clients out. Only when
//!   every session has a request running is the new one refused (503).
//! - **In-flight ids**: rmcp routes answers by JSON-RPC id, so a second request reusing an id
//!   still in flight in the same session would take the first one's stream and leave one
//!   answer lost. The second is refused (`-32600`, HTTP 400) and never runs; the id is free
//!   again when its response stream ends (answered, cancelled, or dropped by the client).
//! - **Direct calls** (`direct.rs`): a `tools/call` in a session whose handler state it cannot
//!   change (no log level set, and no client that would be asked before a delete) runs
//!   outside rmcp. It is booked here like any request (in flight, activity); idle sessions are
//!   reaped here ([`Sessions::spawn_reaper`]) instead of by rmcp's keep-alive.

use std::{
    collections::{HashMap, HashSet},
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError, atomic::Ordering},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures_util::Stream;
use rmcp::{
    model::{
        ClientJsonRpcMessage, ClientNotification, ClientRequest, InitializeRequest,
        InitializeRequestParams, InitializedNotification, NumberOrString, RequestId,
        ServerJsonRpcMessage,
    },
    transport::{
        common::server_side_http::session_id,
        streamable_http_server::{
            RestoreOutcome,
            session::{
                ServerSseMessage, SessionId, SessionManager,
                local::{LocalSessionManager, LocalSessionManagerError},
            },
        },
    },
};
use tokio::sync::{mpsc, oneshot};

use super::front::SIGNALS;

/// How long a woken session keeps its rmcp worker after its last rmcp request.
pub(super) const DOZE_AFTER: Duration = Duration::from_secs(10);

type LocalTransport = <LocalSessionManager as SessionManager>::Transport;

/// Starts a session's rmcp service on a worker's transport; the receiver hears once its
/// handshake is done (and is dropped unheard if it failed).
pub(super) type Start = Box<dyn Fn(LocalTransport) -> oneshot::Receiver<()> + Send + Sync>;

/// A stream of rmcp's session-wide messages, handed to a [`Standalone`] stream.
type Upstream = Pin<Box<dyn Stream<Item = ServerSseMessage> + Send + Sync>>;

#[derive(Debug)]
struct Session {
    in_flight: HashSet<RequestId>,
    /// Last time a request, notification or stream touched the session, or a request ended.
    last: Instant,
    /// What the front end saw of the session, once its `initialize` was answered.
    facts: Option<Facts>,
    /// The `initialize` a dormant session replays into a new worker; `None` for a session
    /// rmcp created, which keeps its worker for life.
    init: Option<Arc<InitializeRequestParams>>,
    /// rmcp has a worker for the session.
    awake: bool,
    /// rmcp requests of the session whose response stream is open.
    rmcp_busy: usize,
    /// When rmcp last finished or began a request of the session.
    rmcp_last: Instant,
    /// Open standalone streams; rmcp's session-wide messages go to them while awake.
    standalone: Vec<mpsc::UnboundedSender<Upstream>>,
}

/// What decides whether a session's calls may run outside its rmcp worker.
#[derive(Debug, Clone, Copy)]
struct Facts {
    /// The client can answer elicitations: a delete would ask it first.
    elicits: bool,
    /// The client set a log level: calls send it log notifications.
    logs: bool,
}

impl Facts {
    /// What a session's `initialize` says, before any log level is set.
    fn of(init: &InitializeRequestParams) -> Self {
        Self {
            elicits: init.capabilities.elicitation.is_some(),
            logs: false,
        }
    }
}

impl Session {
    fn new(init: Option<Arc<InitializeRequestParams>>, facts: Option<Facts>) -> Self {
        let now = Instant::now();
        Self {
            in_flight: HashSet::new(),
            last: now,
            facts,
            awake: init.is_none(),
            init,
            rmcp_busy: 0,
            rmcp_last: now,
            standalone: Vec::new(),
        }
    }

    fn may_doze(&self, after: Duration) -> bool {
        self.awake
            && self.init.is_some()
            && self.rmcp_busy == 0
            && !self.facts.is_some_and(|f| f.logs)
            && self.rmcp_last.elapsed() > after
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

type SessionMap = Arc<Mutex<HashMap<SessionId, Session>>>;

fn lock(map: &SessionMap) -> MutexGuard<'_, HashMap<SessionId, Session>> {
    map.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) struct Sessions {
    inner: LocalSessionManager,
    start: Start,
    max_sessions: usize,
    /// Serializes count-evict-create so concurrent `initialize`s cannot overshoot the cap.
    create_lock: tokio::sync::Mutex<()>,
    /// Serializes starting and stopping workers, and what must not race with either: a
    /// message handed to a worker, a standalone stream attached to one.
    worker_lock: tokio::sync::Mutex<()>,
    sessions: SessionMap,
}

impl Sessions {
    pub(super) fn new(inner: LocalSessionManager, start: Start, max_sessions: usize) -> Self {
        Self {
            inner,
            start,
            max_sessions,
            create_lock: tokio::sync::Mutex::new(()),
            worker_lock: tokio::sync::Mutex::new(()),
            sessions: Arc::default(),
        }
    }

    /// Opens a dormant session for a client that sent this `initialize` (already answered
    /// by the front end); `Err` when every session has a request in flight.
    pub(super) async fn open(
        &self,
        init: InitializeRequestParams,
    ) -> Result<SessionId, SessionsError> {
        let _serialized = self.create_lock.lock().await;
        self.make_room().await?;
        let id = session_id();
        let facts = Facts::of(&init);
        lock(&self.sessions).insert(id.clone(), Session::new(Some(Arc::new(init)), Some(facts)));
        tracing::debug!("MCP session opened");
        Ok(id)
    }

    /// The session `id` was created by rmcp for this `initialize`.
    pub(super) fn record_initialize(&self, id: &str, init: &InitializeRequestParams) {
        if let Some(s) = lock(&self.sessions).get_mut(id) {
            s.facts = Some(Facts::of(init));
        }
    }

    /// The session's client asked for log notifications: its calls stay with rmcp, and its
    /// worker with it.
    pub(super) fn record_log_level(&self, id: &str) {
        if let Some(Some(f)) = lock(&self.sessions).get_mut(id).map(|s| s.facts.as_mut()) {
            f.logs = true;
        }
    }

    /// Books request `rid` of session `id` to run directly, when nothing of the session's
    /// handler state matters to it; `deletes` is a tool that would ask before deleting.
    pub(super) fn begin_direct(&self, id: &str, rid: &RequestId, deletes: bool) -> Begin {
        let mut sessions = lock(&self.sessions);
        // The map's own key, so booking allocates no new one.
        let Some(sid) = sessions.get_key_value(id).map(|(sid, _)| sid.clone()) else {
            return Begin::Rmcp;
        };
        let Some(entry) = sessions.get_mut(id) else {
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
    fn book(&self, entry: &mut Session, sid: SessionId, rid: &RequestId) -> Option<InFlightGuard> {
        entry.last = Instant::now();
        if !entry.in_flight.insert(rid.clone()) {
            tracing::warn!(%rid, "refused a request whose id is in flight in its session");
            return None;
        }
        Some(InFlightGuard {
            sessions: self.sessions.clone(),
            session: sid,
            request: rid.clone(),
            rmcp: false,
        })
    }

    /// Closes sessions idle (nothing in flight, no activity) for longer than `idle`, and puts
    /// woken sessions back to sleep after [`DOZE_AFTER`], checking a few times per period,
    /// until `shutdown`. Used instead of rmcp's keep-alive, which never sees direct calls.
    pub(super) fn spawn_reaper(
        self: &Arc<Self>,
        idle: Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let sessions = Arc::downgrade(self);
        let every = (idle / 4)
            .min(DOZE_AFTER / 2)
            .max(Duration::from_millis(50));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                let Some(sessions) = sessions.upgrade() else {
                    return;
                };
                let expired: Vec<SessionId> = lock(&sessions.sessions)
                    .iter()
                    .filter(|(_, s)| s.in_flight.is_empty() && s.last.elapsed() > idle)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in expired {
                    tracing::debug!("closing a session idle for the session idle timeout");
                    let _ = sessions.close_session(&id).await;
                }
                sessions.doze(DOZE_AFTER).await;
            }
        });
    }

    /// Stops the workers of woken sessions rmcp has not served for `after`.
    async fn doze(&self, after: Duration) {
        let _workers = self.worker_lock.lock().await;
        let drowsy: Vec<SessionId> = lock(&self.sessions)
            .iter_mut()
            .filter(|(_, s)| s.may_doze(after))
            .map(|(id, s)| {
                s.awake = false;
                id.clone()
            })
            .collect();
        for id in drowsy {
            tracing::debug!("a session's rmcp worker stopped: no rmcp request for a while");
            if let Err(e) = self.inner.close_session(&id).await {
                tracing::debug!(error = %e, "a dozing session's worker did not close cleanly");
            }
        }
    }

    /// Gives a dormant session `id` an rmcp worker, its `initialize` replayed; the caller
    /// holds the worker lock. Nothing to do for a session awake or gone.
    async fn wake(&self, id: &SessionId) -> Result<(), SessionsError> {
        let init = match lock(&self.sessions).get(id) {
            Some(s) if !s.awake => s.init.clone(),
            _ => None,
        };
        let Some(init) = init else {
            return Ok(());
        };
        let transport = match self.inner.restore_session(id.clone()).await? {
            RestoreOutcome::Restored(transport) => transport,
            // The worker is there already.
            _ => return Ok(()),
        };
        let started = (self.start)(transport);
        match self.replay(id, &init, started).await {
            Ok(()) => {}
            Err(e) => {
                let _ = self.inner.close_session(id).await;
                return Err(e);
            }
        }
        let open = lock(&self.sessions).get_mut(id).map(|s| {
            s.awake = true;
            s.rmcp_last = Instant::now();
            s.standalone.retain(|tx| !tx.is_closed());
            s.standalone.clone()
        });
        let Some(open) = open else {
            // Closed meanwhile.
            let _ = self.inner.close_session(id).await;
            return Ok(());
        };
        tracing::debug!("a dormant session got an rmcp worker");
        for tx in open {
            self.attach(id, &tx, None).await?;
        }
        Ok(())
    }

    /// The handshake a new worker needs before it serves requests.
    async fn replay(
        &self,
        id: &SessionId,
        init: &InitializeRequestParams,
        started: oneshot::Receiver<()>,
    ) -> Result<(), SessionsError> {
        let request = ClientJsonRpcMessage::request(
            ClientRequest::InitializeRequest(InitializeRequest::new(init.clone())),
            NumberOrString::Number(0),
        );
        self.inner.initialize_session(id, request).await?;
        let initialized = ClientJsonRpcMessage::notification(
            ClientNotification::InitializedNotification(InitializedNotification::default()),
        );
        self.inner.accept_message(id, initialized).await?;
        started.await.map_err(|_| SessionsError::NoWorker)
    }

    /// Hands the worker's session-wide messages to the standalone stream `tx`: from
    /// `last_event_id` on when given, as rmcp resumes its own stream.
    async fn attach(
        &self,
        id: &SessionId,
        tx: &mpsc::UnboundedSender<Upstream>,
        last_event_id: Option<String>,
    ) -> Result<(), SessionsError> {
        let upstream: Upstream = match last_event_id {
            Some(last) => Box::pin(self.inner.resume(id, last).await?),
            None => Box::pin(self.inner.create_standalone_stream(id).await?),
        };
        // A stream the client already closed needs nothing.
        let _ = tx.send(upstream);
        Ok(())
    }

    /// A new standalone stream for session `id`, fed by its worker while it is awake.
    async fn standalone(
        &self,
        id: &SessionId,
        last_event_id: Option<String>,
    ) -> Result<Standalone, SessionsError> {
        let _workers = self.worker_lock.lock().await;
        let (tx, rx) = mpsc::unbounded_channel();
        let awake = match lock(&self.sessions).get_mut(id) {
            Some(s) => {
                s.last = Instant::now();
                s.standalone.retain(|tx| !tx.is_closed());
                s.standalone.push(tx.clone());
                s.awake
            }
            None => return Err(SessionsError::Gone),
        };
        if awake {
            self.attach(id, &tx, last_event_id).await?;
        }
        Ok(Standalone {
            attach: rx,
            upstream: None,
        })
    }

    fn touch(&self, id: &SessionId) {
        if let Some(s) = lock(&self.sessions).get_mut(id) {
            s.last = Instant::now();
        }
    }

    /// Below the cap, or made so by closing the session idle the longest.
    async fn make_room(&self) -> Result<(), SessionsError> {
        let live = lock(&self.sessions).len();
        if live < self.max_sessions {
            return Ok(());
        }
        let Some(victim) = self.eviction_candidate() else {
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
        self.close_session(&victim).await
    }

    /// The session idle the longest, if any has no request in flight.
    fn eviction_candidate(&self) -> Option<SessionId> {
        lock(&self.sessions)
            .iter()
            .filter(|(_, s)| s.in_flight.is_empty())
            .min_by_key(|(_, s)| s.last)
            .map(|(id, _)| id.clone())
    }

    #[cfg(test)]
    fn is_awake(&self, id: &SessionId) -> Option<bool> {
        lock(&self.sessions).get(id).map(|s| s.awake)
    }
}

#[derive(Debug, thiserror::Error)]
pub(super) enum SessionsError {
    #[error("session limit of {0} live sessions reached, each with a request in flight")]
    LimitReached(usize),
    #[error("request id {0} is already in flight in this session")]
    DuplicateId(RequestId),
    #[error("the session is closed")]
    Gone,
    #[error("the session's rmcp worker did not start")]
    NoWorker,
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

impl SessionManager for Sessions {
    type Error = SessionsError;
    type Transport = LocalTransport;

    /// An `initialize` the front end left to rmcp: a session with a worker for life.
    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let _serialized = self.create_lock.lock().await;
        self.make_room().await?;
        let (id, transport) = self.inner.create_session().await?;
        lock(&self.sessions).insert(id.clone(), Session::new(None, None));
        tracing::debug!("MCP session created by rmcp");
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
        Ok(lock(&self.sessions).contains_key(id))
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let _workers = self.worker_lock.lock().await;
        // Dropping the record drops its standalone streams' senders: they end.
        let removed = lock(&self.sessions).remove(id);
        match removed {
            Some(s) if !s.awake => Ok(()),
            _ => Ok(self.inner.close_session(id).await?),
        }
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let guard = match &message {
            ClientJsonRpcMessage::Request(r) => {
                let mut sessions = lock(&self.sessions);
                let Some(entry) = sessions.get_mut(id) else {
                    return Err(SessionsError::Gone);
                };
                let Some(guard) = self.book(entry, id.clone(), &r.id) else {
                    drop(sessions);
                    let _ = SIGNALS.try_with(|s| s.duplicate_id.store(true, Ordering::Relaxed));
                    return Err(SessionsError::DuplicateId(r.id.clone()));
                };
                Some(guard)
            }
            _ => {
                self.touch(id);
                None
            }
        };
        // On error the guard drops here and frees the id.
        let guard = {
            let _workers = self.worker_lock.lock().await;
            self.wake(id).await?;
            let mut sessions = lock(&self.sessions);
            let Some(s) = sessions.get_mut(id) else {
                return Err(SessionsError::Gone);
            };
            s.rmcp_busy += 1;
            s.rmcp_last = Instant::now();
            guard.map(InFlightGuard::with_rmcp)
        };
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
        let _workers = self.worker_lock.lock().await;
        if lock(&self.sessions).get(id).is_some_and(|s| !s.awake) {
            // `notifications/initialized`, or a cancellation of a direct call, or a change of
            // roots: nothing here acts on them, and a dormant session sent no request to
            // answer.
            return Ok(());
        }
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.standalone(id, None).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        // rmcp's event ids: `<index>` on the standalone stream, `<index>/<request>` on a
        // request's.
        if !last_event_id.contains('/') {
            let stream: Upstream = Box::pin(self.standalone(id, Some(last_event_id)).await?);
            return Ok(stream);
        }
        self.touch(id);
        let _workers = self.worker_lock.lock().await;
        match lock(&self.sessions).get(id) {
            Some(s) if s.awake => {}
            // A dormant session has no request stream to resume.
            _ => return Err(SessionsError::Gone),
        }
        let stream: Upstream = Box::pin(self.inner.resume(id, last_event_id).await?);
        Ok(stream)
    }
    // `restore_session` keeps the trait default (NotSupported): there is no external session
    // store, and restoring would bypass the cap.
}

/// Holds a request id in flight in its session until dropped, and for an rmcp request, the
/// session's worker awake.
pub(super) struct InFlightGuard {
    sessions: SessionMap,
    session: SessionId,
    request: RequestId,
    rmcp: bool,
}

impl InFlightGuard {
    fn with_rmcp(mut self) -> Self {
        self.rmcp = true;
        self
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let Some(s) = lock(&self.sessions).get_mut(&self.session) {
            s.in_flight.remove(&self.request);
            s.last = Instant::now();
            if self.rmcp {
                s.rmcp_busy = s.rmcp_busy.saturating_sub(1);
                s.rmcp_last = s.last;
            }
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

/// A session's standalone stream: open as long as the session is, whether or not it has a
/// worker; while it has, the worker's session-wide messages pass through.
struct Standalone {
    /// Each time the session wakes, the worker's stream; closed when the session closes.
    attach: mpsc::UnboundedReceiver<Upstream>,
    upstream: Option<Upstream>,
}

impl Stream for Standalone {
    type Item = ServerSseMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.attach.poll_recv(cx) {
                Poll::Ready(Some(upstream)) => this.upstream = Some(upstream),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => break,
            }
        }
        let Some(upstream) = this.upstream.as_mut() else {
            return Poll::Pending;
        };
        match upstream.as_mut().poll_next(cx) {
            // The worker stopped (the session dozed): wait for the next one.
            Poll::Ready(None) => {
                this.upstream = None;
                Poll::Pending
            }
            other => other,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
