//! The driver crates (`drivers/tokio`: hyper + tokio, and `drivers/blocking`: `std::net`) carry
//! bytes and time only; the machine decides. Each behaviour is checked against both
//! drivers, each serving a small application on 127.0.0.1 (an ephemeral port), driven by
//! the crate's own blocking client. The late-disconnect case, a race on real sockets, is
//! driven deterministically through the engine both drivers share.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::client::{ClientConfig, ClientEvent};
use mcp_http_proto::server::{ServerConfig, StreamEvent};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::{INTERNAL_ERROR, Message, MessageKind, RequestId};
use mcp_http_proto_blocking::client::{BlockingClient, now};
use mcp_http_proto_driver::engine::{Engine, Reply};
use mcp_http_proto_driver::exchange::ClientDriver;
use mcp_http_proto_tokio::server::{Call, Context, RpcError, ServerInfo};
use serde_json::{Value, json};

/// The notifications an application saw.
type Seen = Arc<Mutex<Vec<String>>>;

fn note(seen: &Seen, messages: &[Message]) {
    let mut seen = seen.lock().unwrap();
    for m in messages {
        if m.kind() == MessageKind::Notification {
            seen.push(m.method().unwrap_or_default().to_owned());
        }
    }
}

fn roots_text(answer: Result<Message, impl std::fmt::Display>) -> Value {
    match answer {
        Ok(m) => {
            let v: Value = serde_json::from_slice(m.json()).unwrap();
            json!({"content": [{"type": "text", "text": v["result"]["roots"][0]["uri"]}]})
        }
        Err(e) => json!({"content": [{"type": "text", "text": e.to_string()}], "isError": true}),
    }
}

struct AsyncApp(Seen);

impl mcp_http_proto_tokio::server::App for AsyncApp {
    fn info(&self) -> ServerInfo {
        ServerInfo::new("drivers-test", "1").with_capabilities(json!({"tools": {}}))
    }

    async fn call(&self, call: Call, cx: Context) -> Result<Value, RpcError> {
        match (call.method.as_str(), call.name()) {
            ("tools/call", Some("silent")) => panic!("a handler that fails"),
            ("tools/call", Some("roots")) => {
                Ok(roots_text(cx.request("roots/list", Value::Null).await))
            }
            ("tools/call", _) => Ok(json!({"content": []})),
            _ => Ok(json!({"tools": []})),
        }
    }

    fn notification(&self, message: &Message, _: Option<&SessionId>) {
        note(&self.0, std::slice::from_ref(message));
    }
}

struct BlockingApp(Seen);

impl mcp_http_proto_blocking::server::App for BlockingApp {
    fn info(&self) -> ServerInfo {
        ServerInfo::new("drivers-test", "1").with_capabilities(json!({"tools": {}}))
    }

    fn call(
        &self,
        call: Call,
        cx: mcp_http_proto_blocking::server::Context,
    ) -> Result<Value, RpcError> {
        match (call.method.as_str(), call.name()) {
            ("tools/call", Some("silent")) => panic!("a handler that fails"),
            ("tools/call", Some("roots")) => Ok(roots_text(cx.request("roots/list", Value::Null))),
            ("tools/call", _) => Ok(json!({"content": []})),
            _ => Ok(json!({"tools": []})),
        }
    }

    fn notification(&self, message: &Message, _: Option<&SessionId>) {
        note(&self.0, std::slice::from_ref(message));
    }
}

#[derive(Debug, Clone, Copy)]
enum Driver {
    Hyper,
    Blocking,
}

const DRIVERS: [Driver; 2] = [Driver::Hyper, Driver::Blocking];

/// Starts `driver` on 127.0.0.1 (an ephemeral port) in a thread of its own; the URL of
/// its endpoint, and what its application saw. The thread ends with the test process.
fn start(driver: Driver) -> (String, Seen) {
    let (addr, seen) = start_with(driver, ServerConfig::default().into());
    (format!("http://{addr}/mcp"), seen)
}

/// [`start`] with `options`; the listener's address.
fn start_with(driver: Driver, options: mcp_http_proto_driver::app::Options) -> (String, Seen) {
    let seen = Seen::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app_seen = seen.clone();
    std::thread::spawn(move || match driver {
        Driver::Hyper => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                mcp_http_proto_tokio::server::serve_with_shutdown(
                    listener,
                    options,
                    AsyncApp(app_seen),
                    std::future::pending(),
                )
                .await;
            });
        }
        Driver::Blocking => {
            mcp_http_proto_blocking::server::serve(listener, options, BlockingApp(app_seen))
        }
    });
    (addr, seen)
}

/// A client initialized against `url` at `version`.
fn client(url: &str, version: ProtocolVersion) -> BlockingClient {
    let mut config = ClientConfig::new(url.parse().unwrap());
    config.protocol_version = version;
    let mut c = BlockingClient::new(config).unwrap();
    c.verbose = false;
    c.initialize(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{"roots":{}},"clientInfo":{"name":"t","version":"1"}}}"#).unwrap();
    match next(&mut c) {
        ClientEvent::Initialized { version: v, .. } => assert_eq!(v, version),
        other => panic!("{other:?}"),
    }
    // `notifications/initialized` goes on its own connection: wait for its 202, so that
    // the server has it before the test's requests (`LIFE-5`, `LIFE-7`).
    // `next_event` returns `Ok(None)` once nothing is in flight.
    if let Ok(Some(event)) = c.next_event(now() + Duration::from_secs(10)) {
        panic!("no event expected after initialization: {event:?}");
    }
    assert_eq!(c.in_flight(), 0);
    c
}

/// The next client event, within 10 seconds.
fn next(c: &mut BlockingClient) -> ClientEvent {
    c.next_event(now() + Duration::from_secs(10))
        .expect("an event within 10 s")
        .expect("an event can come")
}

/// The response to request `id`, answering the server's requests meanwhile.
fn response(c: &mut BlockingClient, id: i64) -> Value {
    loop {
        match next(c) {
            ClientEvent::Response { id: got, message } if got == RequestId::Number(id) => {
                return serde_json::from_slice(message.json()).unwrap();
            }
            ClientEvent::Message(m) if m.kind() == MessageKind::Request => {
                let answer = json!({"jsonrpc": "2.0", "id": m.id(), "result": {"roots": [{"uri": "file:///r"}]}});
                c.send(answer.to_string()).unwrap();
            }
            _ => {}
        }
    }
}

fn call(c: &mut BlockingClient, id: i64, tool: &str) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {}}});
    c.send(body.to_string()).unwrap();
    response(c, id)
}

/// `BOTH-POST-6`: a notification batched with a request (2025-03-26) reaches the
/// application; none is dropped.
#[test]
fn notifications_batched_with_requests_reach_the_application() {
    for driver in DRIVERS {
        let (url, seen) = start(driver);
        let mut c = client(&url, ProtocolVersion::V2025_03_26);
        let batch = r#"[{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":1}},{"jsonrpc":"2.0","id":5,"method":"tools/list"}]"#;
        c.send(batch).unwrap();
        assert_eq!(
            response(&mut c, 5)["result"],
            json!({"tools": []}),
            "{driver:?}"
        );
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.contains(&"notifications/progress".to_owned()),
            "{driver:?}: the batched notification reached the application: {seen:?}"
        );
        assert!(
            seen.contains(&"notifications/initialized".to_owned()),
            "{driver:?}"
        );
    }
}

/// A request the application's handler left unanswered gets -32603 from the machine,
/// and the server goes on.
#[test]
fn a_request_left_unanswered_gets_32603_from_the_machine() {
    for driver in DRIVERS {
        let (url, _) = start(driver);
        let mut c = client(&url, ProtocolVersion::V2025_11_25);
        let r = call(&mut c, 7, "silent");
        assert_eq!(r["error"]["code"], INTERNAL_ERROR, "{driver:?}: {r}");
        let r = call(&mut c, 8, "other");
        assert!(
            r.get("result").is_some(),
            "{driver:?}: the server goes on: {r}"
        );
    }
}

/// A server-to-client request is answered through the replier: the machine minted its
/// id and paired the client's answer with it.
#[test]
fn a_server_request_is_answered_through_the_replier() {
    for driver in DRIVERS {
        let (url, _) = start(driver);
        let mut c = client(&url, ProtocolVersion::V2025_11_25);
        let r = call(&mut c, 9, "roots");
        assert_eq!(
            r["result"]["content"][0]["text"], "file:///r",
            "{driver:?}: {r}"
        );
    }
}

/// Pulls a connection's output until it has nothing more right now.
fn pull(engine: &Engine, connection: mcp_http_proto::server::ConnectionId) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    while let Poll::Ready(e) = engine.poll_connection(connection, Waker::noop()) {
        let end = matches!(e, StreamEvent::End);
        out.push(e);
        if end {
            break;
        }
    }
    out
}

fn post(session: Option<&str>, body: &str) -> http::Request<bytes::Bytes> {
    let mut b = http::Request::post("/mcp")
        .header("host", "127.0.0.1")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    if let Some(s) = session {
        b = b
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    b.body(bytes::Bytes::from(body.to_owned())).unwrap()
}

/// A late disconnect after a resume changes nothing, in both drivers: both report a
/// client gone with `Engine::disconnect(connection)` (the hyper driver when hyper drops a
/// body before its end, the blocking one when a write fails or the peer closed), and a
/// connection that a resumption replaced is the machine's no-op. Driven here in the order
/// the race would produce on real sockets: close early, resume, then the old
/// connection's disconnect arrives.
#[test]
fn a_late_disconnect_after_a_resume_changes_nothing() {
    let engine = Engine::new(ServerConfig::default());
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
    let handled = engine.handle(post(None, init));
    let (request, replier) = handled.requests.into_iter().next().unwrap();
    let Reply::Stream(c0) = handled.reply else {
        panic!()
    };
    replier
        .respond_ok(
            request.message.id().unwrap(),
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}),
        )
        .unwrap();
    let StreamEvent::Head(head) = &pull(&engine, c0)[0] else {
        panic!()
    };
    let session = head.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    engine.handle(post(
        Some(&session),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    ));

    let handled = engine.handle(post(
        Some(&session),
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    ));
    let Reply::Stream(old) = handled.reply else {
        panic!()
    };
    let (_, replier) = handled.requests.into_iter().next().unwrap();
    replier.close_connection().unwrap();
    let first = pull(&engine, old);
    let frames = String::from_utf8(
        first
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Data(b) => Some(b.to_vec()),
                _ => None,
            })
            .flatten()
            .collect(),
    )
    .unwrap();
    let last_id = frames
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .next_back()
        .unwrap()
        .to_owned();
    let get = http::Request::get("/mcp")
        .header("host", "127.0.0.1")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .header("last-event-id", last_id)
        .body(bytes::Bytes::new())
        .unwrap();
    let Reply::Stream(new) = engine.handle(get).reply else {
        panic!()
    };
    assert_ne!(new, old);
    // The old connection's disconnect arrives late.
    engine.disconnect(old);
    replier
        .respond_ok(&RequestId::Number(2), json!({"tools": []}))
        .unwrap();
    let got = pull(&engine, new);
    assert!(matches!(got.first(), Some(StreamEvent::Head(_))));
    assert!(matches!(got.last(), Some(StreamEvent::End)), "{got:?}");
    let answered = got
        .iter()
        .any(|e| matches!(e, StreamEvent::Data(b) if b.windows(8).any(|w| w == b"\"tools\":")));
    assert!(answered, "the answer reached the new connection: {got:?}");
}

/// One raw HTTP/1.1 exchange on a fresh connection (`Connection: close`): the status and
/// the body (SSE or JSON, as it came).
fn raw(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    tcp.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Issue "common mistakes", drivers: a request to another path gets 404 with a JSON-RPC
/// error naming the endpoint (`data.endpoint`); an endpoint mounted at several paths
/// (`Options::also_at`) serves the same sessions at all of them.
#[test]
fn other_paths_get_404_naming_the_endpoint_and_aliases_share_sessions() {
    for driver in DRIVERS {
        let options = mcp_http_proto_driver::app::Options {
            also_at: vec!["/mcp/v1/messages".to_owned()],
            ..Default::default()
        };
        let (addr, _seen) = start_with(driver, options);
        let json = [
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ];
        let (status, body) = raw(
            &addr,
            "POST",
            "/messages",
            &json,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        );
        assert_eq!(status, 404, "{driver:?}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["data"]["endpoint"], "/mcp");
        assert!(v["error"]["message"].as_str().unwrap().contains("/mcp"));
        // A session made at /mcp is served at the alias.
        let c = client(&format!("http://{addr}/mcp"), ProtocolVersion::V2025_11_25);
        let session = c.client().session().unwrap().as_str().to_owned();
        let mut headers = json.to_vec();
        headers.push(("Mcp-Session-Id", &session));
        headers.push(("MCP-Protocol-Version", "2025-11-25"));
        let (status, body) = raw(
            &addr,
            "POST",
            "/mcp/v1/messages",
            &headers,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#,
        );
        assert_eq!(status, 200, "{driver:?}: {body}");
        assert!(body.contains(r#""id":7"#), "{body}");
    }
}
