//! Connection handles and per-connection output: every head opens a connection, a
//! connection's output waits for it until pulled, and a disconnect names the connection,
//! so a late disconnect of a connection that a resumption replaced changes nothing.
//! (DESIGN "The driver contract": "Each HTTP connection a stream is attached to has its
//! own handle"; "A driver cannot lose output by draining at the wrong time".)

mod common;

use common::*;
use mcp_http_proto::server::{
    ConnectionId, Outcome, ReplyMode, Server, ServerConfig, StreamEvent, StreamId, UsageError,
};

/// A tools/list POST on `session`: its stream and connection.
fn post_request(
    s: &mut Server,
    session: &str,
    id: u64,
    now: std::time::Instant,
) -> (StreamId, ConnectionId) {
    match s.handle_request(post_in(session, tools_list(id)), now) {
        Outcome::Dispatch(d) => (d.stream, d.connection),
        other => panic!("{other:?}"),
    }
}

/// Everything `connection` is owed, pulled in order.
fn pull(s: &mut Server, connection: ConnectionId) -> Vec<StreamEvent> {
    std::iter::from_fn(|| s.poll_connection(connection)).collect()
}

fn kinds(events: &[StreamEvent]) -> String {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::Head(_) => 'H',
            StreamEvent::Data(_) => 'D',
            StreamEvent::End => 'E',
        })
        .collect()
}

fn data(events: &[StreamEvent]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Data(b) => Some(b.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The last event id written on a connection's frames.
fn last_id(events: &[StreamEvent]) -> String {
    sse_frames(&data(events))
        .into_iter()
        .filter_map(|f| f.id)
        .next_back()
        .expect("an event id")
}

/// A late disconnect of a connection that a resumption replaced changes nothing: the
/// stream keeps writing to its new connection, which still gets the answer and its end.
#[test]
fn a_late_disconnect_after_a_resume_changes_nothing() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session_2025_11_25(&mut s, t0);
    let (stream, old) = post_request(&mut s, &id, 2, t0);
    s.send(stream, LOG, t0).unwrap();
    // The server closes the connection early (`SRV-PSSE-10`); the client resumes.
    s.close_connection(stream, t0).unwrap();
    let first = pull(&mut s, old);
    assert_eq!(kinds(&first), "HDDDE", "head, priming, the log, retry, end");
    let resumed = match s.handle_request(resume_get(&id, &last_id(&first)), t0) {
        Outcome::StreamResumed(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(resumed.stream, stream);
    assert_ne!(
        resumed.connection, old,
        "a resumption opens a connection of its own"
    );
    assert_eq!(s.connection(stream), Some(resumed.connection));
    // The old connection's driver reports its client gone, late.
    assert_eq!(s.handle_disconnect(old, t0), Ok(()));
    assert_eq!(
        s.handle_disconnect(old, t0),
        Ok(()),
        "and again: still nothing"
    );
    assert_eq!(s.connection(stream), Some(resumed.connection));
    s.send(stream, result_answer(2), t0).unwrap();
    let new = pull(&mut s, resumed.connection);
    assert_eq!(kinds(&new), "HDE", "head, the answer, end");
    assert_eq!(sse_messages(&data(&new)), [json(&result_answer(2))]);
    assert!(
        pull(&mut s, old).is_empty(),
        "nothing more for the old connection"
    );
}

/// The same race where the driver had not yet pulled the old connection's end when the
/// resumption came (it read the priming event's id, then the client left): the old
/// connection's queue still exists, and its disconnect must still leave the stream on
/// its new connection.
#[test]
fn a_late_disconnect_before_the_old_end_was_pulled_changes_nothing() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session_2025_11_25(&mut s, t0);
    let (stream, old) = post_request(&mut s, &id, 2, t0);
    s.close_connection(stream, t0).unwrap();
    // The driver wrote the head and the priming event, and nothing more yet.
    let head_and_priming: Vec<_> = (0..2).filter_map(|_| s.poll_connection(old)).collect();
    assert_eq!(kinds(&head_and_priming), "HD");
    let resumed = match s.handle_request(resume_get(&id, &last_id(&head_and_priming)), t0) {
        Outcome::StreamResumed(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(s.handle_disconnect(old, t0), Ok(()));
    assert!(
        s.poll_connection(old).is_none(),
        "what the old connection was owed is dropped"
    );
    assert_eq!(s.connection(stream), Some(resumed.connection));
    s.send(stream, result_answer(2), t0).unwrap();
    let new = pull(&mut s, resumed.connection);
    assert_eq!(kinds(&new), "HDE");
    assert_eq!(sse_messages(&data(&new)), [json(&result_answer(2))]);
}

/// A late disconnect of a standalone stream's old connection does not end the standalone
/// stream that replaced it.
#[test]
fn a_late_disconnect_of_a_replaced_standalone_connection_changes_nothing() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session_2025_11_25(&mut s, t0);
    let first = match s.handle_request(get(Some(&id)), t0) {
        Outcome::StreamOpened(o) => o,
        other => panic!("{other:?}"),
    };
    s.close_connection(first.stream, t0).unwrap();
    let old = pull(&mut s, first.connection);
    assert_eq!(kinds(&old), "HDDE");
    let resumed = match s.handle_request(resume_get(&id, &last_id(&old)), t0) {
        Outcome::StreamResumed(r) => r,
        other => panic!("{other:?}"),
    };
    s.handle_disconnect(first.connection, t0).unwrap();
    assert_eq!(s.standalone_stream(&sid(&id)), Some(first.stream));
    s.send(first.stream, LOG, t0).unwrap();
    let new = pull(&mut s, resumed.connection);
    assert_eq!(
        kinds(&new),
        "HD",
        "the stream is live on its new connection"
    );
    // The current connection's disconnect does end it.
    s.handle_disconnect(resumed.connection, t0).unwrap();
    assert_eq!(s.standalone_stream(&sid(&id)), None);
}

/// A stream's head cannot be lost, whatever order the driver drains and attaches in:
/// output waits in its connection's queue until that connection is pulled, so a driver
/// that drains everything else first (or sets up its route late) still finds it.
#[test]
fn a_streams_head_cannot_be_lost_whatever_the_drain_order() {
    for reply_mode in [ReplyMode::Sse, ReplyMode::Json] {
        let t0 = base_instant();
        let mut s = server(ServerConfig {
            reply_mode,
            ..ServerConfig::default()
        });
        let id = open_initialized_session(&mut s, t0);
        let (a, ca) = post_request(&mut s, &id, 2, t0);
        let (b, cb) = post_request(&mut s, &id, 3, t0);
        // A driver that drains the other connection, and only the other, many times
        // over: `a`'s output still waits for `a`.
        s.send(b, result_answer(3), t0).unwrap();
        s.send(a, result_answer(2), t0).unwrap();
        for _ in 0..3 {
            let _ = pull(&mut s, cb);
            while s.poll_ready().is_some() {}
        }
        let got = pull(&mut s, ca);
        assert_eq!(kinds(&got), "HDE", "{reply_mode:?}");
        let StreamEvent::Head(head) = &got[0] else {
            unreachable!()
        };
        assert_eq!(head.status(), 200, "{reply_mode:?}");
        let body = data(&got);
        let answer = if reply_mode == ReplyMode::Sse {
            sse_messages(&body).remove(0)
        } else {
            serde_json::from_slice(&body).unwrap()
        };
        assert_eq!(answer, json(&result_answer(2)), "{reply_mode:?}");
        assert_eq!(
            kinds(&pull(&mut s, cb)),
            "",
            "b's output was pulled already"
        );
        assert_eq!(s.stream_count(), 0, "both answered: {a:?} and {b:?} ended");
    }
}

/// The `initialize` head waits for the answer that mints the session, on the
/// connection the outcome named; pulling before the answer finds nothing, and pulling
/// after finds the head with the session id, then the answer.
#[test]
fn an_initialize_head_waits_on_its_connection_for_the_answer() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let d = match s.handle_request(post(initialize_body(1, "2025-11-25")), t0) {
        Outcome::Dispatch(d) => d,
        other => panic!("{other:?}"),
    };
    assert!(
        s.poll_connection(d.connection).is_none(),
        "no head before the answer"
    );
    assert!(s.poll_ready().is_none());
    s.send(d.stream, initialize_result(1, "2025-11-25"), t0)
        .unwrap();
    assert_eq!(s.poll_ready(), Some(d.connection));
    let got = pull(&mut s, d.connection);
    assert_eq!(kinds(&got), "HDDE", "head, priming, the result, end");
    let StreamEvent::Head(head) = &got[0] else {
        unreachable!()
    };
    assert!(
        header(head, SESSION_HEADER).is_some(),
        "INV-S1: the session id rides here"
    );
}

/// `poll_ready` announces a connection once per arrival of output, and never one whose
/// output has all been pulled.
#[test]
fn poll_ready_announces_each_connection_with_new_output() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_initialized_session(&mut s, t0);
    let (a, ca) = post_request(&mut s, &id, 2, t0);
    let (_, cb) = post_request(&mut s, &id, 3, t0);
    let mut ready: Vec<ConnectionId> = std::iter::from_fn(|| s.poll_ready()).collect();
    ready.sort();
    assert_eq!(ready, [ca, cb], "both heads are waiting");
    assert!(s.poll_ready().is_none(), "announced once");
    let _ = pull(&mut s, ca);
    s.send(a, LOG, t0).unwrap();
    assert_eq!(s.poll_ready(), Some(ca), "new output, announced again");
    let _ = pull(&mut s, ca);
    let _ = pull(&mut s, cb);
    s.send(a, LOG, t0).unwrap();
    let _ = pull(&mut s, ca);
    assert!(
        s.poll_ready().is_none(),
        "pulled before it was looked at: nothing to wake"
    );
}

/// A disconnect drops what the connection was owed; a handle this machine never issued
/// is a usage error.
#[test]
fn a_disconnect_drops_the_connections_queue_and_unknown_handles_are_misuse() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_initialized_session(&mut s, t0);
    let (a, ca) = post_request(&mut s, &id, 2, t0);
    s.send(a, LOG, t0).unwrap();
    s.handle_disconnect(ca, t0).unwrap();
    assert!(
        s.poll_connection(ca).is_none(),
        "the queue went with the client"
    );
    assert!(s.poll_output().is_none());
    // The stream still takes its answer (`SRV-PSSE-6`): a disconnect is no cancellation.
    s.send(a, result_answer(2), t0).unwrap();
    let mut other = server(ServerConfig::default());
    let oid = open_initialized_session(&mut other, t0);
    let mut foreign = ca;
    for n in 2..6 {
        foreign = post_request(&mut other, &oid, n, t0).1;
    }
    assert_eq!(
        s.handle_disconnect(foreign, t0),
        Err(UsageError::UnknownConnection(foreign))
    );
}

/// A keep-alive comment goes only on the current connection of an SSE stream whose head
/// went out; a client's decoder ignores it.
#[test]
fn keep_alive_comments_go_on_open_sse_connections_only() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_initialized_session(&mut s, t0);
    let (stream, c) = post_request(&mut s, &id, 2, t0);
    let _ = pull(&mut s, c);
    assert!(s.keep_alive(c));
    let got = pull(&mut s, c);
    assert_eq!(data(&got), b": keep-alive\n\n");
    let mut decoder = mcp_http_proto::wire::sse::Decoder::new();
    decoder.feed(&data(&got));
    assert_eq!(decoder.next_event(), Ok(None), "a comment is no event");
    s.send(stream, result_answer(2), t0).unwrap();
    let _ = pull(&mut s, c);
    assert!(!s.keep_alive(c), "the connection has ended");
    // A JSON reply, and an initialize reply whose head waits, get none.
    let mut j = server(ServerConfig {
        reply_mode: ReplyMode::Json,
        ..ServerConfig::default()
    });
    let jid = open_initialized_session(&mut j, t0);
    let (_, jc) = post_request(&mut j, &jid, 2, t0);
    assert!(!j.keep_alive(jc));
    let d = match s.handle_request(post(initialize_body(1, "2025-11-25")), t0) {
        Outcome::Dispatch(d) => d,
        other => panic!("{other:?}"),
    };
    assert!(!s.keep_alive(d.connection));
}

/// Graceful shutdown ends every connection cleanly: the resumable streams of a
/// 2025-11-25 client with a `retry` (they can be resumed), an older client's standalone
/// stream (it ends), and an older client's POST stream, which goes on detached and still
/// takes its answer.
#[test]
fn shutdown_ends_every_connection_cleanly() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let new = open_session_2025_11_25(&mut s, t0);
    let old = open_session_with(&mut s, "2025-06-18", t0);
    let (_, c_new) = post_request(&mut s, &new, 2, t0);
    let (old_stream, c_old) = post_request(&mut s, &old, 3, t0);
    let open = |s: &mut Server, id: &str| match s.handle_request(get(Some(id)), t0) {
        Outcome::StreamOpened(o) => o,
        other => panic!("{other:?}"),
    };
    let listen_new = open(&mut s, &new);
    let listen_old = open(&mut s, &old);
    assert_eq!(s.shutdown(t0), 4);
    for c in [c_new, listen_new.connection] {
        let got = pull(&mut s, c);
        assert!(kinds(&got).ends_with("DE"), "{}", kinds(&got));
        assert!(
            String::from_utf8(data(&got))
                .unwrap()
                .ends_with("retry: 1000\n\n")
        );
    }
    assert_eq!(kinds(&pull(&mut s, c_old)), "HE");
    assert_eq!(kinds(&pull(&mut s, listen_old.connection)), "HE");
    assert_eq!(
        s.standalone_stream(&sid(&old)),
        None,
        "the old client's stream ended"
    );
    assert_eq!(
        s.standalone_stream(&sid(&new)),
        Some(listen_new.stream),
        "resumable"
    );
    // The old client's request is still answered.
    s.send(old_stream, result_answer(3), t0).unwrap();
    assert_eq!(
        s.stream_count(),
        2,
        "the 2025-11-25 streams wait to be resumed"
    );
}

/// A client that never reads cannot grow the server's memory past the connection bound:
/// what its connection was owed is dropped and its body ends, and its stream goes on
/// detached (a POST stream still takes its answer and keeps it for a resume; a standalone
/// stream ends, as when its client leaves).
#[test]
fn a_connection_whose_client_never_reads_is_bounded() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        max_queued_bytes: 2_000,
        ..ServerConfig::default()
    });
    let id = open_initialized_session(&mut s, t0);
    let (stream, c) = post_request(&mut s, &id, 2, t0);
    let listen = match s.handle_request(get(Some(&id)), t0) {
        Outcome::StreamOpened(o) => o,
        other => panic!("{other:?}"),
    };
    // Nothing is pulled: 100 notifications of ~100 bytes on each stream.
    for _ in 0..100 {
        s.send(stream, LOG, t0).unwrap();
        let _ = s.send(listen.stream, LOG, t0);
    }
    let got = pull(&mut s, c);
    assert_eq!(kinds(&got), "HE", "the queue was dropped, the body ends");
    assert_eq!(
        s.connection(stream),
        None,
        "the POST stream goes on detached"
    );
    s.send(stream, result_answer(2), t0).unwrap();
    assert_eq!(kinds(&pull(&mut s, listen.connection)), "HE");
    assert_eq!(
        s.standalone_stream(&sid(&id)),
        None,
        "the standalone stream ended"
    );
    // A healthy client that reads as it goes is never cut, whatever it receives in all.
    let (b, cb) = post_request(&mut s, &id, 3, t0);
    for _ in 0..100 {
        s.send(b, LOG, t0).unwrap();
        let _ = pull(&mut s, cb);
    }
    assert_eq!(s.connection(b), Some(cb));
}
