use std::time::Duration;

use futures_util::StreamExt as _;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        ClientCapabilities, ClientRequest, Implementation, ListToolsResult, PaginatedRequestParams,
        PingRequest, ProtocolVersion, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
};
use tokio_util::sync::CancellationToken;

use super::*;

/// Answers pings; a `tools/list` also tells the client, session-wide, that tools changed.
#[derive(Clone)]
struct Notifier;

impl ServerHandler for Notifier {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let _ = ctx.peer.notify_tool_list_changed().await;
        Ok(ListToolsResult::default())
    }
}

fn sessions(max: usize) -> Sessions {
    let start = super::super::start_worker(Arc::new(|| Notifier), CancellationToken::new());
    Sessions::new(LocalSessionManager::default(), start, max)
}

fn init() -> InitializeRequestParams {
    InitializeRequestParams::new(
        ClientCapabilities::default(),
        Implementation::new("test", "0"),
    )
    .with_protocol_version(ProtocolVersion::V_2025_06_18)
}

fn request(id: i64, request: ClientRequest) -> ClientJsonRpcMessage {
    ClientJsonRpcMessage::request(request, NumberOrString::Number(id))
}

fn ping(id: i64) -> ClientJsonRpcMessage {
    request(id, ClientRequest::PingRequest(PingRequest::default()))
}

fn list_tools(id: i64) -> ClientJsonRpcMessage {
    request(
        id,
        ClientRequest::ListToolsRequest(rmcp::model::ListToolsRequest::default()),
    )
}

/// The next message of `stream` that carries one, within a second.
async fn next_message(stream: &mut (impl Stream<Item = ServerSseMessage> + Unpin)) -> Value {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(1), stream.next())
            .await
            .expect("a message within a second")
            .expect("the stream is open");
        if let Some(message) = event.message {
            return serde_json::to_value(&*message).unwrap();
        }
    }
}

use serde_json::Value;

/// Nothing arrives on `stream`, and it stays open, for a short while.
async fn quiet(stream: &mut (impl Stream<Item = ServerSseMessage> + Unpin)) {
    let next = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
    assert!(next.is_err(), "the stream should stay open and quiet");
}

#[tokio::test]
async fn a_session_opens_and_streams_without_a_worker_and_wakes_for_an_rmcp_request() {
    let sessions = sessions(10);
    let id = sessions.open(init()).await.unwrap();
    assert!(sessions.has_session(&id).await.unwrap());
    assert_eq!(sessions.is_awake(&id), Some(false));
    assert!(
        !sessions.inner.has_session(&id).await.unwrap(),
        "no worker yet"
    );

    // The initialized notification and a GET stream leave it dormant.
    let initialized = ClientJsonRpcMessage::notification(
        ClientNotification::InitializedNotification(InitializedNotification::default()),
    );
    sessions.accept_message(&id, initialized).await.unwrap();
    let mut standalone = Box::pin(sessions.create_standalone_stream(&id).await.unwrap());
    assert_eq!(sessions.is_awake(&id), Some(false));
    quiet(&mut standalone).await;

    // A request for rmcp starts the worker, whose handshake was replayed, and is answered.
    let mut answer = Box::pin(sessions.create_stream(&id, ping(1)).await.unwrap());
    assert_eq!(sessions.is_awake(&id), Some(true));
    assert!(sessions.inner.has_session(&id).await.unwrap());
    let pong = next_message(&mut answer).await;
    assert_eq!(pong["id"], 1, "{pong}");
    assert!(pong.get("result").is_some(), "{pong}");

    // Session-wide messages of the worker reach the stream opened while it was dormant.
    let mut listed = Box::pin(sessions.create_stream(&id, list_tools(2)).await.unwrap());
    let changed = next_message(&mut standalone).await;
    assert_eq!(
        changed["method"], "notifications/tools/list_changed",
        "{changed}"
    );
    assert_eq!(next_message(&mut listed).await["id"], 2);

    // Not while a request of rmcp's is open; then it dozes, and the stream stays open.
    sessions.doze(Duration::ZERO).await;
    assert_eq!(sessions.is_awake(&id), Some(true), "an rmcp stream is open");
    drop((answer, listed));
    sessions.doze(Duration::ZERO).await;
    assert_eq!(sessions.is_awake(&id), Some(false));
    assert!(!sessions.inner.has_session(&id).await.unwrap());
    quiet(&mut standalone).await;

    // It wakes again, and the same stream gets the new worker's messages.
    let mut listed = Box::pin(sessions.create_stream(&id, list_tools(3)).await.unwrap());
    let changed = next_message(&mut standalone).await;
    assert_eq!(
        changed["method"], "notifications/tools/list_changed",
        "{changed}"
    );
    assert_eq!(next_message(&mut listed).await["id"], 3);
    drop(listed);

    // Closing the session ends its stream.
    sessions.close_session(&id).await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(1), standalone.next()).await;
    assert!(matches!(end, Ok(None)), "the stream ends with the session");
    assert!(!sessions.has_session(&id).await.unwrap());
    assert!(!sessions.inner.has_session(&id).await.unwrap());
}

#[tokio::test]
async fn a_session_with_a_log_level_keeps_its_worker() {
    let sessions = sessions(10);
    let id = sessions.open(init()).await.unwrap();
    sessions.record_log_level(&id);
    drop(sessions.create_stream(&id, ping(1)).await.unwrap());
    sessions.doze(Duration::ZERO).await;
    assert_eq!(sessions.is_awake(&id), Some(true));
}

#[tokio::test]
async fn a_dormant_session_takes_notifications_and_direct_calls_without_waking() {
    let sessions = sessions(10);
    let id = sessions.open(init()).await.unwrap();
    let cancelled = ClientJsonRpcMessage::notification(ClientNotification::CancelledNotification(
        rmcp::model::CancelledNotification::new(rmcp::model::CancelledNotificationParam::new(
            Some(NumberOrString::Number(7)),
            None,
        )),
    ));
    sessions.accept_message(&id, cancelled).await.unwrap();
    let rid = NumberOrString::Number(7);
    let Begin::Go(booked) = sessions.begin_direct(&id, &rid, false) else {
        panic!("a direct call");
    };
    assert!(matches!(
        sessions.begin_direct(&id, &rid, false),
        Begin::Duplicate
    ));
    drop(booked);
    assert!(matches!(
        sessions.begin_direct(&id, &rid, false),
        Begin::Go(_)
    ));
    assert_eq!(sessions.is_awake(&id), Some(false));
}

#[tokio::test]
async fn at_the_cap_a_new_session_replaces_the_one_idle_longest() {
    let sessions = sessions(2);
    let first = sessions.open(init()).await.unwrap();
    let second = sessions.open(init()).await.unwrap();
    // The first one woke, and is idle the longest once its request ends.
    drop(sessions.create_stream(&first, ping(1)).await.unwrap());
    sessions.touch(&second);
    let third = sessions.open(init()).await.unwrap();
    assert!(!sessions.has_session(&first).await.unwrap());
    assert!(
        !sessions.inner.has_session(&first).await.unwrap(),
        "its worker stopped"
    );
    assert!(sessions.has_session(&second).await.unwrap());
    assert!(sessions.has_session(&third).await.unwrap());

    // With a request in flight in every session, none makes room.
    let rid = NumberOrString::Number(1);
    let _busy = [second, third].map(|id| match sessions.begin_direct(&id, &rid, false) {
        Begin::Go(guard) => guard,
        _ => panic!("a direct call"),
    });
    assert!(matches!(
        sessions.open(init()).await,
        Err(SessionsError::LimitReached(2))
    ));
}
