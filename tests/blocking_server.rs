//! The blocking server driver (`mcp-http-proto-blocking`) on 127.0.0.1, through a raw
//! HTTP/1.1 client on `std::net::TcpStream`: what its `App` and `Context` see, keep-alive
//! comments, refusals from the head, and the graceful shutdown. Every server is stopped
//! through its `Shutdown` at the end of its test; every wait is bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use mcp_http_proto_blocking::http1::{self, ChunkedDecoder};
use mcp_http_proto_blocking::server::{
    self, App, Call, Context, Options, RpcError, ServerInfo, Shutdown, text_result,
};
use serde_json::{Value, json};

/// The longest any single wait of a test lasts.
const WAIT: Duration = Duration::from_secs(10);
const VERSION: &str = "2025-11-25";

// ----- the application -----

/// Tools that report what their handler saw on a channel.
struct TestApp {
    seen: Mutex<Sender<Value>>,
}

impl TestApp {
    fn new() -> (Self, Receiver<Value>) {
        let (tx, rx) = mpsc::channel();
        (
            Self {
                seen: Mutex::new(tx),
            },
            rx,
        )
    }

    fn report(&self, v: Value) {
        let _ = self.seen.lock().unwrap().send(v);
    }
}

impl App for TestApp {
    fn info(&self) -> ServerInfo {
        ServerInfo::new("blocking-test", "1").with_capabilities(json!({"tools": {}}))
    }

    fn call(&self, call: Call, cx: Context) -> Result<Value, RpcError> {
        match call.name() {
            Some("echo") => Ok(text_result(call.arguments()["text"].as_str().unwrap_or(""))),
            Some("wait_gone") => {
                let gone = cx.client_gone(WAIT);
                self.report(json!({"gone": gone}));
                Ok(text_result("gone"))
            }
            Some("panic") => panic!("the handler panics (on purpose)"),
            Some("ask") => {
                let answer = cx.request("roots/list", Value::Null);
                let text = match answer {
                    Ok(m) => String::from_utf8_lossy(m.json()).into_owned(),
                    Err(e) => format!("no answer: {e}"),
                };
                Ok(text_result(&text))
            }
            _ => Err(RpcError::method_not_found(&call.method)),
        }
    }
}

// ----- a running server -----

/// A server on an ephemeral port of 127.0.0.1, stopped (and joined) when dropped.
struct Running {
    addr: SocketAddr,
    shutdown: Shutdown,
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

fn start(options: Options, app: TestApp) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let (tx, done) = mpsc::channel();
    let trigger = shutdown.clone();
    let thread = thread::spawn(move || {
        server::serve_with_shutdown(listener, options, app, trigger);
        let _ = tx.send(());
    });
    Running {
        addr,
        shutdown,
        done,
        thread: Some(thread),
    }
}

impl Running {
    /// Triggers the shutdown and waits for `serve_with_shutdown` to return.
    fn stop(&mut self) {
        self.shutdown.trigger();
        if let Some(t) = self.thread.take() {
            let stopped = self.done.recv_timeout(WAIT).is_ok();
            assert!(stopped || thread::panicking(), "the server did not stop");
            if stopped {
                t.join().unwrap();
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

fn options() -> Options {
    Options {
        shutdown_grace: Duration::from_secs(5),
        ..Options::default()
    }
}

// ----- a raw HTTP/1.1 client -----

/// One connection, and the bytes read past the last head.
struct Conn {
    tcp: TcpStream,
    buf: Vec<u8>,
}

/// A response: its head, and its body as read so far.
struct Reply {
    head: http::response::Parts,
    body: Body,
}

enum Body {
    Chunked(ChunkedDecoder),
    Length(usize),
}

impl Conn {
    fn open(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        Self {
            tcp,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, method: &str, session: Option<&str>, body: &str) {
        let mut head = format!(
            "{method} /mcp HTTP/1.1\r\nHost: {}\r\nAccept: application/json, text/event-stream\r\n",
            self.tcp.peer_addr().unwrap()
        );
        if method == "POST" {
            head += &format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        if let Some(s) = session {
            head += &format!("Mcp-Session-Id: {s}\r\nMCP-Protocol-Version: {VERSION}\r\n");
        }
        head += "\r\n";
        self.tcp.write_all(head.as_bytes()).unwrap();
        self.tcp.write_all(body.as_bytes()).unwrap();
    }

    fn head(&mut self) -> Reply {
        let head = http1::read_response_head(&mut self.tcp, &mut self.buf).unwrap();
        let body = match head.headers.get("content-length") {
            Some(n) => Body::Length(n.to_str().unwrap().parse().unwrap()),
            None => Body::Chunked(ChunkedDecoder::default()),
        };
        Reply { head, body }
    }

    /// Reads more of `reply`'s body: the decoded bytes, empty at its end.
    fn more(&mut self, reply: &mut Reply) -> Vec<u8> {
        let mut out = Vec::new();
        while out.is_empty() && !self.ended(reply) {
            if self.buf.is_empty() {
                let mut chunk = [0u8; 4096];
                let n = self.tcp.read(&mut chunk).expect("read within the timeout");
                assert!(n > 0, "the connection closed before the body's end");
                self.buf.extend_from_slice(&chunk[..n]);
            }
            match &mut reply.body {
                Body::Chunked(d) => {
                    // Feed byte by byte up to the end, so that what follows stays.
                    let mut used = 0;
                    while used < self.buf.len() && !d.is_done() {
                        d.feed(&self.buf[used..=used], &mut out).unwrap();
                        used += 1;
                    }
                    self.buf.drain(..used);
                }
                Body::Length(left) => {
                    let n = (*left).min(self.buf.len());
                    out.extend(self.buf.drain(..n));
                    *left -= n;
                }
            }
        }
        out
    }

    fn ended(&self, reply: &Reply) -> bool {
        match &reply.body {
            Body::Chunked(d) => d.is_done(),
            Body::Length(left) => *left == 0,
        }
    }

    /// The whole body.
    fn body(&mut self, reply: &mut Reply) -> String {
        let mut all = Vec::new();
        loop {
            let more = self.more(reply);
            if more.is_empty() {
                return String::from_utf8(all).unwrap();
            }
            all.extend(more);
        }
    }

    /// A 2026-07-28 POST of `rpc` (id 1) with its metadata headers, and its whole response.
    fn modern(&mut self, rpc: &str, mut params: Value) -> (Reply, String) {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": rpc, "params": params}).to_string();
        let mut head = format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: {rpc}\r\n",
            self.tcp.peer_addr().unwrap(),
            body.len()
        );
        if let Some(n) = name {
            head += &format!("Mcp-Name: {n}\r\n");
        }
        head += "\r\n";
        self.tcp.write_all(head.as_bytes()).unwrap();
        self.tcp.write_all(body.as_bytes()).unwrap();
        let mut reply = self.head();
        let text = self.body(&mut reply);
        (reply, text)
    }

    /// A request and its whole response.
    fn exchange(&mut self, method: &str, session: Option<&str>, body: &str) -> (Reply, String) {
        self.send(method, session, body);
        let mut reply = self.head();
        let text = self.body(&mut reply);
        (reply, text)
    }
}

/// The JSON-RPC messages of an SSE or JSON body.
fn messages(body: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str(body) {
        return vec![v];
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect()
}

/// Reads SSE messages from `reply` until one satisfies `want`.
fn message_where(conn: &mut Conn, reply: &mut Reply, want: impl Fn(&Value) -> bool) -> Value {
    let mut text = String::new();
    loop {
        let more = conn.more(reply);
        assert!(!more.is_empty(), "the stream ended without it: {text}");
        text += &String::from_utf8(more).unwrap();
        // Only complete events (a blank line ends one).
        let complete = text.rfind("\n\n").map_or("", |i| &text[..i]);
        if let Some(m) = messages(complete).into_iter().find(|m| want(m)) {
            return m;
        }
    }
}

/// An initialized session on `addr`: its id.
fn open_session(addr: SocketAddr) -> String {
    let mut c = Conn::open(addr);
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (reply, body) = c.exchange("POST", None, &init.to_string());
    assert_eq!(reply.head.status, 200, "{body}");
    let session = reply.head.headers["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let (reply, _) = c.exchange("POST", Some(&session), initialized);
    assert_eq!(reply.head.status, 202);
    session
}

fn tool(id: u64, name: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": {"text": "hi"}}})
        .to_string()
}

fn answer_to(id: u64, body: &str) -> Value {
    messages(body)
        .into_iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no answer to {id} in {body}"))
}

// ----- the tests -----

/// `Context::client_gone`: a handler waiting on it learns that its client closed the
/// connection of its stream (seen by the connection thread's check of a quiet socket).
#[test]
fn a_handler_sees_its_client_go_away() {
    let (app, seen) = TestApp::new();
    let mut server = start(options(), app);
    let session = open_session(server.addr);
    let mut c = Conn::open(server.addr);
    c.send("POST", Some(&session), &tool(1, "wait_gone"));
    let reply = c.head();
    assert_eq!(reply.head.status, 200);
    drop(c);
    let report = seen.recv_timeout(WAIT).expect("the handler reported");
    assert_eq!(report, json!({"gone": true}));
    server.stop();
}

/// `Options::keep_alive`: a standalone stream with nothing to say gets a keep-alive
/// comment each time it has been quiet for the interval.
#[test]
fn keep_alive_comments_arrive_on_an_idle_stream() {
    let (app, _seen) = TestApp::new();
    let opts = Options {
        keep_alive: Some(Duration::from_millis(100)),
        ..options()
    };
    let mut server = start(opts, app);
    let session = open_session(server.addr);
    let mut c = Conn::open(server.addr);
    c.send("GET", Some(&session), "");
    let mut reply = c.head();
    assert_eq!(reply.head.status, 200);
    let mut text = String::new();
    while text.matches(": keep-alive\n\n").count() < 2 {
        let more = c.more(&mut reply);
        assert!(!more.is_empty(), "the stream ended: {text}");
        text += &String::from_utf8(more).unwrap();
    }
    server.stop();
}

/// A handler that panics: the machine answers its request with -32603, and the server
/// answers the next request as usual.
#[test]
fn a_handler_panic_gives_32603_and_the_server_lives_on() {
    let (app, _seen) = TestApp::new();
    let mut server = start(options(), app);
    let session = open_session(server.addr);
    let mut c = Conn::open(server.addr);
    let (reply, body) = c.exchange("POST", Some(&session), &tool(1, "panic"));
    assert_eq!(reply.head.status, 200);
    assert_eq!(answer_to(1, &body)["error"]["code"], -32603, "{body}");
    // The same kept-alive connection, then a new one.
    let (_, body) = c.exchange("POST", Some(&session), &tool(2, "echo"));
    assert_eq!(answer_to(2, &body)["result"], text_result("hi"));
    let (_, body) = Conn::open(server.addr).exchange("POST", Some(&session), &tool(3, "echo"));
    assert_eq!(answer_to(3, &body)["result"], text_result("hi"));
    server.stop();
}

/// Step 3 from the head alone: a declared body over the limit gets 413 at once, and the
/// connection closes, without a byte of the body read.
#[test]
fn the_body_limit_gives_413_without_reading_the_body() {
    let (app, _seen) = TestApp::new();
    let mut opts = options();
    opts.config.max_body_bytes = 1024;
    let mut server = start(opts, app);
    let mut c = Conn::open(server.addr);
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nAccept: application/json, text/event-stream\r\n\
         Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
        server.addr
    );
    c.tcp.write_all(head.as_bytes()).unwrap();
    let mut reply = c.head();
    assert_eq!(reply.head.status, 413);
    let _ = c.body(&mut reply);
    let mut rest = [0u8; 16];
    assert_eq!(c.tcp.read(&mut rest).unwrap(), 0, "the server closes");
    server.stop();
}

/// The graceful shutdown: an open standalone stream ends with a complete chunked body
/// (its last chunk), then the server returns.
#[test]
fn graceful_shutdown_ends_an_open_stream_cleanly() {
    let (app, _seen) = TestApp::new();
    let mut server = start(options(), app);
    let session = open_session(server.addr);
    let mut c = Conn::open(server.addr);
    c.send("GET", Some(&session), "");
    let mut reply = c.head();
    assert_eq!(reply.head.status, 200);
    assert_eq!(reply.head.headers["transfer-encoding"], "chunked");
    server.shutdown.trigger();
    let _ = c.body(&mut reply); // panics unless the last chunk arrives
    assert!(c.ended(&reply));
    let mut rest = [0u8; 16];
    assert_eq!(c.tcp.read(&mut rest).unwrap(), 0, "the connection closes");
    server.stop();
}

/// `Context::request`: the server's request goes out on the call's stream, the client's
/// answer comes back on another POST, and the machine pairs it with the waiting handler.
#[test]
fn a_server_request_is_answered_through_the_context() {
    let (app, _seen) = TestApp::new();
    let mut server = start(options(), app);
    let session = open_session(server.addr);
    let mut c = Conn::open(server.addr);
    c.send("POST", Some(&session), &tool(1, "ask"));
    let mut reply = c.head();
    assert_eq!(reply.head.status, 200);
    let asked = message_where(&mut c, &mut reply, |m| m["method"] == "roots/list");
    let answer =
        json!({"jsonrpc": "2.0", "id": asked["id"], "result": {"roots": [{"uri": "file:///r"}]}});
    let (r, _) = Conn::open(server.addr).exchange("POST", Some(&session), &answer.to_string());
    assert_eq!(r.head.status, 202);
    let result = message_where(&mut c, &mut reply, |m| m["id"] == 1);
    let text = result["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("file:///r"), "{result}");
    server.stop();
}

/// `N26-14`, `N26-13`, `N26-9`: the blocking driver answers `server/discover` from the
/// info, completes a 2026-07-28 result with `resultType` and the server info, and sends
/// an unknown method's -32601 as 404.
#[test]
fn modern_requests_discover_results_and_404() {
    let (app, _) = TestApp::new();
    let mut running = start(options(), app);
    let mut conn = Conn::open(running.addr);
    let (reply, body) = conn.modern("server/discover", json!({}));
    assert_eq!(reply.head.status, 200);
    assert!(reply.head.headers.get("mcp-session-id").is_none());
    let result = &messages(&body)[0]["result"];
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
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["cacheScope"], "private");
    assert_eq!(result["ttlMs"], 0);
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "blocking-test"
    );
    let (reply, body) = conn.modern(
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "hi"}}),
    );
    assert_eq!(reply.head.status, 200);
    let result = &messages(&body)[0]["result"];
    assert_eq!(result["content"][0]["text"], "hi");
    assert_eq!(result["resultType"], "complete");
    let (reply, body) = conn.modern("no/such/method", json!({}));
    assert_eq!(reply.head.status, 404);
    assert_eq!(messages(&body)[0]["error"]["code"], -32601);
    running.stop();
}
