//! Our side in process: [`Server::handle_request`], a minimal `echo` application answering
//! through [`Server::respond`], and every output drained to the complete response, as a
//! driver would (no sockets, no runtime).

use std::borrow::Cow;
use std::time::Instant;

use bytes::Bytes;
use http::Request;
use mcp_http_proto::server::{Outcome, ReplyMode, Server, ServerConfig, StreamEvent, StreamId};
use mcp_http_proto::wire::jsonrpc::Message;
use serde_json::value::RawValue;
use serde::{Deserialize, Serialize};

use crate::{Answered, INIT, INITIALIZED, Mode, post};

/// The `initialize` answer our application gives.
const INIT_RESULT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"bench","version":"1"}}}"#;

/// The parts of a `tools/call` request the application reads.
#[derive(Deserialize)]
struct CallRequest<'a> {
    #[serde(borrow)]
    params: CallParams<'a>,
}

#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    arguments: EchoArguments<'a>,
}

#[derive(Deserialize)]
struct EchoArguments<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
}

/// The result the application gives `Server::respond` (the machine writes the
/// envelope around it).
#[derive(Serialize)]
struct CallResult<'a> {
    content: [TextContent<'a>; 1],
}

#[derive(Serialize)]
struct TextContent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

/// The application's answer to a `tools/call` of `echo`: it reads the call and answers
/// with [`Server::respond`].
fn answer(server: &mut Server, stream: StreamId, request: &Message, now: Instant) {
    let id = request.id().expect("a request has an id");
    let call: CallRequest<'_> = request.deserialize().expect("a tools/call");
    assert_eq!(call.params.name, "echo");
    let result = CallResult {
        content: [TextContent {
            kind: "text",
            text: &call.params.arguments.text,
        }],
    };
    server.respond(stream, id, &result, now).expect("answered");
}

/// The configuration of `mode`: the defaults otherwise (replay on in the stateful mode),
/// with no idle expiry, so that a long run keeps its session.
pub fn config(mode: Mode) -> ServerConfig {
    let mut c = if mode.stateful() {
        ServerConfig::default()
    } else {
        ServerConfig::stateless()
    };
    if mode.json() {
        c.reply_mode = ReplyMode::Json;
    }
    c.session_idle_timeout = None;
    c
}

/// Drains every output into what was answered.
fn drain(s: &mut Server) -> Answered {
    let mut a = Answered::default();
    while let Some(o) = s.poll_output() {
        match o.event {
            StreamEvent::Head(h) => {
                a.status = h.status().as_u16();
                a.content_type = h.headers().get(http::header::CONTENT_TYPE).cloned();
            }
            StreamEvent::Data(d) => {
                a.bytes += d.len();
                if !d.is_empty() {
                    a.last = d;
                }
            }
            StreamEvent::End => {}
        }
    }
    while s.poll_event().is_some() {}
    a
}

/// Our machine in one mode, with its session when stateful.
pub struct Ours {
    server: Server,
    session: Option<String>,
    now: Instant,
    /// When set, every call is answered with this result (built once, written by the
    /// machine as it is), so that what is measured is the machine's own work: no
    /// application parse, no result built.
    canned: Option<Box<RawValue>>,
}

impl Ours {
    /// A machine for `mode`; in the stateful mode, one session initialized (`initialize`,
    /// its answer, `notifications/initialized`).
    pub fn new(mode: Mode, now: Instant) -> Self {
        let mut server = Server::new(config(mode));
        let mut session = None;
        if mode.stateful() {
            let Outcome::Dispatch(d) = server.handle_request(post(INIT, None, false), now) else {
                panic!("initialize dispatched")
            };
            server.send(d.stream, INIT_RESULT, now).expect("answered");
            while let Some(o) = server.poll_output() {
                if let StreamEvent::Head(h) = &o.event {
                    session = h
                        .headers()
                        .get("mcp-session-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                }
            }
            let id = session.as_deref().expect("a session id");
            let out = server.handle_request(post(INITIALIZED, Some(id), true), now);
            assert_eq!(out.response().map(|r| r.status().as_u16()), Some(202));
            drain(&mut server);
        }
        Self {
            server,
            session,
            now,
            canned: None,
        }
    }

    /// The same machine, answering every call with the echo answer built once here: what
    /// `call` then measures is the machine alone (the decision, the response built and
    /// drained), the floor the issue compares with a bare `Value` parse.
    pub fn machine_only(mode: Mode, now: Instant) -> Self {
        let mut o = Self::new(mode, now);
        let result = format!(r#"{{"content":[{{"type":"text","text":"{}"}}]}}"#, crate::ECHO_TEXT);
        o.canned = Some(RawValue::from_string(result).expect("JSON"));
        o
    }

    /// The session id, when stateful.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// One request to its complete response.
    pub fn call(&mut self, request: Request<Bytes>) -> Answered {
        let now = self.now;
        let Outcome::Dispatch(d) = self.server.handle_request(request, now) else {
            panic!("the call was not dispatched")
        };
        for m in d.requests() {
            match &self.canned {
                Some(result) => {
                    let id = m.id().expect("a request has an id");
                    self.server
                        .respond(d.stream, id, result, now)
                        .expect("answered");
                }
                None => answer(&mut self.server, d.stream, m, now),
            }
        }
        drain(&mut self.server)
    }
}
