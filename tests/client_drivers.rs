//! The client libraries (`mcp_http_proto_tokio::client::McpClient` on hyper + tokio, and
//! `mcp_http_proto_blocking::client::McpClient` on `std::net`) against real servers on
//! 127.0.0.1 (ephemeral ports): the server drivers of this workspace serving a small
//! application. Every wait is bounded (the clients' request timeout, or a test timeout).
//!
//! The hyper server runs with `serve_with_shutdown` and is stopped at the end of each test
//! (and restarted on the same port to make it forget the session); the blocking server has
//! no shutdown, so its thread ends with the test process, as in `tests/drivers.rs`.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mcp_http_proto::client::ClientConfig;
use mcp_http_proto::server::ServerConfig;
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::{INVALID_PARAMS, METHOD_NOT_FOUND, Message};
use mcp_http_proto_blocking::client as blocking;
use mcp_http_proto_driver::app::{Call, RpcError as ServerRpcError, ServerInfo};
use mcp_http_proto_driver::exchange::{Error, Incoming, Options, RpcError, tool_text};
use mcp_http_proto_tokio::client as tokio_client;
use serde_json::{Value, json};

/// The longest wait of any step.
const WAIT: Duration = Duration::from_secs(10);

// ----- the server side -----

/// What the application does with a request.
enum Act {
    Answer(Value),
    Fail(i32, &'static str),
    /// Send a notification on the request's stream, then answer.
    NotifyThenAnswer(Value),
    /// Ask the client for its roots, and answer with the first one's URI.
    AskRoots,
    /// Answer after this long.
    Slow(Duration),
}

/// The methods the application saw, in order.
type Seen = Arc<Mutex<Vec<String>>>;

fn info() -> ServerInfo {
    ServerInfo::new("client-drivers-test", "1").with_capabilities(json!({"tools": {}}))
}

fn decide(call: &Call, seen: &Seen) -> Act {
    seen.lock().unwrap().push(call.method.clone());
    let text = |t: &str| json!({"content": [{"type": "text", "text": t}]});
    match call.method.as_str() {
        "tools/list" => Act::Answer(json!({"tools": [
            {"name": "echo", "inputSchema": {"type": "object"}},
            {"name": "notify", "inputSchema": {"type": "object"}},
        ]})),
        "tools/call" => match call.name().unwrap_or_default() {
            "echo" => Act::Answer(text(call.arguments()["text"].as_str().unwrap_or_default())),
            "notify" => Act::NotifyThenAnswer(text("notified")),
            "roots" => Act::AskRoots,
            "slow" => Act::Slow(Duration::from_millis(1500)),
            // 2026-07-28 multi round-trip (SEP-2322): ask for a confirmation first.
            "confirm" => match call.params.get("inputResponses") {
                None => Act::Answer(json!({
                    "resultType": "input_required",
                    "inputRequests": {"ok": {"method": "elicitation/create", "params": {
                        "message": "sure?", "requestedSchema": {"type": "object"}}}},
                    "requestState": "opaque-1",
                })),
                Some(answers) => {
                    let state = call.params.get("requestState").and_then(Value::as_str);
                    let action = answers.pointer("/ok/action").and_then(Value::as_str);
                    Act::Answer(text(&format!(
                        "{} {}",
                        state.unwrap_or("-"),
                        action.unwrap_or("-")
                    )))
                }
            },
            _ => Act::Fail(INVALID_PARAMS, "no such tool"),
        },
        _ => Act::Fail(METHOD_NOT_FOUND, "Method not found"),
    }
}

/// The answer of a call that is ready now.
fn answered(act: Act) -> Result<Value, ServerRpcError> {
    match act {
        Act::Answer(v) | Act::NotifyThenAnswer(v) => Ok(v),
        Act::Fail(code, message) => Err(ServerRpcError::new(code, message)),
        Act::AskRoots | Act::Slow(_) => unreachable!("answered by the driver-specific code"),
    }
}

fn roots_result(answer: Result<Message, impl std::fmt::Display>) -> Value {
    let text = match answer {
        Ok(m) => {
            let v: Value = serde_json::from_slice(m.json()).unwrap();
            v["result"]["roots"][0]["uri"]
                .as_str()
                .unwrap_or("none")
                .to_owned()
        }
        Err(e) => format!("no answer: {e}"),
    };
    json!({"content": [{"type": "text", "text": text}]})
}

fn note(seen: &Seen, message: &Message) {
    if let Some(m) = message.method() {
        seen.lock().unwrap().push(m.to_owned());
    }
}

const NOTE: &str = "notifications/message";

fn note_params() -> Value {
    json!({"level": "info", "data": "from the server"})
}

struct AsyncApp(Seen);

impl mcp_http_proto_tokio::server::App for AsyncApp {
    fn info(&self) -> ServerInfo {
        info()
    }

    fn initialize(&self, call: &Call) -> Result<Value, ServerRpcError> {
        self.0.lock().unwrap().push(call.method.clone());
        Ok(info().initialize_result(call.negotiated.unwrap_or(call.version)))
    }

    async fn call(
        &self,
        call: Call,
        cx: mcp_http_proto_tokio::server::Context,
    ) -> Result<Value, ServerRpcError> {
        match decide(&call, &self.0) {
            Act::NotifyThenAnswer(v) => {
                cx.notify(NOTE, note_params()).unwrap();
                Ok(v)
            }
            Act::AskRoots => Ok(roots_result(cx.request("roots/list", Value::Null).await)),
            Act::Slow(d) => {
                tokio::time::sleep(d).await;
                Ok(json!({"content": []}))
            }
            act => answered(act),
        }
    }

    fn notification(&self, message: &Message, _: Option<&SessionId>) {
        note(&self.0, message);
    }
}

struct BlockingApp(Seen);

impl mcp_http_proto_blocking::server::App for BlockingApp {
    fn info(&self) -> ServerInfo {
        info()
    }

    fn initialize(&self, call: &Call) -> Result<Value, ServerRpcError> {
        self.0.lock().unwrap().push(call.method.clone());
        Ok(info().initialize_result(call.negotiated.unwrap_or(call.version)))
    }

    fn call(
        &self,
        call: Call,
        cx: mcp_http_proto_blocking::server::Context,
    ) -> Result<Value, ServerRpcError> {
        match decide(&call, &self.0) {
            Act::NotifyThenAnswer(v) => {
                cx.notify(NOTE, note_params()).unwrap();
                Ok(v)
            }
            Act::AskRoots => Ok(roots_result(cx.request("roots/list", Value::Null))),
            Act::Slow(d) => {
                std::thread::sleep(d);
                Ok(json!({"content": []}))
            }
            act => answered(act),
        }
    }

    fn notification(&self, message: &Message, _: Option<&SessionId>) {
        note(&self.0, message);
    }
}

/// The hyper server on `listener`, in a thread with its own runtime; stopped (its
/// connections dropped with the runtime) by [`HyperServer::stop`] or on drop.
struct HyperServer {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    seen: Seen,
}

impl HyperServer {
    fn start(listener: TcpListener) -> Self {
        let seen = Seen::default();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = AsyncApp(seen.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let stop = async {
                    let _ = stopped.await;
                };
                mcp_http_proto_tokio::server::serve_with_shutdown(
                    listener,
                    ServerConfig::default(),
                    app,
                    stop,
                )
                .await;
            });
        });
        Self {
            shutdown: Some(shutdown),
            thread: Some(thread),
            seen,
        }
    }

    fn stop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for HyperServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/mcp")
}

/// The blocking server on an ephemeral port: its URL and what its application saw.
fn start_blocking_server() -> (String, Seen) {
    let (listener, addr) = bind();
    let seen = Seen::default();
    let app = BlockingApp(seen.clone());
    std::thread::spawn(move || {
        mcp_http_proto_blocking::server::serve(listener, ServerConfig::default(), app)
    });
    (url(addr), seen)
}

#[derive(Debug, Clone, Copy)]
enum ServerKind {
    Hyper,
    Blocking,
}

/// A server of `kind`: its URL, what its application saw, and (for hyper) the server to
/// keep until the end of the test.
fn start(kind: ServerKind) -> (String, Seen, Option<HyperServer>) {
    match kind {
        ServerKind::Hyper => {
            let (listener, addr) = bind();
            let server = HyperServer::start(listener);
            (url(addr), server.seen.clone(), Some(server))
        }
        ServerKind::Blocking => {
            let (url, seen) = start_blocking_server();
            (url, seen, None)
        }
    }
}

const SERVERS: [ServerKind; 2] = [ServerKind::Hyper, ServerKind::Blocking];

fn options(url: &str) -> Options {
    let mut o = Options::new(url.parse().unwrap());
    o.request_timeout = WAIT;
    o.capabilities = json!({"roots": {}});
    o
}

fn names(tools: &[Value]) -> Vec<&str> {
    tools.iter().filter_map(|t| t["name"].as_str()).collect()
}

fn roots_answer() -> Result<Value, RpcError> {
    Ok(json!({"roots": [{"uri": "file:///r", "name": "r"}]}))
}

// ----- the async client -----

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The next message within [`WAIT`].
async fn next_async(client: &tokio_client::McpClient) -> Incoming {
    tokio::time::timeout(WAIT, client.next_message())
        .await
        .expect("a message within the wait")
        .expect("the client is open")
}

/// connect, list_tools, call_tool, a JSON-RPC error as `Error::Rpc`, a notification and a
/// server request through `next_message` (answered with `respond`), close: against both
/// servers.
#[test]
fn async_client_calls_tools_and_sees_server_messages() {
    for kind in SERVERS {
        let (url, seen, _server) = start(kind);
        runtime().block_on(async {
            let client = tokio_client::McpClient::connect_with(options(&url))
                .await
                .unwrap();
            let info = client.session_info();
            assert_eq!(info.result["serverInfo"]["name"], "client-drivers-test");
            assert!(info.session.is_some(), "{kind:?}: a stateful server");

            let tools = client.list_tools().await.unwrap();
            assert_eq!(names(&tools), ["echo", "notify"], "{kind:?}");
            let r = client
                .call_tool("echo", json!({"text": "hi"}))
                .await
                .unwrap();
            assert_eq!(tool_text(&r), "hi", "{kind:?}");

            match client.call_tool("missing", Value::Null).await {
                Err(Error::Rpc(e)) => assert_eq!(e.code, i64::from(INVALID_PARAMS), "{kind:?}"),
                other => panic!("{kind:?}: {other:?}"),
            }
            match client.request("no/such/method", json!({})).await {
                Err(Error::Rpc(e)) => assert_eq!(e.code, i64::from(METHOD_NOT_FOUND)),
                other => panic!("{kind:?}: {other:?}"),
            }

            // A notification on the call's stream reaches the application before the
            // result resolves the call.
            let r = client.call_tool("notify", Value::Null).await.unwrap();
            assert_eq!(tool_text(&r), "notified");
            match client.try_next_message() {
                Some(Incoming::Notification(n)) => {
                    assert_eq!(n.method, "notifications/message");
                    assert_eq!(n.params["data"], "from the server");
                }
                other => panic!("{kind:?}: {other:?}"),
            }

            // A server request, answered from another task.
            let answering = tokio::spawn({
                let client = client.clone();
                async move {
                    match next_async(&client).await {
                        Incoming::Request(r) => {
                            assert_eq!(r.method, "roots/list");
                            client.respond(&r.id, roots_answer()).await.unwrap();
                        }
                        other => panic!("{other:?}"),
                    }
                }
            });
            let r = client.call_tool("roots", Value::Null).await.unwrap();
            assert_eq!(tool_text(&r), "file:///r", "{kind:?}");
            tokio::time::timeout(WAIT, answering)
                .await
                .unwrap()
                .unwrap();

            client.close().await.unwrap();
            assert_eq!(client.list_tools().await, Err(Error::Closed));
            assert!(
                client.next_message().await.is_none(),
                "closed: no more messages"
            );
        });
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen.first().map(String::as_str),
            Some("initialize"),
            "{kind:?}"
        );
    }
}

/// A request with no answer within its timeout is `Error::Timeout`, and the client goes
/// on.
#[test]
fn async_client_request_timeout() {
    let (url, _, _server) = start(ServerKind::Hyper);
    runtime().block_on(async {
        let client = tokio_client::McpClient::connect(&url).await.unwrap();
        let params = json!({"name": "slow"});
        let r = client
            .request_with_timeout("tools/call", params, Duration::from_millis(200))
            .await;
        assert_eq!(r, Err(Error::Timeout));
        let r = client
            .call_tool("echo", json!({"text": "after"}))
            .await
            .unwrap();
        assert_eq!(tool_text(&r), "after");
        client.close().await.unwrap();
    });
}

/// `N26-20`, `N26-14`, `N26-19`: in Auto mode both client libraries find that both server
/// drivers speak 2026-07-28, work without a session, cancel a timed-out request by
/// closing its stream (the next call still works), and carry a multi round-trip request
/// (SEP-2322) through to its result.
#[test]
fn clients_in_auto_mode_speak_2026_07_28_to_both_servers() {
    use mcp_http_proto::ProtocolVersion;
    use mcp_http_proto::client::ClientMode;
    for kind in SERVERS {
        let (url, seen, _server) = start(kind);
        let mut o = options(&url);
        o.config.mode = ClientMode::Auto;
        runtime().block_on(async {
            let client = tokio_client::McpClient::connect_with(o.clone())
                .await
                .unwrap();
            assert_eq!(client.protocol_version(), ProtocolVersion::V2026_07_28);
            assert_eq!(client.session_id(), None);
            let r = client
                .request_with_timeout(
                    "tools/call",
                    json!({"name": "slow"}),
                    Duration::from_millis(200),
                )
                .await;
            assert_eq!(r, Err(Error::Timeout));
            let r = client
                .call_tool("echo", json!({"text": "modern"}))
                .await
                .unwrap();
            assert_eq!(tool_text(&r), "modern");
            client.close().await.unwrap();
        });
        // SEP-2322: the input request reaches the application; its answer goes back in
        // a new request with the server's requestState, and the caller sees the result.
        runtime().block_on(async {
            let client = tokio_client::McpClient::connect_with(o.clone())
                .await
                .unwrap();
            let answering = {
                let client = client.clone();
                tokio::spawn(async move {
                    let Incoming::Request(r) = next_async(&client).await else {
                        panic!("expected the input request")
                    };
                    assert_eq!(r.method, "elicitation/create");
                    client
                        .respond(&r.id, Ok(json!({"action": "accept"})))
                        .await
                        .unwrap();
                })
            };
            let r = client.call_tool("confirm", json!({})).await.unwrap();
            assert_eq!(tool_text(&r), "opaque-1 accept");
            answering.await.unwrap();
            client.close().await.unwrap();
        });
        let client = blocking::McpClient::connect_with(o).unwrap();
        assert_eq!(client.protocol_version(), ProtocolVersion::V2026_07_28);
        let r = client.call_tool("echo", json!({"text": "modern"})).unwrap();
        assert_eq!(tool_text(&r), "modern");
        client.close().unwrap();
        let seen = seen.lock().unwrap();
        assert!(!seen.iter().any(|m| m == "initialize"), "{seen:?}");
    }
}

/// `CLI-SESS-8`, `INV-C4`: the server restarts on the same port and forgets the session;
/// the next call meets a 404, and the machine re-initializes and re-sends it. The caller
/// only sees the result.
#[test]
fn async_client_reinitializes_when_the_server_forgets_the_session() {
    let (listener, addr) = bind();
    let mut server = HyperServer::start(listener);
    runtime().block_on(async {
        let client = tokio_client::McpClient::connect_with(options(&url(addr)))
            .await
            .unwrap();
        let first = client.session_id().expect("a session");
        let r = client
            .call_tool("echo", json!({"text": "one"}))
            .await
            .unwrap();
        assert_eq!(tool_text(&r), "one");

        server.stop();
        let restarted = HyperServer::start(TcpListener::bind(addr).unwrap());
        let r = client
            .call_tool("echo", json!({"text": "two"}))
            .await
            .unwrap();
        assert_eq!(tool_text(&r), "two");
        let second = client.session_id().expect("a new session");
        assert_ne!(first, second);
        let seen = restarted.seen.lock().unwrap().clone();
        assert_eq!(
            seen.first().map(String::as_str),
            Some("initialize"),
            "{seen:?}"
        );
        client.close().await.unwrap();
        drop(restarted);
    });
}

/// A refused connection is a transport failure of `connect`.
#[test]
fn async_client_connect_refused_is_a_transport_error() {
    let (listener, addr) = bind();
    drop(listener);
    runtime().block_on(async {
        match tokio_client::McpClient::connect_with(options(&url(addr))).await {
            Err(Error::Transport(why)) => assert!(why.contains("connect"), "{why}"),
            other => panic!("{other:?}"),
        }
    });
}

// ----- the blocking client -----

/// The same as [`async_client_calls_tools_and_sees_server_messages`], blocking.
#[test]
fn blocking_client_calls_tools_and_sees_server_messages() {
    for kind in SERVERS {
        let (url, _seen, _server) = start(kind);
        let client = blocking::McpClient::connect_with(options(&url)).unwrap();
        let info = client.session_info();
        assert_eq!(info.result["serverInfo"]["name"], "client-drivers-test");

        let tools = client.list_tools().unwrap();
        assert_eq!(names(&tools), ["echo", "notify"], "{kind:?}");
        let r = client.call_tool("echo", json!({"text": "hi"})).unwrap();
        assert_eq!(tool_text(&r), "hi", "{kind:?}");
        match client.call_tool("missing", Value::Null) {
            Err(Error::Rpc(e)) => assert_eq!(e.code, i64::from(INVALID_PARAMS), "{kind:?}"),
            other => panic!("{kind:?}: {other:?}"),
        }

        let r = client.call_tool("notify", Value::Null).unwrap();
        assert_eq!(tool_text(&r), "notified");
        match client.next_message(WAIT) {
            Ok(Incoming::Notification(n)) => assert_eq!(n.method, "notifications/message"),
            other => panic!("{kind:?}: {other:?}"),
        }

        let answering = std::thread::spawn({
            let client = client.clone();
            move || match client.next_message(WAIT) {
                Ok(Incoming::Request(r)) => {
                    assert_eq!(r.method, "roots/list");
                    client.respond(&r.id, roots_answer()).unwrap();
                }
                other => panic!("{other:?}"),
            }
        });
        let r = client.call_tool("roots", Value::Null).unwrap();
        assert_eq!(tool_text(&r), "file:///r", "{kind:?}");
        answering.join().unwrap();

        client.close().unwrap();
        assert_eq!(client.list_tools(), Err(Error::Closed));
        assert_eq!(client.next_message(WAIT).err(), Some(Error::Closed));
    }
}

/// `CLI-SESS-8`, `INV-C4`, blocking: the restarted server forgets the session; the call
/// is re-sent on a new one.
#[test]
fn blocking_client_reinitializes_when_the_server_forgets_the_session() {
    let (listener, addr) = bind();
    let mut server = HyperServer::start(listener);
    let client = blocking::McpClient::connect_with(options(&url(addr))).unwrap();
    let first = client.session_id().expect("a session");
    assert_eq!(
        tool_text(&client.call_tool("echo", json!({"text": "one"})).unwrap()),
        "one"
    );

    server.stop();
    let restarted = HyperServer::start(TcpListener::bind(addr).unwrap());
    let r = client.call_tool("echo", json!({"text": "two"})).unwrap();
    assert_eq!(tool_text(&r), "two");
    assert_ne!(Some(first), client.session_id());
    let seen = restarted.seen.lock().unwrap().clone();
    assert_eq!(
        seen.first().map(String::as_str),
        Some("initialize"),
        "{seen:?}"
    );
    client.close().unwrap();
}

/// A refused connection is a transport failure of `connect`, blocking; and a
/// [`ClientConfig`] is enough to connect with.
#[test]
fn blocking_client_connect_refused_is_a_transport_error() {
    let (listener, addr) = bind();
    drop(listener);
    let config = ClientConfig::new(url(addr).parse().unwrap());
    match blocking::McpClient::connect_with(config) {
        Err(Error::Transport(why)) => assert!(why.contains("connect"), "{why}"),
        other => panic!("{other:?}"),
    }
}
