//! The I/O-free part of the example client drivers (`hyper_client.rs` on hyper + tokio,
//! `blocking_client.rs` on `std::net` + threads): what an exchange reports, how it is
//! handed to the machine, and the exchange log lines.

use bytes::Bytes;
use http::Request;
use http::header::CONTENT_TYPE;
use http::uri::Scheme;
use mcp_http_proto::client::{Client, ClientConfig, ExchangeId, UsageError};
use mcp_http_proto::wire::MCP_SESSION_ID;
use std::time::Instant;

/// What an exchange reports about its response. `C` is a handle on the connection, for
/// drivers that need one to shut it down when the exchange is dropped (hyper's uses
/// [`std::convert::Infallible`]: it aborts the exchange's task instead).
#[derive(Debug)]
pub enum Input<C> {
    /// A handle on the socket, to shut it down when the exchange is dropped.
    Connected(C),
    /// The response head arrived.
    Head(http::response::Parts),
    /// Body bytes.
    Chunk(Bytes),
    /// The body is complete.
    End,
    /// The connection failed; why.
    Error(String),
}

impl<C> Input<C> {
    /// Whether the input is the exchange's last.
    pub fn ends(&self) -> bool {
        matches!(self, Input::End | Input::Error(_))
    }
}

/// The machine of a new driver: an error for an endpoint other than `http://` (the
/// machine accepts https; the example drivers have no TLS).
pub fn new_machine(config: ClientConfig) -> Result<Client, String> {
    if config.endpoint.scheme() != Some(&Scheme::HTTP) {
        return Err(format!(
            "{}: only http:// endpoints are supported by this driver",
            config.endpoint
        ));
    }
    Client::new(config).map_err(|e| e.to_string())
}

/// What the driver logs on stderr.
#[derive(Clone, Copy, Debug)]
pub struct Log {
    /// Every exchange.
    pub verbose: bool,
    /// Every response body chunk.
    pub trace_bodies: bool,
}

/// Logs the request of a new exchange (when verbose).
pub fn log_request(log: Log, exchange: ExchangeId, request: &Request<Bytes>) {
    if log.verbose {
        eprintln!(
            "client: > #{} {}",
            exchange.as_u64(),
            describe_request(request)
        );
    }
}

/// Hands one input of exchange `ex` to the machine, logging it; a `Connected` handle is
/// given back for the driver to keep.
pub fn feed<C>(
    client: &mut Client,
    ex: ExchangeId,
    input: Input<C>,
    log: Log,
    now: Instant,
) -> Option<C> {
    let result = match input {
        Input::Connected(c) => return Some(c),
        Input::Head(head) => {
            if log.verbose {
                eprintln!("client: < #{} {}", ex.as_u64(), describe_response(&head));
            }
            client.handle_response_head(ex, head)
        }
        Input::Chunk(chunk) => {
            if log.trace_bodies {
                eprintln!(
                    "client: < #{} body {:?}",
                    ex.as_u64(),
                    String::from_utf8_lossy(&chunk)
                );
            }
            client.handle_response_chunk(ex, chunk, now)
        }
        Input::End => {
            if log.verbose {
                eprintln!("client: < #{} end", ex.as_u64());
            }
            client.handle_response_end(ex, now)
        }
        Input::Error(e) => {
            if log.verbose {
                eprintln!("client: < #{} transport error: {e}", ex.as_u64());
            }
            client.handle_transport_error(ex, now)
        }
    };
    if let Err(e) = result {
        // The driver fed the machine out of order: a bug here, not the server's doing.
        eprintln!("client: driver bug: exchange #{}: {e}", ex.as_u64());
    }
    None
}

/// `POST /mcp initialize session=abcd…` for the log.
fn describe_request(request: &Request<Bytes>) -> String {
    let mut s = format!("{} {}", request.method(), request.uri().path());
    if !request.body().is_empty() {
        match serde_json::from_slice::<serde_json::Value>(request.body()) {
            Ok(serde_json::Value::Object(m)) => {
                let what = m
                    .get("method")
                    .and_then(|v| v.as_str())
                    .unwrap_or("response");
                s.push(' ');
                s.push_str(what);
            }
            Ok(serde_json::Value::Array(a)) => s.push_str(&format!(" batch of {}", a.len())),
            _ => s.push_str(" (body)"),
        }
    }
    for name in ["mcp-protocol-version", "last-event-id"] {
        if let Some(v) = request.headers().get(name).and_then(|v| v.to_str().ok()) {
            s.push_str(&format!(" {name}={v}"));
        }
    }
    if let Some(v) = request
        .headers()
        .get(MCP_SESSION_ID)
        .and_then(|v| v.to_str().ok())
    {
        s.push_str(&format!(" session={}", short(v)));
    }
    s
}

/// `200 text/event-stream session=abcd…` for the log.
fn describe_response(head: &http::response::Parts) -> String {
    let mut s = head.status.as_u16().to_string();
    if let Some(ct) = head.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        s.push(' ');
        s.push_str(ct);
    }
    if let Some(v) = head
        .headers
        .get(MCP_SESSION_ID)
        .and_then(|v| v.to_str().ok())
    {
        s.push_str(&format!(" session={}", short(v)));
    }
    s
}

/// The first 8 characters of a session id, for logs.
pub fn short(id: &str) -> String {
    let head: String = id.chars().take(8).collect();
    if head.len() < id.len() {
        format!("{head}…")
    } else {
        head
    }
}

/// What both client drivers offer that does not wait: an input to the machine, then
/// sending what it asks for.
pub trait ClientDriver {
    /// The machine, to read its state.
    fn client(&self) -> &Client;

    /// The machine, for an input.
    fn client_mut(&mut self) -> &mut Client;

    /// Sends every request the machine asks for.
    fn flush(&mut self);

    /// [`Client::initialize`], then send what the machine asks for.
    fn initialize(&mut self, json: impl Into<Bytes>) -> Result<(), UsageError> {
        self.client_mut().initialize(json)?;
        self.flush();
        Ok(())
    }

    /// [`Client::send`], then send what the machine asks for.
    fn send(&mut self, json: impl Into<Bytes>) -> Result<(), UsageError> {
        self.client_mut().send(json)?;
        self.flush();
        Ok(())
    }

    /// [`Client::open_standalone_stream`], then send what the machine asks for.
    fn open_standalone_stream(&mut self) -> Result<(), UsageError> {
        self.client_mut().open_standalone_stream()?;
        self.flush();
        Ok(())
    }
}
