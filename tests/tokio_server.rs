//! The tokio server driver (`mcp-http-proto-tokio`) takes care of failures and limits
//! itself: each test serves a small application on 127.0.0.1 (an ephemeral port, stopped
//! at the end) and talks raw HTTP/1.1 to it, so that it can stop reading, leave early or
//! send a head without its body.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_http_proto::server::ServerConfig;
use mcp_http_proto_tokio::server::{self, App, Call, Context, Options, RpcError, ServerInfo};
use serde_json::{Value, json};

/// What the application saw.
type Seen = Arc<Mutex<Vec<String>>>;

struct TestApp(Seen);

impl App for TestApp {
    fn info(&self) -> ServerInfo {
        ServerInfo::new("tokio-server-test", "1").with_capabilities(json!({"tools": {}}))
    }

    async fn call(&self, call: Call, cx: Context) -> Result<Value, RpcError> {
        if call.method != "tools/call" {
            return Err(RpcError::method_not_found(&call.method));
        }
        match call.name() {
            Some("wait_gone") => {
                cx.client_gone().await;
                self.0.lock().unwrap().push("client gone".into());
                Ok(server::text_result("gone"))
            }
            Some("sleep") => {
                tokio::time::sleep(Duration::from_millis(600)).await;
                Ok(server::text_result("slept"))
            }
            Some("flood") => {
                // 8 MiB of notifications to a client that does not read.
                let big = "x".repeat(1024);
                for _ in 0..8 * 1024 {
                    if cx
                        .notify(
                            "notifications/message",
                            json!({"level": "info", "data": big}),
                        )
                        .is_err()
                    {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                cx.client_gone().await;
                self.0.lock().unwrap().push("cut by the bound".into());
                Ok(server::text_result("flooded"))
            }
            Some("panic") => panic!("a handler that fails"),
            _ => Ok(server::text_result("ok")),
        }
    }
}

/// A stateless server on 127.0.0.1 with `options`; its port, what the app saw, and the
/// trigger of its graceful shutdown.
fn start(mut options: Options) -> (u16, Seen, tokio::sync::oneshot::Sender<()>) {
    options.config = ServerConfig {
        max_body_bytes: options.config.max_body_bytes,
        max_queued_bytes: options.config.max_queued_bytes,
        ..ServerConfig::stateless()
    };
    let seen = Seen::default();
    let app_seen = seen.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let shutdown = async {
                let _ = stopped.await;
            };
            server::serve_with_shutdown(listener, options, TestApp(app_seen), shutdown).await;
        });
    });
    (port, seen, stop)
}

fn options() -> Options {
    Options {
        keep_alive: Some(Duration::from_millis(100)),
        shutdown_grace: Duration::from_secs(2),
        ..Options::default()
    }
}

/// Sends a POST of a `tools/call` to `tool`, with `Connection: close`; the socket.
fn call_tool(port: u16, tool: &str) -> TcpStream {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}}).to_string();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        tcp,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    tcp
}

/// Reads until `needle` appears in what arrived (or the read times out); all of it.
fn read_until(tcp: &mut TcpStream, needle: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(needle) {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn wait_for(seen: &Seen, what: &str) -> bool {
    for _ in 0..100 {
        if seen.lock().unwrap().iter().any(|s| s == what) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Keep-alive comments arrive on a quiet SSE stream, at the configured interval.
#[test]
fn keep_alive_comments_arrive_on_an_idle_stream() {
    let (port, _, stop) = start(options());
    let mut tcp = call_tool(port, "sleep");
    let got = read_until(&mut tcp, "slept");
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        got.matches(": keep-alive").count() >= 2,
        "comments while it slept: {got}"
    );
    let _ = stop.send(());
}

/// A client that goes away is seen: the handler's `client_gone` resolves once the driver
/// finds the connection closed (at the latest at its next keep-alive write).
#[test]
fn a_client_that_goes_away_is_seen() {
    let (port, seen, stop) = start(options());
    let mut tcp = call_tool(port, "wait_gone");
    let head = read_until(&mut tcp, "\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(tcp);
    assert!(
        wait_for(&seen, "client gone"),
        "the handler never saw the client leave"
    );
    let _ = stop.send(());
}

/// A handler that panics gets -32603 from the machine, and the server lives on.
#[test]
fn a_handler_panic_gives_32603_and_the_server_lives_on() {
    let (port, _, stop) = start(options());
    let mut tcp = call_tool(port, "panic");
    let got = read_until(&mut tcp, "-32603");
    assert!(got.contains("\"code\":-32603"), "{got}");
    let mut tcp = call_tool(port, "other");
    let got = read_until(&mut tcp, "\"ok\"");
    assert!(got.contains("\"text\":\"ok\""), "the server goes on: {got}");
    let _ = stop.send(());
}

/// A client that never reads does not grow the server's memory past its bounds: with a
/// 256 KiB connection bound, 8 MiB of notifications to a client that reads nothing cut
/// its connection (the handler sees it gone) instead of piling up.
#[test]
fn a_client_that_never_reads_does_not_grow_the_servers_memory() {
    let mut o = options();
    o.config.max_queued_bytes = 256 * 1024;
    let (port, seen, stop) = start(o);
    let tcp = call_tool(port, "flood");
    assert!(
        wait_for(&seen, "cut by the bound"),
        "the connection was never cut: the server buffered the flood"
    );
    drop(tcp);
    let _ = stop.send(());
}

/// Graceful shutdown ends streams cleanly: an open SSE reply ends with a complete
/// chunked body (the last chunk), not a reset, when the server is told to stop.
#[test]
fn graceful_shutdown_ends_streams_cleanly() {
    let (port, _, stop) = start(options());
    let mut tcp = call_tool(port, "wait_gone");
    let head = read_until(&mut tcp, "\r\n\r\n");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    stop.send(()).unwrap();
    let rest = read_until(&mut tcp, "0\r\n\r\n");
    assert!(
        rest.ends_with("0\r\n\r\n"),
        "the body ends with its last chunk: {rest:?}"
    );
}

/// The body limit gives 413 from the head alone: the body is never read (here it is
/// never sent).
#[test]
fn the_body_limit_gives_413_without_reading_the_body() {
    let mut o = options();
    o.config.max_body_bytes = 1024;
    let (port, _, stop) = start(o);
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n").unwrap();
    let got = read_until(&mut tcp, "}}");
    assert!(got.starts_with("HTTP/1.1 413"), "{got}");
    let _ = stop.send(());
}

/// Sends a 2026-07-28 POST of `method` (id 1) with its metadata headers and `Connection:
/// close`; the whole response.
fn modern_post(port: u16, method: &str, params: Value) -> String {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = name
        .map(|n| format!("Mcp-Name: {n}\r\n"))
        .unwrap_or_default();
    write!(
        tcp,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: {method}\r\n{name}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut got = String::new();
    let _ = tcp.read_to_string(&mut got);
    got
}

/// The one JSON-RPC message of a response, JSON or SSE.
fn message_of(response: &str) -> Value {
    let (_, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let text = body
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or(body);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {response}"))
}

/// `N26-14`: the driver answers `server/discover` from the application's info, with every
/// version the machine serves, the cache hints, `resultType` and the server info in
/// `_meta`.
#[test]
fn n26_14_server_discover_is_answered_from_the_info() {
    let (port, seen, stop) = start(options());
    let response = modern_post(port, "server/discover", json!({}));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let result = &message_of(&response)["result"];
    assert_eq!(
        result["supportedVersions"],
        json!([
            "2024-11-05",
            "2025-03-26",
            "2025-06-18",
            "2025-11-25",
            "2026-07-28"
        ])
    );
    assert_eq!(result["capabilities"], json!({"tools": {}}));
    assert_eq!(result["ttlMs"], 0);
    assert_eq!(result["cacheScope"], "private");
    assert_eq!(result["resultType"], "complete");
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"],
        json!({"name": "tokio-server-test", "version": "1"})
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "the application was not called"
    );
    let _ = stop.send(());
}

/// `N26-13`: a 2026-07-28 result of the application gets `resultType` and the server info;
/// `N26-9`: an unknown method is 404 with -32601 in a JSON-RPC body.
#[test]
fn modern_results_are_completed_and_unknown_methods_are_404() {
    let (port, _, stop) = start(options());
    let response = modern_post(port, "tools/call", json!({"name": "echo", "arguments": {}}));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        !response.to_ascii_lowercase().contains("mcp-session-id"),
        "{response}"
    );
    let result = &message_of(&response)["result"];
    assert_eq!(result["content"][0]["text"], "ok");
    assert_eq!(result["resultType"], "complete");
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "tokio-server-test"
    );
    let response = modern_post(port, "no/such/method", json!({}));
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{response}"
    );
    let m = message_of(&response);
    assert_eq!(m["error"]["code"], -32601);
    assert_eq!(m["id"], 1);
    let _ = stop.send(());
}

/// `N26-18`: the driver holds a `subscriptions/listen` stream open; its first message is
/// the acknowledgement of what the app's capabilities honour (here nothing: the test app
/// declares no listChanged), tagged with the subscription id.
#[test]
fn n26_18_listen_is_acknowledged_and_held_open() {
    let (port, _, stop) = start(options());
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "subscriptions/listen", "params": {
        "notifications": {"toolsListChanged": true},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    }})
    .to_string();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        tcp,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: subscriptions/listen\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let got = read_until(&mut tcp, "acknowledged");
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    let line = got
        .lines()
        .find(|l| l.contains("acknowledged"))
        .and_then(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("{got}"));
    let ack: Value = serde_json::from_str(line).unwrap();
    assert_eq!(ack["params"]["notifications"], json!({}));
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        9
    );
    // Held open: a keep-alive comment comes, not an answer.
    let more = read_until(&mut tcp, ": keep-alive");
    assert!(!more.contains("\"id\":9"), "{more}");
    drop(tcp);
    let _ = stop.send(());
}
