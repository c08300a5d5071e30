//! The 2024-11-05 HTTP+SSE fallback (CLI-BC-2..4, CLI-BC-26, LEG-2..4, INV-C19).

mod common_client;

use common_client::*;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::client::{ClientConfig, ClientEvent};
use mcp_http_proto::wire::jsonrpc::RequestId;

fn probe(
    cfg: ClientConfig,
    status: u16,
    body: &str,
) -> (
    mcp_http_proto::client::Client,
    Vec<mcp_http_proto::client::Transmit>,
) {
    let now = base_instant();
    let mut c = client(cfg);
    let headers: &[(&str, &str)] = if body.is_empty() { &[] } else { &[JSON] };
    answer_initialize(&mut c, status, headers, body, now);
    let next = transmits(&mut c);
    (c, next)
}

/// CLI-BC-3, INV-C19: 400, 404 and 405 (2025-11-25) lead to a GET of the same URL; 401,
/// 403 and 500 never do.
#[test]
fn fallback_statuses_2025_11_25() {
    for status in [400, 404, 405] {
        let (_, next) = probe(config(), status, "");
        assert_eq!(next.len(), 1, "{status}");
        let g = &next[0].request;
        assert_eq!(g.method(), http::Method::GET);
        assert_eq!(g.uri(), ENDPOINT);
        assert_eq!(header(g, "accept"), Some("text/event-stream"));
        assert_eq!(header(g, "mcp-session-id"), None);
    }
    for status in [401, 403, 415, 500] {
        let (mut c, next) = probe(config(), status, "");
        assert!(next.is_empty(), "{status}");
        assert!(matches!(
            events(&mut c)[..],
            [ClientEvent::InitializeFailed { .. }]
        ));
    }
}

/// CLI-BC-3: before 2025-11-25 any 4xx but 401 falls back.
#[test]
fn fallback_statuses_2025_06_18() {
    let mut cfg = config();
    cfg.protocol_version = ProtocolVersion::V2025_06_18;
    assert_eq!(probe(cfg.clone(), 403, "").1.len(), 1);
    assert_eq!(probe(cfg.clone(), 415, "").1.len(), 1);
    assert!(probe(cfg.clone(), 401, "").1.is_empty());
    cfg.legacy_fallback = false;
    assert!(probe(cfg, 404, "").1.is_empty());
}

/// CLI-BC-4, LEG-2, LEG-3, LEG-4, INV-C19: the client commits after the `endpoint` event,
/// POSTs to it, and reads replies from the GET stream.
#[test]
fn legacy_session() {
    let now = base_instant();
    let mut cfg = config();
    cfg.headers
        .insert("authorization", http::HeaderValue::from_static("Bearer k"));
    let (mut c, next) = probe(cfg, 405, "");
    let get = next[0].exchange;
    assert!(!c.is_legacy());
    c.handle_response_head(get, head(200, &[SSE])).unwrap();
    c.handle_response_chunk(
        get,
        "event: endpoint\ndata: /messages?sessionId=abc\n\n".into(),
        now,
    )
    .unwrap();
    assert!(c.is_legacy());
    let endpoint: http::Uri = "http://127.0.0.1:8080/messages?sessionId=abc"
        .parse()
        .unwrap();
    assert_eq!(
        events(&mut c),
        [ClientEvent::LegacyFallback {
            endpoint: endpoint.clone()
        }]
    );
    let init = one(&mut c);
    assert_eq!(init.request.uri(), &endpoint);
    assert_eq!(header(&init.request, "authorization"), Some("Bearer k"));
    assert!(body(&init.request).contains("\"initialize\""));
    respond(&mut c, init.exchange, 202, &[], "", now);
    // The InitializeResult comes as a `message` event on the GET stream.
    let msg = format!("event: message\ndata: {}\n\n", init_result(1, "2024-11-05"));
    c.handle_response_chunk(get, msg.into(), now).unwrap();
    let ev = events(&mut c);
    assert!(
        matches!(
            &ev[..],
            [ClientEvent::Initialized {
                session: None,
                version: ProtocolVersion::V2024_11_05,
                ..
            }]
        ),
        "{ev:?}"
    );
    let note = one(&mut c);
    assert_eq!(note.request.uri(), &endpoint);
    assert_eq!(header(&note.request, "mcp-protocol-version"), None);
    respond(&mut c, note.exchange, 202, &[], "", now);

    c.send(request(2, "tools/list")).unwrap();
    let t = one(&mut c);
    assert_eq!(t.request.uri(), &endpoint);
    respond(&mut c, t.exchange, 202, &[], "", now);
    c.handle_response_chunk(
        get,
        format!("event: message\ndata: {}\n\n", result(2)).into(),
        now,
    )
    .unwrap();
    assert!(matches!(
        &events(&mut c)[..],
        [ClientEvent::Response {
            id: RequestId::Number(2),
            ..
        }]
    ));

    // The GET stream closing ends the legacy session.
    c.handle_response_end(get, now).unwrap();
    assert_eq!(events(&mut c), [ClientEvent::LegacyStreamClosed]);
    assert!(!c.is_ready());
}

/// INV-C19: no commitment without the endpoint event; another origin is refused.
#[test]
fn no_commit_without_a_valid_endpoint() {
    let now = base_instant();
    let (mut c, next) = probe(config(), 404, "");
    respond(
        &mut c,
        next[0].exchange,
        200,
        &[SSE],
        "event: message\ndata: {}\n\n",
        now,
    );
    assert!(!c.is_legacy());
    assert!(matches!(
        events(&mut c)[..],
        [ClientEvent::InitializeFailed { .. }]
    ));

    let (mut c, next) = probe(config(), 404, "");
    respond(
        &mut c,
        next[0].exchange,
        200,
        &[SSE],
        "event: endpoint\ndata: http://evil.example/m\n\n",
        now,
    );
    assert!(!c.is_legacy());
    let ev = events(&mut c);
    assert!(
        ev.iter()
            .any(|e| matches!(e, ClientEvent::ProtocolError { .. }))
    );
    assert!(transmits(&mut c).is_empty());
}

/// CLI-BC-26: a 400 whose body is -32022 listing supported versions comes from a modern
/// server: initialize is re-sent once with the newest listed version we speak; no
/// fallback.
#[test]
fn unsupported_version_error_retries_instead_of_falling_back() {
    let now = base_instant();
    let body = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32022,"message":"unsupported","data":{"supported":["2025-03-26","2025-06-18"]}}}"#;
    let (mut c, next) = probe(config(), 400, body);
    assert_eq!(
        events(&mut c),
        [ClientEvent::VersionRetry {
            version: ProtocolVersion::V2025_06_18
        }]
    );
    assert_eq!(next.len(), 1);
    let r = &next[0].request;
    assert_eq!(r.method(), http::Method::POST);
    let v: serde_json::Value = serde_json::from_str(body_of(r)).unwrap();
    assert_eq!(v["params"]["protocolVersion"], "2025-06-18");
    // A second -32022: no second retry, no fallback.
    respond(&mut c, next[0].exchange, 400, &[JSON], body, now);
    assert!(transmits(&mut c).is_empty());
    assert!(matches!(
        events(&mut c)[..],
        [ClientEvent::InitializeFailed { .. }]
    ));
}

fn body_of(r: &http::Request<bytes::Bytes>) -> &str {
    std::str::from_utf8(r.body()).unwrap()
}
