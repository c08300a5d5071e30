//! An MCP server on rmcp (the official Rust SDK), for interop tests of our client.
//!
//! ```text
//! rmcp_server --port N [--stateless] [--json]
//! ```
//!
//! - `--port N`: the port on 127.0.0.1 (0 picks a free one). Only the loopback address is
//!   bound.
//! - default: rmcp's session mode for the session-era revisions (`Mcp-Session-Id`, SSE
//!   replies, priming events); rmcp serves 2026-07-28 requests (`server/discover` and
//!   per-request `_meta`) statelessly beside it, whatever the mode.
//! - `--stateless`: no sessions (`legacy_session_mode = false`), SSE replies.
//! - `--json`: no sessions, and `application/json` replies when the handler sends nothing
//!   before its result (rmcp falls back to SSE when it does, e.g. for progress).
//!
//! It prints `listening on http://127.0.0.1:PORT/mcp` on stdout once bound, then one line
//! per HTTP request on stderr. The endpoint is `/mcp`; any other path gets 404.
//!
//! Tools:
//! - `echo {text}`: answers `text`.
//! - `progress {steps = 3, delay_ms = 50}`: sends `steps` progress notifications for the
//!   request's progress token (when it has one), `delay_ms` apart, then answers `done`.
//! - `test_reconnection {}`: inside a session, closes the request's SSE stream early
//!   through rmcp's `LocalSessionHandle::close_sse_stream` (SEP-1699: a priming event
//!   with a short `retry`, then the end of the stream), waits for the client to resume it
//!   with GET + `Last-Event-ID`, then answers `Reconnection test completed ...` on the
//!   resumed stream. Outside a session (stateless modes, 2026-07-28) rmcp has no stream
//!   to close that a client could resume, so it just answers.
//!
//! SIGTERM or SIGINT stops it: rmcp's cancellation token ends every session and stream,
//! then the process exits.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full, Limited, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const ENDPOINT: &str = "/mcp";
/// The `retry` (ms) sent with the priming event that precedes an early close.
const RECONNECT_RETRY: Duration = Duration::from_millis(250);
/// How long `test_reconnection` waits for the client to come back before answering anyway.
const RECONNECT_WAIT: Duration = Duration::from_secs(10);
/// Upper bound on a buffered POST body (rmcp applies its own, smaller, limit after us).
const MAX_BUFFERED_BODY: usize = 16 * 1024 * 1024;

struct Options {
    port: u16,
    stateless: bool,
    json: bool,
}

fn usage() -> ExitCode {
    eprintln!("usage: rmcp_server --port N [--stateless] [--json]");
    ExitCode::from(2)
}

fn parse_options() -> Result<Options, ExitCode> {
    let mut opts = Options {
        port: 0,
        stateless: false,
        json: false,
    };
    let mut args = std::env::args().skip(1);
    let mut saw_port = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or_else(usage)?;
                opts.port = value.parse().map_err(|_| usage())?;
                saw_port = true;
            }
            "--stateless" => opts.stateless = true,
            "--json" => opts.json = true,
            "-h" | "--help" => return Err(usage()),
            other => {
                eprintln!("rmcp-server: unknown argument {other:?}");
                return Err(usage());
            }
        }
    }
    if !saw_port {
        return Err(usage());
    }
    Ok(opts)
}

/// Where the HTTP layer records which rmcp request-wise stream answers one POST: the
/// number after the slash in the stream's first event id (`0/N`), which is the id that
/// `LocalSessionHandle::close_sse_stream` takes. The HTTP layer puts a fresh slot into
/// each request's extensions; rmcp hands the request's `http::request::Parts` to the tool
/// handler, which finds the slot there.
#[derive(Clone, Default)]
struct StreamSlot(Arc<SlotInner>);

#[derive(Default)]
struct SlotInner {
    id: OnceLock<u64>,
    filled: Notify,
}

impl StreamSlot {
    fn fill(&self, id: u64) {
        if self.0.id.set(id).is_ok() {
            self.0.filled.notify_waiters();
        }
    }

    async fn wait(&self, limit: Duration) -> Option<u64> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.0.filled.notified();
            if let Some(id) = self.0.id.get() {
                return Some(*id);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.0.id.get().copied();
            }
        }
    }
}

/// Counts, per session, the GETs with `Last-Event-ID` that rmcp answered with 200 (a
/// resumed stream), so `test_reconnection` knows when its client has come back.
#[derive(Default)]
struct Resumes {
    counts: Mutex<HashMap<String, u64>>,
    changed: Notify,
}

impl Resumes {
    fn count(&self, session: &str) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(session).copied().unwrap_or(0)
    }

    fn bump(&self, session: &str) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(session.to_owned()).or_insert(0) += 1;
        drop(counts);
        self.changed.notify_waiters();
    }

    /// Waits until `session` has more resumes than `seen`, or `limit` passes.
    async fn wait_past(&self, session: &str, seen: u64, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.changed.notified();
            if self.count(session) > seen {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.count(session) > seen;
            }
        }
    }
}

/// The MCP side: three tools, on rmcp's `ServerHandler` defaults for everything else
/// (`initialize` negotiation, `server/discover`, ping).
#[derive(Clone)]
struct Peers {
    sessions: Arc<LocalSessionManager>,
    resumes: Arc<Resumes>,
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "echo",
            "Answers its text argument.",
            schema(json!({
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"]
            })),
        ),
        Tool::new(
            "progress",
            "Sends `steps` progress notifications, `delay_ms` apart, then answers done.",
            schema(json!({
                "type": "object",
                "properties": {
                    "steps": {"type": "integer", "default": 3, "minimum": 0},
                    "delay_ms": {"type": "integer", "default": 50, "minimum": 0}
                }
            })),
        ),
        Tool::new(
            "test_reconnection",
            "Closes its SSE stream early (SEP-1699) inside a session, then answers once the client resumed.",
            schema(json!({"type": "object", "properties": {}})),
        ),
    ]
}

fn text_result(text: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(text)]).into()
}

fn int_arg(args: &Option<JsonObject>, key: &str, default: u64) -> Result<u64, ErrorData> {
    match args.as_ref().and_then(|a| a.get(key)) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_u64().ok_or_else(|| {
            ErrorData::invalid_params(format!("{key} must be a non-negative integer"), None)
        }),
    }
}

impl Peers {
    async fn progress(
        &self,
        args: &Option<JsonObject>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let steps = int_arg(args, "steps", 3)?;
        let delay = Duration::from_millis(int_arg(args, "delay_ms", 50)?);
        let token = context.meta.get_progress_token();
        for step in 1..=steps {
            if let Some(token) = &token {
                let mut param = ProgressNotificationParam::new(token.clone(), step as f64);
                param.total = Some(steps as f64);
                param.message = Some(format!("step {step} of {steps}"));
                if let Err(e) = context.peer.notify_progress(param).await {
                    eprintln!("rmcp-server: progress notification {step} not sent: {e}");
                }
            }
            if step < steps && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        Ok(text_result("done"))
    }

    async fn test_reconnection(&self, context: &RequestContext<RoleServer>) -> CallToolResponse {
        let parts = context.extensions.get::<http::request::Parts>();
        let session = parts
            .and_then(|p| p.headers.get("mcp-session-id"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let slot = parts
            .and_then(|p| p.extensions.get::<StreamSlot>())
            .cloned();
        let (Some(session), Some(slot)) = (session, slot) else {
            eprintln!("rmcp-server: test_reconnection outside a session: nothing to close");
            return text_result("Reconnection test completed (no session: stream not closed)");
        };
        let Some(stream) = slot.wait(Duration::from_secs(2)).await else {
            eprintln!("rmcp-server: test_reconnection: the stream id never showed");
            return text_result("Reconnection test completed (stream id unknown: not closed)");
        };
        let handle = self
            .sessions
            .sessions
            .read()
            .await
            .get(session.as_str())
            .cloned();
        let Some(handle) = handle else {
            return text_result("Reconnection test completed (session gone: not closed)");
        };
        let seen = self.resumes.count(&session);
        if let Err(e) = handle.close_sse_stream(stream, Some(RECONNECT_RETRY)).await {
            eprintln!("rmcp-server: test_reconnection: close_sse_stream({stream}) failed: {e}");
            return text_result("Reconnection test completed (close failed)");
        }
        eprintln!(
            "rmcp-server: test_reconnection: closed stream {stream} of session {session}, waiting for the client to resume"
        );
        if self.resumes.wait_past(&session, seen, RECONNECT_WAIT).await {
            eprintln!("rmcp-server: test_reconnection: the client resumed, answering");
            text_result("Reconnection test completed: the stream was closed and resumed")
        } else {
            eprintln!(
                "rmcp-server: test_reconnection: no resume within {RECONNECT_WAIT:?}, answering anyway"
            );
            text_result("Reconnection test completed: the stream was closed, no resume seen")
        }
    }
}

impl ServerHandler for Peers {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new("mcp-http-proto-rmcp-server", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match request.name.as_ref() {
            "echo" => {
                let text = request
                    .arguments
                    .as_ref()
                    .and_then(|a| a.get("text"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| ErrorData::invalid_params("echo needs a string `text`", None))?;
                Ok(text_result(text))
            }
            "progress" => self.progress(&request.arguments, &context).await,
            "test_reconnection" => Ok(self.test_reconnection(&context).await),
            other => Err(ErrorData::invalid_params(
                format!("unknown tool {other:?}"),
                None,
            )),
        }
    }
}

/// A response body that passes every frame through and, on the way, fills a
/// [`StreamSlot`] from the first SSE event id of the form `INDEX/STREAM`.
struct WatchedBody {
    inner: BoxBody<Bytes, Infallible>,
    slot: Option<StreamSlot>,
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
            && let Some(id) = stream_id_in(data)
            && let Some(slot) = self.slot.take()
        {
            slot.fill(id);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The `STREAM` of an `id: INDEX/STREAM` line in an SSE chunk.
fn stream_id_in(data: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(data).ok()?;
    text.lines().find_map(|line| {
        let value = line.strip_prefix("id:")?.trim();
        let (_, stream) = value.split_once('/')?;
        stream.parse().ok()
    })
}

type Rmcp = StreamableHttpService<Peers, LocalSessionManager>;
type HttpResponse = Response<BoxBody<Bytes, Infallible>>;

fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(Full::new(Bytes::from_static(text.as_bytes())).boxed())
        .expect("static response")
}

/// One HTTP request: buffer a POST body (to log its JSON-RPC method), give rmcp the
/// request with a fresh [`StreamSlot`], log the answer, and watch the reply's body.
async fn serve_one(rmcp: Rmcp, resumes: Arc<Resumes>, request: Request<Incoming>) -> HttpResponse {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if path != ENDPOINT {
        eprintln!("rmcp-server: {method} {path} -> 404");
        return plain(StatusCode::NOT_FOUND, "Not Found");
    }
    let session = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let resuming = method == http::Method::GET && request.headers().contains_key("last-event-id");
    let (mut parts, body) = request.into_parts();
    let bytes = match Limited::new(body, MAX_BUFFERED_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            eprintln!("rmcp-server: {method} {path}: reading the body failed: {e}");
            return plain(StatusCode::BAD_REQUEST, "Bad Request: unreadable body");
        }
    };
    let rpc = rpc_summary(&bytes);
    let slot = StreamSlot::default();
    parts.extensions.insert(slot.clone());
    let response = rmcp
        .handle(Request::from_parts(parts, Full::new(bytes)))
        .await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let new_session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    eprintln!(
        "rmcp-server: {method} {path}{rpc}{} -> {} {content_type}{}",
        session
            .as_deref()
            .map(|s| format!(" session={s}"))
            .unwrap_or_default(),
        status.as_u16(),
        new_session
            .map(|s| format!(" new-session={s}"))
            .unwrap_or_default(),
    );
    if resuming
        && status == StatusCode::OK
        && let Some(session) = &session
    {
        resumes.bump(session);
    }
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        WatchedBody {
            inner: body,
            slot: Some(slot),
        }
        .boxed(),
    )
}

/// ` rpc=METHOD` (or ` rpc=response`) for a JSON-RPC body, empty otherwise.
fn rpc_summary(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(message)) => match message.get("method").and_then(Value::as_str) {
            Some(m) => format!(" rpc={m}"),
            None => " rpc=response".to_owned(),
        },
        Ok(_) => " rpc=batch/other".to_owned(),
        Err(_) => " rpc=unparsable".to_owned(),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rmcp-server: no SIGTERM handler: {e}");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    let listener = match TcpListener::bind(("127.0.0.1", opts.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rmcp-server: cannot bind 127.0.0.1:{}: {e}", opts.port);
            return ExitCode::FAILURE;
        }
    };
    let port = match listener.local_addr() {
        Ok(a) => a.port(),
        Err(e) => {
            eprintln!("rmcp-server: no local address: {e}");
            return ExitCode::FAILURE;
        }
    };

    let cancel = CancellationToken::new();
    let stateful = !(opts.stateless || opts.json);
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(stateful)
        .with_json_response(opts.json)
        .with_cancellation_token(cancel.child_token());
    let sessions = Arc::new(LocalSessionManager::default());
    let resumes = Arc::new(Resumes::default());
    let handler = Peers {
        sessions: sessions.clone(),
        resumes: resumes.clone(),
    };
    let rmcp: Rmcp = StreamableHttpService::new(move || Ok(handler.clone()), sessions, config);

    let mode = match (stateful, opts.json) {
        (true, _) => "stateful (sessions, SSE)",
        (false, false) => "stateless (SSE)",
        (false, true) => "stateless (JSON replies)",
    };
    eprintln!("rmcp-server: rmcp 3.11.0, mode {mode}");
    println!("listening on http://127.0.0.1:{port}{ENDPOINT}");

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let (stream, _) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("rmcp-server: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("rmcp-server: TCP_NODELAY not set: {e}");
        }
        let rmcp = rmcp.clone();
        let resumes = resumes.clone();
        let conn_cancel = cancel.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let rmcp = rmcp.clone();
                let resumes = resumes.clone();
                async move { Ok::<_, Infallible>(serve_one(rmcp, resumes, request).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    // A client that drops an open SSE stream is routine here, not worth a line.
                    if let Err(e) = result
                        && !e.is_incomplete_message()
                        && !e.is_canceled()
                    {
                        eprintln!("rmcp-server: connection error: {e}");
                    }
                }
                _ = conn_cancel.cancelled() => {
                    // Let the response in flight finish, then close.
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(1), conn.as_mut()).await;
                }
            }
        });
    }
    eprintln!("rmcp-server: shutting down");
    cancel.cancel();
    // A moment for open streams to see the cancellation and end.
    tokio::time::sleep(Duration::from_millis(100)).await;
    ExitCode::SUCCESS
}
