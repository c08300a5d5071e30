//! A client for the official MCP conformance suite in client mode
//! (`npm @modelcontextprotocol/conformance`), on the async client library
//! (`mcp_http_proto_tokio::client::McpClient`, hyper + tokio).
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
//!    machine sends `notifications/initialized` itself. At 2026-07-28 it connects in
//!    `ClientMode::Auto` instead: `server/discover` with that capability in `_meta`, and
//!    every request after it with `_meta`, `Mcp-Method`, `Mcp-Name` and the
//!    `Mcp-Param-*` headers of the tools' `x-mcp-header` annotations (tools whose
//!    annotations are invalid are dropped from `tools/list`, so never called);
//! 2. the library opens the standalone GET stream as soon as the session is initialized
//!    (an error status only means the server has none): the
//!    `elicitation-sep1034-client-defaults` mock sends its `elicitation/create` with no
//!    related request, which the TypeScript SDK server routes to that stream and drops
//!    when there is none;
//! 3. when the server declares `tools`: `tools/list`, then `tools/call` for every tool
//!    listed, in order, with arguments built from its `inputSchema` (a property's
//!    `default`, else a value of its type: numbers count up from 2, strings are `"test"`);
//!    when the scenario names the calls to make (`toolCalls` in the JSON of
//!    `MCP_CONFORMANCE_CONTEXT`), those instead, for the tools still listed;
//! 4. meanwhile, a task answers the server requests arriving on any SSE stream
//!    (`McpClient::next_message`, `McpClient::respond`): `elicitation/create` (form mode) is
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
//! for it: the GET goes out with `notifications/initialized`, before `tools/list`, and the
//! `tools/list` round trip is what makes it reach the server before the `tools/call` that
//! makes it send `elicitation/create`.
//!
//! Exit status 0 when every step succeeded (last line `conformance-client: OK ...`), 1
//! otherwise (`conformance-client: FAIL reason`), 2 for bad usage. The exchange log goes
//! to stderr unless `--quiet`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use http::Uri;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::client::ClientMode;
use mcp_http_proto::wire::jsonrpc::METHOD_NOT_FOUND;
use mcp_http_proto_tokio::client::{
    Incoming, Log, McpClient, Options as LibOptions, RpcError, tool_text,
};
use serde_json::{Map, Value, json};

const USAGE: &str = "usage: MCP_CONFORMANCE_SCENARIO=NAME conformance_client \
                     [--timeout SECS] [--quiet] [--trace] URL";

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
            if !version.is_streamable_http() {
                return Err(format!(
                    "MCP_CONFORMANCE_PROTOCOL_VERSION {v}: this client speaks \
                     2025-03-26, 2025-06-18, 2025-11-25 and 2026-07-28"
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

async fn run(opts: &Options) -> Result<String, String> {
    // 1. initialize, declaring elicitation (form); the machine writes the version and
    //    sends notifications/initialized; the library opens the standalone GET stream.
    let mut options = LibOptions::new(opts.url.clone());
    if opts.version.has_initialize() {
        options.config.protocol_version = opts.version;
    } else {
        // 2026-07-28: connect the way a dual-era client does, with server/discover.
        options.config.mode = ClientMode::Auto;
    }
    options.request_timeout = opts.timeout;
    options.client_name = "mcp-http-proto-conformance-client".to_owned();
    options.capabilities = json!({"elicitation": {"form": {}}});
    options.log = Log {
        verbose: !opts.quiet,
        trace_bodies: opts.trace,
    };
    let client = McpClient::connect_with(options)
        .await
        .map_err(|e| format!("initialize: {e}"))?;
    let info = client.session_info();
    eprintln!(
        "conformance-client: initialized: version {}, server {}",
        info.version,
        info.result.get("serverInfo").unwrap_or(&Value::Null)
    );

    // 4. server requests, answered meanwhile.
    let answered = Arc::new(AtomicU32::new(0));
    let reader = tokio::spawn({
        let (client, answered) = (client.clone(), answered.clone());
        async move {
            while let Some(incoming) = client.next_message().await {
                server_message(&client, incoming, &answered).await;
            }
        }
    });

    let outcome = tools(&client, info.result.get("capabilities")).await;

    // 5. close, whatever happened (a DELETE when there is a session id).
    let closed = client.close().await.map_err(|e| format!("close: {e}"));
    let _ = tokio::time::timeout(opts.timeout, reader).await;
    let summary = outcome?;
    closed?;
    Ok(format!(
        "{summary}; server requests answered: {}",
        answered.load(Ordering::SeqCst)
    ))
}

/// 3. The tools, when the server has them: list them and call each one.
async fn tools(client: &McpClient, capabilities: Option<&Value>) -> Result<String, String> {
    if capabilities.and_then(|c| c.get("tools")).is_none() {
        return Ok("initialized; the server declares no tools".to_owned());
    }
    let tools = client
        .list_tools()
        .await
        .map_err(|e| format!("tools/list: {e}"))?;
    // The scenario may say which calls to make (MCP_CONFORMANCE_CONTEXT's `toolCalls`):
    // those, for the tools still listed; else every listed tool with made-up arguments.
    let mut plan: Vec<(String, Value)> = Vec::new();
    for tool in &tools {
        let name = tool
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("a tool without a name: {tool}"))?;
        let arguments = arguments_for(tool.get("inputSchema").unwrap_or(&Value::Null));
        plan.push((name.to_owned(), arguments));
    }
    if let Some(calls) = context_calls() {
        let listed: Vec<String> = plan.into_iter().map(|(n, _)| n).collect();
        plan = calls
            .into_iter()
            .filter(|(name, _)| {
                let kept = listed.contains(name);
                if !kept {
                    eprintln!("conformance-client: {name} is not listed; not called");
                }
                kept
            })
            .collect();
    }
    let mut called = Vec::new();
    for (name, arguments) in plan {
        let name = name.as_str();
        eprintln!("conformance-client: calling {name} with {arguments}");
        let result = client
            .call_tool(name, arguments)
            .await
            .map_err(|e| format!("tools/call {name}: {e}"))?;
        let text = tool_text(&result);
        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            return Err(format!("tool {name} returned isError: {text}"));
        }
        eprintln!("conformance-client: {name} -> {text}");
        called.push(name.to_owned());
    }
    Ok(format!("tools called: [{}]", called.join(", ")))
}

/// The `toolCalls` of `MCP_CONFORMANCE_CONTEXT` (`[{name, arguments}]`), when the
/// scenario gives them.
fn context_calls() -> Option<Vec<(String, Value)>> {
    let context: Value =
        serde_json::from_str(&std::env::var("MCP_CONFORMANCE_CONTEXT").ok()?).ok()?;
    let calls = context.get("toolCalls")?.as_array()?;
    Some(
        calls
            .iter()
            .filter_map(|c| {
                let name = c.get("name")?.as_str()?.to_owned();
                Some((name, c.get("arguments").cloned().unwrap_or(Value::Null)))
            })
            .collect(),
    )
}

/// A server request, answered; or a notification, logged.
async fn server_message(client: &McpClient, incoming: Incoming, answered: &AtomicU32) {
    let request = match incoming {
        Incoming::Request(r) => r,
        other => return eprintln!("conformance-client: {other:?}"),
    };
    let method = request.method.as_str();
    eprintln!(
        "conformance-client: server request {method} (id {})",
        request.id
    );
    let outcome = match method {
        "ping" => Ok(json!({})),
        "roots/list" => Ok(json!({"roots": []})),
        "elicitation/create" => Ok(elicit(&request.params)),
        _ => Err(RpcError::new(
            METHOD_NOT_FOUND.into(),
            format!("Method not found: {method}"),
        )),
    };
    eprintln!("conformance-client: answering {method}: {outcome:?}");
    match client.respond(&request.id, outcome).await {
        Ok(()) => {
            answered.fetch_add(1, Ordering::SeqCst);
        }
        Err(e) => eprintln!("conformance-client: answer the server's {method}: {e}"),
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
