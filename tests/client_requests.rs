//! The requests the client machine builds: headers, bodies, ordering.

mod common_client;

use common_client::*;
use http::{HeaderValue, Method};
use mcp_http_proto::client::Client;
use mcp_http_proto::client::{ConfigError, UsageError};

/// CLI-POST-2, CLI-GET-2, INV-C6, CLI-AUTH-1, INV-C18, CLI-SESS-4, INV-C3, CLI-VER-1,
/// INV-C8: every request carries the right Accept, the Authorization header, the
/// session id and the negotiated version.
#[test]
fn every_request_carries_accept_auth_session_and_version() {
    let now = base_instant();
    let mut cfg = config();
    cfg.headers
        .insert("authorization", HeaderValue::from_static("Bearer t0k"));
    let mut c = client(cfg);
    c.initialize(init_request(1)).unwrap();
    let init = one(&mut c);
    assert_eq!(init.request.method(), Method::POST);
    assert_eq!(
        header(&init.request, "accept"),
        Some("application/json, text/event-stream")
    );
    assert_eq!(
        header(&init.request, "content-type"),
        Some("application/json")
    );
    assert_eq!(header(&init.request, "authorization"), Some("Bearer t0k"));
    assert_eq!(header(&init.request, "mcp-session-id"), None); // INV-C2
    assert_eq!(header(&init.request, "mcp-protocol-version"), None); // ambiguity 6
    assert_eq!(init.request.uri(), ENDPOINT);
    respond(
        &mut c,
        init.exchange,
        200,
        &[JSON, ("mcp-session-id", "s-1")],
        &init_result(1, "2025-06-18"),
        now,
    );

    c.send(request(2, "tools/list")).unwrap();
    c.open_standalone_stream().unwrap();
    // Handed out before `close`: a request still queued at `close` is withdrawn (INV-C5).
    let mut sent = transmits(&mut c);
    c.close().unwrap();
    sent.extend(transmits(&mut c));
    let methods: Vec<_> = sent.iter().map(|t| t.request.method().clone()).collect();
    assert_eq!(
        methods,
        [Method::POST, Method::POST, Method::GET, Method::DELETE]
    );
    for t in &sent {
        let r = &t.request;
        assert_eq!(header(r, "authorization"), Some("Bearer t0k"));
        assert_eq!(r.headers().get_all("mcp-session-id").iter().count(), 1);
        assert_eq!(header(r, "mcp-session-id"), Some("s-1"));
        assert_eq!(header(r, "mcp-protocol-version"), Some("2025-06-18"));
        assert!(r.uri().query().is_none());
        match *r.method() {
            Method::POST => {
                assert_eq!(
                    header(r, "accept"),
                    Some("application/json, text/event-stream")
                )
            }
            Method::GET => assert_eq!(header(r, "accept"), Some("text/event-stream")),
            _ => {}
        }
    }
}

/// LIFE-5, INV-C9: `notifications/initialized` is sent once, by the machine, after the
/// InitializeResult; the application may not send it.
#[test]
fn initialized_notification_is_sent_once_after_the_result() {
    let now = base_instant();
    let mut c = client(config());
    answer_initialize(&mut c, 200, &[JSON], &init_result(1, "2025-11-25"), now);
    let sent = transmits(&mut c);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        body(&sent[0].request),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
    );
    assert_eq!(
        c.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
        Err(UsageError::InitializedIsAutomatic)
    );
}

/// LIFE-6, INV-C9: before the initialize response only `ping` may go.
#[test]
fn only_ping_before_the_initialize_response() {
    let mut c = client(config());
    assert_eq!(c.send(request(2, "ping")), Err(UsageError::NotInitialized));
    c.initialize(init_request(1)).unwrap();
    one(&mut c);
    assert_eq!(
        c.send(request(2, "tools/list")),
        Err(UsageError::NotInitialized)
    );
    c.send(request(3, "ping")).unwrap();
    let ping = one(&mut c);
    assert!(body(&ping.request).contains("ping"));
    assert_eq!(
        c.initialize(init_request(9)),
        Err(UsageError::AlreadyInitialized)
    );
}

/// CLI-POST-3, CLI-POST-4, CLI-POST-5, INV-C7: batches only with 2025-03-26, never mixed,
/// never with initialize.
#[test]
fn batch_rules() {
    let now = base_instant();
    let batch = format!("[{},{}]", request(2, "a"), request(3, "b"));
    let mut c = client(config());
    initialize(&mut c, Some("s"), "2025-06-18", now);
    assert_eq!(c.send(batch.clone()), Err(UsageError::BatchNotAllowed));

    let mut cfg = config();
    cfg.protocol_version = mcp_http_proto::ProtocolVersion::V2025_03_26;
    let mut c = client(cfg);
    initialize(&mut c, Some("s"), "2025-03-26", now);
    c.send(batch).unwrap();
    assert!(body(&one(&mut c).request).starts_with('['));
    let mixed = format!("[{},{}]", request(4, "a"), result(99));
    assert_eq!(c.send(mixed), Err(UsageError::BatchNotAllowed));
    let with_init = format!("[{},{}]", request(5, "a"), init_request(6));
    assert_eq!(c.send(with_init), Err(UsageError::InitializeViaSend));
    assert_eq!(c.send(init_request(7)), Err(UsageError::InitializeViaSend));
    // Ambiguity 27: the version header is sent for 2025-03-26 too.
    c.send(request(8, "x")).unwrap();
    assert_eq!(
        header(&one(&mut c).request, "mcp-protocol-version"),
        Some("2025-03-26")
    );
}

/// LIFE-2: the configured version is written into `params.protocolVersion`.
#[test]
fn initialize_carries_the_configured_version() {
    let mut cfg = config();
    cfg.protocol_version = mcp_http_proto::ProtocolVersion::V2025_06_18;
    let mut c = client(cfg);
    c.initialize(init_request(1)).unwrap();
    let v: serde_json::Value = serde_json::from_str(body(&one(&mut c).request)).unwrap();
    assert_eq!(v["params"]["protocolVersion"], "2025-06-18");
    assert_eq!(v["params"]["clientInfo"]["name"], "t");
}

/// CLI-AUTH-2, INV-C18 and configuration checks.
#[test]
fn configuration_is_checked() {
    let mk = |uri: &str| mcp_http_proto::client::ClientConfig::new(uri.parse().unwrap());
    let build = |cfg| {
        Client::with_entropy(
            cfg,
            Box::new(mcp_http_proto::entropy::SeededEntropy::new(0)),
        )
        .map(|_| ())
    };
    assert_eq!(
        build(mk("http://h/mcp?access_token=x")),
        Err(ConfigError::TokenInQuery)
    );
    assert_eq!(build(mk("/mcp")), Err(ConfigError::InvalidEndpoint));
    assert!(build(mk("https://h/mcp?tenant=1")).is_ok());
    let mut cfg = mk("http://h/mcp");
    cfg.headers
        .insert("mcp-session-id", HeaderValue::from_static("forged"));
    assert_eq!(
        build(cfg),
        Err(ConfigError::ReservedHeader(http::HeaderName::from_static(
            "mcp-session-id"
        )))
    );
    let mut cfg = mk("http://h/mcp");
    cfg.protocol_version = mcp_http_proto::ProtocolVersion::V2026_07_28;
    assert!(matches!(
        build(cfg),
        Err(ConfigError::UnsupportedClientVersion(_))
    ));
}

/// Misuse is an Err: duplicate ids, unknown exchanges, out-of-order inputs.
#[test]
fn misuse_is_a_usage_error() {
    let now = base_instant();
    let mut c = client(config());
    initialize(&mut c, Some("s"), "2025-11-25", now);
    c.send(request(2, "x")).unwrap();
    let t = one(&mut c);
    assert_eq!(
        c.send(request(2, "y")),
        Err(UsageError::DuplicateRequestId(
            mcp_http_proto::wire::jsonrpc::RequestId::Number(2)
        ))
    );
    assert_eq!(
        c.handle_response_chunk(t.exchange, bytes::Bytes::from_static(b"{}"), now),
        Err(UsageError::ExchangeOutOfOrder(t.exchange))
    );
    c.handle_response_head(t.exchange, head(200, &[JSON]))
        .unwrap();
    assert_eq!(
        c.handle_response_head(t.exchange, head(200, &[JSON])),
        Err(UsageError::ExchangeOutOfOrder(t.exchange))
    );
    assert!(matches!(c.send("nope"), Err(UsageError::InvalidMessage(_))));
    // An exchange id this client never issued.
    let never = {
        let mut other = client(config());
        other.initialize(init_request(1)).unwrap();
        for id in 10..60 {
            other.send(request(id, "ping")).unwrap();
        }
        transmits(&mut other).last().unwrap().exchange
    };
    assert_eq!(
        c.handle_response_end(never, now),
        Err(UsageError::UnknownExchange(never))
    );
}

/// The machine moves between threads (a driver may own it from any task).
#[test]
fn client_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Client>();
}
