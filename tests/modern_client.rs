//! The client in the 2026-07-28 era and in `Auto` mode (`N26-1`, `N26-2`, `N26-6`,
//! `N26-13`..`N26-16`, `N26-19`, `N26-20`), scripted by hand.

mod common_client;

use common_client::*;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::client::{
    ClientConfig, ClientEvent, ClientMode, ConfigError, Era, RequestFailure, UsageError,
};
use mcp_http_proto::wire::codec;
use mcp_http_proto::wire::jsonrpc::RequestId;
use serde_json::{Value, json};

fn mode(mode: ClientMode) -> ClientConfig {
    let mut c = config();
    c.mode = mode;
    c
}

fn discover_result(id: u64, versions: &[&str]) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": {
        "resultType": "complete", "supportedVersions": versions, "capabilities": {"tools": {}},
        "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "s", "version": "1"}},
    }})
    .to_string()
}

fn value(r: &http::Request<bytes::Bytes>) -> Value {
    serde_json::from_slice(r.body()).unwrap()
}

/// Connects `c` (Modern or Auto) to a scripted 2026-07-28 server; the discover answer
/// carries a session header, which must be ignored (`N26-1`).
fn connect_modern(c: &mut mcp_http_proto::Client) -> Vec<ClientEvent> {
    let now = base_instant();
    c.initialize(init_request(1)).unwrap();
    let t = one(c);
    respond(
        c,
        t.exchange,
        200,
        &[JSON, ("mcp-session-id", "stale")],
        &discover_result(1, &["2025-11-25", "2026-07-28"]),
        now,
    );
    assert!(c.is_ready() && c.is_modern());
    events(c)
}

/// `N26-14`, `N26-13`: a modern client connects with `server/discover`, under the
/// initialize request's id, with `_meta`; no `notifications/initialized` follows.
#[test]
fn n26_14_modern_mode_connects_with_discover() {
    let now = base_instant();
    let mut c = client(mode(ClientMode::Modern));
    c.initialize(init_request(1)).unwrap();
    let t = one(&mut c);
    assert_eq!(t.request.method(), "POST");
    assert_eq!(
        header(&t.request, "mcp-protocol-version"),
        Some("2026-07-28")
    );
    assert_eq!(header(&t.request, "mcp-method"), Some("server/discover"));
    assert_eq!(header(&t.request, "mcp-session-id"), None);
    let v = value(&t.request);
    assert_eq!(v["id"], 1);
    assert_eq!(v["method"], "server/discover");
    let meta = &v["params"]["_meta"];
    assert_eq!(
        meta["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    assert_eq!(
        meta["io.modelcontextprotocol/clientCapabilities"],
        json!({})
    );
    assert_eq!(meta["io.modelcontextprotocol/clientInfo"]["name"], "t");
    respond(
        &mut c,
        t.exchange,
        200,
        &[JSON, ("mcp-session-id", "stale")],
        &discover_result(1, &["2026-07-28"]),
        now,
    );
    let ev = events(&mut c);
    let [
        ClientEvent::Initialized {
            session, version, ..
        },
    ] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(*session, None, "N26-1: no session in the modern era");
    assert_eq!(*version, ProtocolVersion::V2026_07_28);
    assert!(c.session().is_none());
    assert!(transmits(&mut c).is_empty(), "no notifications/initialized");
    assert_eq!(
        c.open_standalone_stream(),
        Err(UsageError::NotInModernEra("standalone GET stream"))
    );
}

/// `N26-6`, `N26-13`, `N26-15`: every POST carries the version, the method, the name
/// (base64 when not header-safe) and `_meta`; never a session id.
#[test]
fn n26_6_every_post_carries_request_metadata() {
    let mut c = client(mode(ClientMode::Modern));
    connect_modern(&mut c);
    let cases = [
        (
            json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"wëather","arguments":{}}}),
            Some("wëather"),
        ),
        (
            json!({"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///a.txt"}}),
            Some("file:///a.txt"),
        ),
        (
            json!({"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":" padded "}}),
            Some(" padded "),
        ),
        (json!({"jsonrpc":"2.0","id":5,"method":"tools/list"}), None),
        (
            json!({"jsonrpc":"2.0","method":"notifications/roots/list_changed"}),
            None,
        ),
    ];
    for (msg, name) in cases {
        c.send(msg.to_string()).unwrap();
        let t = one(&mut c);
        let r = &t.request;
        assert_eq!(header(r, "mcp-protocol-version"), Some("2026-07-28"));
        assert_eq!(header(r, "mcp-method"), msg["method"].as_str());
        assert_eq!(header(r, "mcp-session-id"), None);
        match name {
            Some(n) => {
                let h = header(r, "mcp-name").expect("Mcp-Name");
                assert_eq!(h, codec::encode(n).as_ref());
                assert_eq!(codec::decode(h.as_bytes()).unwrap(), n);
            }
            None => assert_eq!(header(r, "mcp-name"), None),
        }
        let v = value(r);
        assert_eq!(
            v["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
        assert_eq!(v["id"], msg["id"]);
    }
}

/// `N26-2`: one request or notification per POST; never a response, never a batch.
#[test]
fn n26_2_no_responses_and_no_batches() {
    let mut c = client(mode(ClientMode::Modern));
    connect_modern(&mut c);
    assert_eq!(
        c.send(r#"{"jsonrpc":"2.0","id":9,"result":{}}"#),
        Err(UsageError::ResponseInModernEra)
    );
    assert_eq!(
        c.send(format!("[{},{}]", request(2, "ping"), request(3, "ping"))),
        Err(UsageError::BatchNotAllowed)
    );
    assert!(matches!(
        c.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{}}"#),
        Err(UsageError::MissingName { .. })
    ));
    assert!(transmits(&mut c).is_empty());
}

/// `N26-16`: a `tools/list` result loses the tools with invalid `x-mcp-header`
/// annotations (each reported), keeps the others, and the annotated arguments of a
/// later `tools/call` are mirrored into `Mcp-Param-*` headers.
#[test]
fn n26_16_invalid_tools_dropped_and_params_mirrored() {
    let now = base_instant();
    let mut c = client(mode(ClientMode::Modern));
    connect_modern(&mut c);
    c.send(request(2, "tools/list")).unwrap();
    let t = one(&mut c);
    let list = json!({"jsonrpc":"2.0","id":2,"result":{"tools":[
        {"name":"deploy","inputSchema":{"type":"object","properties":{
            "region":{"type":"string","x-mcp-header":"Region"},
            "replicas":{"type":"integer","x-mcp-header":"Replicas"},
            "note":{"type":"string"}}}},
        {"name":"bad_number","inputSchema":{"properties":{"s":{"type":"number","x-mcp-header":"S"}}}},
        {"name":"bad_space","inputSchema":{"properties":{"s":{"type":"string","x-mcp-header":"My Region"}}}},
        {"name":"plain","inputSchema":{"type":"object"}}]}});
    respond(&mut c, t.exchange, 200, &[JSON], &list.to_string(), now);
    let ev = events(&mut c);
    let rejected: Vec<&str> = ev
        .iter()
        .filter_map(|e| match e {
            ClientEvent::ToolRejected { tool, .. } => Some(tool.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(rejected, ["bad_number", "bad_space"]);
    let Some(ClientEvent::Response { message, .. }) = ev.last() else {
        panic!("{ev:?}")
    };
    let v: Value = serde_json::from_slice(message.json()).unwrap();
    let names: Vec<&str> = v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["deploy", "plain"]);

    let call = json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"deploy",
        "arguments":{"region":"eu west 1 ","replicas":3,"note":"n"}}});
    c.send(call.to_string()).unwrap();
    let t = one(&mut c);
    let r = &t.request;
    assert_eq!(
        header(r, "mcp-param-region"),
        Some(codec::encode("eu west 1 ").as_ref())
    );
    assert_eq!(header(r, "mcp-param-replicas"), Some("3"));
    assert_eq!(header(r, "mcp-param-note"), None);
    // Null or absent arguments send no header.
    let call = json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"deploy",
        "arguments":{"region":null}}});
    c.send(call.to_string()).unwrap();
    let t = one(&mut c);
    assert!(
        !t.request
            .headers()
            .keys()
            .any(|k| k.as_str().starts_with("mcp-param-"))
    );
}

/// `N26-19`, `SRV-RES-9`: a request whose stream broke is sent again under a new id,
/// never resumed with GET; its answer comes back under the application's id. Once the
/// allowance is used up, it fails.
#[test]
fn n26_19_broken_request_is_reissued_under_a_new_id() {
    let now = base_instant();
    let mut c = client(mode(ClientMode::Modern));
    connect_modern(&mut c);
    c.send(request(7, "tools/list")).unwrap();
    let t = one(&mut c);
    c.handle_response_head(t.exchange, head(200, &[SSE]))
        .unwrap();
    // An event id is seen (a session-era client would resume from it), then EOF.
    c.handle_response_chunk(t.exchange, "id: e1\ndata: \n\n".into(), now)
        .unwrap();
    c.handle_response_end(t.exchange, now).unwrap();
    let ev = events(&mut c);
    let [ClientEvent::RequestReissued { id, wire_id }] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(*id, RequestId::Number(7));
    assert_ne!(wire_id, id);
    let t = one(&mut c);
    assert_eq!(t.request.method(), "POST", "never a resuming GET");
    assert_eq!(header(&t.request, "last-event-id"), None);
    let v = value(&t.request);
    assert_eq!(v["id"], json!(wire_id));
    assert_eq!(header(&t.request, "mcp-method"), Some("tools/list"));
    // The answer to the new id resolves the application's request, under its id.
    let answer = json!({"jsonrpc":"2.0","id":wire_id,"result":{"tools":[]}}).to_string();
    respond(&mut c, t.exchange, 200, &[JSON], &answer, now);
    let ev = events(&mut c);
    let [ClientEvent::Response { id, message }] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(*id, RequestId::Number(7));
    assert_eq!(message.id(), Some(&RequestId::Number(7)));

    // With the allowance (1) used up, a second break fails the request.
    c.send(request(8, "tools/list")).unwrap();
    let t = one(&mut c);
    c.handle_transport_error(t.exchange, now).unwrap();
    let t = one(&mut c);
    c.handle_transport_error(t.exchange, now).unwrap();
    let ev = events(&mut c);
    assert!(
        matches!(
            ev.last(),
            Some(ClientEvent::RequestFailed { id, reason: RequestFailure::OutcomeUnknown })
                if *id == RequestId::Number(8)
        ),
        "{ev:?}"
    );
    assert!(transmits(&mut c).is_empty());
}

/// `N26-19`: cancelling closes the request's stream (the exchange comes back to be
/// closed); nothing is sent, and late input for it is ignored.
#[test]
fn n26_19_cancel_closes_the_stream() {
    let now = base_instant();
    let mut c = client(mode(ClientMode::Modern));
    connect_modern(&mut c);
    c.send(request(2, "tools/call_slow")).unwrap();
    let t = one(&mut c);
    c.handle_response_head(t.exchange, head(200, &[SSE]))
        .unwrap();
    let dropped = c
        .cancel(&RequestId::Number(2), Some("user"))
        .expect("awaited");
    assert_eq!(dropped, Some(t.exchange));
    assert!(transmits(&mut c).is_empty(), "no notifications/cancelled");
    let ev = events(&mut c);
    assert!(matches!(
        &ev[..],
        [ClientEvent::RequestFailed {
            reason: RequestFailure::Cancelled,
            ..
        }]
    ));
    c.handle_response_chunk(t.exchange, sse("e", &result(2)).into(), now)
        .unwrap();
    c.handle_response_end(t.exchange, now).unwrap();
    assert!(events(&mut c).is_empty());
    assert_eq!(
        c.cancel(&RequestId::Number(2), None),
        Err(UsageError::UnknownRequest(RequestId::Number(2)))
    );
    // Not handed out yet: withdrawn, nothing to close.
    c.send(request(3, "ping")).unwrap();
    assert_eq!(c.cancel(&RequestId::Number(3), None), Ok(None));
    assert!(transmits(&mut c).is_empty());
}

/// Session era: cancelling sends `notifications/cancelled` and keeps the connection.
#[test]
fn session_era_cancel_notifies_the_server() {
    let now = base_instant();
    let mut c = client(config());
    initialize(&mut c, Some("s1"), "2025-11-25", now);
    c.send(request(2, "tools/call_slow")).unwrap();
    let _sent = one(&mut c);
    assert_eq!(c.cancel(&RequestId::Number(2), Some("user")), Ok(None));
    let t = one(&mut c);
    let v = value(&t.request);
    assert_eq!(v["method"], "notifications/cancelled");
    assert_eq!(v["params"], json!({"requestId": 2, "reason": "user"}));
    assert_eq!(header(&t.request, "mcp-session-id"), Some("s1"));
}

/// `N26-20`: Auto falls back to `initialize` on a 400 whose body is no modern error (a
/// session-era server refusing a request without a session), and says so.
#[test]
fn n26_20_auto_falls_back_on_a_session_era_400() {
    let now = base_instant();
    let mut c = client(mode(ClientMode::Auto));
    c.initialize(init_request(1)).unwrap();
    let t = one(&mut c);
    assert_eq!(header(&t.request, "mcp-method"), Some("server/discover"));
    let refusal = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: No valid session ID provided"}}"#;
    respond(&mut c, t.exchange, 400, &[JSON], refusal, now);
    assert_eq!(
        events(&mut c),
        [ClientEvent::EraDetected { era: Era::Session }]
    );
    let t = one(&mut c);
    let v = value(&t.request);
    assert_eq!(v["method"], "initialize");
    assert_eq!(v["params"]["protocolVersion"], "2025-11-25");
    assert_eq!(header(&t.request, "mcp-method"), None);
    assert_eq!(header(&t.request, "mcp-protocol-version"), None);
    respond(
        &mut c,
        t.exchange,
        200,
        &[JSON, ("mcp-session-id", "s1")],
        &init_result(1, "2025-11-25"),
        now,
    );
    assert!(c.is_ready() && !c.is_modern());
    assert_eq!(c.session().unwrap().as_str(), "s1");
    // Closing and connecting again reuses what was found: no second probe.
    c.close().unwrap();
    let _delete = transmits(&mut c);
    c.initialize(init_request(1)).unwrap();
    assert_eq!(value(&one(&mut c).request)["method"], "initialize");
}

/// `N26-20`: a recognised modern error means a modern server: no fallback.
#[test]
fn n26_20_auto_never_falls_back_on_a_modern_error() {
    let now = base_instant();
    for (status, body) in [
        (
            400,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32020,"message":"Header mismatch"}}"#,
        ),
        (
            400,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"x","data":{"supported":["2030-01-01"],"requested":"2026-07-28"}}}"#,
        ),
        (
            404,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#,
        ),
        (401, ""),
        (503, ""),
    ] {
        let mut c = client(mode(ClientMode::Auto));
        c.initialize(init_request(1)).unwrap();
        let t = one(&mut c);
        respond(&mut c, t.exchange, status, &[JSON], body, now);
        let ev = events(&mut c);
        assert!(
            matches!(ev.last(), Some(ClientEvent::InitializeFailed { .. })),
            "{status}: {ev:?}"
        );
        assert!(transmits(&mut c).is_empty(), "{status}: no initialize");
    }
}

/// `N26-20`: -32022 naming only session-era versions (a session-era-only server that
/// reads the version) is answered by `initialize` at the newest of them we speak.
#[test]
fn n26_20_auto_retries_with_a_listed_session_era_version() {
    let now = base_instant();
    let mut c = client(mode(ClientMode::Auto));
    c.initialize(init_request(1)).unwrap();
    let t = one(&mut c);
    let body = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32022,"message":"Unsupported protocol version","data":{"requested":"2026-07-28","supported":["2024-11-05","2025-03-26","2025-06-18"]}}}"#;
    respond(&mut c, t.exchange, 400, &[JSON], body, now);
    let t = one(&mut c);
    let v = value(&t.request);
    assert_eq!(v["method"], "initialize");
    assert_eq!(v["params"]["protocolVersion"], "2025-06-18");
}

/// `N26-20`: a discover result listing no modern version is a session-era server's.
#[test]
fn n26_20_auto_result_without_a_modern_version_falls_back() {
    let now = base_instant();
    let mut c = client(mode(ClientMode::Auto));
    c.initialize(init_request(1)).unwrap();
    let t = one(&mut c);
    respond(
        &mut c,
        t.exchange,
        200,
        &[JSON],
        &discover_result(1, &["2025-06-18"]),
        now,
    );
    let t = one(&mut c);
    let v = value(&t.request);
    assert_eq!(v["method"], "initialize");
    assert_eq!(v["params"]["protocolVersion"], "2025-06-18");
    // Modern only: the same answer fails the connection.
    let mut c = client(mode(ClientMode::Modern));
    c.initialize(init_request(1)).unwrap();
    let t = one(&mut c);
    respond(
        &mut c,
        t.exchange,
        200,
        &[JSON],
        &discover_result(1, &["2025-06-18"]),
        now,
    );
    assert!(matches!(
        events(&mut c).last(),
        Some(ClientEvent::InitializeFailed { .. })
    ));
    assert!(transmits(&mut c).is_empty());
}

/// `N26-20`: a 404 without a JSON-RPC body falls back to `initialize`, and from there
/// (another 404) to the 2024-11-05 transport.
#[test]
fn n26_20_auto_plain_404_leads_to_the_legacy_probe() {
    let now = base_instant();
    let mut c = client(mode(ClientMode::Auto));
    c.initialize(init_request(1)).unwrap();
    let t = one(&mut c);
    respond(&mut c, t.exchange, 404, &[], "Not Found", now);
    let t = one(&mut c);
    assert_eq!(value(&t.request)["method"], "initialize");
    respond(&mut c, t.exchange, 404, &[], "Not Found", now);
    let t = one(&mut c);
    assert_eq!(t.request.method(), "GET");
    assert_eq!(header(&t.request, "accept"), Some("text/event-stream"));
}

/// `N26-20`: an Auto client that found a modern server stays modern; messages sent
/// while the probe is in flight wait for it and go out modern.
#[test]
fn n26_20_auto_modern_holds_messages_during_the_probe() {
    let now = base_instant();
    let mut c = client(mode(ClientMode::Auto));
    c.initialize(init_request(1)).unwrap();
    let probe = one(&mut c);
    c.send(request(2, "tools/list")).unwrap();
    assert!(transmits(&mut c).is_empty(), "held until the era is known");
    respond(
        &mut c,
        probe.exchange,
        200,
        &[JSON],
        &discover_result(1, &["2026-07-28"]),
        now,
    );
    let ev = events(&mut c);
    assert_eq!(ev[0], ClientEvent::EraDetected { era: Era::Modern });
    let t = one(&mut c);
    assert_eq!(header(&t.request, "mcp-method"), Some("tools/list"));
}

/// `N26-20`: a session-era hint (kept per origin by the application) skips the probe.
#[test]
fn n26_20_session_era_hint_skips_the_probe() {
    let mut config = mode(ClientMode::Auto);
    config.era_hint = Some(Era::Session);
    let mut c = client(config);
    c.initialize(init_request(1)).unwrap();
    assert_eq!(value(&one(&mut c).request)["method"], "initialize");
}

/// The machine owns the metadata headers.
#[test]
fn metadata_headers_are_reserved() {
    for name in ["mcp-method", "mcp-name", "mcp-param-region"] {
        let mut config = mode(ClientMode::Modern);
        config.headers.insert(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_static("x"),
        );
        let err = mcp_http_proto::Client::new(config).unwrap_err();
        assert!(matches!(err, ConfigError::ReservedHeader(_)), "{name}");
    }
}

/// `N26-20`: -32022 listing the version asked for gets `server/discover` again, once.
#[test]
fn n26_20_unsupported_version_listing_ours_is_retried_once() {
    let now = base_instant();
    let mut c = client(mode(ClientMode::Modern));
    c.initialize(init_request(1)).unwrap();
    let refusal = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"Unsupported protocol version","data":{"supported":["2026-07-28"],"requested":"2026-07-28"}}}"#;
    let t = one(&mut c);
    respond(&mut c, t.exchange, 400, &[JSON], refusal, now);
    assert_eq!(
        events(&mut c),
        [ClientEvent::VersionRetry {
            version: ProtocolVersion::V2026_07_28
        }]
    );
    let t = one(&mut c);
    assert_eq!(value(&t.request)["method"], "server/discover");
    respond(&mut c, t.exchange, 400, &[JSON], refusal, now);
    assert!(matches!(
        events(&mut c).last(),
        Some(ClientEvent::InitializeFailed { .. })
    ));
    assert!(transmits(&mut c).is_empty(), "retried once only");
}
