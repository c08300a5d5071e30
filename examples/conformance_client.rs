//! A client for the official MCP conformance suite in client mode
//! (`npm @modelcontextprotocol/conformance`): the `Client` machine driven by hyper + tokio
//! (`mcp-http-proto-tokio`, `drivers/tokio`).
//!
//! ```text
//! conformance client --command "target/debug/examples/conformance_client" --scenario NAME
//! MCP_CONFORMANCE_SCENARIO=NAME conformance_client [--timeout SECS] [--quiet] [--trace] URL
//! ```
//!
//! The suite starts a mock server for the scenario, then runs the command with the
//! server's URL appended as the last argument and the scenario's name in
//! `MCP_CONFORMANCE_SCENARIO` (and the wire version it runs at in
//! `MCP_CONFORMANCE_PROTOCOL_VERSION`, default 2025-11-25). The client behaves the same
//! for every scenario, the way an application would, and the scenario judges what it saw:
//!
//! 1. `initialize` at that version, declaring the `elicitation` (form) capability; the
//!    machine sends `notifications/initialized` itself;
//! 2. it opens the standalone GET stream (an error status only means the server has none):
//!    the `elicitation-sep1034-client-defaults` mock sends its `elicitation/create` with no
//!    related request, which the TypeScript SDK server routes to that stream and drops
//!    when there is none;
//! 3. when the server declares `tools`: `tools/list`, then `tools/call` for every tool
//!    listed, in order, with arguments built from its `inputSchema` (a property's
//!    `default`, else a value of its type: numbers count up from 2, strings are `"test"`);
//! 4. meanwhile, server requests arriving on any SSE stream (as `ClientEvent::Message`)
//!    are answered with a POST (`Client::send`): `elicitation/create` (form mode) is
//!    accepted with the defaults of its `requestedSchema` (SEP-1034), `ping` with `{}`,
//!    `roots/list` with no roots, anything else with `-32601`; lost SSE streams are
//!    resumed by the machine (GET + `Last-Event-ID` after the server's `retry`);
//! 5. the session is closed (a DELETE when there is a session id; any answer is fine).
//!
//! Scenarios it is checked with (0.2.0-alpha.12 and 0.1.16): `initialize`, `tools_call`,
//! `sse-retry`, `elicitation-sep1034-client-defaults` (`tests/interop/run.sh` runs them).
//! An unknown scenario runs the same steps.
//!
//! The machine has no event for "the standalone stream is open", so step 3 does not wait
//! for it: the `tools/list` round trip in between is what makes the GET reach the server
//! before the `tools/call` that makes it send `elicitation/create`.
//!
//! Exit status 0 when every step succeeded (last line `conformance-client: OK ...`), 1
//! otherwise (`conformance-client: FAIL reason`), 2 for bad usage. The exchange log goes
//! to stderr unless `--quiet`.

mod support;

use std::process::ExitCode;
use std::time::Duration;

use http::Uri;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::client::{ClientConfig, ClientEvent};
use mcp_http_proto::wire::jsonrpc::{Message, MessageKind, RequestId};
use mcp_http_proto_driver::exchange::ClientDriver;
use mcp_http_proto_tokio::client::{HyperClient, short};
use serde_json::{Map, Value, json};

const USAGE: &str = "usage: MCP_CONFORMANCE_SCENARIO=NAME conformance_client \
                     [--timeout SECS] [--quiet] [--trace] URL";

/// How long the DELETE may take at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

struct Options {
    url: Uri,
    scenario: String,
    version: ProtocolVersion,
    timeout: Duration,
    quiet: bool,
    trace: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Err(String::new());
    }
    // The suite appends the URL: it is the last argument.
    let url = args.pop().ok_or("no URL given")?;
    let url = url
        .parse::<Uri>()
        .map_err(|e| format!("bad URL {url:?}: {e}"))?;
    let mut timeout = Duration::from_secs(20);
    let mut quiet = false;
    let mut trace = false;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--timeout" => {
                let v = it.next().ok_or("--timeout needs a value")?;
                let secs: f64 = v.parse().map_err(|_| format!("bad timeout {v:?}"))?;
                if !(secs > 0.0 && secs < 86_400.0) {
                    return Err(format!("bad timeout {v:?}"));
                }
                timeout = Duration::from_secs_f64(secs);
            }
            "--quiet" => quiet = true,
            "--trace" => trace = true,
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let version = match std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION") {
        Ok(v) if !v.is_empty() => {
            let version = ProtocolVersion::from_wire(&v)
                .ok_or_else(|| format!("MCP_CONFORMANCE_PROTOCOL_VERSION {v:?}: unknown"))?;
            if !version.is_streamable_http() || !version.has_initialize() {
                return Err(format!(
                    "MCP_CONFORMANCE_PROTOCOL_VERSION {v}: this client speaks \
                     2025-03-26, 2025-06-18 and 2025-11-25"
                ));
            }
            version
        }
        _ => ProtocolVersion::V2025_11_25,
    };
    Ok(Options {
        url,
        scenario,
        version,
        timeout,
        quiet,
        trace,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("conformance-client: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "conformance-client: scenario {:?}, version {}, server {}",
        opts.scenario, opts.version, opts.url
    );
    match run(&opts).await {
        Ok(summary) => {
            println!("conformance-client: OK {summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("conformance-client: FAIL {e}");
            ExitCode::FAILURE
        }
    }
}

/// The application's side of the session: request ids, and what it answered.
#[derive(Default)]
struct App {
    next_id: i64,
    /// Server requests answered.
    answered: u32,
}

async fn run(opts: &Options) -> Result<String, String> {
    let mut config = ClientConfig::new(opts.url.clone());
    config.protocol_version = opts.version;
    let mut driver = HyperClient::new(config)?;
    driver.verbose = !opts.quiet;
    driver.trace_bodies = opts.trace;
    let mut app = App::default();

    let outcome = session(&mut driver, opts, &mut app).await;

    // Close the session whatever happened (a DELETE when there is a session id).
    let closed = close(&mut driver, &mut app).await;
    match (outcome, closed) {
        (Ok(summary), Ok(())) => Ok(summary),
        (Ok(_), Err(e)) | (Err(e), _) => Err(e),
    }
}

async fn session(
    driver: &mut HyperClient,
    opts: &Options,
    app: &mut App,
) -> Result<String, String> {
    // 1. initialize (the machine writes the version and sends notifications/initialized).
    let init = json!({
        "jsonrpc": "2.0",
        "id": app.take_id(),
        "method": "initialize",
        "params": {
            "protocolVersion": opts.version.as_str(),
            "capabilities": {"elicitation": {"form": {}}},
            "clientInfo": {
                "name": "mcp-http-proto-conformance-client",
                "version": env!("CARGO_PKG_VERSION"),
            },
        },
    });
    driver
        .initialize(to_vec(&init))
        .map_err(|e| format!("initialize: {e}"))?;
    let capabilities = loop {
        match next(driver, opts.timeout, "the initialize response").await? {
            ClientEvent::Initialized {
                session,
                version,
                result,
            } => {
                let result = value_of(&result);
                eprintln!(
                    "conformance-client: initialized: version {version}, session {}, server {}",
                    session
                        .as_ref()
                        .map_or("none".to_owned(), |s| short(s.as_str())),
                    result.pointer("/result/serverInfo").unwrap_or(&Value::Null)
                );
                break result
                    .pointer("/result/capabilities")
                    .cloned()
                    .unwrap_or(Value::Null);
            }
            ClientEvent::InitializeFailed { status, error } => {
                return Err(format!(
                    "initialize failed: status {}, error {}",
                    status.map_or("-".to_owned(), |s| s.to_string()),
                    error.as_ref().map_or("-".to_owned(), json_text)
                ));
            }
            other => other_event(driver, other, app)?,
        }
    };

    // 2. the standalone GET stream: servers send requests that belong to no client request
    //    there (the `elicitation-sep1034-client-defaults` mock sends `elicitation/create`
    //    with no related request, which the TypeScript SDK routes to this stream). An
    //    error status (405 and others) only means there is none.
    driver
        .open_standalone_stream()
        .map_err(|e| format!("open the standalone stream: {e}"))?;

    // 3. the tools, when the server has them: list them and call each one.
    if capabilities.get("tools").is_none() {
        return Ok("initialized; the server declares no tools".to_owned());
    }
    let list = request(driver, opts, app, "tools/list", json!({})).await?;
    let tools = list
        .get("tools")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| format!("tools/list result has no tools array: {list}"))?;
    let mut called = Vec::new();
    for tool in &tools {
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("a tool without a name: {tool}"))?;
        let arguments = arguments_for(tool.get("inputSchema").unwrap_or(&Value::Null));
        eprintln!("conformance-client: calling {name} with {arguments}");
        let params = json!({"name": name, "arguments": arguments});
        let result = request(driver, opts, app, "tools/call", params).await?;
        let text = result_text(&result);
        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            return Err(format!("tool {name} returned isError: {text}"));
        }
        eprintln!("conformance-client: {name} -> {text}");
        called.push(name.to_owned());
    }
    Ok(format!(
        "tools called: [{}]; server requests answered: {}",
        called.join(", "),
        app.answered
    ))
}

impl App {
    fn take_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

/// Sends a request and waits for its result, answering server requests meanwhile.
async fn request(
    driver: &mut HyperClient,
    opts: &Options,
    app: &mut App,
    method: &str,
    params: Value,
) -> Result<Value, String> {
    let id = app.take_id();
    let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    driver
        .send(to_vec(&msg))
        .map_err(|e| format!("{method}: {e}"))?;
    let want = RequestId::Number(id);
    let what = format!("the {method} response");
    loop {
        match next(driver, opts.timeout, &what).await? {
            ClientEvent::Response { id, message } if id == want => {
                let v = value_of(&message);
                if let Some(err) = v.get("error") {
                    return Err(format!("{method} failed: {err}"));
                }
                return v
                    .get("result")
                    .cloned()
                    .ok_or_else(|| format!("{method}: response without result: {v}"));
            }
            ClientEvent::RequestFailed { id, reason } if id == want => {
                return Err(format!("{method} failed: {reason:?}"));
            }
            other => other_event(driver, other, app)?,
        }
    }
}

/// Ends the session: a DELETE when there is a session id, answered (with any status)
/// within [`CLOSE_TIMEOUT`].
async fn close(driver: &mut HyperClient, app: &mut App) -> Result<(), String> {
    let had_session = driver.client().session().is_some();
    driver.close().map_err(|e| format!("close: {e}"))?;
    if !had_session {
        return Ok(());
    }
    loop {
        match next(driver, CLOSE_TIMEOUT, "the DELETE response").await? {
            ClientEvent::SessionClosed { status } => {
                eprintln!("conformance-client: session closed (DELETE -> {status})");
                return Ok(());
            }
            other => other_event(driver, other, app)?,
        }
    }
}

/// The next event within `timeout`.
async fn next(
    driver: &mut HyperClient,
    timeout: Duration,
    what: &str,
) -> Result<ClientEvent, String> {
    match tokio::time::timeout(timeout, driver.next_event()).await {
        Ok(Some(event)) => Ok(event),
        Ok(None) => Err(format!("nothing in flight while waiting for {what}")),
        Err(_) => Err(format!("timed out after {timeout:?} waiting for {what}")),
    }
}

/// Events other than the one being waited for: server requests answered, the rest logged.
fn other_event(driver: &mut HyperClient, event: ClientEvent, app: &mut App) -> Result<(), String> {
    match event {
        ClientEvent::Message(message) => server_message(driver, &message, app),
        ClientEvent::Response { id, message } => {
            eprintln!(
                "conformance-client: unexpected response to {id}: {}",
                json_text(&message)
            );
            Ok(())
        }
        ClientEvent::HttpError {
            exchange,
            status,
            error,
        } => {
            eprintln!(
                "conformance-client: exchange #{} got HTTP {status}{}",
                exchange.as_u64(),
                error
                    .map(|m| format!(": {}", json_text(&m)))
                    .unwrap_or_default()
            );
            Ok(())
        }
        other => {
            eprintln!("conformance-client: event {other:?}");
            Ok(())
        }
    }
}

/// A server request, answered with a POST; or a notification, logged.
fn server_message(
    driver: &mut HyperClient,
    message: &Message,
    app: &mut App,
) -> Result<(), String> {
    let v = value_of(message);
    match message.kind() {
        MessageKind::Request => {
            let id = v.get("id").cloned().unwrap_or(Value::Null);
            let method = message.method().unwrap_or("");
            let params = v.get("params").cloned().unwrap_or(Value::Null);
            eprintln!("conformance-client: server request {method} (id {id})");
            let outcome = match method {
                "ping" => Ok(json!({})),
                "roots/list" => Ok(json!({"roots": []})),
                "elicitation/create" => Ok(elicit(&params)),
                _ => Err(json!({"code": -32601, "message": format!("Method not found: {method}")})),
            };
            let reply = match outcome {
                Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
            };
            eprintln!("conformance-client: answering {method}: {reply}");
            driver
                .send(to_vec(&reply))
                .map_err(|e| format!("answer the server's {method}: {e}"))?;
            app.answered += 1;
            Ok(())
        }
        MessageKind::Notification => {
            eprintln!("conformance-client: notification {}", json_text(message));
            Ok(())
        }
        _ => {
            eprintln!("conformance-client: message {}", json_text(message));
            Ok(())
        }
    }
}

/// The answer to `elicitation/create`: a form is accepted with the default of every
/// property that has one (SEP-1034), as a user who accepts the prefilled form would; a
/// URL-mode request is declined (there is no user to open it).
fn elicit(params: &Value) -> Value {
    if params.get("mode").and_then(Value::as_str) == Some("url") {
        return json!({"action": "decline"});
    }
    let mut content = Map::new();
    if let Some(props) = params
        .pointer("/requestedSchema/properties")
        .and_then(Value::as_object)
    {
        for (name, schema) in props {
            if let Some(default) = schema.get("default") {
                content.insert(name.clone(), default.clone());
            }
        }
    }
    json!({"action": "accept", "content": content})
}

/// Tool arguments from an `inputSchema`: every property, with its `default` when it has
/// one, else a value of its type (numbers count up from 2, so a sum is not trivial).
fn arguments_for(schema: &Value) -> Value {
    let mut args = Map::new();
    let mut n = 2;
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let value = prop.get("default").cloned().unwrap_or_else(|| {
                let first_enum = prop
                    .get("enum")
                    .and_then(Value::as_array)
                    .and_then(|e| e.first());
                if let Some(v) = first_enum {
                    return v.clone();
                }
                match prop.get("type").and_then(Value::as_str) {
                    Some("number" | "integer") => {
                        n += 1;
                        json!(n - 1)
                    }
                    Some("boolean") => json!(true),
                    Some("array") => json!([]),
                    Some("object") => json!({}),
                    Some("null") => Value::Null,
                    _ => json!("test"),
                }
            });
            args.insert(name.clone(), value);
        }
    }
    Value::Object(args)
}

/// The text items of a `CallToolResult`, joined.
fn result_text(result: &Value) -> String {
    result
        .get("content")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(|item| item.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

fn value_of(message: &Message) -> Value {
    serde_json::from_slice(message.json()).unwrap_or(Value::Null)
}

fn json_text(message: &Message) -> String {
    String::from_utf8_lossy(message.json()).into_owned()
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("a serde_json::Value always serializes")
}
