//! An MCP client on rmcp (the official Rust SDK), for interop tests of our server.
//!
//! ```text
//! rmcp_client URL [--lifecycle initialize|discover|auto] [--init-version V]
//!     [--call TOOL] [--arg KEY=VALUE ...] [--expect TEXT] [--expect-version V]
//!     [--pause SECS] [--timeout SECS]
//! ```
//!
//! - `--lifecycle`: rmcp's `ClientLifecycleMode`. `initialize` (the default) is the
//!   session-era handshake; `discover` sends `server/discover` preferring 2026-07-28 and
//!   does not fall back; `auto` probes with `server/discover` (2026-07-28) and falls back
//!   to `initialize` with 2025-11-25 when the server turns out to be session-era.
//! - `--init-version V`: the version the `initialize` request of the `initialize`
//!   lifecycle asks for (default: rmcp's default client config, which names its newest
//!   version; the server answers with one it has).
//! - `--expect-version V`: fail unless version `V` was negotiated.
//! - `--call TOOL`: the tool to call (default `echo`, with `text=hello` unless an `--arg`
//!   is given); `--arg KEY=VALUE`: a tool argument, `VALUE` read as JSON when it parses,
//!   else taken as a string.
//! - `--expect TEXT`: fail unless the result's text is exactly `TEXT`.
//! - `--pause SECS`: between `tools/list` and `tools/call`, print a line with `pausing` on
//!   stderr, then sleep (tests restart the server meanwhile; rmcp's transport has to
//!   re-initialize on the 404 by itself: `reinit_on_expired_session`).
//! - `--timeout SECS`: bound on the whole run (default 30).
//!
//! It prints `rmcp-client: connected: version V` on stderr, the tool names, the progress
//! notifications of the call (rmcp gives every request a progress token), and, as its last
//! line on stdout, `rmcp-client: OK result=TEXT` (exit 0) or `rmcp-client: FAIL reason`
//! (exit 1). Bad usage exits 2.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, ClientConfig, Implementation, JsonObject, ProgressNotificationParam,
    ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, NotificationContext};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lifecycle {
    Initialize,
    Discover,
    Auto,
}

struct Options {
    url: String,
    lifecycle: Lifecycle,
    init_version: Option<String>,
    call: String,
    args: Vec<(String, Value)>,
    expect: Option<String>,
    expect_version: Option<String>,
    pause: Option<Duration>,
    timeout: Duration,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: rmcp_client URL [--lifecycle initialize|discover|auto] [--init-version V] \
         [--call TOOL] [--arg KEY=VALUE ...] [--expect TEXT] [--expect-version V] \
         [--pause SECS] [--timeout SECS]"
    );
    ExitCode::from(2)
}

fn seconds(value: &str) -> Option<Duration> {
    let secs: f64 = value.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

fn parse_options() -> Result<Options, ExitCode> {
    let mut url = None;
    let mut opts = Options {
        url: String::new(),
        lifecycle: Lifecycle::Initialize,
        init_version: None,
        call: "echo".to_owned(),
        args: Vec::new(),
        expect: None,
        expect_version: None,
        pause: None,
        timeout: Duration::from_secs(30),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(usage);
        match arg.as_str() {
            "--lifecycle" => {
                opts.lifecycle = match value()?.as_str() {
                    "initialize" => Lifecycle::Initialize,
                    "discover" => Lifecycle::Discover,
                    "auto" => Lifecycle::Auto,
                    other => {
                        eprintln!("rmcp-client: unknown lifecycle {other:?}");
                        return Err(usage());
                    }
                }
            }
            "--init-version" => opts.init_version = Some(value()?),
            "--call" => opts.call = value()?,
            "--arg" => {
                let pair = value()?;
                let Some((key, raw)) = pair.split_once('=') else {
                    eprintln!("rmcp-client: --arg wants KEY=VALUE, got {pair:?}");
                    return Err(usage());
                };
                let parsed =
                    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
                opts.args.push((key.to_owned(), parsed));
            }
            "--expect" => opts.expect = Some(value()?),
            "--expect-version" => opts.expect_version = Some(value()?),
            "--pause" => opts.pause = Some(seconds(&value()?).ok_or_else(usage)?),
            "--timeout" => opts.timeout = seconds(&value()?).ok_or_else(usage)?,
            "-h" | "--help" => return Err(usage()),
            s if s.starts_with("--") => {
                eprintln!("rmcp-client: unknown option {s:?}");
                return Err(usage());
            }
            _ if url.is_none() => url = Some(arg.clone()),
            _ => {
                eprintln!("rmcp-client: more than one URL");
                return Err(usage());
            }
        }
    }
    opts.url = url.ok_or_else(usage)?;
    if opts.call == "echo" && opts.args.is_empty() {
        opts.args
            .push(("text".to_owned(), Value::String("hello".to_owned())));
    }
    Ok(opts)
}

/// The client's handler: rmcp's defaults, plus a count of the progress notifications.
#[derive(Clone)]
struct Client {
    config: ClientConfig,
    progress: Arc<AtomicUsize>,
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        self.config.clone()
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let n = self.progress.fetch_add(1, Ordering::SeqCst) + 1;
        eprintln!(
            "rmcp-client: progress #{n}: token {} progress {} total {:?} {}",
            serde_json::to_string(&params.progress_token).unwrap_or_default(),
            params.progress,
            params.total,
            params.message.as_deref().unwrap_or("")
        );
    }
}

fn lifecycle_mode(lifecycle: Lifecycle) -> ClientLifecycleMode {
    match lifecycle {
        Lifecycle::Initialize => ClientLifecycleMode::Initialize,
        Lifecycle::Discover => ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
        Lifecycle::Auto => ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: Some(ProtocolVersion::V_2025_11_25),
        },
    }
}

async fn run(opts: &Options, progress: Arc<AtomicUsize>) -> Result<String, String> {
    let mut config = ClientConfig::default();
    config.client_info =
        Implementation::new("mcp-http-proto-rmcp-client", env!("CARGO_PKG_VERSION"));
    if let Some(v) = &opts.init_version {
        config.protocol_version = serde_json::from_value(Value::String(v.clone()))
            .map_err(|e| format!("bad --init-version {v:?}: {e}"))?;
    }
    let handler = Client {
        config,
        progress: progress.clone(),
    };
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(opts.url.as_str())
            .reinit_on_expired_session(true),
    );
    eprintln!(
        "rmcp-client: connecting to {} ({:?} lifecycle)",
        opts.url, opts.lifecycle
    );
    let client = handler
        .serve_with_lifecycle(transport, lifecycle_mode(opts.lifecycle))
        .await
        .map_err(|e| format!("connect: {e}"))?;

    let outcome = exchange(opts, &client, &progress).await;
    if let Err(e) = client.cancel().await {
        eprintln!("rmcp-client: closing the client: {e}");
    }
    outcome
}

async fn exchange(
    opts: &Options,
    client: &rmcp::service::RunningService<RoleClient, Client>,
    progress: &AtomicUsize,
) -> Result<String, String> {
    let info = client
        .peer_info()
        .ok_or("connected, but rmcp has no server info")?;
    let version = info.protocol_version.to_string();
    let server = info
        .server_info
        .as_ref()
        .map(|s| format!("{} {}", s.name, s.version))
        .unwrap_or_else(|| "(no server info)".to_owned());
    eprintln!("rmcp-client: connected: version {version} (server {server})");
    if let Some(want) = &opts.expect_version
        && *want != version
    {
        return Err(format!("negotiated version {version}, expected {want}"));
    }

    let tools = client
        .list_all_tools()
        .await
        .map_err(|e| format!("tools/list: {e}"))?;
    eprintln!("rmcp-client: {} tools", tools.len());
    for tool in &tools {
        eprintln!("rmcp-client: tool {}", tool.name);
    }

    if let Some(pause) = opts.pause {
        eprintln!(
            "rmcp-client: pausing {:.1}s before tools/call",
            pause.as_secs_f64()
        );
        tokio::time::sleep(pause).await;
        eprintln!("rmcp-client: pause over");
    }

    let mut arguments = JsonObject::new();
    for (k, v) in &opts.args {
        arguments.insert(k.clone(), v.clone());
    }
    let params = CallToolRequestParams::new(opts.call.clone()).with_arguments(arguments);
    let result = client
        .call_tool(params)
        .await
        .map_err(|e| format!("tools/call {}: {e}", opts.call))?;
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect::<Vec<_>>()
        .join("");
    eprintln!(
        "rmcp-client: tools/call {}: {} progress notification(s)",
        opts.call,
        progress.load(Ordering::SeqCst)
    );
    if result.is_error == Some(true) {
        return Err(format!("tool returned isError: {text}"));
    }
    if let Some(want) = &opts.expect
        && *want != text
    {
        return Err(format!("result {text:?}, expected {want:?}"));
    }
    Ok(text)
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts = match parse_options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    let progress = Arc::new(AtomicUsize::new(0));
    let outcome = match tokio::time::timeout(opts.timeout, run(&opts, progress)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!(
            "timed out after {:.1}s",
            opts.timeout.as_secs_f64()
        )),
    };
    match outcome {
        Ok(text) => {
            println!("rmcp-client: OK result={text}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("rmcp-client: FAIL {reason}");
            ExitCode::FAILURE
        }
    }
}
