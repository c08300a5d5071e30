//! The server serving the 2026-07-28 revision beside the session era: one behaviour test per
//! rule of `../shared/spec/requirements.md` §14, named with its id.

mod common;

use bytes::Bytes;
use common::*;
use http::Request;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::{Outcome, Refusal, ReplyMode, ServerConfig, ServerEvent, UsageError};
use serde_json::{Value, json};

const MODERN: &str = "2026-07-28";
const HEADER_MISMATCH: i64 = -32020;
const UNSUPPORTED: i64 = -32022;
const INVALID_PARAMS: i64 = -32602;

/// The `_meta` a 2026-07-28 request carries (`N26-13`).
fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
    })
}

/// A request body with `params` and the modern `_meta` merged in.
fn body(id: Option<u64>, method: &str, mut params: Value) -> String {
    params["_meta"] = meta();
    let mut v = json!({"jsonrpc": "2.0", "method": method, "params": params});
    if let Some(id) = id {
        v["id"] = json!(id);
    }
    v.to_string()
}

/// A well-formed 2026-07-28 POST: the version, method and (where required) name headers.
fn modern(id: Option<u64>, method: &str, params: Value) -> Request<Bytes> {
    let name = match method {
        "tools/call" | "prompts/get" => params["name"].as_str().map(str::to_owned),
        "resources/read" => params["uri"].as_str().map(str::to_owned),
        _ => None,
    };
    let mut r = post(body(id, method, params))
        .set("mcp-protocol-version", MODERN)
        .set("mcp-method", method);
    if let Some(n) = name {
        r = r.set("mcp-name", &n);
    }
    r
}

fn dual() -> ServerConfig {
    ServerConfig::default()
}

fn modern_only() -> ServerConfig {
    ServerConfig {
        supported_versions: vec![ProtocolVersion::V2026_07_28],
        ..ServerConfig::default()
    }
}

fn dispatched(outcome: Outcome) -> mcp_http_proto::server::Dispatch {
    match outcome {
        Outcome::Dispatch(d) => d,
        other => panic!("expected a dispatch, got {other:?}"),
    }
}

/// The complete response a reply stream of one message wrote: status, headers, message.
fn json_reply(
    s: &mut mcp_http_proto::Server,
    stream: mcp_http_proto::server::StreamId,
) -> (http::StatusCode, http::HeaderMap, Value) {
    let out = drain(s);
    let head = only_head(&out);
    let data = data_of(&out, stream);
    assert!(ends(&out, stream), "the reply ends: {out:?}");
    let message = if header(head, "content-type") == Some(EVENT_STREAM) {
        let mut msgs = sse_messages(&data);
        assert_eq!(msgs.len(), 1, "one message");
        msgs.remove(0)
    } else {
        serde_json::from_slice(&data).expect("a JSON body")
    };
    (head.status(), head.headers().clone(), message)
}

// ----- N26-1, N26-10: no sessions -----

/// `N26-1`: a modern request is served without a session: nothing is minted, the reply
/// carries no `Mcp-Session-Id`, and the machine holds no session afterwards.
#[test]
fn n26_1_modern_request_mints_no_session() {
    let t0 = base_instant();
    let mut s = server(dual());
    let d = dispatched(s.handle_request(modern(Some(1), "tools/list", json!({})), t0));
    assert_eq!(d.session, None);
    assert_eq!(d.version, ProtocolVersion::V2026_07_28);
    assert_eq!(d.negotiated, None);
    s.send(
        d.stream,
        r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#,
        t0,
    )
    .unwrap();
    let (status, headers, v) = json_reply(&mut s, d.stream);
    assert_eq!(status, 200);
    assert!(headers.get(SESSION_HEADER).is_none());
    assert_eq!(v["result"]["tools"], json!([]));
    assert_eq!(s.session_count(), 0);
    assert!(
        !drain_events(&mut s)
            .iter()
            .any(|e| matches!(e, ServerEvent::SessionCreated { .. })),
        "no session event"
    );
}

/// `N26-10`: a stale `Mcp-Session-Id` on a modern request is ignored: not looked up (no
/// 404), not echoed, and a live session it names is untouched.
#[test]
fn n26_10_stale_session_id_is_ignored() {
    let t0 = base_instant();
    let mut s = server(dual());
    let live = open_session(&mut s, t0);
    for id in ["no-such-session", live.as_str(), "a b"] {
        let req = modern(Some(2), "tools/list", json!({})).set(SESSION_HEADER, id);
        let d = dispatched(s.handle_request(req, t0));
        assert_eq!(d.session, None, "{id}");
        s.send(d.stream, r#"{"jsonrpc":"2.0","id":2,"result":{}}"#, t0)
            .unwrap();
        let (_, headers, _) = json_reply(&mut s, d.stream);
        assert!(headers.get(SESSION_HEADER).is_none(), "{id}");
    }
    assert_eq!(s.session_count(), 1);
    assert!(s.session(&sid(&live)).is_some());
}

/// `N26-10`: `Last-Event-ID` on a modern POST is not read: the request is served as new.
#[test]
fn n26_10_last_event_id_is_ignored() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        reply_mode: ReplyMode::Sse,
        ..dual()
    });
    let req = modern(Some(3), "tools/list", json!({})).set("last-event-id", "s1-9");
    let d = dispatched(s.handle_request(req, t0));
    assert_eq!(d.requests().count(), 1);
}

/// `N26-10`: GET and DELETE are not part of 2026-07-28: 405 with `Allow: POST`, on a
/// dual-era server as on a modern-only one.
#[test]
fn n26_10_get_and_delete_get_405() {
    let t0 = base_instant();
    for cfg in [dual(), modern_only()] {
        let mut s = server(cfg);
        for req in [
            get(None).set("mcp-protocol-version", MODERN),
            get(Some("x")).set("mcp-protocol-version", MODERN),
            delete(Some("x")).set("mcp-protocol-version", MODERN),
        ] {
            let (r, _) = assert_refused(
                s.handle_request(req, t0),
                Refusal::MethodNotAllowed,
                405,
                -32000,
            );
            assert_eq!(header(&r.response, "allow"), Some("POST"));
        }
    }
    // A modern-only server has no session era to serve GET in at all.
    let mut s = server(modern_only());
    let r = rejected(s.handle_request(get(None), t0));
    assert_eq!(r.response.status(), 405);
}

// ----- N26-2, N26-3: what a stream carries -----

/// `N26-2`: one request or notification per POST: a batch and a response are refused
/// before the application sees them.
#[test]
fn n26_2_batches_and_responses_are_refused() {
    let t0 = base_instant();
    let mut s = server(dual());
    let one = body(Some(1), "tools/list", json!({}));
    let batch = post(format!("[{one}]"))
        .set("mcp-protocol-version", MODERN)
        .set("mcp-method", "tools/list");
    assert_refused(
        s.handle_request(batch, t0),
        Refusal::BatchNotAllowed,
        400,
        -32600,
    );
    let response =
        post(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#).set("mcp-protocol-version", MODERN);
    assert_refused(
        s.handle_request(response, t0),
        Refusal::InvalidMessage,
        400,
        -32600,
    );
}

/// A modern notification is accepted with 202 and an empty body.
#[test]
fn n26_2_notification_gets_202() {
    let t0 = base_instant();
    let mut s = server(dual());
    let req = modern(
        None,
        "notifications/progress",
        json!({"progressToken": 1, "progress": 1}),
    );
    match s.handle_request(req, t0) {
        Outcome::Accepted(a) => {
            assert_eq!(a.response.status(), 202);
            assert!(a.response.body().is_empty());
            assert!(a.response.headers().get(SESSION_HEADER).is_none());
            assert_eq!(a.notifications().count(), 1);
        }
        other => panic!("expected 202, got {other:?}"),
    }
}

/// `N26-3`: a modern stream carries notifications about its request and the answer; a
/// server-to-client request on it is a usage error, and nothing is written for it.
#[test]
fn n26_3_no_server_requests_on_a_modern_stream() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        reply_mode: ReplyMode::Sse,
        ..dual()
    });
    let d = dispatched(s.handle_request(modern(Some(1), "tools/call", json!({"name": "x"})), t0));
    assert_eq!(
        s.send(d.stream, SAMPLING_REQUEST, t0),
        Err(UsageError::RequestOnModernStream)
    );
    assert_eq!(
        s.request(d.stream, "roots/list", None, t0),
        Err(UsageError::RequestOnModernStream)
    );
    assert!(drain(&mut s).is_empty(), "nothing was written");
    s.send(d.stream, PROGRESS, t0).unwrap();
    s.send(d.stream, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, t0)
        .unwrap();
    let out = drain(&mut s);
    let head = only_head(&out);
    assert_eq!(head.status(), 200);
    let msgs = sse_messages(&data_of(&out, d.stream));
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["method"], "notifications/progress");
    assert_eq!(msgs[1]["id"], 1);
    assert!(ends(&out, d.stream), "the final response ends the stream");
}

/// `N26-17`: a modern SSE reply carries `X-Accel-Buffering: no`, and its head goes with
/// the first message (not before: an unknown method may still turn it into a 404).
#[test]
fn n26_17_sse_reply_is_unbuffered() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        reply_mode: ReplyMode::Sse,
        ..dual()
    });
    let d = dispatched(s.handle_request(modern(Some(1), "tools/list", json!({})), t0));
    assert!(
        drain(&mut s).is_empty(),
        "the head waits for the first message"
    );
    s.send(d.stream, PROGRESS, t0).unwrap();
    let out = drain(&mut s);
    let head = only_head(&out);
    assert_eq!(header(head, "content-type"), Some(EVENT_STREAM));
    assert_eq!(header(head, "x-accel-buffering"), Some("no"));
}

// ----- N26-4: cancellation by close -----

/// `N26-4`: the client closing a modern response stream cancels the request: the
/// application is told, and a later answer is refused and never written.
#[test]
fn n26_4_closing_the_stream_cancels() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        reply_mode: ReplyMode::Sse,
        ..dual()
    });
    let d =
        dispatched(s.handle_request(modern(Some(7), "tools/call", json!({"name": "slow"})), t0));
    s.send(d.stream, PROGRESS, t0).unwrap();
    drain(&mut s);
    drain_events(&mut s);
    disconnect(&mut s, d.stream, t0).unwrap();
    let events = drain_events(&mut s);
    assert!(
        events.iter().any(|e| matches!(
            e,
            ServerEvent::RequestCancelled { stream, request } if *stream == d.stream && request.to_string() == "7"
        )),
        "{events:?}"
    );
    assert!(matches!(
        s.send(d.stream, r#"{"jsonrpc":"2.0","id":7,"result":{}}"#, t0),
        Err(UsageError::StreamClosed(_))
    ));
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.stream_count(), 0, "nothing is kept for a resume");
}

/// `N26-4` against `SRV-PSSE-6`: in the session era a disconnect is not a cancellation;
/// the same close on a 2025-11-25 stream cancels nothing.
#[test]
fn n26_4_session_era_disconnect_is_not_cancellation() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        reply_mode: ReplyMode::Sse,
        ..dual()
    });
    let id = open_initialized_session(&mut s, t0);
    let d = dispatched(s.handle_request(post_in(&id, tools_list(5)), t0));
    drain(&mut s);
    drain_events(&mut s);
    disconnect(&mut s, d.stream, t0).unwrap();
    assert!(
        !drain_events(&mut s)
            .iter()
            .any(|e| matches!(e, ServerEvent::RequestCancelled { .. }))
    );
    s.send(d.stream, r#"{"jsonrpc":"2.0","id":5,"result":{}}"#, t0)
        .unwrap();
}

// ----- N26-6, N26-7, N26-8, N26-15: metadata headers -----

/// `N26-6`: `Mcp-Method` is required on a request; `Mcp-Name` for `tools/call`,
/// `resources/read` and `prompts/get`. Either missing gets 400 -32020.
#[test]
fn n26_6_required_headers() {
    let t0 = base_instant();
    let mut s = server(dual());
    let no_method = modern(Some(1), "tools/list", json!({})).unset("mcp-method");
    let (_, b) = assert_refused_to(
        s.handle_request(no_method, t0),
        Refusal::HeaderMismatch,
        400,
        HEADER_MISMATCH,
        &json!(1),
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Mcp-Method")
    );
    for (method, params) in [
        ("tools/call", json!({"name": "add"})),
        ("prompts/get", json!({"name": "greet"})),
        ("resources/read", json!({"uri": "file:///a"})),
    ] {
        let req = modern(Some(1), method, params).unset("mcp-name");
        let (_, b) = assert_refused_to(
            s.handle_request(req, t0),
            Refusal::HeaderMismatch,
            400,
            HEADER_MISMATCH,
            &json!(1),
        );
        assert!(
            b["error"]["message"].as_str().unwrap().contains("Mcp-Name"),
            "{method}"
        );
    }
    // A notification's Mcp-Method may be absent; one present must match.
    let note = modern(
        None,
        "notifications/progress",
        json!({"progressToken": 1, "progress": 1}),
    )
    .unset("mcp-method");
    assert!(matches!(s.handle_request(note, t0), Outcome::Accepted(_)));
}

/// `N26-7`: a header that disagrees with the body gets 400 -32020, and the application
/// never sees the request.
#[test]
fn n26_7_mismatch_is_refused() {
    let t0 = base_instant();
    let mut s = server(dual());
    for req in [
        modern(Some(1), "tools/list", json!({})).set("mcp-method", "prompts/list"),
        modern(Some(1), "tools/call", json!({"name": "add"})).set("mcp-name", "sub"),
        modern(Some(1), "resources/read", json!({"uri": "file:///a"})).set("mcp-name", "file:///b"),
        // A name header for a body that has none.
        modern(Some(1), "tools/call", json!({})).set("mcp-name", "add"),
        // Repeated.
        modern(Some(1), "tools/list", json!({})).add("mcp-method", "tools/list"),
    ] {
        assert_refused_to(
            s.handle_request(req, t0),
            Refusal::HeaderMismatch,
            400,
            HEADER_MISMATCH,
            &json!(1),
        );
    }
    assert_eq!(s.stream_count(), 0, "nothing reached the application");
}

/// `N26-8`: header names are case-insensitive, values case-sensitive.
#[test]
fn n26_8_names_insensitive_values_sensitive() {
    let t0 = base_instant();
    let mut s = server(dual());
    let req = post(body(Some(1), "tools/call", json!({"name": "Add"})))
        .set("MCP-PROTOCOL-VERSION", MODERN)
        .set("Mcp-METHOD", "tools/call")
        .set("mcp-name", "Add");
    dispatched(s.handle_request(req, t0));
    let req = modern(Some(2), "tools/call", json!({"name": "Add"})).set("mcp-name", "add");
    assert_refused_to(
        s.handle_request(req, t0),
        Refusal::HeaderMismatch,
        400,
        HEADER_MISMATCH,
        &json!(2),
    );
    let req = modern(Some(3), "tools/list", json!({})).set("mcp-method", "Tools/List");
    assert_refused_to(
        s.handle_request(req, t0),
        Refusal::HeaderMismatch,
        400,
        HEADER_MISMATCH,
        &json!(3),
    );
}

/// `N26-15`: an `=?base64?…?=` value is decoded before it is compared; a value with
/// characters a header may not carry, or a bad payload, gets 400 -32020.
#[test]
fn n26_15_encoded_values_are_decoded() {
    let t0 = base_instant();
    let mut s = server(dual());
    // "héllo wörld" in base64.
    let name = "héllo wörld";
    let encoded = "=?base64?aMOpbGxvIHfDtnJsZA==?=";
    let req = modern(Some(1), "tools/call", json!({"name": name})).set("mcp-name", encoded);
    dispatched(s.handle_request(req, t0));
    // A plain name that looks encoded is itself sent encoded; its decoded form matches.
    let tricky = "=?base64?eA==?=";
    let req = modern(Some(2), "tools/call", json!({"name": tricky}))
        .set("mcp-name", "=?base64?PT9iYXNlNjQ/ZUE9PT89?=");
    dispatched(s.handle_request(req, t0));
    // The markers are exact and lowercase.
    let req =
        modern(Some(3), "tools/call", json!({"name": "x"})).set("mcp-name", "=?BASE64?eA==?=");
    assert_refused_to(
        s.handle_request(req, t0),
        Refusal::HeaderMismatch,
        400,
        HEADER_MISMATCH,
        &json!(3),
    );
    for bad in [&b"=?base64?!!!?="[..], b"caf\xc3\xa9", b"a\tb"] {
        let req = modern(Some(4), "tools/call", json!({"name": "x"})).set_bytes("mcp-name", bad);
        assert_refused_to(
            s.handle_request(req, t0),
            Refusal::HeaderMismatch,
            400,
            HEADER_MISMATCH,
            &json!(4),
        );
    }
}

// ----- N26-9: unknown methods -----

/// `N26-9`: an unknown method's -32601 goes out as 404 with the JSON-RPC body, in JSON and
/// in SSE reply mode; a modern stream that already sent a message keeps 200.
#[test]
fn n26_9_unknown_method_is_404() {
    let t0 = base_instant();
    let not_found =
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found"}}"#;
    for mode in [ReplyMode::Json, ReplyMode::Sse] {
        let mut s = server(ServerConfig {
            reply_mode: mode,
            ..dual()
        });
        let d = dispatched(s.handle_request(modern(Some(1), "frobnicate", json!({})), t0));
        s.send(d.stream, not_found, t0).unwrap();
        let (status, headers, v) = json_reply(&mut s, d.stream);
        assert_eq!(status, 404, "{mode:?}");
        assert_eq!(headers["content-type"], JSON);
        assert_eq!(v["error"]["code"], -32601);
        assert_eq!(v["id"], 1);
    }
    let mut s = server(ServerConfig {
        reply_mode: ReplyMode::Sse,
        ..dual()
    });
    let d = dispatched(s.handle_request(modern(Some(1), "tools/call", json!({"name": "x"})), t0));
    s.send(d.stream, PROGRESS, t0).unwrap();
    s.send(d.stream, not_found, t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(only_head(&out).status(), 200);
    // The session era keeps its 200 with the error in the body.
    let mut s = server(dual());
    let id = open_initialized_session(&mut s, t0);
    let d = dispatched(s.handle_request(post_in(&id, tools_list(1)), t0));
    s.send(d.stream, not_found, t0).unwrap();
    let (status, _, _) = json_reply(&mut s, d.stream);
    assert_eq!(status, 200);
}

// ----- N26-12, N26-13: version and _meta -----

/// `N26-12`: header and `_meta` disagreeing, in both directions, get 400 -32020; the
/// Python server's fault (routing on the header alone) is not ours.
#[test]
fn n26_12_header_and_meta_must_agree() {
    let t0 = base_instant();
    let mut s = server(dual());
    // Modern header, older _meta version.
    let mut params = json!({});
    params["_meta"] = meta();
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2025-11-25");
    let b = json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":params}).to_string();
    let req = post(b)
        .set("mcp-protocol-version", MODERN)
        .set("mcp-method", "tools/list");
    assert_refused_to(
        s.handle_request(req, t0),
        Refusal::HeaderMismatch,
        400,
        HEADER_MISMATCH,
        &json!(1),
    );
    // Session-era header, modern _meta: served by the modern rules, so a mismatch.
    let req = modern(Some(1), "tools/list", json!({})).set("mcp-protocol-version", "2025-11-25");
    assert_refused_to(
        s.handle_request(req, t0),
        Refusal::HeaderMismatch,
        400,
        HEADER_MISMATCH,
        &json!(1),
    );
    // No header, modern _meta: the header is required.
    let req = modern(Some(1), "tools/list", json!({})).unset("mcp-protocol-version");
    assert_refused_to(
        s.handle_request(req, t0),
        Refusal::HeaderMismatch,
        400,
        HEADER_MISMATCH,
        &json!(1),
    );
    assert_eq!(s.session_count(), 0);
}

/// `N26-12`: an unsupported version gets 400 -32022 with `data: {supported, requested}`,
/// answering the request by its id (SEP-2575: every error carries the request's id).
#[test]
fn n26_12_unsupported_version() {
    let t0 = base_instant();
    let mut s = server(modern_only());
    let req = modern(Some(1), "tools/list", json!({})).set("mcp-protocol-version", "2099-01-01");
    let (_, b) = assert_refused_to(
        s.handle_request(req, t0),
        Refusal::UnsupportedVersion,
        400,
        UNSUPPORTED,
        &json!(1),
    );
    assert_eq!(b["error"]["data"]["supported"], json!([MODERN]));
    assert_eq!(b["error"]["data"]["requested"], "2099-01-01");
}

/// `N26-20`: a server that serves only the session era answers a modern request (the
/// probe included) with a 400 that is no modern error (-32600, not -32022), naming its
/// versions and echoing the request's id, so that dual-era clients (rmcp's `Auto`, the
/// Python SDK's default) fall back to `initialize`.
#[test]
fn n26_20_session_era_only_server_makes_modern_clients_fall_back() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        supported_versions: vec![ProtocolVersion::V2025_11_25],
        ..dual()
    });
    for req in [
        modern(Some(1), "tools/list", json!({})),
        modern(Some(1), "server/discover", json!({})),
        modern(Some(1), "tools/list", json!({})).set("mcp-protocol-version", "2031-01-01"),
    ] {
        let (_, b) = assert_refused_to(
            s.handle_request(req, t0),
            Refusal::ModernNotServed,
            400,
            -32600,
            &json!(1),
        );
        assert_eq!(b["error"]["data"]["supported"], json!(["2025-11-25"]));
        let message = b["error"]["message"].as_str().unwrap();
        assert!(message.contains("2025-11-25"), "{message}");
    }
    // The fallback works: initialize is served.
    dispatched(s.handle_request(post(initialize_body(2, "2025-11-25")), t0));
}

/// `N26-12`, `VER-26`: a missing header is 2025-03-26 on a server that serves the session
/// era, and refused with -32020 on a modern-only one.
#[test]
fn n26_12_missing_header_by_configuration() {
    let t0 = base_instant();
    let mut s = server(dual());
    let d = dispatched(s.handle_request(post(initialize_body(1, "2025-03-26")), t0));
    assert_eq!(d.version, ProtocolVersion::V2025_03_26);
    let mut s = server(modern_only());
    let req = post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    // Refused at the era step, before the body is read as a 2026-07-28 request: null id.
    assert_refused(
        s.handle_request(req, t0),
        Refusal::HeaderMismatch,
        400,
        HEADER_MISMATCH,
    );
}

/// `N26-9`, `N26-1`: `initialize` is not part of 2026-07-28. With a modern header it is an
/// unknown method of that revision, 404 with -32601 (as are `ping`, `logging/setLevel`,
/// `resources/subscribe` and `unsubscribe`); a modern-only server answers a legacy client's
/// `initialize` with -32022 naming its versions, the diagnostic that client can show.
#[test]
fn n26_12_initialize_is_refused_in_the_modern_era() {
    let t0 = base_instant();
    let mut s = server(dual());
    let req = post(initialize_body(1, MODERN))
        .set("mcp-protocol-version", MODERN)
        .set("mcp-method", "initialize");
    assert_refused_to(
        s.handle_request(req, t0),
        Refusal::RemovedMethod,
        404,
        -32601,
        &json!(1),
    );
    for (i, method) in [
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
    ]
    .into_iter()
    .enumerate()
    {
        let id = 10 + i as u64;
        let req = modern(
            Some(id),
            method,
            json!({"uri": "file:///a", "level": "info"}),
        );
        let (_, b) = assert_refused_to(
            s.handle_request(req, t0),
            Refusal::RemovedMethod,
            404,
            -32601,
            &json!(id),
        );
        assert!(b["error"]["message"].as_str().unwrap().contains(method));
    }
    // A notification of a removed kind has no answer to refuse: it is accepted.
    let req = modern(None, "notifications/initialized", json!({}));
    assert!(matches!(s.handle_request(req, t0), Outcome::Accepted(_)));
    let mut s = server(modern_only());
    for req in [
        post(initialize_body(1, "2025-06-18")),
        post(initialize_body(1, "2025-06-18")).set("mcp-protocol-version", "2025-06-18"),
    ] {
        let (_, b) = assert_refused(
            s.handle_request(req, t0),
            Refusal::UnsupportedVersion,
            400,
            UNSUPPORTED,
        );
        assert_eq!(b["error"]["data"]["supported"], json!([MODERN]));
    }
    assert_eq!(s.session_count(), 0);
}

/// A dual-era server answers `initialize` (no modern header) by the session-era rules: the
/// negotiated version is never 2026-07-28, which has no handshake.
#[test]
fn dual_era_initialize_negotiates_a_session_era_version() {
    let t0 = base_instant();
    let mut s = server(dual());
    let d = dispatched(s.handle_request(post(initialize_body(1, MODERN)), t0));
    assert_eq!(d.negotiated, Some(ProtocolVersion::V2025_11_25));
    assert_eq!(
        s.send(d.stream, initialize_result(1, MODERN), t0),
        Err(UsageError::UnsupportedNegotiatedVersion(MODERN.into()))
    );
    s.send(d.stream, initialize_result(1, "2025-11-25"), t0)
        .unwrap();
    assert_eq!(s.session_count(), 1);
}

/// `N26-13`: `_meta` without the protocol version or the client capabilities gets 400
/// -32602.
#[test]
fn n26_13_meta_is_required() {
    let t0 = base_instant();
    let mut s = server(dual());
    for drop in [
        "io.modelcontextprotocol/protocolVersion",
        "io.modelcontextprotocol/clientCapabilities",
    ] {
        let mut v: Value = serde_json::from_str(&body(Some(1), "tools/list", json!({}))).unwrap();
        v["params"]["_meta"].as_object_mut().unwrap().remove(drop);
        let req = post(v.to_string())
            .set("mcp-protocol-version", MODERN)
            .set("mcp-method", "tools/list");
        let (_, b) = assert_refused_to(
            s.handle_request(req, t0),
            Refusal::MissingMeta,
            400,
            INVALID_PARAMS,
            &json!(1),
        );
        assert!(
            b["error"]["message"].as_str().unwrap().contains(drop),
            "{drop}"
        );
    }
    // No params at all.
    let req = post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .set("mcp-protocol-version", MODERN)
        .set("mcp-method", "tools/list");
    assert_refused_to(
        s.handle_request(req, t0),
        Refusal::MissingMeta,
        400,
        INVALID_PARAMS,
        &json!(1),
    );
}

// ----- both eras at once -----

/// The default serves both eras from one machine, each by its own rules, with one
/// Host/Origin check and one body limit.
#[test]
fn both_eras_share_one_machine() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        max_body_bytes: 600,
        ..dual()
    });
    let id = open_initialized_session(&mut s, t0);
    let d = dispatched(s.handle_request(modern(Some(9), "server/discover", json!({})), t0));
    assert_eq!(d.session, None);
    let d2 = dispatched(s.handle_request(post_in(&id, tools_list(10)), t0));
    assert_eq!(d2.session, Some(sid(&id)));
    // The shared checks run first for both.
    let foreign = modern(Some(1), "tools/list", json!({})).set("host", "evil.example:80");
    assert_eq!(
        rejected(s.handle_request(foreign, t0)).refusal,
        Refusal::ForbiddenHost
    );
    let big = modern(
        Some(1),
        "tools/call",
        json!({"name": "x", "arguments": {"pad": "p".repeat(700)}}),
    );
    assert_eq!(
        rejected(s.handle_request(big, t0)).refusal,
        Refusal::BodyTooLarge
    );
}

/// `N26-13`: an application's -32021 (a capability the client did not declare) goes out as
/// 400 with the JSON-RPC body, when nothing was sent on the stream yet.
#[test]
fn n26_13_missing_capability_is_400() {
    let t0 = base_instant();
    let missing = r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32021,"message":"needs sampling","data":{"requiredCapabilities":{"sampling":{}}}}}"#;
    for mode in [ReplyMode::Json, ReplyMode::Sse] {
        let mut s = server(ServerConfig {
            reply_mode: mode,
            ..dual()
        });
        let d =
            dispatched(s.handle_request(modern(Some(4), "tools/call", json!({"name": "x"})), t0));
        s.send(d.stream, missing, t0).unwrap();
        let (status, _, v) = json_reply(&mut s, d.stream);
        assert_eq!(status, 400, "{mode:?}");
        assert_eq!(
            v["error"]["data"]["requiredCapabilities"],
            json!({"sampling": {}})
        );
    }
}

/// SEP-2575 (every error carries the request's id): on the head alone a POST with an
/// unsupported version is not refused yet, so that the full check can answer with the
/// body's id; GET and DELETE are still refused from the head, and a session-era body keeps
/// the null id.
#[test]
fn unsupported_version_waits_for_the_body_of_a_post() {
    let t0 = base_instant();
    let mut s = server(dual());
    let req =
        modern(Some(301), "server/discover", json!({})).set("mcp-protocol-version", "v999.0.0");
    let (head, _) = clone_request(&req).into_parts();
    assert!(
        s.check_head(&head).is_none(),
        "the head alone refuses nothing"
    );
    assert_refused_to(
        s.handle_request(req, t0),
        Refusal::UnsupportedVersion,
        400,
        UNSUPPORTED,
        &json!(301),
    );
    let get = get(None).set("mcp-protocol-version", "v999.0.0");
    let (head, _) = clone_request(&get).into_parts();
    assert_eq!(
        s.check_head(&head).map(|r| r.refusal),
        Some(Refusal::UnsupportedVersion)
    );
    let old = post(tools_list(7)).set("mcp-protocol-version", "v999.0.0");
    assert_refused(
        s.handle_request(old, t0),
        Refusal::UnsupportedVersion,
        400,
        UNSUPPORTED,
    );
}

/// `N26-16`: with the tools' `x-mcp-header` annotations declared, a `tools/call` whose
/// `Mcp-Param-*` headers disagree with its arguments is refused with -32020 before the
/// application sees it; undeclared tools' headers pass unread.
#[test]
fn n26_16_param_headers_are_checked_when_declared() {
    use mcp_http_proto::server::ParamHeaders;
    let t0 = base_instant();
    let tools = json!([{"name": "deploy", "inputSchema": {"type": "object", "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "replicas": {"type": "integer", "x-mcp-header": "Replicas"},
    }}}]);
    let mut s = server(ServerConfig {
        param_headers: ParamHeaders::from_tools(&tools).unwrap(),
        ..dual()
    });
    let call = |id: u64, args: Value| {
        modern(
            Some(id),
            "tools/call",
            json!({"name": "deploy", "arguments": args}),
        )
    };
    let ok = call(1, json!({"region": "Zürich", "replicas": 2}))
        .set("mcp-param-region", "=?base64?WsO8cmljaA==?=")
        .set("Mcp-Param-Replicas", "2");
    dispatched(s.handle_request(ok, t0));
    for (id, req) in [
        (
            2,
            call(2, json!({"region": "eu", "replicas": 2})).set("mcp-param-replicas", "2"),
        ),
        (
            3,
            call(3, json!({"region": "eu", "replicas": 2}))
                .set("mcp-param-region", "us")
                .set("mcp-param-replicas", "2"),
        ),
        (
            4,
            call(4, json!({"region": "eu", "replicas": 2}))
                .set("mcp-param-region", "eu")
                .set("mcp-param-replicas", "3"),
        ),
        (
            5,
            call(5, json!({"replicas": 2}))
                .set("mcp-param-region", "eu")
                .set("mcp-param-replicas", "2"),
        ),
        (
            6,
            call(6, json!({"region": "eu"})).set("mcp-param-region", "=?base64?***?="),
        ),
    ] {
        let (_, b) = assert_refused_to(
            s.handle_request(req, t0),
            Refusal::HeaderMismatch,
            400,
            HEADER_MISMATCH,
            &json!(id),
        );
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Mcp-Param-"),
            "{b}"
        );
    }
    // Another tool: its Mcp-Param-* headers are not read.
    let other = modern(
        Some(7),
        "tools/call",
        json!({"name": "other", "arguments": {}}),
    )
    .set("mcp-param-region", "anything");
    dispatched(s.handle_request(other, t0));
}

/// `N26-18`, `N26-5`: a listen stream's first message is the acknowledgement of what the
/// server honours; published notifications reach the streams whose filter admits them,
/// tagged with the subscription id; a server-side end sends the result first; a client
/// close cancels it like any modern stream.
#[test]
fn n26_18_listen_streams() {
    use mcp_http_proto::server::{SUBSCRIPTION_ID_META, SubscriptionFilter};
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        reply_mode: ReplyMode::Sse,
        ..dual()
    });
    let params = json!({"notifications": {"toolsListChanged": true, "promptsListChanged": true}});
    let d =
        dispatched(s.handle_request(modern(Some(40), "subscriptions/listen", params.clone()), t0));
    let asked = SubscriptionFilter::from_params(&params);
    let supported = SubscriptionFilter {
        tools_list_changed: true,
        ..SubscriptionFilter::default()
    };
    s.listen(d.stream, asked.intersect(&supported), t0).unwrap();
    assert!(matches!(
        s.listen(d.stream, supported.clone(), t0),
        Err(UsageError::NotAListenStream(_))
    ));
    // A second listener, for prompts only.
    let p2 = json!({"notifications": {"promptsListChanged": true}});
    let d2 = dispatched(s.handle_request(modern(Some(41), "subscriptions/listen", p2.clone()), t0));
    s.listen(d2.stream, SubscriptionFilter::from_params(&p2), t0)
        .unwrap();
    assert_eq!(s.publish("notifications/tools/list_changed", None, t0), 1);
    assert_eq!(
        s.publish("notifications/message", Some(&json!({"level": "info"})), t0),
        0
    );
    let out = drain(&mut s);
    let first = sse_messages(&data_of(&out, d.stream));
    assert_eq!(
        first[0]["method"],
        "notifications/subscriptions/acknowledged"
    );
    assert_eq!(
        first[0]["params"]["notifications"],
        json!({"toolsListChanged": true})
    );
    assert_eq!(first[1]["method"], "notifications/tools/list_changed");
    for m in &first {
        assert_eq!(m["params"]["_meta"][SUBSCRIPTION_ID_META], 40, "{m}");
    }
    let second = sse_messages(&data_of(&out, d2.stream));
    assert_eq!(
        second.len(),
        1,
        "the prompts listener got only its ack: {second:?}"
    );
    // The server ends the first: result first, with the subscription id, then the end.
    s.end_listen(d.stream, t0).unwrap();
    let out = drain(&mut s);
    let last = sse_messages(&data_of(&out, d.stream));
    assert_eq!(last[0]["id"], 40);
    assert_eq!(last[0]["result"]["_meta"][SUBSCRIPTION_ID_META], 40);
    assert!(ends(&out, d.stream));
    assert_eq!(s.publish("notifications/tools/list_changed", None, t0), 0);
    // The client closes the second: cancelled, and nothing more is published to it.
    disconnect(&mut s, d2.stream, t0).unwrap();
    assert_eq!(s.publish("notifications/prompts/list_changed", None, t0), 0);
    // A JSON reply cannot carry notifications: no listen there.
    let mut j = server(dual_json());
    let d = dispatched(j.handle_request(modern(Some(1), "subscriptions/listen", params), t0));
    assert_eq!(
        j.listen(d.stream, supported, t0),
        Err(UsageError::NotAListenStream(d.stream))
    );
}

fn dual_json() -> ServerConfig {
    ServerConfig {
        reply_mode: ReplyMode::Json,
        ..dual()
    }
}
