//! The standalone GET stream: opening it (`SRV-GET-3`), what it may carry (`SRV-GET-4`,
//! `SRV-GET-6`, `INV-S7`), one stream per message (`SRV-MULTI-2`, `INV-S8`), lifecycle
//! gating (`LIFE-7`, `INV-S16`), and its slot (one per session, ambiguity 24).

mod common;

use common::*;
use mcp_http_proto::server::UsageError;
use mcp_http_proto::server::{Outcome, Refusal, ReplyMode, Server, ServerConfig, StreamId};

fn open_get(s: &mut Server, id: &str, now: std::time::Instant) -> StreamId {
    match s.handle_request(get(Some(id)), now) {
        Outcome::StreamOpened(o) => {
            assert_eq!(o.session, sid(id));
            o.stream
        }
        other => panic!("expected the stream to open, got {other:?}"),
    }
}

/// `SRV-GET-3`, `INV-S6`: a GET with a live session opens the stream: its head (200,
/// `text/event-stream`, no session header) is queued at once, and the stream stays open.
#[test]
fn get_with_a_session_opens_the_stream() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session(&mut s, t0);
    assert_eq!(s.standalone_stream(&sid(&id)), None);
    let stream = open_get(&mut s, &id, t0);
    assert_eq!(s.standalone_stream(&sid(&id)), Some(stream));
    let out = drain(&mut s);
    assert_eq!(shape(&out), [(stream, 'H')], "head only, no end");
    let head = only_head(&out);
    assert_eq!(head.status(), 200);
    assert_eq!(header(head, "content-type"), Some(EVENT_STREAM));
    assert_eq!(header(head, "cache-control"), Some("no-cache"));
    assert!(head.headers().get(SESSION_HEADER).is_none());
    assert_eq!(s.stream_count(), 1);
}

/// `SRV-GET-4`: the stream carries server notifications (and, once initialized, requests)
/// as `event: message` frames.
#[test]
fn standalone_stream_carries_notifications_and_requests() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_initialized_session(&mut s, t0);
    let stream = open_get(&mut s, &id, t0);
    drain(&mut s);
    s.send(stream, LOG, t0).unwrap();
    s.send(stream, SAMPLING_REQUEST, t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(shape(&out), [(stream, 'D'), (stream, 'D')]);
    assert_eq!(
        sse_messages(&data_of(&out, stream)),
        [json(LOG), json(SAMPLING_REQUEST)]
    );
}

/// `SRV-MULTI-2`, `INV-S8`: each message goes to the one stream it was sent on: not to
/// the session's other streams, nor to another session's stream.
#[test]
fn a_message_appears_only_on_its_stream() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let a = open_initialized_session(&mut s, t0);
    let b = open_initialized_session(&mut s, t0);
    let get_a = open_get(&mut s, &a, t0);
    let get_b = open_get(&mut s, &b, t0);
    let post_a = s
        .handle_request(post_in(&a, tools_list(1)), t0)
        .stream()
        .unwrap();
    drain(&mut s);

    let on_get_a = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"n":"get-a"}}"#;
    let on_post_a = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"n":"post-a"}}"#;
    let on_get_b = r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"n":"get-b"}}"#;
    s.send(get_a, on_get_a, t0).unwrap();
    s.send(post_a, on_post_a, t0).unwrap();
    s.send(get_b, on_get_b, t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(out.len(), 3, "one frame per message: {out:?}");
    assert_eq!(sse_messages(&data_of(&out, get_a)), [json(on_get_a)]);
    assert_eq!(sse_messages(&data_of(&out, post_a)), [json(on_post_a)]);
    assert_eq!(sse_messages(&data_of(&out, get_b)), [json(on_get_b)]);
}

/// `SRV-GET-6`, `INV-S7`: a standalone stream never carries a response:
/// `ResponseOnStandaloneStream`, and nothing is written.
#[test]
fn response_on_the_standalone_stream_is_refused() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_initialized_session(&mut s, t0);
    let stream = open_get(&mut s, &id, t0);
    drain(&mut s);
    for msg in [
        result_answer(1),
        error_answer(1),
        CLIENT_RESPONSE.to_owned(),
    ] {
        assert_eq!(
            s.send(stream, msg, t0),
            Err(UsageError::ResponseOnStandaloneStream)
        );
    }
    assert!(s.poll_output().is_none());
    assert_eq!(s.standalone_stream(&sid(&id)), Some(stream), "still open");
}

/// `LIFE-7`, `INV-S16`: before `notifications/initialized`, a server-initiated request
/// other than ping is `NotInitialized` on the standalone stream and on a POST stream;
/// ping and notifications (logging) go. After it, requests go.
#[test]
fn requests_other_than_ping_wait_for_initialized() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session(&mut s, t0);
    let get_stream = open_get(&mut s, &id, t0);
    let post_stream = s
        .handle_request(post_in(&id, tools_list(1)), t0)
        .stream()
        .unwrap();
    drain(&mut s);
    for stream in [get_stream, post_stream] {
        assert_eq!(
            s.send(stream, SAMPLING_REQUEST, t0),
            Err(UsageError::NotInitialized)
        );
    }
    assert!(
        s.poll_output().is_none(),
        "a refused request writes nothing"
    );
    // Request ids are unique in a session (each outstanding request is remembered for
    // its answer): the second stream's requests carry other ids.
    let ping_2 = PING_REQUEST.replace("srv-ping", "srv-ping-2");
    let sampling_2 = SAMPLING_REQUEST.replace("srv-9", "srv-10");
    for (stream, ping) in [(get_stream, PING_REQUEST), (post_stream, ping_2.as_str())] {
        s.send(stream, ping.to_owned(), t0).unwrap();
        s.send(stream, LOG, t0).unwrap();
    }
    assert_eq!(drain(&mut s).len(), 4);

    let out = s.handle_request(post_in(&id, INITIALIZED), t0);
    assert_eq!(out.response().unwrap().status(), 202);
    for (stream, req) in [
        (get_stream, SAMPLING_REQUEST),
        (post_stream, sampling_2.as_str()),
    ] {
        s.send(stream, req.to_owned(), t0).unwrap();
    }
    let out = drain(&mut s);
    assert_eq!(
        sse_messages(&data_of(&out, get_stream)),
        [json(SAMPLING_REQUEST)]
    );
    assert_eq!(
        sse_messages(&data_of(&out, post_stream)),
        [json(&sampling_2)]
    );
}

/// `LIFE-7`, `INV-S16`: on the `initialize` stream itself only ping may be requested;
/// messages sent before the answer are held and written after the head that carries the
/// session id.
#[test]
fn initialize_stream_allows_only_ping_and_holds_frames_for_the_head() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let stream = s
        .handle_request(post(initialize_body(1, "2025-06-18")), t0)
        .stream()
        .unwrap();
    assert_eq!(
        s.send(stream, SAMPLING_REQUEST, t0),
        Err(UsageError::NotInitialized)
    );
    s.send(stream, LOG, t0).unwrap();
    s.send(stream, PING_REQUEST, t0).unwrap();
    assert!(s.poll_output().is_none(), "held until the head");
    s.send(stream, initialize_result(1, "2025-06-18"), t0)
        .unwrap();
    let out = drain(&mut s);
    assert_eq!(
        shape(&out),
        [
            (stream, 'H'),
            (stream, 'D'),
            (stream, 'D'),
            (stream, 'D'),
            (stream, 'E')
        ]
    );
    assert!(header(only_head(&out), SESSION_HEADER).is_some());
    assert_eq!(
        sse_messages(&data_of(&out, stream)),
        [
            json(LOG),
            json(PING_REQUEST),
            json(&initialize_result(1, "2025-06-18"))
        ]
    );
}

/// `SRV-GET-3`: with `standalone_stream: false`, GET gets 405 (`Allow: POST, DELETE`) and
/// the session is unaffected.
#[test]
fn get_gets_405_when_the_standalone_stream_is_disabled() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        standalone_stream: false,
        ..ServerConfig::default()
    });
    let id = open_session(&mut s, t0);
    let (r, _) = assert_refused(
        s.handle_request(get(Some(&id)), t0),
        Refusal::StandaloneStreamDisabled,
        405,
        -32000,
    );
    assert_eq!(header(&r.response, "allow"), Some("POST, DELETE"));
    assert_eq!(s.stream_count(), 0);
    assert!(matches!(
        s.handle_request(post_in(&id, tools_list(1)), t0),
        Outcome::Dispatch(_)
    ));
}

/// Ambiguity 24: one standalone stream per session (409 for a second); a disconnect
/// frees the slot, the old handle is closed, and a new GET opens a new stream.
#[test]
fn disconnect_frees_the_standalone_slot() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session(&mut s, t0);
    let first = open_get(&mut s, &id, t0);
    drain(&mut s);
    assert_refused(
        s.handle_request(get(Some(&id)), t0),
        Refusal::StreamConflict,
        409,
        -32000,
    );
    disconnect(&mut s, first, t0).unwrap();
    assert!(
        s.poll_output().is_none(),
        "no end is written to a gone connection"
    );
    assert_eq!(s.standalone_stream(&sid(&id)), None);
    assert_eq!(s.stream_count(), 0);
    assert_eq!(s.send(first, LOG, t0), Err(UsageError::StreamClosed(first)));

    let second = open_get(&mut s, &id, t0);
    assert_ne!(second, first, "handles are never reused");
    assert_eq!(s.standalone_stream(&sid(&id)), Some(second));
    assert_eq!(shape(&drain(&mut s)), [(second, 'H')]);
}

/// Each session has its own slot: a stream open on one session does not conflict with
/// another session's GET.
#[test]
fn standalone_slots_are_per_session() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let a = open_session(&mut s, t0);
    let b = open_session(&mut s, t0);
    let ga = open_get(&mut s, &a, t0);
    let gb = open_get(&mut s, &b, t0);
    assert_ne!(ga, gb);
    assert_eq!(s.standalone_stream(&sid(&a)), Some(ga));
    assert_eq!(s.standalone_stream(&sid(&b)), Some(gb));
}

/// The standalone stream is SSE whatever the reply mode of POSTs.
#[test]
fn standalone_stream_is_sse_in_json_reply_mode() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        reply_mode: ReplyMode::Json,
        ..ServerConfig::default()
    });
    let id = open_initialized_session(&mut s, t0);
    let stream = open_get(&mut s, &id, t0);
    let out = drain(&mut s);
    assert_eq!(header(only_head(&out), "content-type"), Some(EVENT_STREAM));
    s.send(stream, LOG, t0).unwrap();
    assert_eq!(sse_messages(&data_of(&drain(&mut s), stream)), [json(LOG)]);
}
