//! Decisions the machine makes so that drivers and applications do not: the version
//! `initialize` negotiates, the -32603 for a request its handler left unanswered, the
//! notifications batched with requests, the ids of server-to-client requests and the
//! pairing of the client's answers with them, and the end of requests that will never be
//! answered. (DESIGN "Drivers": "a driver holds no protocol logic of its own".)

mod common;

use common::*;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::{
    AbandonReason, CloseReason, Dispatch, Outcome, ServerConfig, ServerEvent, UsageError,
};
use mcp_http_proto::wire::jsonrpc::{INTERNAL_ERROR, MessageKind, RequestId};

fn dispatched(outcome: Outcome) -> Dispatch {
    match outcome {
        Outcome::Dispatch(d) => d,
        other => panic!("{other:?}"),
    }
}

/// `LIFE-3`: the machine negotiates `initialize`: the client's version when supported,
/// else the newest supported one; the application only names it in its result.
#[test]
fn initialize_negotiation_comes_from_the_machine() {
    use ProtocolVersion as V;
    let cases = [
        ("2025-11-25", V::V2025_11_25),
        ("2025-06-18", V::V2025_06_18),
        ("2025-03-26", V::V2025_03_26),
        ("2024-11-05", V::V2024_11_05),
        // Unknown, or not served by the session era: the newest the server speaks.
        ("2099-01-01", V::V2025_11_25),
        ("2026-07-28", V::V2025_11_25),
        ("", V::V2025_11_25),
    ];
    for (requested, want) in cases {
        let t0 = base_instant();
        let mut s = server(ServerConfig::default());
        let d = dispatched(s.handle_request(post(initialize_body(1, requested)), t0));
        assert_eq!(d.negotiated, Some(want), "asked for {requested:?}");
        // The application's result names it, and the session is minted with it.
        s.send(d.stream, initialize_result(1, want.as_str()), t0)
            .unwrap();
        let record = s.sessions().next().expect("minted").clone();
        assert_eq!(record.protocol_version, want);
    }
    // A narrower server picks among its own versions.
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        supported_versions: vec![V::V2025_03_26, V::V2025_06_18],
        ..ServerConfig::default()
    });
    let d = dispatched(s.handle_request(post(initialize_body(1, "2025-11-25")), t0));
    assert_eq!(d.negotiated, Some(V::V2025_06_18));
    // `params` without a protocolVersion: the newest supported.
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#;
    let mut s = server(ServerConfig::default());
    let d = dispatched(s.handle_request(post(body), t0));
    assert_eq!(d.negotiated, Some(V::V2025_11_25));
    // Requests other than initialize carry no negotiation.
    let id = open_initialized_session(&mut s, t0);
    let d = dispatched(s.handle_request(post_in(&id, tools_list(2)), t0));
    assert_eq!(d.negotiated, None);
}

/// A request whose handler ended without answering gets -32603 from the machine, so the
/// stream still ends (`INV-S11`); a request that was answered is left alone.
#[test]
fn a_request_left_unanswered_gets_32603_from_the_machine() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session_with(&mut s, "2025-03-26", t0);
    let batch = format!("[{},{}]", tools_list(2), tools_list(3));
    let d = dispatched(s.handle_request(post_in(&id, batch), t0));
    s.send(d.stream, result_answer(2), t0).unwrap();
    assert_eq!(
        s.finish_request(d.stream, &RequestId::Number(2), t0),
        Ok(false),
        "answered: nothing to do"
    );
    assert_eq!(s.stream_count(), 1, "request 3 is still owed");
    assert_eq!(
        s.finish_request(d.stream, &RequestId::Number(3), t0),
        Ok(true)
    );
    assert_eq!(
        s.stream_count(),
        0,
        "every request answered: the stream ended"
    );
    let out = drain(&mut s);
    let messages = sse_messages(&data_of(&out, d.stream));
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["id"], 3);
    assert_eq!(messages[1]["error"]["code"], INTERNAL_ERROR);
    assert!(ends(&out, d.stream));
    // A stream that has ended: harmless.
    assert_eq!(
        s.finish_request(d.stream, &RequestId::Number(3), t0),
        Ok(false)
    );
}

/// `BOTH-POST-6` (2025-03-26): notifications batched with requests reach the
/// application with the dispatch, in body order; none is dropped.
#[test]
fn notifications_batched_with_requests_reach_the_application() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session_with(&mut s, "2025-03-26", t0);
    let batch = format!("[{PROGRESS},{},{LOG}]", tools_list(2));
    let d = dispatched(s.handle_request(post_in(&id, batch), t0));
    let notes: Vec<_> = d.notifications().map(|m| m.method().unwrap()).collect();
    assert_eq!(notes, ["notifications/progress", "notifications/message"]);
    let requests: Vec<_> = d.requests().map(|m| m.id().cloned()).collect();
    assert_eq!(requests, [Some(RequestId::Number(2))]);
    assert!(d.messages.iter().all(|m| m.kind() != MessageKind::Response));
}

/// Server-to-client requests get ids the machine mints, unique and naming the stream;
/// the POST that answers one is paired with it by the machine, once.
#[test]
fn server_requests_get_minted_ids_and_their_answers_are_paired() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_initialized_session(&mut s, t0);
    let d = dispatched(s.handle_request(post_in(&id, tools_list(2)), t0));
    let a = s
        .request(
            d.stream,
            "sampling/createMessage",
            Some(&serde_json::json!({})),
            t0,
        )
        .unwrap();
    let b = s.request(d.stream, "roots/list", None, t0).unwrap();
    assert_ne!(a, b);
    let RequestId::String(text) = &a else {
        panic!("{a:?}")
    };
    assert!(
        text.contains(&format!("-{}-r", d.stream.as_u64())),
        "{text} names its stream"
    );
    let out = drain(&mut s);
    let sent = sse_messages(&data_of(&out, d.stream));
    assert_eq!(sent[0]["method"], "sampling/createMessage");
    assert_eq!(sent[1]["method"], "roots/list");
    assert!(sent[1].get("params").is_none(), "no params: none written");
    let answer = serde_json::json!({"jsonrpc": "2.0", "id": a, "result": {}}).to_string();
    let Outcome::Accepted(acc) = s.handle_request(post_in(&id, answer.clone()), t0) else {
        panic!()
    };
    let paired = acc.answers[0].request.as_ref().expect("paired");
    assert_eq!(
        (&paired.id, &*paired.method),
        (&a, "sampling/createMessage")
    );
    // The same answer again is unpaired: each request is answered once.
    let Outcome::Accepted(again) = s.handle_request(post_in(&id, answer), t0) else {
        panic!()
    };
    assert!(again.answers[0].request.is_none());
    // Params must be an object or an array.
    assert_eq!(
        s.request(d.stream, "x", Some(&serde_json::json!(5)), t0),
        Err(UsageError::InvalidRequest)
    );
}

/// A request that will never be answered through the machine is an event: its session
/// ended, or (without a session) its stream did. A task waiting for it can stop.
#[test]
fn requests_that_will_never_be_answered_are_events() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_initialized_session(&mut s, t0);
    let d = dispatched(s.handle_request(post_in(&id, tools_list(2)), t0));
    let a = s.request(d.stream, "roots/list", None, t0).unwrap();
    drain(&mut s);
    drain_events(&mut s);
    let _ = s.handle_request(delete(Some(&id)), t0);
    let events = drain_events(&mut s);
    assert!(
        matches!(
            &events[..],
            [
                ServerEvent::RequestAbandoned { session: Some(sess), request, reason: AbandonReason::SessionClosed },
                ServerEvent::SessionClosed { reason: CloseReason::Deleted, .. },
            ] if sess.as_str() == id && request.id == a
        ),
        "{events:?}"
    );

    let mut s = server(ServerConfig::stateless());
    let d = dispatched(s.handle_request(post(tools_list(1)), t0));
    let b = s.request(d.stream, "roots/list", None, t0).unwrap();
    assert_eq!(s.pending_requests(None).count(), 1);
    s.send(d.stream, result_answer(1), t0).unwrap();
    let events = drain_events(&mut s);
    assert!(
        matches!(
            &events[..],
            [ServerEvent::RequestAbandoned { session: None, request, reason: AbandonReason::StreamEnded }]
                if request.id == b
        ),
        "{events:?}"
    );
    assert_eq!(s.pending_requests(None).count(), 0);
}
