//! Whole sessions between the client machine and the crate's server machine, through the
//! deterministic `Pair`.

mod pair;

use std::time::Duration;

use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::client::{ClientEvent, RequestFailure};
use mcp_http_proto::server::ServerConfig;
use mcp_http_proto::wire::jsonrpc::RequestId;
use pair::{Pair, header, initialize_request, request};

fn responses(events: &[ClientEvent]) -> Vec<RequestId> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Response { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

fn ready_pair(server: ServerConfig) -> Pair {
    let mut p = Pair::new(Pair::default_config(), server);
    p.client.initialize(initialize_request(1)).unwrap();
    p.drive();
    assert!(p.client.is_ready(), "events: {:?}", p.events);
    p
}

/// LIFE-5, CLI-SESS-4, CLI-VER-1, CLI-SESS-9, INV-C2, INV-C3, INV-C5, INV-C8, INV-C9.
#[test]
fn initialize_tools_list_delete() {
    let mut p = ready_pair(ServerConfig::default());
    let events = p.take_events();
    let ClientEvent::Initialized {
        session, version, ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    let session = session.clone().expect("the server mints a session");
    assert_eq!(*version, ProtocolVersion::V2025_11_25);

    p.client.send(request(2, "tools/list")).unwrap();
    p.drive();
    assert_eq!(responses(&p.take_events()), [RequestId::Number(2)]);

    p.client.close().unwrap();
    p.drive();
    let events = p.take_events();
    assert!(events.contains(&ClientEvent::SessionClosed {
        status: http::StatusCode::OK
    }));
    assert_eq!(p.server.session_count(), 0);

    // initialize, notifications/initialized, tools/list, DELETE.
    let methods: Vec<_> = p.sent.iter().map(|r| r.method().as_str()).collect();
    assert_eq!(methods, ["POST", "POST", "POST", "DELETE"]);
    assert_eq!(header(&p.sent[0], "mcp-session-id"), None); // INV-C2
    assert_eq!(header(&p.sent[0], "mcp-protocol-version"), None);
    assert!(
        std::str::from_utf8(p.sent[1].body())
            .unwrap()
            .contains("notifications/initialized")
    );
    for r in &p.sent[1..] {
        assert_eq!(header(r, "mcp-session-id"), Some(session.as_str())); // INV-C3
        assert_eq!(header(r, "mcp-protocol-version"), Some("2025-11-25")); // INV-C8
    }
}

/// CLI-SESS-8, INV-C4: a new server instance answers the old session with 404; the
/// client re-initializes and the call that was in flight completes.
#[test]
fn server_restart_mid_session_reinitializes_and_completes_the_call() {
    let mut p = ready_pair(ServerConfig::default());
    p.take_events();
    let old = p.client.session().cloned().unwrap();

    // tools/call is in flight on the old server; its POST stream is open (priming id seen).
    p.client.send(request(7, "slow")).unwrap();
    p.drive();
    assert_eq!(p.deferred.len(), 1);
    p.restart_server(ServerConfig::default(), 99);
    p.drive();
    // The lost stream is resumed after the server's retry; the new server answers 404.
    let waited = p.fire_client_timer().expect("a resume is scheduled");
    assert_eq!(waited, Duration::from_secs(1), "the server's retry: 1 s");
    let events = p.take_events();
    assert!(
        events.contains(&ClientEvent::SessionExpired {
            reinitializing: true
        }),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::Initialized { .. }))
    );
    let new = p.client.session().cloned().unwrap();
    assert_ne!(old, new);
    assert_eq!(p.deferred.len(), 1, "the call was re-sent once");
    p.answer_deferred();
    assert_eq!(responses(&p.take_events()), [RequestId::Number(7)]);

    // After the 404 the next request is initialize without a session id (INV-C4); the
    // old id never appears again.
    let i404 = p
        .sent
        .iter()
        .position(|r| r.method() == http::Method::GET)
        .unwrap();
    let next = &p.sent[i404 + 1];
    assert!(
        std::str::from_utf8(next.body())
            .unwrap()
            .contains("\"initialize\"")
    );
    assert_eq!(header(next, "mcp-session-id"), None);
    for r in &p.sent[i404 + 1..] {
        assert_ne!(header(r, "mcp-session-id"), Some(old.as_str()));
    }
}

/// CLI-SESS-8, INV-C4: a call sent after the restart gets 404, re-initialization, and
/// completes on the new session.
#[test]
fn call_after_restart_is_resent_once_on_the_new_session() {
    let mut p = ready_pair(ServerConfig::default());
    p.take_events();
    p.restart_server(ServerConfig::default(), 5);
    p.client.send(request(3, "tools/list")).unwrap();
    p.drive();
    let events = p.take_events();
    assert!(events.contains(&ClientEvent::SessionExpired {
        reinitializing: true
    }));
    assert_eq!(responses(&events), [RequestId::Number(3)]);
}

/// CLI-PSSE-11, CLI-PSSE-13, CLI-RES-4, INV-C12, INV-C14, INV-C11: the server closes
/// the connection of a POST stream; the client resumes it after `retry` with the stream's
/// last event id, and the response arrives once.
#[test]
fn cut_stream_is_resumed_after_retry() {
    let server = ServerConfig {
        sse_retry: Duration::from_millis(1500),
        ..ServerConfig::default()
    };
    let mut p = ready_pair(server);
    p.take_events();
    p.client.send(request(4, "slow")).unwrap();
    p.drive();
    let stream = *p.post_streams.last().unwrap();
    p.server.close_connection(stream, p.now).unwrap();
    p.drive();
    assert!(responses(&p.events).is_empty());
    // The answer is produced while no connection is attached: kept for replay.
    p.answer_deferred();
    let waited = p.fire_client_timer().expect("a resume is scheduled");
    assert_eq!(waited, Duration::from_millis(1500));
    let resume = p.sent.last().unwrap();
    assert_eq!(resume.method(), http::Method::GET);
    assert!(header(resume, "last-event-id").is_some());
    assert_eq!(header(resume, "accept"), Some("text/event-stream"));
    assert_eq!(responses(&p.take_events()), [RequestId::Number(4)]);
    // INV-C15: the stream is complete; nothing more is scheduled.
    assert_eq!(p.client.poll_timeout(), None);
}

/// INV-C16: a lost connection with no event id makes the outcome unknown; nothing is
/// cancelled (no notifications/cancelled is sent).
#[test]
fn lost_connection_without_event_id_is_not_a_cancellation() {
    // No event ids at all.
    let server = ServerConfig {
        replay: None,
        ..ServerConfig::default()
    };
    let mut p = ready_pair(server);
    p.take_events();
    p.client.send(request(5, "slow")).unwrap();
    p.drive();
    p.restart_server(ServerConfig::default(), 3);
    p.drive();
    let events = p.take_events();
    assert!(events.contains(&ClientEvent::RequestFailed {
        id: RequestId::Number(5),
        reason: RequestFailure::OutcomeUnknown
    }));
    assert!(
        p.sent
            .iter()
            .all(|r| !std::str::from_utf8(r.body()).unwrap().contains("cancelled"))
    );
    assert_eq!(p.client.poll_timeout(), None);
}

/// CLI-GET-1, INV-C6, INV-C17: the standalone stream opens; with a server that has
/// none, 405 leaves the session intact.
#[test]
fn standalone_stream_open_and_refused() {
    let mut p = ready_pair(ServerConfig::default());
    p.client.open_standalone_stream().unwrap();
    p.drive();
    let get = p.sent.last().unwrap();
    assert_eq!(get.method(), http::Method::GET);
    assert_eq!(header(get, "accept"), Some("text/event-stream"));
    assert!(
        p.server
            .standalone_stream(p.client.session().unwrap())
            .is_some()
    );

    let server = ServerConfig {
        standalone_stream: false,
        ..ServerConfig::default()
    };
    let mut p = ready_pair(server);
    let session = p.client.session().cloned();
    p.client.open_standalone_stream().unwrap();
    p.drive();
    assert!(p.events.contains(&ClientEvent::StandaloneStreamUnavailable));
    assert_eq!(p.client.session().cloned(), session);
    assert!(p.client.is_ready());
}

/// LIFE-3: a server that supports only 2025-06-18 negotiates it; the client then sends
/// that version (CLI-VER-2, INV-C8).
#[test]
fn negotiated_older_version_is_sent() {
    let server = ServerConfig {
        supported_versions: vec![ProtocolVersion::V2025_06_18],
        ..ServerConfig::default()
    };
    let mut p = ready_pair(server);
    assert_eq!(p.client.version(), Some(ProtocolVersion::V2025_06_18));
    p.client.send(request(2, "tools/list")).unwrap();
    p.drive();
    assert_eq!(
        header(p.sent.last().unwrap(), "mcp-protocol-version"),
        Some("2025-06-18")
    );
    assert_eq!(responses(&p.events), [RequestId::Number(2)]);
}

/// CLI-GET-1: with `standalone_stream`, the GET opens right after initialization, with
/// the session id and version.
#[test]
fn standalone_stream_opens_after_initialize_when_configured() {
    let mut cfg = Pair::default_config();
    cfg.standalone_stream = true;
    let mut p = Pair::new(cfg, ServerConfig::default());
    p.client.initialize(initialize_request(1)).unwrap();
    p.drive();
    let get = p
        .sent
        .iter()
        .find(|r| r.method() == http::Method::GET)
        .expect("a GET");
    let session = p.client.session().unwrap().clone();
    assert_eq!(header(get, "mcp-session-id"), Some(session.as_str()));
    assert_eq!(header(get, "mcp-protocol-version"), Some("2025-11-25"));
    assert!(p.server.standalone_stream(&session).is_some());
}
