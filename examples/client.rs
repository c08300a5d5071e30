//! A runnable MCP client over Streamable HTTP: the `Client` machine driven by hyper + tokio
//! (`mcp-http-proto-tokio`, `drivers/tokio`).
//!
//! ```text
//! cargo run --example client -- URL [--call TOOL] [--arg KEY=VALUE ...] [--timeout SECS]
//!                                   [--no-standalone] [--quiet] [--trace] [--pause SECS]
//! ```
//!
//! It connects to `URL` (an `http://` MCP endpoint), initializes a session (2025-11-25),
//! opens the standalone GET stream (unless `--no-standalone`; a 405 is fine; not on the
//! 2024-11-05 HTTP+SSE transport, which the machine falls back to on its own), lists the
//! tools (printed one per line), calls one tool, prints the text of its result, and closes
//! the session with a DELETE when there is one.
//!
//! - `--call TOOL`: the tool to call (default `echo`, with `text=hello` unless an `--arg`
//!   is given). With `echo` and a `text` argument, a result other than that text is an
//!   error.
//! - `--arg KEY=VALUE`: a tool argument; `VALUE` is taken as JSON when it parses as JSON
//!   (`steps=3` is a number, `text="3"` a string), else as a string (`text=hello`).
//! - `--timeout SECS`: the longest wait for each step (default 30).
//! - `--no-standalone`: do not open the standalone GET stream.
//! - `--quiet`: no exchange log on stderr.
//! - `--trace`: also log every response body chunk on stderr.
//! - `--pause SECS`: between `tools/list` and `tools/call`, keep driving the I/O for
//!   `SECS` seconds (for tests that restart the server meanwhile: the call then meets a
//!   404, and the machine re-initializes and re-sends it).
//!
//! The call carries a `progressToken`; progress notifications are printed as they come.
//! On success the last line is `client: OK result=TEXT` and the exit status 0; on any
//! error `client: FAIL <reason>` and exit status 1 (2 for bad usage).

mod support;

use std::process::ExitCode;
use std::time::Duration;

use mcp_http_proto::client::{ClientConfig, ClientEvent};
use mcp_http_proto_tokio::client::HyperClient;
use serde_json::{Value, json};
use support::client_cli::{self, CLOSE_TIMEOUT, ClientDriver, Options, Seen};

#[tokio::main]
async fn main() -> ExitCode {
    let opts = match client_cli::options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    client_cli::finish(run(&opts).await)
}

async fn run(opts: &Options) -> Result<String, String> {
    let config = ClientConfig::new(opts.url.clone());
    let mut driver = HyperClient::new(config)?;
    driver.verbose = !opts.quiet;
    driver.trace_bodies = opts.trace;
    let mut seen = Seen::default();

    let outcome = session(&mut driver, opts, &mut seen).await;

    // Close the session whatever happened (a DELETE when there is a session id).
    let closed = close(&mut driver).await;
    client_cli::outcome(outcome, closed)
}

async fn session(
    driver: &mut HyperClient,
    opts: &Options,
    seen: &mut Seen,
) -> Result<String, String> {
    // 1. initialize.
    driver
        .initialize(client_cli::initialize_request())
        .map_err(|e| format!("initialize: {e}"))?;
    loop {
        let event = next(driver, opts.timeout, "the initialize response").await?;
        if client_cli::initialize_event(driver, event, seen)?.is_some() {
            break;
        }
    }

    // 2. the standalone GET stream.
    client_cli::open_standalone(driver, opts, seen)?;

    // 3. tools/list.
    let list = request(driver, opts, seen, 1, "tools/list", json!({})).await?;
    client_cli::print_tools(&list, opts)?;

    if let Some(pause) = opts.pause {
        eprintln!("client: pausing {pause:?}");
        let until = tokio::time::Instant::now() + pause;
        while let Ok(event) = tokio::time::timeout_at(until, driver.next_event()).await {
            match event {
                Some(event) => client_cli::other_event(driver, event, seen)?,
                None => {
                    tokio::time::sleep_until(until).await;
                    break;
                }
            }
        }
    }

    // 4. tools/call, with a progress token.
    let params = client_cli::call_params(opts);
    let result = request(driver, opts, seen, 2, "tools/call", params).await?;
    client_cli::call_text(&result, opts, seen)
}

/// Sends request `id` and waits for its result.
async fn request(
    driver: &mut HyperClient,
    opts: &Options,
    seen: &mut Seen,
    id: i64,
    method: &str,
    params: Value,
) -> Result<Value, String> {
    client_cli::send_request(driver, id, method, params)?;
    let what = format!("the {method} response");
    loop {
        let event = next(driver, opts.timeout, &what).await?;
        if let Some(result) = client_cli::request_event(driver, event, seen, id, method)? {
            return Ok(result);
        }
    }
}

/// Ends the session: a DELETE when there is a session id, answered within
/// [`CLOSE_TIMEOUT`].
async fn close(driver: &mut HyperClient) -> Result<(), String> {
    let had_session = driver.client().session().is_some();
    driver.close().map_err(|e| format!("close: {e}"))?;
    if !had_session {
        return Ok(());
    }
    let mut seen = Seen::default();
    loop {
        let event = next(driver, CLOSE_TIMEOUT, "the DELETE response").await?;
        if client_cli::close_event(driver, event, &mut seen)? {
            return Ok(());
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
        Ok(None) => Err(client_cli::nothing_in_flight(what)),
        Err(_) => Err(client_cli::timed_out(timeout, what)),
    }
}
