//! Session lifecycle: minting on a successful `InitializeResult` only (`SRV-SESS-1`,
//! `INV-S1`), where the session header may appear, `initialized`, DELETE and termination
//! (`SRV-SESS-7`, `INV-S2`), session events, and session records that move between
//! machines.

mod common;

use std::time::Duration;

use common::*;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::UsageError;
use mcp_http_proto::server::{
    CloseReason, Outcome, Refusal, ReplyMode, ServerConfig, ServerEvent, SessionRecord, StreamEvent,
};
use mcp_http_proto::wire::jsonrpc::RequestId;

fn config(reply_mode: ReplyMode) -> ServerConfig {
    ServerConfig {
        reply_mode,
        ..ServerConfig::default()
    }
}

/// `SRV-SESS-1`, `INV-S1` (SSE replies): nothing is written for `initialize` until the
/// application answers; the successful InitializeResult mints the session, whose id rides
/// on that response's head, and `SessionCreated` carries the negotiated version. The
/// session is 2025-11-25 and resumable (the default), so the head is followed by a priming
/// event (`SRV-PSSE-9`, `INV-S12`), then the response, itself carrying an id of its own
/// (`SRV-RES-1`, `INV-S9`).
#[test]
fn successful_initialize_result_mints_the_session_sse() {
    let t0 = base_instant();
    let mut s = server(config(ReplyMode::Sse));
    let d = match s.handle_request(post(initialize_body(1, "2025-11-25")), t0) {
        Outcome::Dispatch(d) => d,
        other => panic!("{other:?}"),
    };
    assert_eq!(d.session, None, "initialize has no session yet");
    assert_eq!(d.messages.len(), 1);
    assert_eq!(d.messages[0].method(), Some("initialize"));
    assert!(s.poll_output().is_none(), "the head waits for the answer");
    assert_eq!(s.session_count(), 0);
    assert!(s.poll_event().is_none());

    s.send(d.stream, initialize_result(1, "2025-11-25"), t0)
        .unwrap();
    let out = drain(&mut s);
    assert_eq!(
        shape(&out),
        [
            (d.stream, 'H'),
            (d.stream, 'D'),
            (d.stream, 'D'),
            (d.stream, 'E')
        ]
    );
    let head = only_head(&out);
    assert_eq!(head.status(), 200);
    assert_eq!(header(head, "content-type"), Some(EVENT_STREAM));
    let id = header(head, SESSION_HEADER).expect("session id").to_owned();
    let msgs = sse_messages(&data_of(&out, d.stream));
    assert_eq!(msgs, [json(&initialize_result(1, "2025-11-25"))]);
    let frames = frames_of(&out, d.stream);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(
        frames[0].is_priming(),
        "the priming event first: {frames:?}"
    );
    assert_eq!(frames[0].retry, Some(1000), "the default sse_retry");
    assert_eq!(
        frames[1].message(),
        Some(json(&initialize_result(1, "2025-11-25")))
    );
    let (priming_id, response_id) = (frames[0].id.as_ref(), frames[1].id.as_ref());
    assert!(
        response_id.is_some() && response_id != priming_id,
        "{frames:?}"
    );

    assert_eq!(s.session_count(), 1);
    let record = s.session(&sid(&id)).expect("live");
    assert_eq!(record.protocol_version, ProtocolVersion::V2025_11_25);
    assert!(!record.initialized);
    assert_eq!(
        drain_events(&mut s),
        [ServerEvent::SessionCreated {
            id: sid(&id),
            version: ProtocolVersion::V2025_11_25
        }]
    );
}

/// `SRV-SESS-1`, `INV-S1` (JSON replies): the session id rides on the one
/// `application/json` response carrying the InitializeResult.
#[test]
fn successful_initialize_result_mints_the_session_json() {
    let t0 = base_instant();
    let mut s = server(config(ReplyMode::Json));
    let d = match s.handle_request(post(initialize_body(7, "2025-06-18")), t0) {
        Outcome::Dispatch(d) => d,
        other => panic!("{other:?}"),
    };
    assert!(s.poll_output().is_none());
    let answer = initialize_result(7, "2025-06-18");
    s.send(d.stream, answer.clone(), t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(
        shape(&out),
        [(d.stream, 'H'), (d.stream, 'D'), (d.stream, 'E')]
    );
    let head = only_head(&out);
    assert_eq!(head.status(), 200);
    assert_eq!(header(head, "content-type"), Some(JSON));
    assert_eq!(
        header(head, "content-length"),
        Some(answer.len().to_string().as_str())
    );
    let id = header(head, SESSION_HEADER).unwrap();
    assert_eq!(data_of(&out, d.stream), answer.as_bytes());
    assert_eq!(live_ids(&s), [id]);
}

/// `INV-S1`: an error answer to `initialize` mints nothing: no header, no event, no
/// session, and the cap slot it held is free again. Both reply modes.
#[test]
fn error_answer_to_initialize_mints_no_session() {
    for mode in [ReplyMode::Sse, ReplyMode::Json] {
        let t0 = base_instant();
        let mut s = server(ServerConfig {
            max_sessions: Some(1),
            ..config(mode)
        });
        let d = match s.handle_request(post(initialize_body(1, "2025-06-18")), t0) {
            Outcome::Dispatch(d) => d,
            other => panic!("{other:?}"),
        };
        s.send(d.stream, error_answer(1), t0).unwrap();
        let out = drain(&mut s);
        let head = only_head(&out);
        assert_eq!(head.status(), 200, "{mode:?}");
        assert!(head.headers().get(SESSION_HEADER).is_none(), "{mode:?}");
        assert!(ends(&out, d.stream));
        assert_eq!(s.session_count(), 0);
        assert!(s.poll_event().is_none());
        assert_eq!(s.poll_timeout(), None, "no session, nothing to expire");
        // The pending initialize no longer counts toward the cap.
        let again = s.handle_request(post(initialize_body(2, "2025-06-18")), t0);
        assert!(matches!(again, Outcome::Dispatch(_)), "{mode:?}: {again:?}");
    }
}

/// `INV-S1`: a successful answer that is not an InitializeResult (no `protocolVersion`)
/// mints nothing.
#[test]
fn success_without_initialize_result_shape_mints_no_session() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    for answer in [
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":20250618}}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":null}"#,
    ] {
        let d = s.handle_request(post(initialize_body(1, "2025-06-18")), t0);
        let stream = d.stream().unwrap();
        s.send(stream, answer, t0).unwrap();
        let out = drain(&mut s);
        assert!(
            only_head(&out).headers().get(SESSION_HEADER).is_none(),
            "{answer}"
        );
        assert!(ends(&out, stream));
        assert_eq!(s.session_count(), 0, "{answer}");
        assert!(s.poll_event().is_none());
    }
}

/// `INV-S1`: an InitializeResult is a JSON object; a result that is an array holding a
/// version string is not one and mints nothing.
#[test]
fn array_result_is_not_an_initialize_result() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let stream = s
        .handle_request(post(initialize_body(1, "2025-06-18")), t0)
        .stream()
        .unwrap();
    s.send(
        stream,
        r#"{"jsonrpc":"2.0","id":1,"result":["2025-06-18"]}"#,
        t0,
    )
    .unwrap();
    let out = drain(&mut s);
    assert!(
        only_head(&out).headers().get(SESSION_HEADER).is_none(),
        "an array result minted a session"
    );
    assert_eq!(s.session_count(), 0);
}

/// `INV-S1`, `LIFE-3`: an InitializeResult naming a version the server does not support is
/// the application's mistake: `UnsupportedNegotiatedVersion`, nothing minted or written,
/// and the request stays open for a correct answer.
#[test]
fn initialize_result_with_unsupported_version_is_a_usage_error() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let stream = s
        .handle_request(post(initialize_body(1, "2026-07-28")), t0)
        .stream()
        .unwrap();
    for bad in ["2026-07-28", "1999-01-01"] {
        assert_eq!(
            s.send(stream, initialize_result(1, bad), t0),
            Err(UsageError::UnsupportedNegotiatedVersion(bad.into()))
        );
    }
    assert!(s.poll_output().is_none());
    assert_eq!(s.session_count(), 0);
    let version = s.config().negotiate("2026-07-28");
    assert_eq!(version, ProtocolVersion::V2025_11_25);
    s.send(stream, initialize_result(1, version.as_str()), t0)
        .unwrap();
    assert_eq!(s.session_count(), 1);
}

/// `INV-S1`, ambiguity 14: the session header appears on the `initialize` response only:
/// never on a 202, an SSE or JSON reply to a later request, the GET stream, the DELETE
/// response, or a refusal.
#[test]
fn session_header_appears_on_the_initialize_response_only() {
    for mode in [ReplyMode::Sse, ReplyMode::Json] {
        let t0 = base_instant();
        let mut s = server(config(mode));
        let id = open_session(&mut s, t0);
        let mut responses = Vec::new();
        let mut head_outputs = Vec::new();

        let out = s.handle_request(post_in(&id, INITIALIZED), t0);
        responses.push(out.response().unwrap().clone());
        let stream = s
            .handle_request(post_in(&id, tools_list(2)), t0)
            .stream()
            .unwrap();
        s.send(stream, result_answer(2), t0).unwrap();
        head_outputs.extend(drain(&mut s));
        assert!(matches!(
            s.handle_request(get(Some(&id)), t0),
            Outcome::StreamOpened(_)
        ));
        head_outputs.extend(drain(&mut s));
        let r = rejected(s.handle_request(post_in(&id, "{"), t0));
        responses.push(r.response);
        let out = s.handle_request(delete(Some(&id)), t0);
        responses.push(out.response().unwrap().clone());
        head_outputs.extend(drain(&mut s));

        assert_eq!(heads(&head_outputs).len(), 2, "{mode:?}");
        for (_, h) in heads(&head_outputs) {
            assert!(h.headers().get(SESSION_HEADER).is_none(), "{mode:?}: {h:?}");
        }
        for r in &responses {
            assert!(r.headers().get(SESSION_HEADER).is_none(), "{mode:?}: {r:?}");
        }
    }
}

/// `SRV-SESS-3`, `INV-S1`: minted ids are visible ASCII (0x21-0x7E), and no two are alike.
#[test]
fn minted_ids_are_visible_ascii_and_distinct() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..64 {
        let id = open_session(&mut s, t0 + Duration::from_millis(i));
        assert!(!id.is_empty());
        assert!(
            id.bytes().all(|b| (0x21..=0x7e).contains(&b)),
            "not visible ASCII: {id:?}"
        );
        assert!(seen.insert(id.clone()), "minted twice: {id}");
        // Ending a session does not make its id available again.
        if i % 2 == 0 {
            let _ = s.handle_request(delete(Some(&id)), t0);
        }
    }
    assert_eq!(s.session_count(), 32);
}

/// Different seeds give different ids: the ids come from the injected entropy
/// (`SRV-SEC-8` in production, with the OS source).
#[test]
fn ids_come_from_the_injected_entropy() {
    let t0 = base_instant();
    let a = open_session(&mut server_seeded(ServerConfig::default(), 1), t0);
    let a2 = open_session(&mut server_seeded(ServerConfig::default(), 1), t0);
    let b = open_session(&mut server_seeded(ServerConfig::default(), 2), t0);
    assert_eq!(a, a2);
    assert_ne!(a, b);
}

/// `SRV-SESS-7`, `INV-S2`, `NOTE-SESS-12`: DELETE answers 200 with an empty body, emits
/// `SessionClosed { Deleted }`, and from then on every request with that id gets 404:
/// POST, GET, DELETE and `initialize`, now and later.
#[test]
fn delete_ends_the_session_and_its_id_gets_404_forever() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_initialized_session(&mut s, t0);
    let other = open_session(&mut s, t0);
    drain_events(&mut s);

    let out = s.handle_request(delete(Some(&id)), t0);
    let Outcome::SessionDeleted(d) = out else {
        panic!("{out:?}")
    };
    assert_eq!(d.session, sid(&id));
    assert_eq!(d.response.status(), 200);
    assert!(d.response.body().is_empty());
    assert_eq!(
        drain_events(&mut s),
        [ServerEvent::SessionClosed {
            id: sid(&id),
            reason: CloseReason::Deleted
        }]
    );
    assert!(s.session(&sid(&id)).is_none());
    assert_eq!(live_ids(&s), std::slice::from_ref(&other));

    for later in [
        Duration::ZERO,
        Duration::from_secs(1),
        Duration::from_secs(86_400),
    ] {
        for req in [
            post_in(&id, tools_list(3)),
            post_in(&id, INITIALIZED),
            post_in(&id, CLIENT_RESPONSE),
            post_in(&id, initialize_body(4, "2025-06-18")),
            get(Some(&id)),
            delete(Some(&id)),
        ] {
            assert_refused(
                s.handle_request(req, t0 + later),
                Refusal::UnknownSession,
                404,
                -32001,
            );
        }
        assert!(s.session(&sid(&id)).is_none(), "never revived");
    }
    // A fresh initialize gets a new id.
    let fresh = open_session(&mut s, t0 + Duration::from_secs(86_400));
    assert_ne!(fresh, id);
}

/// `SRV-SESS-7`: DELETE ends the session's open streams (standalone and POST); their
/// handles are closed from then on.
#[test]
fn delete_ends_the_sessions_open_streams() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_initialized_session(&mut s, t0);
    let post_stream = s
        .handle_request(post_in(&id, tools_list(2)), t0)
        .stream()
        .unwrap();
    let get_stream = s.handle_request(get(Some(&id)), t0).stream().unwrap();
    drain(&mut s);
    assert_eq!(s.stream_count(), 2);
    let _ = s.handle_request(delete(Some(&id)), t0);
    let out = drain(&mut s);
    assert!(ends(&out, post_stream));
    assert!(ends(&out, get_stream));
    assert_eq!(out.len(), 2, "only the two ends: {out:?}");
    assert_eq!(s.stream_count(), 0);
    assert_eq!(
        s.send(post_stream, result_answer(2), t0),
        Err(UsageError::StreamClosed(post_stream))
    );
    assert_eq!(
        s.send(get_stream, LOG, t0),
        Err(UsageError::StreamClosed(get_stream))
    );
}

/// `SRV-SESS-7`, DESIGN "responses the machine builds are complete": a JSON reply cut
/// short by the end of its session (DELETE, or `terminate_session`) still gets a complete
/// response before its end: a 404 JSON-RPC error. An end never comes without a head.
#[test]
fn json_reply_cut_short_by_the_session_end_gets_a_complete_404() {
    let t0 = base_instant();
    for terminate in [false, true] {
        let mut s = server(config(ReplyMode::Json));
        let id = open_session(&mut s, t0);
        let stream = s
            .handle_request(post_in(&id, tools_list(2)), t0)
            .stream()
            .unwrap();
        assert!(s.poll_output().is_none());
        if terminate {
            assert!(s.terminate_session(&sid(&id)));
        } else {
            let _ = s.handle_request(delete(Some(&id)), t0);
        }
        let out = drain(&mut s);
        assert_eq!(
            shape(&out),
            [(stream, 'H'), (stream, 'D'), (stream, 'E')],
            "terminate: {terminate}"
        );
        let head = only_head(&out);
        assert_eq!(head.status(), 404);
        assert_eq!(header(head, "content-type"), Some(JSON));
        let body: serde_json::Value = serde_json::from_slice(&data_of(&out, stream)).unwrap();
        assert_eq!(body["error"]["code"], -32001);
        assert!(body["id"].is_null());
        assert_eq!(
            s.send(stream, result_answer(2), t0),
            Err(UsageError::StreamClosed(stream))
        );
    }
}

/// `SRV-SESS-6`, `INV-S2`: `terminate_session` ends a session on the server's initiative:
/// `SessionClosed { Terminated }`, then 404; terminating again reports it was not live.
#[test]
fn terminate_session_ends_it_on_the_servers_initiative() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session(&mut s, t0);
    let stream = s.handle_request(get(Some(&id)), t0).stream().unwrap();
    drain(&mut s);
    assert!(s.terminate_session(&sid(&id)));
    assert!(ends(&drain(&mut s), stream));
    assert_eq!(
        drain_events(&mut s),
        [ServerEvent::SessionClosed {
            id: sid(&id),
            reason: CloseReason::Terminated
        }]
    );
    assert!(!s.terminate_session(&sid(&id)));
    assert!(s.poll_event().is_none());
    assert_refused(
        s.handle_request(post_in(&id, INITIALIZED), t0),
        Refusal::UnknownSession,
        404,
        -32001,
    );
}

/// `LIFE-5`, `INV-S16`: `notifications/initialized` (answered 202) sets the session's
/// `initialized` flag; other notifications do not.
#[test]
fn notifications_initialized_sets_the_flag() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session(&mut s, t0);
    assert!(!s.session(&sid(&id)).unwrap().initialized);
    let out = s.handle_request(post_in(&id, PROGRESS), t0);
    assert_eq!(out.response().unwrap().status(), 202);
    assert!(!s.session(&sid(&id)).unwrap().initialized);
    let out = s.handle_request(post_in(&id, INITIALIZED), t0);
    let Outcome::Accepted(a) = out else {
        panic!("{out:?}")
    };
    assert_eq!(a.session, Some(sid(&id)));
    assert_eq!(a.messages[0].method(), Some("notifications/initialized"));
    assert!(s.session(&sid(&id)).unwrap().initialized);
}

/// `LIFE-5`, `BOTH-POST-6`, `INV-S16`: in 2025-03-26 the initialized notification may come
/// batched with a request; it still marks the session initialized.
#[test]
fn notifications_initialized_in_a_batch_with_a_request_sets_the_flag() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session_with(&mut s, "2025-03-26", t0);
    let batch = format!("[{INITIALIZED},{}]", tools_list(2));
    let out = s.handle_request(post_in(&id, batch), t0);
    assert!(matches!(out, Outcome::Dispatch(_)), "{out:?}");
    assert!(
        s.session(&sid(&id)).unwrap().initialized,
        "the batched notifications/initialized was handed to the application but the \
         session is still not initialized"
    );
}

/// `INV-S18`: the negotiated version governs the session's requests, whatever a later
/// header says, and a refused re-initialize does not change it.
#[test]
fn negotiated_version_governs_the_session() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session_with(&mut s, "2025-03-26", t0);
    let req = post_in(&id, tools_list(2)).set("mcp-protocol-version", "2025-11-25");
    let Outcome::Dispatch(d) = s.handle_request(req, t0) else {
        panic!()
    };
    assert_eq!(d.version, ProtocolVersion::V2025_03_26);
    assert_eq!(d.session, Some(sid(&id)));
    let _ = s.handle_request(post_in(&id, initialize_body(5, "2025-11-25")), t0);
    assert_eq!(
        s.session(&sid(&id)).unwrap().protocol_version,
        ProtocolVersion::V2025_03_26
    );
}

/// DESIGN "Session records are plain data": a record serialized with serde_json and
/// restored on another machine carries on there: same id, version and `initialized`.
#[test]
fn restored_session_record_round_trips_through_serde_json() {
    let t0 = base_instant();
    let mut a = server_seeded(ServerConfig::default(), 1);
    let id = open_initialized_session(&mut a, t0);
    let record = a.session(&sid(&id)).unwrap().clone();
    let text = serde_json::to_string(&record).unwrap();
    assert_eq!(
        json(&text),
        json(&format!(
            r#"{{"id":"{id}","protocol_version":"2025-06-18","initialized":true}}"#
        ))
    );
    let back: SessionRecord = serde_json::from_str(&text).unwrap();
    assert_eq!(back, record);

    let mut b = server_seeded(ServerConfig::default(), 2);
    assert_refused(
        b.handle_request(post_in(&id, tools_list(2)), t0),
        Refusal::UnknownSession,
        404,
        -32001,
    );
    b.restore_session(back, t0).unwrap();
    assert_eq!(b.session(&sid(&id)), Some(&record));
    let Outcome::Dispatch(d) = b.handle_request(post_in(&id, tools_list(2)), t0) else {
        panic!()
    };
    assert_eq!(d.version, ProtocolVersion::V2025_06_18);
    assert_eq!(d.messages[0].id(), Some(&RequestId::Number(2)));
    // `initialized` came along: a server-initiated request is allowed at once.
    let get_stream = b.handle_request(get(Some(&id)), t0).stream().unwrap();
    assert_eq!(b.send(get_stream, SAMPLING_REQUEST, t0), Ok(()));
    // Restored sessions expire like any other.
    assert!(b.poll_timeout().is_none(), "streams are open");
}

/// `restore_session` refuses a duplicate, an unsupported version and a full cap; a record
/// with a malformed id does not even deserialize.
#[test]
fn restore_session_refuses_what_the_machine_cannot_hold() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        max_sessions: Some(1),
        supported_versions: vec![ProtocolVersion::V2025_06_18],
        ..ServerConfig::default()
    });
    let record = |id: &str, v| SessionRecord {
        id: sid(id),
        protocol_version: v,
        initialized: false,
        standalone: None,
    };
    assert_eq!(
        s.restore_session(record("x", ProtocolVersion::V2025_03_26), t0),
        Err(UsageError::UnsupportedNegotiatedVersion(
            "2025-03-26".into()
        ))
    );
    s.restore_session(record("x", ProtocolVersion::V2025_06_18), t0)
        .unwrap();
    assert_eq!(
        s.restore_session(record("x", ProtocolVersion::V2025_06_18), t0),
        Err(UsageError::DuplicateSession)
    );
    assert_eq!(
        s.restore_session(record("y", ProtocolVersion::V2025_06_18), t0),
        Err(UsageError::SessionCapReached)
    );
    assert_eq!(live_ids(&s), ["x"]);
    for bad in [
        r#"{"id":"a b","protocol_version":"2025-06-18","initialized":false}"#,
        r#"{"id":"","protocol_version":"2025-06-18","initialized":false}"#,
        r#"{"id":"a","protocol_version":"2099-01-01","initialized":false}"#,
    ] {
        assert!(serde_json::from_str::<SessionRecord>(bad).is_err(), "{bad}");
    }
}

/// `SessionCreated` and `SessionClosed` come once per session, in order, and only when
/// the session table changes.
#[test]
fn session_events_follow_the_table() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let stream = s
        .handle_request(post(initialize_body(1, "2025-03-26")), t0)
        .stream()
        .unwrap();
    assert!(s.poll_event().is_none(), "no event before the answer");
    s.send(stream, initialize_result(1, "2025-03-26"), t0)
        .unwrap();
    let head_id = drain(&mut s)
        .into_iter()
        .find_map(|o| match o.event {
            StreamEvent::Head(h) => Some(header(&h, SESSION_HEADER).unwrap().to_owned()),
            _ => None,
        })
        .unwrap();
    let events = drain_events(&mut s);
    assert_eq!(
        events,
        [ServerEvent::SessionCreated {
            id: sid(&head_id),
            version: ProtocolVersion::V2025_03_26
        }]
    );
    // `notifications/initialized` changes the record: the whole new record is an event
    // (a store writes it through), once.
    let _ = s.handle_request(post_in(&head_id, INITIALIZED), t0);
    assert_eq!(
        drain_events(&mut s),
        [ServerEvent::SessionUpdated {
            record: mcp_http_proto::server::SessionRecord {
                id: sid(&head_id),
                protocol_version: ProtocolVersion::V2025_03_26,
                initialized: true,
                standalone: None,
            }
        }]
    );
    let _ = s.handle_request(post_in(&head_id, INITIALIZED), t0);
    // Other requests in the session produce no session events.
    let _ = s.handle_request(post_in(&head_id, "{"), t0);
    assert!(s.poll_event().is_none());
    let _ = s.handle_request(delete(Some(&head_id)), t0);
    assert_eq!(
        drain_events(&mut s),
        [ServerEvent::SessionClosed {
            id: sid(&head_id),
            reason: CloseReason::Deleted
        }]
    );
}
