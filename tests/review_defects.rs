//! The defects an outside review found (issue "cargo-fuzz targets ... the defects an
//! outside review found"), each with a regression test named for it.

mod common;

use std::time::Duration;

use common::*;
use mcp_http_proto::server::{Outcome, Refusal, ServerConfig};

/// Defect 1, `INV-S3`: an expired session never comes back. The session's standalone
/// stream is closed early (`close_connection`), the clock passes the idle deadline
/// without `handle_timeout`, a POST gets 404; the late disconnect of that stream must not
/// give the session a new deadline.
#[test]
fn defect_01_expired_session_stays_expired_after_a_late_disconnect() {
    let t0 = base_instant();
    let idle = Duration::from_secs(10);
    let mut s = server(ServerConfig {
        session_idle_timeout: Some(idle),
        ..ServerConfig::default()
    });
    let id = open_session_2025_11_25(&mut s, t0);
    let req = get(Some(&id)).set("mcp-protocol-version", "2025-11-25");
    let stream = match s.handle_request(req, t0) {
        Outcome::StreamOpened(o) => o.stream,
        other => panic!("{other:?}"),
    };
    drain(&mut s);
    let connection = s.connection(stream).expect("attached");
    let t1 = t0 + Duration::from_secs(1);
    s.close_connection(stream, t1).unwrap();
    drain(&mut s);
    let late = t1 + idle + Duration::from_secs(1);
    let list = |n| post_in(&id, tools_list(n)).set("mcp-protocol-version", "2025-11-25");
    assert_refused(
        s.handle_request(list(2), late),
        Refusal::UnknownSession,
        404,
        -32001,
    );
    // The driver reports the connection it was told to close, after the deadline.
    s.handle_disconnect(connection, late).unwrap();
    drain(&mut s);
    for n in 3..6 {
        assert_refused(
            s.handle_request(list(n), late + Duration::from_secs(n)),
            Refusal::UnknownSession,
            404,
            -32001,
        );
    }
    s.handle_timeout(late + Duration::from_secs(10));
    assert_eq!(s.session_count(), 0);
}

/// Defect 9: `Accept: application/json, text/event-stream;` (a trailing empty parameter,
/// which RFC 9110 allows) is accepted, as are empty parameters anywhere.
#[test]
fn defect_09_empty_accept_parameters_are_allowed() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    for accept in [
        "application/json, text/event-stream;",
        "application/json;, text/event-stream",
        "application/json; ;q=1, text/event-stream ; ",
    ] {
        let req = post(initialize_body(1, "2025-11-25")).set("accept", accept);
        assert!(
            matches!(s.handle_request(req, t0), Outcome::Dispatch(_)),
            "{accept}"
        );
    }
    // A malformed parameter is still refused.
    let req = post(initialize_body(1, "2025-11-25"))
        .set("accept", "application/json;x, text/event-stream");
    assert_refused(
        s.handle_request(req, t0),
        Refusal::NotAcceptable,
        406,
        -32000,
    );
}

/// Defect 6: the SSE decoder's result does not depend on how the input is chunked, for
/// every limit, including limits below the length of `event: message`.
#[test]
fn defect_06_sse_limits_hold_whatever_the_chunking() {
    use bytes::Bytes;
    use mcp_http_proto::wire::sse::Decoder;
    fn run(input: &[u8], limit: usize, chunks: &[usize]) -> Vec<String> {
        let mut d = Decoder::with_max_event_bytes(limit);
        let mut out = Vec::new();
        let mut at = 0;
        let drain = |d: &mut Decoder, out: &mut Vec<String>| loop {
            match d.next_event() {
                Ok(Some(e)) => out.push(format!("event {:?} {:?}", e.event_type(), e.data())),
                Ok(None) => break,
                Err(e) => {
                    out.push(format!("error {e}"));
                    break;
                }
            }
        };
        for &n in chunks {
            let end = (at + n).min(input.len());
            d.feed_bytes(Bytes::copy_from_slice(&input[at..end]));
            drain(&mut d, &mut out);
            at = end;
        }
        d.feed_bytes(Bytes::copy_from_slice(&input[at..]));
        drain(&mut d, &mut out);
        d.finish();
        drain(&mut d, &mut out);
        // Once an error is reported the stream is dropped: compare up to it.
        if let Some(i) = out.iter().position(|l| l.starts_with("error")) {
            out.truncate(i + 1);
        }
        out
    }
    let inputs: [&[u8]; 3] = [
        b"\xEF\xBB\xBFevent: message\n\r",
        b"event: message\ndata: {}\n\n",
        b"event: message\r\nid: 1\r\ndata: 0123456789\r\n\r\n",
    ];
    for input in inputs {
        for limit in 1..40 {
            let whole = run(input, limit, &[]);
            let bytewise = run(input, limit, &vec![1; input.len()]);
            assert_eq!(whole, bytewise, "limit {limit}, input {input:?}");
        }
    }
}

/// Defect 8: an empty `id:` field resets the stream's last event id (WHATWG), so a cut
/// stream is not resumed from an id the server took back.
#[test]
fn defect_08_an_empty_id_field_resets_the_last_event_id() {
    use bytes::Bytes;
    use mcp_http_proto::wire::sse::Decoder;
    let mut d = Decoder::new();
    d.feed_bytes(Bytes::from_static(
        b"id: first\ndata: a\n\nid:\ndata: b\n\n",
    ));
    while let Ok(Some(_)) = d.next_event() {}
    assert_eq!(d.last_event_id(), None, "the empty id field resets it");
}

/// Defect 5: a huge `MCP-Protocol-Version` value is not echoed in full (twice) in the
/// error body: what an error echoes is bounded.
#[test]
fn defect_05_error_bodies_echo_a_bounded_version() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session(&mut s, t0);
    let huge = "9".repeat(1024 * 1024);
    let req = post_in(&id, tools_list(2)).set("mcp-protocol-version", &huge);
    let r = rejected(s.handle_request(req, t0));
    assert_eq!(r.refusal, Refusal::UnsupportedVersion);
    let len = r.response.body().len();
    assert!(len < 2048, "an error body of {len} bytes");
    assert!(
        r.reason.len() < 2048,
        "a log reason of {} bytes",
        r.reason.len()
    );
}

/// Defect 10: Host and Origin edge cases (RFC 9112 §3.2.2, RFC 3986 authority syntax).
#[test]
fn defect_10_host_and_origin_edge_cases() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let init = || post(initialize_body(1, "2025-11-25"));
    // The absolute-form target's authority wins over Host.
    let mut req = init();
    *req.uri_mut() = "http://evil.example/mcp".parse().unwrap();
    let r = rejected(s.handle_request(req, t0));
    assert_eq!(r.refusal, Refusal::ForbiddenHost, "absolute-form target");
    // An IPv6 literal followed by anything but a port is no loopback name.
    let r = rejected(s.handle_request(init().set("host", "[::1]evil.example"), t0));
    assert_eq!(r.refusal, Refusal::ForbiddenHost);
    let r = rejected(s.handle_request(init().set("origin", "http://[::1]evil.example"), t0));
    assert_eq!(r.refusal, Refusal::ForbiddenOrigin);
    // A repeated Host is a bad request (RFC 9112 §3.2), not a forbidden one.
    let req = init().add("host", "localhost");
    let r = rejected(s.handle_request(req, t0));
    assert_eq!(r.response.status(), 400, "{:?}", r.refusal);
    // What must pass still does.
    for host in ["localhost", "127.0.0.1:8080", "[::1]", "[::1]:9"] {
        let out = s.handle_request(init().set("host", host), t0);
        assert!(matches!(out, Outcome::Dispatch(_)), "{host}: {out:?}");
    }
}

/// Defect 7, `INV-C5`: the client does not forget the ids it ended after 32 of them: a
/// server that issues an ended id again, even after a hundred sessions, is refused.
#[test]
fn defect_07_ended_session_ids_are_not_forgotten_after_32() {
    use bytes::Bytes;
    use mcp_http_proto::client::{Client, ClientConfig, ClientEvent, ProtocolErrorKind};
    use mcp_http_proto::entropy::SeededEntropy;
    let now = base_instant();
    let config = ClientConfig::new("http://127.0.0.1:9/mcp".parse().unwrap());
    let mut c = Client::with_entropy(config, Box::new(SeededEntropy::new(3))).unwrap();
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let result = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}"#;
    let answer = |c: &mut Client, session: &str| {
        let t = c.poll_transmit().unwrap();
        let head = http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("mcp-session-id", session)
            .body(())
            .unwrap()
            .into_parts()
            .0;
        c.handle_response_head(t.exchange, head).unwrap();
        c.handle_response_chunk(t.exchange, Bytes::from_static(result.as_bytes()), now)
            .unwrap();
        c.handle_response_end(t.exchange, now).unwrap();
    };
    for i in 0..100 {
        c.initialize(init).unwrap();
        answer(&mut c, &format!("s{i}"));
        assert!(c.is_ready(), "session s{i}");
        c.close().unwrap();
        while c.poll_transmit().is_some() {}
        while c.poll_event().is_some() {}
    }
    c.initialize(init).unwrap();
    answer(&mut c, "s0");
    let events: Vec<ClientEvent> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(
        events.iter().any(|e| matches!(
            e,
            ClientEvent::ProtocolError {
                kind: ProtocolErrorKind::EndedSessionId,
                ..
            }
        )),
        "{events:?}"
    );
    assert!(!c.is_ready());
    assert!(c.session().is_none());
}

/// Defect 11: a `Content-Length` that disagrees with the body the driver hands over is
/// refused (400, `BadContentLength`) rather than ignored; a body without one is read as
/// it is, and a matching one passes.
#[test]
fn defect_11_content_length_must_match_the_body() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let body = initialize_body(1, "2025-11-25");
    for declared in [body.len() - 1, body.len() + 1, 0] {
        let req = post(&*body).set("content-length", &declared.to_string());
        let (_, b) = assert_refused(
            s.handle_request(req, t0),
            Refusal::BadContentLength,
            400,
            -32600,
        );
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Content-Length")
        );
    }
    let ok = post(&*body).set("content-length", &body.len().to_string());
    assert!(matches!(s.handle_request(ok, t0), Outcome::Dispatch(_)));
    let none = post(&*body).unset("content-length");
    assert!(matches!(s.handle_request(none, t0), Outcome::Dispatch(_)));
}

/// Defect 3: an SSE frame is allocated at its length, so what replay accounting counts
/// (`len`) is what is held: a 1 MiB event keeps 1 MiB, not 2.
#[test]
fn defect_03_sse_frames_are_allocated_at_their_length() {
    use mcp_http_proto::wire::sse::Event;
    let json = format!(
        r#"{{"jsonrpc":"2.0","id":1,"result":{{"text":"{}"}}}}"#,
        "x".repeat(1 << 20)
    );
    let id = "0123456789abcdef0123456789abcdef-7/1234";
    let mut ev = Event::message(json.as_bytes());
    ev.id = Some(id);
    let frame = ev.to_vec().unwrap();
    assert_eq!(frame.capacity(), frame.len());
    assert_eq!(frame.len(), ev.encoded_len());
}

/// Defect 2, the second half: a session cannot open streams without bound; past
/// `max_streams_per_session` a request-bearing POST (or a standalone GET) gets 429 with
/// `Retry-After`, while notifications still pass, and an answered stream frees a place.
#[test]
fn defect_02_open_streams_per_session_are_capped() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        max_streams_per_session: Some(2),
        ..ServerConfig::default()
    });
    let id = open_session(&mut s, t0);
    let mut streams = Vec::new();
    for rid in 2..4 {
        match s.handle_request(post_in(&id, tools_list(rid)), t0) {
            Outcome::Dispatch(d) => streams.push(d.stream),
            other => panic!("{other:?}"),
        }
    }
    let (r, _) = assert_refused(
        s.handle_request(post_in(&id, tools_list(4)), t0),
        Refusal::TooManyStreams,
        429,
        -32000,
    );
    assert_eq!(header(&r.response, "retry-after"), Some("1"));
    assert_refused(
        s.handle_request(get(Some(&id)), t0),
        Refusal::TooManyStreams,
        429,
        -32000,
    );
    // A notification opens no stream.
    let note = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}"#;
    let out = s.handle_request(post_in(&id, note), t0);
    assert_eq!(out.response().expect("202").status(), 202);
    // Once a stream is answered, a new request passes.
    s.send(streams[0], result_answer(2), t0).unwrap();
    drain(&mut s);
    assert!(matches!(
        s.handle_request(post_in(&id, tools_list(5)), t0),
        Outcome::Dispatch(_)
    ));
}
