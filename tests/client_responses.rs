//! How the client reads responses: JSON, SSE, 202, error statuses (INV-C10, INV-C11,
//! INV-C13).

mod common_client;

use common_client::*;
use mcp_http_proto::client::{ClientEvent, ProtocolErrorKind, RequestFailure};
use mcp_http_proto::wire::jsonrpc::{MessageKind, RequestId};

fn ready() -> (mcp_http_proto::client::Client, std::time::Instant) {
    let now = base_instant();
    let mut c = client(config());
    initialize(&mut c, Some("s"), "2025-11-25", now);
    (c, now)
}

/// INV-C10: 200 application/json delivers the response.
#[test]
fn json_response_is_delivered() {
    let (mut c, now) = ready();
    c.send(request(2, "tools/list")).unwrap();
    let t = one(&mut c);
    respond(
        &mut c,
        t.exchange,
        200,
        &[("content-type", "application/json; charset=utf-8")],
        &result(2),
        now,
    );
    let ev = events(&mut c);
    assert!(
        matches!(
            &ev[..],
            [ClientEvent::Response {
                id: RequestId::Number(2),
                ..
            }]
        ),
        "{ev:?}"
    );
}

/// INV-C10, INV-C13, ambiguity 19: an SSE answer; the priming event (id, empty data) is
/// no message; server requests and notifications go to the application; events of
/// another type are skipped.
#[test]
fn sse_response_with_priming_and_interleaved_messages() {
    let (mut c, now) = ready();
    c.send(request(2, "tools/call")).unwrap();
    let t = one(&mut c);
    let body = format!(
        "id: p\ndata:\n\n{}{}event: other\ndata: {{}}\n\n{}",
        sse(
            "1",
            r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#
        ),
        sse("2", r#"{"jsonrpc":"2.0","id":"srv","method":"ping"}"#),
        sse("3", &result(2)),
    );
    // Byte by byte: the outcome does not depend on chunking.
    c.handle_response_head(t.exchange, head(200, &[SSE]))
        .unwrap();
    for b in body.bytes() {
        c.handle_response_chunk(t.exchange, bytes::Bytes::from(vec![b]), now)
            .unwrap();
    }
    c.handle_response_end(t.exchange, now).unwrap();
    let ev = events(&mut c);
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert!(matches!(&ev[0], ClientEvent::Message(m) if m.kind() == MessageKind::Notification));
    assert!(matches!(&ev[1], ClientEvent::Message(m) if m.kind() == MessageKind::Request));
    assert!(matches!(
        &ev[2],
        ClientEvent::Response {
            id: RequestId::Number(2),
            ..
        }
    ));
    assert_eq!(
        c.poll_timeout(),
        None,
        "INV-C15: a complete stream is not resumed"
    );
}

/// INV-C10: a 202 to a request-bearing POST is a protocol error; the request fails.
#[test]
fn accepted_for_a_request_is_a_protocol_error() {
    let (mut c, now) = ready();
    c.send(request(2, "tools/list")).unwrap();
    let t = one(&mut c);
    respond(&mut c, t.exchange, 202, &[], "", now);
    let ev = events(&mut c);
    assert_eq!(
        ev,
        [
            ClientEvent::ProtocolError {
                exchange: t.exchange,
                kind: ProtocolErrorKind::AcceptedWithRequests
            },
            ClientEvent::RequestFailed {
                id: RequestId::Number(2),
                reason: RequestFailure::Protocol
            },
        ]
    );
}

/// INV-C10: a 2xx with another content type is a protocol error.
#[test]
fn wrong_content_type_is_a_protocol_error() {
    let (mut c, now) = ready();
    c.send(request(2, "tools/list")).unwrap();
    let t = one(&mut c);
    respond(
        &mut c,
        t.exchange,
        200,
        &[("content-type", "text/html")],
        "<html>",
        now,
    );
    let ev = events(&mut c);
    assert!(ev.contains(&ClientEvent::ProtocolError {
        exchange: t.exchange,
        kind: ProtocolErrorKind::UnexpectedContentType
    }));
}

/// INV-C10: a 202 completes a notification POST; nothing is reported.
#[test]
fn accepted_completes_a_notification() {
    let (mut c, now) = ready();
    c.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}"#)
        .unwrap();
    let t = one(&mut c);
    respond(&mut c, t.exchange, 202, &[], "", now);
    assert_eq!(events(&mut c), []);
}

/// ERR-3, ambiguity 2: an error status with a JSON-RPC error body (id null) is reported
/// with the error; the request fails with the status.
#[test]
fn error_status_carries_the_jsonrpc_error() {
    let (mut c, now) = ready();
    c.send(request(2, "tools/list")).unwrap();
    let t = one(&mut c);
    respond(
        &mut c,
        t.exchange,
        400,
        &[JSON],
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"bad"}}"#,
        now,
    );
    let ev = events(&mut c);
    let ClientEvent::HttpError {
        status,
        error: Some(e),
        ..
    } = &ev[0]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(*status, 400);
    assert_eq!(e.kind(), MessageKind::Error);
    assert_eq!(
        ev[1],
        ClientEvent::RequestFailed {
            id: RequestId::Number(2),
            reason: RequestFailure::Http(http::StatusCode::BAD_REQUEST)
        }
    );
}

/// INV-C11: a response delivered twice (replay overlap) resolves its request once; an
/// unknown id is dropped.
#[test]
fn duplicate_responses_resolve_once() {
    let (mut c, now) = ready();
    c.send(request(2, "tools/call")).unwrap();
    let t = one(&mut c);
    let body = format!(
        "{}{}{}",
        sse("1", &result(2)),
        sse("2", &result(2)),
        sse("3", &result(77))
    );
    respond(&mut c, t.exchange, 200, &[SSE], &body, now);
    let ev = events(&mut c);
    assert_eq!(ev.len(), 1, "{ev:?}");
}

/// BOTH-POST-6: a batch of responses in one JSON body (2025-03-26).
#[test]
fn batched_json_responses() {
    let now = base_instant();
    let mut cfg = config();
    cfg.protocol_version = mcp_http_proto::ProtocolVersion::V2025_03_26;
    let mut c = client(cfg);
    initialize(&mut c, Some("s"), "2025-03-26", now);
    c.send(format!("[{},{}]", request(2, "a"), request(3, "b")))
        .unwrap();
    let t = one(&mut c);
    respond(
        &mut c,
        t.exchange,
        200,
        &[JSON],
        &format!("[{},{}]", result(3), result(2)),
        now,
    );
    let ids: Vec<_> = events(&mut c)
        .into_iter()
        .map(|e| match e {
            ClientEvent::Response { id, .. } => id,
            e => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(ids, [RequestId::Number(3), RequestId::Number(2)]);
}

/// A JSON answer without the response is a protocol error; bodies are bounded.
#[test]
fn missing_response_and_oversized_body() {
    let now = base_instant();
    let mut cfg = config();
    cfg.max_event_bytes = 300;
    let mut c = client(cfg);
    initialize(&mut c, Some("s"), "2025-11-25", now);
    c.send(request(2, "a")).unwrap();
    let t = one(&mut c);
    respond(&mut c, t.exchange, 200, &[JSON], &result(3), now);
    let ev = events(&mut c);
    assert!(ev.contains(&ClientEvent::ProtocolError {
        exchange: t.exchange,
        kind: ProtocolErrorKind::MissingResponse
    }));
    assert!(ev.contains(&ClientEvent::RequestFailed {
        id: RequestId::Number(2),
        reason: RequestFailure::Protocol
    }));

    c.send(request(4, "a")).unwrap();
    let t = one(&mut c);
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":4,"result":{{"x":"{}"}}}}"#,
        "a".repeat(400)
    );
    respond(&mut c, t.exchange, 200, &[JSON], &big, now);
    let ev = events(&mut c);
    assert!(ev.contains(&ClientEvent::ProtocolError {
        exchange: t.exchange,
        kind: ProtocolErrorKind::TooLarge
    }));
    assert!(ev.contains(&ClientEvent::RequestFailed {
        id: RequestId::Number(4),
        reason: RequestFailure::Protocol
    }));
}

/// A transport error before the head: the outcome is unknown (ambiguity 16).
#[test]
fn transport_error_before_head_is_outcome_unknown() {
    let (mut c, now) = ready();
    c.send(request(2, "a")).unwrap();
    let t = one(&mut c);
    c.handle_transport_error(t.exchange, now).unwrap();
    assert_eq!(
        events(&mut c),
        [ClientEvent::RequestFailed {
            id: RequestId::Number(2),
            reason: RequestFailure::OutcomeUnknown
        }]
    );
    // Inputs for the finished exchange are ignored, not errors.
    assert_eq!(c.handle_response_end(t.exchange, now), Ok(()));
}
