//! An MCP server with every fixture the official conformance suite
//! (`@modelcontextprotocol/conformance`, server mode) expects, on the generic hyper
//! driver (`mcp-http-proto-tokio`, `drivers/tokio`).
//!
//! ```text
//! cargo run --example conformance_server -- [--port N] [--stateless]
//! ```
//!
//! - `--port N`: the port on 127.0.0.1 (default 0: a free one). Loopback only.
//! - `--stateless`: no sessions (GET and DELETE get 405).
//!
//! Prints `listening on http://127.0.0.1:PORT/mcp` on stdout, then one log line per HTTP
//! request on stderr. Then run, for example:
//!
//! ```text
//! tests/interop/conformance.sh http://127.0.0.1:PORT/mcp --requirements 2025-11-25
//! ```
//!
//! Fixtures (the names and texts the suite checks):
//! - tools: `test_simple_text`, `test_image_content`, `test_audio_content`,
//!   `test_embedded_resource`, `test_multiple_content_types`, `test_tool_with_logging`,
//!   `test_error_handling`, `test_tool_with_progress`, `test_sampling`,
//!   `test_elicitation`, `test_elicitation_sep1034_defaults`,
//!   `test_elicitation_sep1330_enums`, `test_reconnection`, `json_schema_2020_12_tool`;
//! - resources: `test://static-text`, `test://static-binary`, `test://watched-resource`
//!   (subscribe / unsubscribe), the template `test://template/{id}/data`; an unknown URI
//!   is `-32602` with the URI in `data`;
//! - prompts: `test_simple_prompt`, `test_prompt_with_arguments`,
//!   `test_prompt_with_embedded_resource`, `test_prompt_with_image`;
//! - `logging/setLevel` (per session; log notifications below the level are not sent),
//!   `completion/complete`, `ping`.
//!
//! Sampling and elicitation go to the client as requests on the `tools/call` stream
//! (`SRV-PSSE-2`) with [`Replier::request`]; the machine routes the client's answer back
//! (`Accepted::answers`).

mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use mcp_http_proto::server::UsageError;
use mcp_http_proto::server::{ParamHeaders, ServerConfig};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::{
    INVALID_PARAMS, METHOD_NOT_FOUND, MISSING_REQUIRED_CLIENT_CAPABILITY, Message,
};
use mcp_http_proto_tokio::server::{self as hyper_server, App, Call, Context, ServerInfo};

/// The request's handle on its stream.
type Replier = Context;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const USAGE: &str = "usage: conformance_server [--port N] [--stateless]";

/// A 1x1 red PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A WAV header with no samples (8 kHz, mono, 8 bits).
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";

/// The log levels, least severe first (RFC 5424 as MCP names them).
const LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

struct Options {
    port: u16,
    stateless: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options {
        port: 0,
        stateless: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let v = args.next().ok_or("--port needs a value")?;
                opts.port = v.parse().map_err(|_| format!("bad port {v:?}"))?;
            }
            "--stateless" => opts.stateless = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(opts)
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .try_init();
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut config = if opts.stateless {
        ServerConfig::stateless()
    } else {
        ServerConfig::default()
    };
    // The machine checks 2026-07-28 `Mcp-Param-*` headers against the tools' annotations.
    config.param_headers = match ParamHeaders::from_tools(&tools_list()["tools"]) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tools/list: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", opts.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{}: {e}", opts.port);
            return ExitCode::FAILURE;
        }
    };
    let port = match listener.local_addr() {
        Ok(a) => a.port(),
        Err(e) => {
            eprintln!("local address: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(
        stdout,
        "listening on http://127.0.0.1:{port}{}",
        hyper_server::ENDPOINT
    );
    let _ = stdout.flush();
    eprintln!(
        "conformance server, {}",
        if opts.stateless {
            "stateless"
        } else {
            "stateful"
        }
    );
    hyper_server::serve_with(listener, config, Conformance::default()).await;
    ExitCode::SUCCESS
}

/// What the server keeps per session.
#[derive(Debug, Default)]
struct SessionState {
    /// The index in [`LEVELS`] of the least severe level to send; none set: all.
    min_level: usize,
    subscriptions: BTreeSet<String>,
}

#[derive(Default)]
struct Conformance {
    sessions: Mutex<HashMap<SessionId, SessionState>>,
}

/// A JSON-RPC error: code, message, data.
type RpcError = (i32, String, Option<Value>);

fn invalid_params(message: impl Into<String>) -> RpcError {
    (INVALID_PARAMS, message.into(), None)
}

impl App for Conformance {
    fn info(&self) -> ServerInfo {
        ServerInfo::new("mcp-http-proto-conformance", env!("CARGO_PKG_VERSION"))
            .with_capabilities(json!({
                "tools": {"listChanged": false},
                "resources": {"subscribe": true, "listChanged": false},
                "prompts": {"listChanged": false},
                "logging": {},
                "completions": {},
            }))
            .with_instructions("The conformance-suite fixtures over mcp-http-proto.")
    }

    async fn call(&self, call: Call, replier: Context) -> Result<Value, hyper_server::RpcError> {
        let (method, params) = (call.method.as_str(), &call.params);
        let session = call.session.clone();
        let result = match method {
            "ping" => Ok(json!({})),
            "tools/list" => Ok(tools_list()),
            "tools/call" => self.tools_call(params, session.as_ref(), &replier).await,
            "resources/list" => Ok(resources_list()),
            "resources/templates/list" => Ok(resource_templates_list()),
            "resources/read" => resources_read(params),
            "resources/subscribe" | "resources/unsubscribe" => {
                self.subscription(method, params, session.as_ref())
            }
            "prompts/list" => Ok(prompts_list()),
            "prompts/get" if params["name"] == support::mrtr::PROMPT => {
                support::mrtr::get_prompt(params).map_err(|(code, message)| (code, message, None))
            }
            "prompts/get" => prompts_get(params),
            "logging/setLevel" => self.set_level(params, session.as_ref()),
            "completion/complete" => Ok(complete(params)),
            other => Err((METHOD_NOT_FOUND, format!("method not found: {other}"), None)),
        };
        result.map_err(|(code, message, data)| hyper_server::RpcError {
            code,
            message,
            data,
        })
    }

    fn notification(&self, m: &Message, session: Option<&SessionId>) {
        if m.kind().is_response() {
            eprintln!(
                "unmatched answer {:?} (session {:?})",
                m.id(),
                session.map(SessionId::as_str)
            );
        }
        // notifications/initialized, notifications/cancelled ...: nothing to do.
    }
}

// ----- tools -----

fn no_args(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": {}},
    })
}

/// The severity rank of a log level (`debug` lowest).
fn rank(level: &str) -> usize {
    LEVELS.iter().position(|l| *l == level).unwrap_or(0)
}

fn tools_list() -> Value {
    let mut v = json!({"tools": [
        {
            "name": "test_header_param",
            "description": "2026-07-28: its region argument travels in Mcp-Param-Region too (x-mcp-header).",
            "inputSchema": {
                "type": "object",
                "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
                "required": ["region"],
            },
        },
        no_args("test_trigger_tool_change", "2026-07-28: announces a tools/list change to listen streams."),
        no_args("test_trigger_prompt_change", "2026-07-28: announces a prompts/list change to listen streams."),
        no_args("test_missing_capability", "2026-07-28: needs the client's sampling capability (-32021 without it)."),
        no_args("test_logging_tool", "2026-07-28: logs once, only when the request's _meta sets a logLevel."),
        no_args("test_streaming_elicitation", "2026-07-28: asks for confirmation with an InputRequiredResult."),
        no_args("test_simple_text", "Returns a simple text."),
        no_args("test_image_content", "Returns an image (a 1x1 PNG)."),
        no_args("test_audio_content", "Returns audio (a short WAV)."),
        no_args("test_embedded_resource", "Returns an embedded text resource."),
        no_args("test_multiple_content_types", "Returns text, an image and a resource."),
        no_args("test_tool_with_logging", "Sends three info log notifications while it runs."),
        no_args("test_error_handling", "Always fails, with isError."),
        no_args("test_tool_with_progress", "Reports progress 0, 50, 100 of 100."),
        {
            "name": "test_sampling",
            "description": "Asks the client to sample an LLM (sampling/createMessage).",
            "inputSchema": {
                "type": "object",
                "properties": {"prompt": {"type": "string", "description": "The prompt for the LLM"}},
                "required": ["prompt"],
            },
        },
        {
            "name": "test_elicitation",
            "description": "Asks the user for input (elicitation/create).",
            "inputSchema": {
                "type": "object",
                "properties": {"message": {"type": "string", "description": "The message to show the user"}},
                "required": ["message"],
            },
        },
        no_args("test_elicitation_sep1034_defaults", "Elicitation with defaults for every primitive type (SEP-1034)."),
        no_args("test_elicitation_sep1330_enums", "Elicitation with the five enum variants (SEP-1330)."),
        no_args("test_reconnection", "Closes the connection after the priming event, then answers; the client resumes to get the result (SEP-1699)."),
        {
            "name": "json_schema_2020_12_tool",
            "description": "A tool whose inputSchema uses JSON Schema 2020-12 keywords (SEP-1613, SEP-2106).",
            "inputSchema": json_schema_2020_12(),
        },
    ]});
    if let Some(tools) = v["tools"].as_array_mut() {
        tools.extend(support::mrtr::tool_entries());
    }
    v
}

fn json_schema_2020_12() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
            },
        },
        "properties": {
            "name": {"type": "string"},
            "address": {"$ref": "#/$defs/address"},
            "contactMethod": {"type": "string", "enum": ["phone", "email"]},
            "phone": {"type": "string"},
            "email": {"type": "string"},
        },
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": false,
    })
}

fn text(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

fn content(items: Vec<Value>) -> Value {
    json!({"content": items})
}

impl Conformance {
    async fn tools_call(
        &self,
        params: &Value,
        session: Option<&SessionId>,
        replier: &Replier,
    ) -> Result<Value, RpcError> {
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_params("tools/call: params.name must be a string"))?;
        let args = params.get("arguments").cloned().unwrap_or(Value::Null);
        let meta = params.get("_meta").unwrap_or(&Value::Null);
        let progress_token = meta.get("progressToken").cloned();
        // A 2026-07-28 request carries its client's capabilities and log level in `_meta`
        // (no session holds them): it gets log messages only when it asked for them.
        let modern = meta
            .get("io.modelcontextprotocol/protocolVersion")
            .is_some();
        let modern_level = meta
            .get("io.modelcontextprotocol/logLevel")
            .and_then(Value::as_str);
        let log = |level: &str, message: &str| match (modern, modern_level) {
            (false, _) => self.log(replier, session, level, message),
            (true, Some(floor)) if rank(level) >= rank(floor) => {
                let _ = replier.notify(
                    "notifications/message",
                    json!({"level": level, "logger": "conformance", "data": message}),
                );
            }
            (true, _) => {}
        };
        if let Some(r) = support::mrtr::call_tool(name, params) {
            return r.map_err(|(code, message)| (code, message, None));
        }
        Ok(match name {
            // The 2026-07-28 diagnostics of the suite's server-stateless scenario.
            "test_missing_capability" => {
                let declared = &meta["io.modelcontextprotocol/clientCapabilities"];
                if modern && declared.get("sampling").is_none() {
                    return Err((
                        MISSING_REQUIRED_CLIENT_CAPABILITY,
                        "test_missing_capability needs the client's sampling capability".into(),
                        Some(json!({"requiredCapabilities": {"sampling": {}}})),
                    ));
                }
                content(vec![text("the client declared sampling")])
            }
            "test_header_param" => {
                let region = args
                    .get("region")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                content(vec![text(&format!("region: {region}"))])
            }
            // The suite's hooks for subscriptions/listen (N26-18).
            "test_trigger_tool_change" => {
                let n = replier.publish("notifications/tools/list_changed", None);
                content(vec![text(&format!("told {n} listener(s)"))])
            }
            "test_trigger_prompt_change" => {
                let n = replier.publish("notifications/prompts/list_changed", None);
                content(vec![text(&format!("told {n} listener(s)"))])
            }
            "test_logging_tool" => {
                log("info", "test_logging_tool ran");
                content(vec![text("logged only if asked to")])
            }
            "test_streaming_elicitation" => match params.get("inputResponses") {
                // `N26-2`: the question goes back as an InputRequiredResult, never as a
                // request of the server on the stream; the retry carries the answer.
                Some(answers) => content(vec![text(&format!("answered: {answers}"))]),
                None => json!({
                    "resultType": "input_required",
                    "inputRequests": {"confirm": {
                        "method": "elicitation/create",
                        "params": {
                            "mode": "form",
                            "message": "Confirm to continue",
                            "requestedSchema": {
                                "type": "object",
                                "properties": {"ok": {"type": "boolean"}},
                                "required": ["ok"],
                            },
                        },
                    }},
                }),
            },
            "test_simple_text" => {
                content(vec![text("This is a simple text response for testing.")])
            }
            "test_image_content" => content(vec![
                json!({"type": "image", "data": PNG, "mimeType": "image/png"}),
            ]),
            "test_audio_content" => content(vec![
                json!({"type": "audio", "data": WAV, "mimeType": "audio/wav"}),
            ]),
            "test_embedded_resource" => content(vec![json!({
                "type": "resource",
                "resource": {
                    "uri": "test://embedded-resource",
                    "mimeType": "text/plain",
                    "text": "This is an embedded resource content.",
                },
            })]),
            "test_multiple_content_types" => content(vec![
                text("Multiple content types test:"),
                json!({"type": "image", "data": PNG, "mimeType": "image/png"}),
                json!({
                    "type": "resource",
                    "resource": {
                        "uri": "test://mixed-content-resource",
                        "mimeType": "application/json",
                        "text": "{\"test\":\"data\",\"value\":123}",
                    },
                }),
            ]),
            "test_tool_with_logging" => {
                for (i, message) in [
                    "Tool execution started",
                    "Tool processing data",
                    "Tool execution completed",
                ]
                .into_iter()
                .enumerate()
                {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    log("info", message);
                }
                content(vec![text("Tool with logging executed successfully")])
            }
            "test_error_handling" => json!({
                "isError": true,
                "content": [text("This tool intentionally returns an error for testing")],
            }),
            "test_tool_with_progress" => {
                for (i, progress) in [0, 50, 100].into_iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    if let Some(token) = &progress_token {
                        let _ = replier.notify(
                            "notifications/progress",
                            json!({"progressToken": token, "progress": progress, "total": 100}),
                        );
                    }
                }
                content(vec![text("Tool with progress executed successfully")])
            }
            "test_sampling" => {
                let prompt = args
                    .get("prompt")
                    .and_then(Value::as_str)
                    .unwrap_or("Hello");
                let params = json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                    "maxTokens": 100,
                });
                match ask(replier, "sampling/createMessage", params).await {
                    Ok(result) => {
                        let answer = result
                            .get("content")
                            .and_then(|c| c.get("text"))
                            .and_then(Value::as_str)
                            .map_or_else(|| result.to_string(), str::to_owned);
                        content(vec![text(&format!("LLM response: {answer}"))])
                    }
                    Err(e) => tool_error(&format!("sampling failed: {e}")),
                }
            }
            "test_elicitation" => {
                let message = args
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("Please provide your information");
                let params = json!({
                    "message": message,
                    "requestedSchema": {
                        "type": "object",
                        "properties": {
                            "username": {"type": "string", "description": "User's response"},
                            "email": {"type": "string", "description": "User's email address"},
                        },
                        "required": ["username", "email"],
                    },
                });
                match ask(replier, "elicitation/create", params).await {
                    Ok(result) => content(vec![text(&format!(
                        "User response: action={}, content={}",
                        result.get("action").and_then(Value::as_str).unwrap_or("?"),
                        result.get("content").unwrap_or(&Value::Null)
                    ))]),
                    Err(e) => tool_error(&format!("elicitation failed: {e}")),
                }
            }
            "test_elicitation_sep1034_defaults" => {
                let params = json!({
                    "message": "Please review and update the form fields with defaults",
                    "requestedSchema": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "description": "User name", "default": "John Doe"},
                            "age": {"type": "integer", "description": "User age", "default": 30},
                            "score": {"type": "number", "description": "User score", "default": 95.5},
                            "status": {
                                "type": "string",
                                "description": "User status",
                                "enum": ["active", "inactive", "pending"],
                                "default": "active",
                            },
                            "verified": {"type": "boolean", "description": "Verification status", "default": true},
                        },
                        "required": [],
                    },
                });
                elicitation_completed(ask(replier, "elicitation/create", params).await)
            }
            "test_elicitation_sep1330_enums" => {
                let params = json!({
                    "message": "Please select options from the enum fields",
                    "requestedSchema": {
                        "type": "object",
                        "properties": {
                            "untitledSingle": {
                                "type": "string",
                                "description": "Select one option",
                                "enum": ["option1", "option2", "option3"],
                            },
                            "titledSingle": {
                                "type": "string",
                                "description": "Select one option with titles",
                                "oneOf": [
                                    {"const": "value1", "title": "First Option"},
                                    {"const": "value2", "title": "Second Option"},
                                    {"const": "value3", "title": "Third Option"},
                                ],
                            },
                            "legacyEnum": {
                                "type": "string",
                                "description": "Select one option (legacy)",
                                "enum": ["opt1", "opt2", "opt3"],
                                "enumNames": ["Option One", "Option Two", "Option Three"],
                            },
                            "untitledMulti": {
                                "type": "array",
                                "description": "Select multiple options",
                                "minItems": 1,
                                "maxItems": 3,
                                "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                            },
                            "titledMulti": {
                                "type": "array",
                                "description": "Select multiple options with titles",
                                "minItems": 1,
                                "maxItems": 3,
                                "items": {
                                    "anyOf": [
                                        {"const": "value1", "title": "First Choice"},
                                        {"const": "value2", "title": "Second Choice"},
                                        {"const": "value3", "title": "Third Choice"},
                                    ],
                                },
                            },
                        },
                        "required": [],
                    },
                });
                elicitation_completed(ask(replier, "elicitation/create", params).await)
            }
            "test_reconnection" => test_reconnection(replier).await,
            "json_schema_2020_12_tool" => content(vec![text(&format!(
                "json_schema_2020_12_tool called with {args}"
            ))]),
            other => return Err(invalid_params(format!("unknown tool: {other}"))),
        })
    }

    /// Sends a log notification on the request's stream, unless the session's level
    /// filters it out.
    fn log(&self, replier: &Replier, session: Option<&SessionId>, level: &str, data: &str) {
        let rank = rank(level);
        let min = session
            .and_then(|s| self.lock().get(s).map(|st| st.min_level))
            .unwrap_or(0);
        if rank < min {
            return;
        }
        let _ = replier.notify(
            "notifications/message",
            json!({"level": level, "logger": "conformance", "data": data}),
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, SessionState>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_level(&self, params: &Value, session: Option<&SessionId>) -> Result<Value, RpcError> {
        let level = params
            .get("level")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_params("logging/setLevel: params.level must be a string"))?;
        let rank = LEVELS
            .iter()
            .position(|l| *l == level)
            .ok_or_else(|| invalid_params(format!("unknown log level {level:?}")))?;
        if let Some(s) = session {
            self.lock().entry(s.clone()).or_default().min_level = rank;
        }
        Ok(json!({}))
    }

    fn subscription(
        &self,
        method: &str,
        params: &Value,
        session: Option<&SessionId>,
    ) -> Result<Value, RpcError> {
        let uri = params
            .get("uri")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_params(format!("{method}: params.uri must be a string")))?;
        if let Some(s) = session {
            let mut sessions = self.lock();
            let st = sessions.entry(s.clone()).or_default();
            if method == "resources/subscribe" {
                st.subscriptions.insert(uri.to_owned());
            } else {
                st.subscriptions.remove(uri);
            }
        }
        Ok(json!({}))
    }
}

/// Sends a request to the client on the request's stream and waits for its answer; a
/// JSON-RPC error answer is an error here.
async fn ask(replier: &Replier, method: &str, params: Value) -> Result<Value, String> {
    let answer = replier
        .request(method, params)
        .await
        .map_err(|e| e.to_string())?;
    let mut v: Value = serde_json::from_slice(answer.json()).map_err(|e| e.to_string())?;
    if let Some(error) = v.get("error") {
        return Err(format!("the client answered with an error: {error}"));
    }
    Ok(v.get_mut("result").map(Value::take).unwrap_or(Value::Null))
}

fn elicitation_completed(answer: Result<Value, String>) -> Value {
    match answer {
        Ok(result) => content(vec![text(&format!(
            "Elicitation completed: action={}, content={}",
            result.get("action").and_then(Value::as_str).unwrap_or("?"),
            result.get("content").unwrap_or(&json!({}))
        ))]),
        Err(e) => tool_error(&format!("elicitation failed: {e}")),
    }
}

fn tool_error(message: &str) -> Value {
    json!({"isError": true, "content": [text(message)]})
}

/// Closes the connection of the request's stream before the result exists, so the
/// client must resume (GET + `Last-Event-ID`) to get it (`SRV-PSSE-10`).
async fn test_reconnection(replier: &Replier) -> Value {
    let closed = match replier.close_connection() {
        Ok(()) => true,
        Err(UsageError::NotResumable(_)) => false,
        Err(e) => {
            eprintln!("test_reconnection: {e}");
            false
        }
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    content(vec![text(if closed {
        "Reconnection test completed"
    } else {
        "Reconnection test completed (the stream was not resumable)"
    })])
}

// ----- resources -----

fn resources_list() -> Value {
    json!({"resources": [
        {
            "uri": "test://static-text",
            "name": "static-text",
            "title": "Static text",
            "description": "A static text resource for testing",
            "mimeType": "text/plain",
        },
        {
            "uri": "test://static-binary",
            "name": "static-binary",
            "title": "Static binary",
            "description": "A static binary resource (a PNG) for testing",
            "mimeType": "image/png",
        },
        {
            "uri": "test://watched-resource",
            "name": "watched-resource",
            "title": "Watched resource",
            "description": "A resource to subscribe to",
            "mimeType": "text/plain",
        },
    ]})
}

fn resource_templates_list() -> Value {
    json!({"resourceTemplates": [{
        "uriTemplate": "test://template/{id}/data",
        "name": "template-data",
        "title": "Template data",
        "description": "A resource template with an {id} parameter",
        "mimeType": "application/json",
    }]})
}

fn resources_read(params: &Value) -> Result<Value, RpcError> {
    let uri = params
        .get("uri")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_params("resources/read: params.uri must be a string"))?;
    let one = |c: Value| Ok(json!({"contents": [c]}));
    match uri {
        "test://static-text" => one(json!({
            "uri": uri,
            "mimeType": "text/plain",
            "text": "This is the content of the static text resource.",
        })),
        "test://static-binary" => one(json!({"uri": uri, "mimeType": "image/png", "blob": PNG})),
        "test://watched-resource" => one(json!({
            "uri": uri,
            "mimeType": "text/plain",
            "text": "Watched resource content.",
        })),
        _ => {
            let id = uri
                .strip_prefix("test://template/")
                .and_then(|rest| rest.strip_suffix("/data"))
                .filter(|id| !id.is_empty() && !id.contains('/'));
            match id {
                Some(id) => one(json!({
                    "uri": uri,
                    "mimeType": "application/json",
                    "text": json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")}).to_string(),
                })),
                None => Err((
                    INVALID_PARAMS,
                    "Resource not found".to_owned(),
                    Some(json!({"uri": uri})),
                )),
            }
        }
    }
}

// ----- prompts and completion -----

fn prompts_list() -> Value {
    json!({"prompts": [
        {"name": support::mrtr::PROMPT, "description": "2026-07-28: asks for its context with an InputRequiredResult (SEP-2322)."},
        {"name": "test_simple_prompt", "description": "A simple prompt without arguments"},
        {
            "name": "test_prompt_with_arguments",
            "description": "A prompt with two required arguments",
            "arguments": [
                {"name": "arg1", "description": "First test argument", "required": true},
                {"name": "arg2", "description": "Second test argument", "required": true},
            ],
        },
        {
            "name": "test_prompt_with_embedded_resource",
            "description": "A prompt embedding a resource",
            "arguments": [
                {"name": "resourceUri", "description": "URI of the resource to embed", "required": true},
            ],
        },
        {"name": "test_prompt_with_image", "description": "A prompt with an image"},
    ]})
}

fn user(content: Value) -> Value {
    json!({"role": "user", "content": content})
}

fn prompts_get(params: &Value) -> Result<Value, RpcError> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_params("prompts/get: params.name must be a string"))?;
    let arg = |k: &str| {
        params
            .get("arguments")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let messages = match name {
        "test_simple_prompt" => vec![user(text("This is a simple prompt for testing."))],
        "test_prompt_with_arguments" => {
            let (Some(a1), Some(a2)) = (arg("arg1"), arg("arg2")) else {
                return Err(invalid_params("arguments arg1 and arg2 are required"));
            };
            vec![user(text(&format!(
                "Prompt with arguments: arg1='{a1}', arg2='{a2}'"
            )))]
        }
        "test_prompt_with_embedded_resource" => {
            let Some(uri) = arg("resourceUri") else {
                return Err(invalid_params("argument resourceUri is required"));
            };
            vec![
                user(json!({
                    "type": "resource",
                    "resource": {
                        "uri": uri,
                        "mimeType": "text/plain",
                        "text": "Embedded resource content for testing.",
                    },
                })),
                user(text("Please process the embedded resource above.")),
            ]
        }
        "test_prompt_with_image" => vec![
            user(json!({"type": "image", "data": PNG, "mimeType": "image/png"})),
            user(text("Please analyze the image above.")),
        ],
        other => return Err(invalid_params(format!("unknown prompt: {other}"))),
    };
    Ok(json!({"messages": messages}))
}

fn complete(params: &Value) -> Value {
    let prefix = params
        .get("argument")
        .and_then(|a| a.get("value"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let values: Vec<&str> = ["paris", "park", "party", "test", "testing"]
        .into_iter()
        .filter(|v| v.starts_with(prefix))
        .collect();
    json!({"completion": {"values": values, "total": values.len(), "hasMore": false}})
}
