//! Resuming lost SSE streams (CLI-RES-4, CLI-PSSE-11, CLI-PSSE-13, INV-C12, INV-C14,
//! INV-C15, INV-C16).

mod common_client;

use std::time::Duration;

use common_client::*;
use mcp_http_proto::client::{ClientEvent, RequestFailure, TimeoutReason};
use mcp_http_proto::wire::jsonrpc::RequestId;

fn ready(
    cfg: mcp_http_proto::client::ClientConfig,
) -> (mcp_http_proto::client::Client, std::time::Instant) {
    let now = base_instant();
    let mut c = client(cfg);
    initialize(&mut c, Some("s"), "2025-11-25", now);
    (c, now)
}

/// INV-C12: each stream resumes from its own last event id, by GET, never POST.
#[test]
fn each_stream_resumes_from_its_own_cursor() {
    let (mut c, now) = ready(config());
    c.send(request(2, "a")).unwrap();
    c.send(request(3, "b")).unwrap();
    let t = transmits(&mut c);
    for (ex, id) in [(t[0].exchange, "a-7"), (t[1].exchange, "b-2")] {
        c.handle_response_head(ex, head(200, &[SSE])).unwrap();
        let body = format!("id: {id}\nretry: 10\ndata:\n\n");
        c.handle_response_chunk(ex, body.into(), now).unwrap();
    }
    c.handle_response_end(t[1].exchange, now).unwrap();
    c.handle_response_end(t[0].exchange, now).unwrap();
    let timeout = c.poll_timeout().unwrap();
    assert_eq!(timeout.reason, TimeoutReason::Reconnect);
    assert_eq!(timeout.at, now + Duration::from_millis(10));
    c.handle_timeout(timeout.at);
    let gets = transmits(&mut c);
    let cursors: Vec<_> = gets
        .iter()
        .map(|g| header(&g.request, "last-event-id").unwrap())
        .collect();
    // Streams resume in the order they were opened (deterministic).
    assert_eq!(cursors, ["a-7", "b-2"]);
    for g in &gets {
        assert_eq!(g.request.method(), http::Method::GET);
        assert_eq!(header(&g.request, "mcp-session-id"), Some("s"));
    }
    // The resumed stream delivers the response; a replayed duplicate is dropped.
    respond(
        &mut c,
        gets[0].exchange,
        200,
        &[SSE],
        &format!("{}{}", sse("a-8", &result(2)), sse("a-8", &result(2))),
        now,
    );
    assert_eq!(events(&mut c).len(), 1);
}

/// INV-C14, CLI-PSSE-13: the wait is at least the last `retry` of that stream.
#[test]
fn retry_sets_the_wait() {
    let (mut c, now) = ready(config());
    c.send(request(2, "a")).unwrap();
    let t = one(&mut c);
    c.handle_response_head(t.exchange, head(200, &[SSE]))
        .unwrap();
    c.handle_response_chunk(
        t.exchange,
        "id: 1\nretry: 100\ndata:\n\nretry: 2500\n\n".into(),
        now,
    )
    .unwrap();
    let closed = now + Duration::from_millis(3);
    c.handle_response_end(t.exchange, closed).unwrap();
    assert_eq!(
        c.poll_timeout().unwrap().at,
        closed + Duration::from_millis(2500)
    );
    c.handle_timeout(closed + Duration::from_millis(2499));
    assert!(transmits(&mut c).is_empty(), "not before retry");
}

/// CLI-RES-4: without `retry`, exponential backoff with jitter; attempts are bounded and
/// then the request fails with ReconnectExhausted.
#[test]
fn backoff_is_bounded_and_attempts_run_out() {
    let mut cfg = config();
    cfg.reconnect.max_attempts = 3;
    cfg.reconnect.initial_backoff = Duration::from_millis(100);
    cfg.reconnect.max_backoff = Duration::from_millis(300);
    let (mut c, now) = ready(cfg);
    c.send(request(2, "a")).unwrap();
    let t = one(&mut c);
    c.handle_response_head(t.exchange, head(200, &[SSE]))
        .unwrap();
    c.handle_response_chunk(t.exchange, "id: 1\ndata:\n\n".into(), now)
        .unwrap();
    c.handle_transport_error(t.exchange, now).unwrap();
    let mut at = now;
    let mut waits = Vec::new();
    while let Some(timeout) = c.poll_timeout() {
        waits.push(timeout.at - at);
        at = timeout.at;
        c.handle_timeout(at);
        let g = one(&mut c);
        assert_eq!(header(&g.request, "last-event-id"), Some("1"));
        c.handle_transport_error(g.exchange, at).unwrap();
    }
    assert_eq!(waits.len(), 3);
    let bounds = [(50, 100), (100, 200), (150, 300)];
    for (w, (lo, hi)) in waits.iter().zip(bounds) {
        assert!(
            *w >= Duration::from_millis(lo) && *w <= Duration::from_millis(hi),
            "{waits:?}"
        );
    }
    assert_eq!(
        events(&mut c),
        [ClientEvent::RequestFailed {
            id: RequestId::Number(2),
            reason: RequestFailure::ReconnectExhausted
        }]
    );
}

/// INV-C15: once every response of a POST stream arrived, it is not resumed, even if its
/// connection is then cut.
#[test]
fn complete_stream_is_not_resumed() {
    let (mut c, now) = ready(config());
    c.send(request(2, "a")).unwrap();
    let t = one(&mut c);
    c.handle_response_head(t.exchange, head(200, &[SSE]))
        .unwrap();
    c.handle_response_chunk(t.exchange, sse("1", &result(2)).into(), now)
        .unwrap();
    c.handle_transport_error(t.exchange, now).unwrap();
    assert_eq!(c.poll_timeout(), None);
    assert!(transmits(&mut c).is_empty());
}

/// INV-C16, ambiguity 16: a cut with no event id seen: the outcome is unknown, nothing is
/// resumed, and nothing cancels.
#[test]
fn cut_without_event_id_is_outcome_unknown() {
    let (mut c, now) = ready(config());
    c.send(request(2, "a")).unwrap();
    let t = one(&mut c);
    c.handle_response_head(t.exchange, head(200, &[SSE]))
        .unwrap();
    c.handle_response_chunk(
        t.exchange,
        "data: {\"jsonrpc\":\"2.0\",\"method\":\"n\"}\n\n".into(),
        now,
    )
    .unwrap();
    c.handle_response_end(t.exchange, now).unwrap();
    let ev = events(&mut c);
    assert_eq!(
        ev.last().unwrap(),
        &ClientEvent::RequestFailed {
            id: RequestId::Number(2),
            reason: RequestFailure::OutcomeUnknown
        }
    );
    assert!(transmits(&mut c).is_empty());
    assert_eq!(c.poll_timeout(), None);
}

/// A resumption refused by the server ends the stream: its requests fail with the status.
#[test]
fn refused_resumption_fails_the_request() {
    let (mut c, now) = ready(config());
    c.send(request(2, "a")).unwrap();
    let t = one(&mut c);
    c.handle_response_head(t.exchange, head(200, &[SSE]))
        .unwrap();
    c.handle_response_chunk(t.exchange, "id: 1\nretry: 0\ndata:\n\n".into(), now)
        .unwrap();
    c.handle_response_end(t.exchange, now).unwrap();
    c.handle_timeout(now);
    let g = one(&mut c);
    respond(&mut c, g.exchange, 400, &[], "", now);
    let ev = events(&mut c);
    assert!(ev.contains(&ClientEvent::RequestFailed {
        id: RequestId::Number(2),
        reason: RequestFailure::Http(http::StatusCode::BAD_REQUEST)
    }));
}

/// SRV-GET-9: the standalone stream is resumed like a POST stream; without an id it ends.
#[test]
fn standalone_stream_resumes_or_ends() {
    let (mut c, now) = ready(config());
    c.open_standalone_stream().unwrap();
    let g = one(&mut c);
    c.handle_response_head(g.exchange, head(200, &[SSE]))
        .unwrap();
    c.handle_response_chunk(g.exchange, "id: g1\nretry: 5\ndata:\n\n".into(), now)
        .unwrap();
    c.handle_response_end(g.exchange, now).unwrap();
    c.handle_timeout(now + Duration::from_millis(5));
    let g = one(&mut c);
    assert_eq!(header(&g.request, "last-event-id"), Some("g1"));
    c.handle_response_head(g.exchange, head(200, &[SSE]))
        .unwrap();
    c.handle_response_end(g.exchange, now).unwrap();
    // The cursor persists across connections: still g1.
    c.handle_timeout(now + Duration::from_secs(1));
    let g = one(&mut c);
    assert_eq!(header(&g.request, "last-event-id"), Some("g1"));

    let (mut c, now) = ready(config());
    c.open_standalone_stream().unwrap();
    let g = one(&mut c);
    respond(&mut c, g.exchange, 200, &[SSE], ": keep-alive\n\n", now);
    assert_eq!(events(&mut c), [ClientEvent::StandaloneStreamEnded]);
}
