//! How a POST is answered: 202 for notifications and responses (`SRV-POST-7`, `INV-S4`),
//! an SSE stream (`SRV-PSSE-1..5`) or one JSON body (`SRV-POST-10`, `INV-S5`) for
//! requests, the caller's misuses (`UsageError`), and disconnects (`SRV-PSSE-6`,
//! `INV-S15`).

mod common;

use common::*;
use mcp_http_proto::server::UsageError;
use mcp_http_proto::server::{Outcome, ReplyMode, Server, ServerConfig};
use mcp_http_proto::wire::jsonrpc::{BodyError, MessageKind, RequestId};

fn with_mode(reply_mode: ReplyMode) -> Server {
    server(ServerConfig {
        reply_mode,
        ..ServerConfig::default()
    })
}

// ----- 202 -----

/// `SRV-POST-7`, `INV-S4`: a POST of notifications only, or responses only, gets 202 with
/// an empty body at once; the messages are handed over in `Accepted`, and no stream opens.
#[test]
fn notifications_and_responses_get_202_with_no_body() {
    for mode in [ReplyMode::Sse, ReplyMode::Json] {
        let t0 = base_instant();
        let mut s = with_mode(mode);
        let id = open_session(&mut s, t0);
        for (body, kinds) in [
            (INITIALIZED, vec![MessageKind::Notification]),
            (PROGRESS, vec![MessageKind::Notification]),
            (CLIENT_RESPONSE, vec![MessageKind::Response]),
            (CLIENT_ERROR_RESPONSE, vec![MessageKind::Error]),
        ] {
            let out = s.handle_request(post_in(&id, body), t0);
            let Outcome::Accepted(a) = out else {
                panic!("{mode:?} {body}: {out:?}")
            };
            assert_eq!(a.response.status(), 202);
            assert!(a.response.body().is_empty());
            assert_eq!(header(&a.response, "content-length"), Some("0"));
            assert!(a.response.headers().get("content-type").is_none());
            assert_eq!(a.session, Some(sid(&id)));
            let got: Vec<_> = a.messages.iter().map(|m| m.kind()).collect();
            assert_eq!(got, kinds);
            assert_eq!(&a.messages[0].json()[..], body.as_bytes());
            assert_eq!(s.stream_count(), 0, "{mode:?}: no stream for a 202");
            assert!(s.poll_output().is_none());
        }
    }
}

/// `SRV-POST-7`, `BOTH-POST-6`: a 2025-03-26 batch of notifications, or of responses,
/// gets 202 and hands over every message in body order.
#[test]
fn batches_without_requests_get_202_in_body_order() {
    let t0 = base_instant();
    let mut s = with_mode(ReplyMode::Sse);
    let id = open_session_with(&mut s, "2025-03-26", t0);
    let out = s.handle_request(post_in(&id, format!("[{INITIALIZED},{PROGRESS}]")), t0);
    let Outcome::Accepted(a) = out else {
        panic!("{out:?}")
    };
    assert_eq!(a.response.status(), 202);
    let methods: Vec<_> = a.messages.iter().map(|m| m.method()).collect();
    assert_eq!(
        methods,
        [
            Some("notifications/initialized"),
            Some("notifications/progress")
        ]
    );
    let out = s.handle_request(
        post_in(&id, format!("[{CLIENT_ERROR_RESPONSE},{CLIENT_RESPONSE}]")),
        t0,
    );
    let Outcome::Accepted(a) = out else {
        panic!("{out:?}")
    };
    let ids: Vec<_> = a.messages.iter().map(|m| m.id().cloned()).collect();
    assert_eq!(
        ids,
        [
            Some(RequestId::from("srv-2")),
            Some(RequestId::from("srv-1"))
        ]
    );
    assert_eq!(s.stream_count(), 0);
}

// ----- SSE replies -----

/// `SRV-PSSE-1`, `SRV-PSSE-2`, `SRV-PSSE-5`, `SRV-POST-10`, `SRV-PSSE-14`: the SSE head
/// goes at once; related notifications and requests follow as `event: message` frames in
/// the order sent; the response comes last and ends the stream.
#[test]
fn sse_reply_carries_related_messages_then_the_response_then_ends() {
    let t0 = base_instant();
    let mut s = with_mode(ReplyMode::Sse);
    let id = open_initialized_session(&mut s, t0);
    let out = s.handle_request(post_in(&id, tools_list(2)), t0);
    let Outcome::Dispatch(d) = out else {
        panic!("{out:?}")
    };
    assert_eq!(d.session, Some(sid(&id)));
    assert_eq!(d.messages.len(), 1);
    assert_eq!(d.messages[0].id(), Some(&RequestId::Number(2)));
    let stream = d.stream;

    let out = drain(&mut s);
    assert_eq!(shape(&out), [(stream, 'H')], "the head goes at once");
    let head = only_head(&out);
    assert_eq!(head.status(), 200);
    assert_eq!(header(head, "content-type"), Some(EVENT_STREAM));
    assert_eq!(header(head, "cache-control"), Some("no-cache"));
    assert_eq!(header(head, "x-accel-buffering"), Some("no"));
    assert!(head.headers().get("content-length").is_none());

    s.send(stream, PROGRESS, t0).unwrap();
    s.send(stream, PING_REQUEST, t0).unwrap();
    s.send(stream, SAMPLING_REQUEST, t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(shape(&out), [(stream, 'D'), (stream, 'D'), (stream, 'D')]);
    s.send(stream, result_answer(2), t0).unwrap();
    let tail = drain(&mut s);
    assert_eq!(shape(&tail), [(stream, 'D'), (stream, 'E')]);

    let mut bytes = data_of(&out, stream);
    bytes.extend(data_of(&tail, stream));
    let msgs = sse_messages(&bytes);
    assert_eq!(
        msgs,
        [
            json(PROGRESS),
            json(PING_REQUEST),
            json(SAMPLING_REQUEST),
            json(&result_answer(2))
        ]
    );
    assert_eq!(s.stream_count(), 0);
}

/// `SRV-PSSE-1`, `INV-S11`: an error response answers the request as well and ends the
/// stream.
#[test]
fn sse_error_answer_ends_the_stream() {
    let t0 = base_instant();
    let mut s = with_mode(ReplyMode::Sse);
    let id = open_session(&mut s, t0);
    let stream = dispatch(&mut s, post_in(&id, tools_list(3)), t0);
    drain(&mut s);
    s.send(stream, error_answer(3), t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(
        sse_messages(&data_of(&out, stream)),
        [json(&error_answer(3))]
    );
    assert!(ends(&out, stream));
}

/// `SRV-PSSE-1` (2025-03-26): a batch's SSE stream carries each response as it is given,
/// and ends only after the last request is answered.
#[test]
fn sse_batch_ends_after_every_request_is_answered() {
    let t0 = base_instant();
    let mut s = with_mode(ReplyMode::Sse);
    let id = open_session_with(&mut s, "2025-03-26", t0);
    let batch = format!("[{},{PROGRESS},{}]", tools_list(1), tools_list(2));
    let stream = dispatch(&mut s, post_in(&id, batch), t0);
    drain(&mut s);
    s.send(stream, result_answer(2), t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(shape(&out), [(stream, 'D')], "one of two answered: no end");
    s.send(stream, result_answer(1), t0).unwrap();
    let out2 = drain(&mut s);
    assert_eq!(shape(&out2), [(stream, 'D'), (stream, 'E')]);
    let mut bytes = data_of(&out, stream);
    bytes.extend(data_of(&out2, stream));
    assert_eq!(
        sse_messages(&bytes),
        [json(&result_answer(2)), json(&result_answer(1))],
        "SSE frames go in the order answered"
    );
}

// ----- JSON replies -----

/// `SRV-POST-10`, `INV-S5`: in JSON mode nothing is written until the answer; then one
/// `application/json` body holding exactly the response.
#[test]
fn json_reply_is_one_application_json_body() {
    let t0 = base_instant();
    let mut s = with_mode(ReplyMode::Json);
    let id = open_session(&mut s, t0);
    let stream = dispatch(&mut s, post_in(&id, tools_list(4)), t0);
    assert!(s.poll_output().is_none(), "the head waits for the body");
    let answer = result_answer(4);
    s.send(stream, answer.clone(), t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(shape(&out), [(stream, 'H'), (stream, 'D'), (stream, 'E')]);
    let head = only_head(&out);
    assert_eq!(head.status(), 200);
    assert_eq!(header(head, "content-type"), Some(JSON));
    assert_eq!(
        header(head, "content-length"),
        Some(answer.len().to_string().as_str())
    );
    assert_eq!(data_of(&out, stream), answer.as_bytes());
    assert_eq!(s.stream_count(), 0);
}

/// `INV-S5`, ambiguity 1: a 2025-03-26 batch answered in JSON mode gets one array of the
/// responses in request order, whatever order they were given in.
#[test]
fn json_batch_reply_is_an_array_in_request_order() {
    let t0 = base_instant();
    let mut s = with_mode(ReplyMode::Json);
    let id = open_session_with(&mut s, "2025-03-26", t0);
    let batch = format!(
        "[{},{PROGRESS},{},{}]",
        tools_list(1),
        tools_list(2),
        r#"{"jsonrpc":"2.0","id":"c","method":"ping"}"#
    );
    let stream = dispatch(&mut s, post_in(&id, batch), t0);
    let ping_answer = r#"{"jsonrpc":"2.0","id":"c","result":{}}"#;
    s.send(stream, ping_answer, t0).unwrap();
    s.send(stream, error_answer(2), t0).unwrap();
    assert!(
        s.poll_output().is_none(),
        "nothing until every request is answered"
    );
    s.send(stream, result_answer(1), t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(shape(&out), [(stream, 'H'), (stream, 'D'), (stream, 'E')]);
    let body = data_of(&out, stream);
    assert_eq!(
        header(only_head(&out), "content-length"),
        Some(body.len().to_string().as_str())
    );
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        value,
        serde_json::Value::Array(vec![
            json(&result_answer(1)),
            json(&error_answer(2)),
            json(ping_answer)
        ])
    );
}

// ----- usage errors -----

/// `INV-S11`: each request is answered once; a second answer, or an answer with an id
/// that is not pending on this stream, is `NotPending`, and writes nothing.
#[test]
fn answering_twice_or_a_foreign_id_is_not_pending() {
    let t0 = base_instant();
    let mut s = with_mode(ReplyMode::Sse);
    let id = open_session_with(&mut s, "2025-03-26", t0);
    let batch = format!("[{},{}]", tools_list(1), tools_list(2));
    let stream = dispatch(&mut s, post_in(&id, batch), t0);
    drain(&mut s);
    s.send(stream, result_answer(1), t0).unwrap();
    drain(&mut s);
    assert_eq!(
        s.send(stream, result_answer(1), t0),
        Err(UsageError::NotPending(Some(RequestId::Number(1))))
    );
    assert_eq!(
        s.send(stream, result_answer(99), t0),
        Err(UsageError::NotPending(Some(RequestId::Number(99))))
    );
    assert_eq!(
        s.send(stream, r#"{"jsonrpc":"2.0","id":"1","result":{}}"#, t0),
        Err(UsageError::NotPending(Some(RequestId::from("1")))),
        "the string id \"1\" is not the number 1"
    );
    assert_eq!(
        s.send(
            stream,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":1,"message":"x"}}"#,
            t0
        ),
        Err(UsageError::NotPending(None))
    );
    assert!(s.poll_output().is_none());
    s.send(stream, result_answer(2), t0).unwrap();
    assert!(ends(&drain(&mut s), stream));
}

/// `INV-S11`: after its last answer a stream has ended: `StreamClosed`. A handle this
/// machine never opened is `UnknownStream`.
#[test]
fn ended_and_unknown_streams_are_refused() {
    let t0 = base_instant();
    let mut s = with_mode(ReplyMode::Sse);
    let id = open_session(&mut s, t0);
    let stream = dispatch(&mut s, post_in(&id, tools_list(1)), t0);
    s.send(stream, result_answer(1), t0).unwrap();
    drain(&mut s);
    for msg in [result_answer(1), PROGRESS.to_owned()] {
        assert_eq!(
            s.send(stream, msg, t0),
            Err(UsageError::StreamClosed(stream))
        );
    }
    // A handle from another machine, numbered beyond anything this one opened.
    let mut other = with_mode(ReplyMode::Sse);
    let oid = open_session(&mut other, t0);
    let mut foreign = stream;
    for n in 2..6 {
        foreign = dispatch(&mut other, post_in(&oid, tools_list(n)), t0);
    }
    assert!(foreign.as_u64() > stream.as_u64());
    assert_eq!(
        s.send(foreign, PROGRESS, t0),
        Err(UsageError::UnknownStream(foreign))
    );
    let foreign_conn = other.connection(foreign).expect("attached");
    assert_eq!(
        s.handle_disconnect(foreign_conn, t0),
        Err(UsageError::UnknownConnection(foreign_conn))
    );
    assert!(s.poll_output().is_none());
}

/// A JSON reply carries responses only: a notification or request on it is
/// `JsonReplyCarriesResponsesOnly`, and the stream still takes its answer.
#[test]
fn notification_on_a_json_reply_is_refused() {
    let t0 = base_instant();
    let mut s = with_mode(ReplyMode::Json);
    let id = open_initialized_session(&mut s, t0);
    let stream = dispatch(&mut s, post_in(&id, tools_list(1)), t0);
    for msg in [PROGRESS, PING_REQUEST] {
        assert_eq!(
            s.send(stream, msg, t0),
            Err(UsageError::JsonReplyCarriesResponsesOnly)
        );
    }
    assert!(s.poll_output().is_none());
    s.send(stream, result_answer(1), t0).unwrap();
    assert_eq!(data_of(&drain(&mut s), stream), result_answer(1).as_bytes());
}

/// What `send` is given must be one JSON-RPC message: other bytes are `InvalidMessage`
/// with the parse or validation error, and nothing is written.
#[test]
fn invalid_bytes_are_refused_by_send() {
    let t0 = base_instant();
    let mut s = with_mode(ReplyMode::Sse);
    let id = open_session(&mut s, t0);
    let stream = dispatch(&mut s, post_in(&id, tools_list(1)), t0);
    drain(&mut s);
    for bad in ["", "nope", "{", r#"{"id":1,"result":{}}"#] {
        assert!(
            matches!(s.send(stream, bad, t0), Err(UsageError::InvalidMessage(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        s.send(stream, "{", t0),
        Err(UsageError::InvalidMessage(BodyError::Parse(_)))
    ));
    assert!(matches!(
        s.send(stream, format!("[{}]", result_answer(1)), t0),
        Err(UsageError::InvalidMessage(BodyError::Invalid(_)))
    ));
    assert!(s.poll_output().is_none());
    assert_eq!(s.stream_count(), 1, "the stream is still open");
}

// ----- disconnects -----

/// `SRV-PSSE-6`, `INV-S15`: after the client disconnects from a POST stream, the stream
/// still takes its messages and answer (a disconnect is not a cancellation), but nothing is
/// written, not even the end; then the stream is over.
#[test]
fn disconnect_is_not_cancellation_but_nothing_is_written() {
    for mode in [ReplyMode::Sse, ReplyMode::Json] {
        let t0 = base_instant();
        let mut s = with_mode(mode);
        let id = open_initialized_session(&mut s, t0);
        let stream = dispatch(&mut s, post_in(&id, tools_list(1)), t0);
        // The SSE head is queued but not yet written: the disconnect drops it.
        disconnect(&mut s, stream, t0).unwrap();
        assert!(
            s.poll_output().is_none(),
            "{mode:?}: queued outputs dropped"
        );
        if mode == ReplyMode::Sse {
            assert_eq!(s.send(stream, PROGRESS, t0), Ok(()));
        }
        assert_eq!(s.stream_count(), 1);
        assert_eq!(s.send(stream, result_answer(1), t0), Ok(()));
        assert!(s.poll_output().is_none(), "{mode:?}: nothing written");
        assert_eq!(s.stream_count(), 0);
        assert_eq!(
            s.send(stream, result_answer(1), t0),
            Err(UsageError::StreamClosed(stream))
        );
        // Disconnecting an ended stream is harmless.
        assert_eq!(disconnect(&mut s, stream, t0), Ok(()));
        assert!(s.poll_output().is_none());
    }
}

/// A disconnect affects only its own stream: another POST stream of the same session
/// keeps being written.
#[test]
fn disconnect_touches_only_its_stream() {
    let t0 = base_instant();
    let mut s = with_mode(ReplyMode::Sse);
    let id = open_initialized_session(&mut s, t0);
    let gone = dispatch(&mut s, post_in(&id, tools_list(1)), t0);
    let live = dispatch(&mut s, post_in(&id, tools_list(2)), t0);
    disconnect(&mut s, gone, t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(shape(&out), [(live, 'H')]);
    s.send(gone, result_answer(1), t0).unwrap();
    s.send(live, result_answer(2), t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(shape(&out), [(live, 'D'), (live, 'E')]);
}
