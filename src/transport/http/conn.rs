//! Connections must make progress from their first byte, and idle ones make room.
//!
//! hyper's own header-read timeout starts only once it has sniffed the protocol, so a socket
//! that sends nothing, or part or all of the HTTP/2 preface and then nothing, was never
//! closed. Here every connection is watched from accept: while it has no request in flight
//! (no request whose headers arrived and whose response has not finished) it is closed once
//! [`HttpOptions::header_read_timeout`](super::HttpOptions::header_read_timeout) passes
//! without a new request — on HTTP/1.1 and h2c alike, before the first request and between
//! requests. Bodies are bounded separately by the body read timeout (see `front.rs`); HTTP/2
//! keep-alive pings catch dead peers with streams open.
//!
//! At the connection cap a new connection closes the connection idle the longest (one
//! without a request in flight) instead of being turned away; only when every connection is
//! busy is the new one closed.

use std::{
    collections::HashMap,
    convert::Infallible,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::Request,
    response::Response,
};
use futures_util::future::BoxFuture;
use http_body::{Frame, SizeHint};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Requests in flight on one connection, and since when it has had none.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConnState {
    in_flight: usize,
    idle_since: Instant,
}

struct Entry {
    state: watch::Receiver<ConnState>,
    kill: CancellationToken,
}

/// Open connections, for the cap and for evicting the idle ones.
pub(super) struct Registry {
    conns: Mutex<HashMap<u64, Entry>>,
    next_id: AtomicU64,
    max: usize,
}

/// An admitted connection: its id, state and kill switch.
pub(super) struct Admitted {
    pub id: u64,
    pub state: watch::Sender<ConnState>,
    pub kill: CancellationToken,
}

impl Registry {
    pub(super) fn new(max: usize) -> Self {
        Self {
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Registers a new connection, closing the longest-idle one at the cap; `None` when the
    /// cap is reached and every connection has a request in flight.
    pub(super) fn admit(&self) -> Option<Admitted> {
        let mut conns = self.lock();
        if conns.len() >= self.max {
            let victim = conns
                .iter()
                .filter_map(|(id, e)| {
                    let s = *e.state.borrow();
                    (s.in_flight == 0).then_some((s.idle_since, *id))
                })
                .min()
                .map(|(_, id)| id);
            let victim = victim.and_then(|id| conns.remove(&id))?;
            victim.kill.cancel();
            tracing::debug!("connection limit reached: closed the connection idle the longest");
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (state, rx) = watch::channel(ConnState {
            in_flight: 0,
            idle_since: Instant::now(),
        });
        let kill = CancellationToken::new();
        conns.insert(
            id,
            Entry {
                state: rx,
                kill: kill.clone(),
            },
        );
        Some(Admitted { id, state, kill })
    }

    pub(super) fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }
}

/// Resolves once the connection has had no request in flight for `idle_timeout`.
pub(super) async fn idle_expired(mut state: watch::Receiver<ConnState>, idle_timeout: Duration) {
    loop {
        let now = *state.borrow_and_update();
        if now.in_flight == 0 {
            let deadline = tokio::time::Instant::from_std(now.idle_since + idle_timeout);
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                changed = state.changed() => if changed.is_err() { return },
            }
        } else if state.changed().await.is_err() {
            return;
        }
    }
}

/// The app as seen by one connection: counts its requests in flight until their response
/// bodies finish.
#[derive(Clone)]
pub(super) struct Tracked {
    pub app: Router,
    pub state: Arc<watch::Sender<ConnState>>,
}

struct InFlight(Arc<watch::Sender<ConnState>>);

impl InFlight {
    fn begin(state: Arc<watch::Sender<ConnState>>) -> Self {
        state.send_modify(|s| s.in_flight += 1);
        Self(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.idle_since = Instant::now();
        });
    }
}

impl<B> tower_service::Service<http::Request<B>> for Tracked
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let guard = InFlight::begin(self.state.clone());
        let mut app = self.app.clone();
        let req: Request = req.map(Body::new);
        Box::pin(async move {
            let response = <Router as tower_service::Service<Request>>::call(&mut app, req).await?;
            Ok(response.map(|body| {
                Body::new(Release {
                    inner: body,
                    guard: Some(guard),
                })
            }))
        })
    }
}

/// A response body that ends its request's time in flight when it finishes or is dropped.
struct Release {
    inner: Body,
    guard: Option<InFlight>,
}

impl http_body::Body for Release {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_evicts_the_longest_idle_connection_only() {
        let reg = Registry::new(2);
        let a = reg.admit().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let b = reg.admit().unwrap();
        // a is older, but busy: b goes.
        a.state.send_modify(|s| s.in_flight = 1);
        let c = reg.admit().unwrap();
        assert!(b.kill.is_cancelled());
        assert!(!a.kill.is_cancelled());
        assert_eq!(reg.len(), 2);
        // Everyone busy: refused.
        c.state.send_modify(|s| s.in_flight = 1);
        assert!(reg.admit().is_none());
        assert_eq!(reg.len(), 2);
        reg.remove(c.id);
        assert!(reg.admit().is_some());
    }

    #[tokio::test]
    async fn idleness_is_measured_from_the_last_request() {
        let (tx, rx) = watch::channel(ConnState {
            in_flight: 0,
            idle_since: Instant::now(),
        });
        let started = Instant::now();
        let watcher = tokio::spawn(idle_expired(rx, Duration::from_millis(300)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        tx.send_modify(|s| s.in_flight = 1);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!watcher.is_finished(), "busy connections are not idle");
        tx.send_modify(|s| {
            s.in_flight = 0;
            s.idle_since = Instant::now();
        });
        watcher.await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(800));
    }
}
