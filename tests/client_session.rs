//! Session rules: capture, stickiness, 404, DELETE (CLI-SESS-*, INV-C1..C5, INV-C17).

mod common_client;

use common_client::*;
use mcp_http_proto::client::{ClientEvent, ProtocolErrorKind, RequestFailure};
use mcp_http_proto::wire::HeaderError;
use mcp_http_proto::wire::jsonrpc::RequestId;

/// INV-C1, ambiguity 14: a session header on a later response never replaces the id.
#[test]
fn later_session_headers_are_ignored() {
    let now = base_instant();
    let mut c = client(config());
    initialize(&mut c, Some("first"), "2025-11-25", now);
    c.send(request(2, "a")).unwrap();
    let t = one(&mut c);
    respond(
        &mut c,
        t.exchange,
        200,
        &[JSON, ("mcp-session-id", "second")],
        &result(2),
        now,
    );
    assert_eq!(c.session().unwrap().as_str(), "first");
    c.send(request(3, "a")).unwrap();
    assert_eq!(
        header(&one(&mut c).request, "mcp-session-id"),
        Some("first")
    );
}

/// INV-C1, SRV-SESS-3: a bad session header on the InitializeResult response starts no
/// session.
#[test]
fn bad_session_header_on_initialize_fails_initialization() {
    let now = base_instant();
    let mut c = client(config());
    let exchange = answer_initialize(
        &mut c,
        200,
        &[JSON, ("mcp-session-id", "a,b")],
        &init_result(1, "2025-11-25"),
        now,
    );
    let ev = events(&mut c);
    assert_eq!(
        ev[0],
        ClientEvent::ProtocolError {
            exchange,
            kind: ProtocolErrorKind::BadSessionHeader(HeaderError::CommaJoined)
        }
    );
    assert!(matches!(ev[1], ClientEvent::InitializeFailed { .. }));
    assert!(!c.is_ready());
    assert_eq!(c.session(), None);
    assert!(transmits(&mut c).is_empty());
}

/// INV-C1: a session header on an error answer to initialize is never captured.
#[test]
fn session_header_without_initialize_result_is_ignored() {
    let now = base_instant();
    let mut cfg = config();
    cfg.legacy_fallback = false;
    let mut c = client(cfg);
    answer_initialize(&mut c, 500, &[("mcp-session-id", "x")], "", now);
    assert_eq!(c.session(), None);
    assert!(
        matches!(events(&mut c)[..], [ClientEvent::InitializeFailed { status: Some(s), .. }] if s == 500)
    );
}

/// LIFE-4: an InitializeResult with a version the client does not speak fails the
/// initialization and ends the session the server made.
#[test]
fn unsupported_negotiated_version() {
    let now = base_instant();
    let mut cfg = config();
    cfg.protocol_version = mcp_http_proto::ProtocolVersion::V2025_06_18;
    let mut c = client(cfg);
    let exchange = answer_initialize(
        &mut c,
        200,
        &[JSON, ("mcp-session-id", "s")],
        &init_result(1, "2025-11-25"),
        now,
    );
    let ev = events(&mut c);
    assert_eq!(
        ev[0],
        ClientEvent::ProtocolError {
            exchange,
            kind: ProtocolErrorKind::UnsupportedVersion("2025-11-25".into())
        }
    );
    let del = one(&mut c);
    assert_eq!(del.request.method(), http::Method::DELETE);
    assert_eq!(header(&del.request, "mcp-session-id"), Some("s"));
    assert!(!c.is_ready());
}

/// CLI-SESS-8, INV-C4, INV-C2: a 404 to a request with the session id clears it; the
/// next request is a sessionless initialize; then the in-flight request goes again once.
#[test]
fn not_found_with_session_reinitializes_and_resends_once() {
    let now = base_instant();
    let mut c = client(config());
    initialize(&mut c, Some("old"), "2025-11-25", now);
    c.send(request(2, "a")).unwrap();
    let t = one(&mut c);
    respond(&mut c, t.exchange, 404, &[], "", now);
    assert_eq!(c.session(), None);
    assert_eq!(
        events(&mut c),
        [ClientEvent::SessionExpired {
            reinitializing: true
        }]
    );
    // Messages the application sends now wait for the new session.
    c.send(request(3, "b")).unwrap();
    let init = one(&mut c);
    assert!(body(&init.request).contains("\"initialize\""));
    assert_eq!(header(&init.request, "mcp-session-id"), None);
    respond(
        &mut c,
        init.exchange,
        200,
        &[JSON, ("mcp-session-id", "new")],
        &init_result(1, "2025-11-25"),
        now,
    );
    let sent = transmits(&mut c);
    let bodies: Vec<_> = sent.iter().map(|t| body(&t.request).to_owned()).collect();
    assert!(bodies[0].contains("notifications/initialized"));
    assert_eq!(bodies[1], request(2, "a"));
    assert_eq!(bodies[2], request(3, "b"));
    for t in &sent {
        assert_eq!(header(&t.request, "mcp-session-id"), Some("new"));
    }
    // A second 404 for the re-sent request: no more re-sends for it.
    respond(&mut c, sent[1].exchange, 404, &[], "", now);
    let ev = events(&mut c);
    assert!(ev.contains(&ClientEvent::RequestFailed {
        id: RequestId::Number(2),
        reason: RequestFailure::SessionExpired
    }));
}

/// INV-C4, ambiguity 10: a 404 to a request that carried no session id does not reset.
#[test]
fn not_found_without_session_is_a_plain_error() {
    let now = base_instant();
    let mut c = client(config());
    initialize(&mut c, None, "2025-11-25", now);
    c.send(request(2, "a")).unwrap();
    let t = one(&mut c);
    respond(&mut c, t.exchange, 404, &[], "", now);
    let ev = events(&mut c);
    assert!(matches!(ev[0], ClientEvent::HttpError { status, .. } if status == 404));
    assert!(c.is_ready());
    assert!(transmits(&mut c).is_empty());
}

/// CLI-SESS-8 with auto_reinitialize off: the session is dropped and requests fail.
#[test]
fn not_found_without_auto_reinitialize() {
    let now = base_instant();
    let mut cfg = config();
    cfg.auto_reinitialize = false;
    let mut c = client(cfg);
    initialize(&mut c, Some("s"), "2025-11-25", now);
    c.send(request(2, "a")).unwrap();
    let t = one(&mut c);
    respond(&mut c, t.exchange, 404, &[], "", now);
    assert_eq!(
        events(&mut c),
        [
            ClientEvent::SessionExpired {
                reinitializing: false
            },
            ClientEvent::RequestFailed {
                id: RequestId::Number(2),
                reason: RequestFailure::SessionExpired
            },
        ]
    );
    assert!(transmits(&mut c).is_empty());
    c.initialize(init_request(5)).unwrap();
    assert_eq!(header(&one(&mut c).request, "mcp-session-id"), None);
}

/// CLI-SESS-9, INV-C5, ambiguity 12: DELETE carries the id; whatever the answer, it is
/// never sent again.
#[test]
fn close_forgets_the_session_whatever_the_answer() {
    for status in [200, 404, 405] {
        let now = base_instant();
        let mut c = client(config());
        initialize(&mut c, Some("s"), "2025-11-25", now);
        c.send(request(2, "a")).unwrap();
        let pending = one(&mut c);
        c.close().unwrap();
        let del = one(&mut c);
        assert_eq!(del.request.method(), http::Method::DELETE);
        assert_eq!(header(&del.request, "mcp-session-id"), Some("s"));
        assert_eq!(c.session(), None);
        respond(&mut c, del.exchange, status, &[], "", now);
        // The request in flight is resolved as closed; its late answer is ignored.
        respond(&mut c, pending.exchange, 200, &[JSON], &result(2), now);
        let ev = events(&mut c);
        assert_eq!(
            ev,
            [
                ClientEvent::RequestFailed {
                    id: RequestId::Number(2),
                    reason: RequestFailure::Closed
                },
                ClientEvent::SessionClosed {
                    status: http::StatusCode::from_u16(status).unwrap()
                },
            ]
        );
        c.initialize(init_request(3)).unwrap();
        assert_eq!(header(&one(&mut c).request, "mcp-session-id"), None);
    }
}

/// INV-C17, ambiguity 24: 405 on GET leaves the session; 409 is not a failure.
#[test]
fn get_405_and_409() {
    let now = base_instant();
    let mut c = client(config());
    initialize(&mut c, Some("s"), "2025-11-25", now);
    c.open_standalone_stream().unwrap();
    let get = one(&mut c);
    respond(&mut c, get.exchange, 409, &[], "", now);
    assert_eq!(events(&mut c), []);
    c.open_standalone_stream().unwrap();
    let get = one(&mut c);
    respond(
        &mut c,
        get.exchange,
        405,
        &[("allow", "POST, DELETE")],
        "",
        now,
    );
    assert_eq!(events(&mut c), [ClientEvent::StandaloneStreamUnavailable]);
    assert_eq!(c.session().unwrap().as_str(), "s");
    assert!(c.is_ready());
    assert_eq!(
        c.open_standalone_stream(),
        Err(mcp_http_proto::client::UsageError::StandaloneStreamRefused)
    );
}

/// INV-C5, CLI-SESS-8, INV-C4: requests queued but not yet handed out when a 404 ends
/// the session are withdrawn, never sent with the ended id; their requests go again once,
/// with the new session, like the ones in flight.
#[test]
fn queued_requests_of_an_expired_session_are_withdrawn_then_resent_once() {
    let now = base_instant();
    let mut c = client(config());
    initialize(&mut c, Some("old"), "2025-11-25", now);
    c.send(request(2, "a")).unwrap();
    let sent = one(&mut c);
    // Queued, not yet handed out: a request, a notification, the standalone GET.
    c.send(request(3, "b")).unwrap();
    c.send(r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#)
        .unwrap();
    c.open_standalone_stream().unwrap();
    respond(&mut c, sent.exchange, 404, &[], "", now);
    let after = transmits(&mut c);
    for t in &after {
        assert_eq!(header(&t.request, "mcp-session-id"), None, "{t:?}");
    }
    assert_eq!(after.len(), 1, "only the new initialize: {after:?}");
    assert!(body(&after[0].request).contains("\"initialize\""));
    respond(
        &mut c,
        after[0].exchange,
        200,
        &[JSON, ("mcp-session-id", "new")],
        &init_result(1, "2025-11-25"),
        now,
    );
    let again = transmits(&mut c);
    let bodies: Vec<_> = again.iter().map(|t| body(&t.request).to_owned()).collect();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert!(bodies[0].contains("notifications/initialized"));
    assert_eq!(bodies[1], request(2, "a"));
    assert_eq!(bodies[2], request(3, "b"));
    for t in &again {
        assert_eq!(header(&t.request, "mcp-session-id"), Some("new"));
    }
}

/// INV-C5, CLI-SESS-8 with auto_reinitialize off: a request queued when the 404 ends
/// the session is withdrawn and fails with `SessionExpired`, like the one in flight.
#[test]
fn queued_requests_of_an_expired_session_fail_without_auto_reinitialize() {
    let now = base_instant();
    let mut cfg = config();
    cfg.auto_reinitialize = false;
    let mut c = client(cfg);
    initialize(&mut c, Some("s"), "2025-11-25", now);
    c.send(request(2, "a")).unwrap();
    let sent = one(&mut c);
    c.send(request(3, "b")).unwrap();
    respond(&mut c, sent.exchange, 404, &[], "", now);
    let after = transmits(&mut c);
    assert!(after.is_empty(), "{after:?}");
    let failed = |n| ClientEvent::RequestFailed {
        id: RequestId::Number(n),
        reason: RequestFailure::SessionExpired,
    };
    let ev = events(&mut c);
    assert!(ev.contains(&failed(2)) && ev.contains(&failed(3)), "{ev:?}");
}

/// INV-C5, CLI-SESS-9: after `close`, the DELETE is the only request that carries the
/// session id; what was queued and not yet handed out is withdrawn, and its requests
/// fail with `Closed`.
#[test]
fn close_withdraws_queued_requests_and_sends_only_the_delete() {
    let now = base_instant();
    let mut c = client(config());
    initialize(&mut c, Some("s"), "2025-11-25", now);
    c.send(request(2, "a")).unwrap();
    c.send(r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#)
        .unwrap();
    c.open_standalone_stream().unwrap();
    c.close().unwrap();
    let del = one(&mut c);
    assert_eq!(del.request.method(), http::Method::DELETE);
    assert_eq!(header(&del.request, "mcp-session-id"), Some("s"));
    assert_eq!(
        events(&mut c),
        [ClientEvent::RequestFailed {
            id: RequestId::Number(2),
            reason: RequestFailure::Closed
        }]
    );
}
