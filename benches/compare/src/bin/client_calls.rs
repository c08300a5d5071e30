//! The client side: N sequential `tools/call echo` from our async client driver
//! (`mcp-http-proto-tokio`'s `McpClient`) or from rmcp 3.11.0's streamable HTTP client
//! transport, against the same server.
//!
//! ```text
//! client_calls ours|rmcp URL N
//! ```
//!
//! Each side connects (initializes its session) and makes 20 warm-up calls before the
//! measurement; every answer's text is checked. It prints one line:
//! `client SIDE: calls=N secs=S calls_per_s=R cpu_us_per_call=C`, where the CPU time is
//! this process's (user + system, every thread) over the N calls, from `/proc/self/stat`.
//! Both run on tokio's multi-threaded runtime.

// A bench is a driver: it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use mcp_http_proto_compare::{ECHO_TEXT, cpu_micros};
use mcp_http_proto_tokio::client::{McpClient, tool_text};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, JsonObject};
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::{Value, json};

const WARM_UP: u64 = 20;
/// Bound on the whole run.
const LIMIT: Duration = Duration::from_secs(120);

/// What a run measured.
struct Run {
    secs: f64,
    cpu_us: Option<u64>,
}

async fn measure<F, Fut>(n: u64, mut call: F) -> Result<Run, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<String, String>>,
{
    for _ in 0..WARM_UP {
        check(call().await?)?;
    }
    let cpu = cpu_micros();
    let start = Instant::now();
    for _ in 0..n {
        check(call().await?)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_us = match (cpu, cpu_micros()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(Run { secs, cpu_us })
}

fn check(text: String) -> Result<(), String> {
    if text == ECHO_TEXT {
        Ok(())
    } else {
        Err(format!("echo answered {text:?}"))
    }
}

async fn ours(url: &str, n: u64) -> Result<Run, String> {
    let client = McpClient::connect(url)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let run = measure(n, || {
        let client = &client;
        async move {
            let result = client
                .call_tool("echo", json!({ "text": ECHO_TEXT }))
                .await
                .map_err(|e| format!("tools/call: {e}"))?;
            Ok(tool_text(&result))
        }
    })
    .await;
    let _ = client.close().await;
    run
}

async fn rmcp(url: &str, n: u64) -> Result<Run, String> {
    let transport = StreamableHttpClientTransport::from_uri(url);
    let client = ().serve(transport).await.map_err(|e| format!("connect: {e}"))?;
    let mut arguments = JsonObject::new();
    arguments.insert("text".to_owned(), Value::String(ECHO_TEXT.to_owned()));
    let run = measure(n, || {
        let params = CallToolRequestParams::new("echo").with_arguments(arguments.clone());
        let client = &client;
        async move {
            let result = client
                .call_tool(params)
                .await
                .map_err(|e| format!("tools/call: {e}"))?;
            Ok(result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
                .collect::<String>())
        }
    })
    .await;
    let _ = client.cancel().await;
    run
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (side, url, n) = match args.as_slice() {
        [side, url, n] if matches!(side.as_str(), "ours" | "rmcp") => match n.parse::<u64>() {
            Ok(n) if n > 0 => (side.clone(), url.clone(), n),
            _ => {
                eprintln!("usage: client_calls ours|rmcp URL N");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: client_calls ours|rmcp URL N");
            return ExitCode::from(2);
        }
    };
    let run = async {
        match side.as_str() {
            "ours" => ours(&url, n).await,
            _ => rmcp(&url, n).await,
        }
    };
    match tokio::time::timeout(LIMIT, run).await {
        Ok(Ok(r)) => {
            let cpu = r
                .cpu_us
                .map(|c| format!("{:.1}", c as f64 / n as f64))
                .unwrap_or_else(|| "n/a".to_owned());
            println!(
                "client {side}: calls={n} secs={:.3} calls_per_s={:.0} cpu_us_per_call={cpu}",
                r.secs,
                n as f64 / r.secs
            );
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("client {side}: FAIL {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("client {side}: FAIL timed out after {LIMIT:?}");
            ExitCode::FAILURE
        }
    }
}
