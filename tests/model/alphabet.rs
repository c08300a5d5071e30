//! The alphabet the generators draw from: requests (method, Host/Origin, Accept,
//! Content-Type, version header, session header, body, Content-Length, `Last-Event-ID`)
//! and the other operations, and how a request of the alphabet is built.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::wire::jsonrpc::{BodyError, MessageKind, Messages, RequestId};

use crate::common::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meth {
    Post,
    Get,
    Delete,
    Put,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostV {
    Loopback,
    Localhost,
    V6,
    Foreign,
    /// Two `Host` lines (RFC 9112 §3.2: 400).
    Repeated,
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginV {
    Absent,
    Loopback,
    Foreign,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptV {
    Both,
    JsonOnly,
    SseOnly,
    Wildcard,
    Absent,
    SseQ0,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtV {
    Json,
    JsonCharset,
    TextPlain,
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerV {
    Absent,
    Known(ProtocolVersion),
    Garbage,
}

/// A session header: resolved against the client's sessions when the step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessV {
    Absent,
    Live(u8),
    Dead(u8),
    Unknown,
    CommaJoined,
    Repeated,
    NonAscii,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyV {
    Initialize,
    Initialized,
    ToolsList,
    Response,
    Batch,
    /// 2025-03-26: `notifications/initialized` batched with a request.
    BatchInitialized,
    BatchWithInit,
    BatchResponses,
    Garbage,
    NotJsonRpc,
    Random(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClV {
    Absent,
    Oversize,
    Malformed,
}

#[derive(Debug, Clone)]
pub struct Req {
    pub method: Meth,
    pub host: HostV,
    pub origin: OriginV,
    pub accept: AcceptV,
    pub ct: CtV,
    pub version: VerV,
    pub session: SessV,
    pub body: BodyV,
    pub cl: ClV,
    /// Sent on GET only.
    pub last_event_id: Option<LeiV>,
}

/// A `Last-Event-ID`, resolved against the event ids the client has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeiV {
    /// An id the client saw on a stream of the request's session.
    Own(u8),
    /// An id the client saw on another session's stream (live or dead).
    Other(u8),
    /// Position 0 of any stream the client ever read or opened.
    AnyStream(u8),
    /// A stream of this session at the first position it has not reached.
    NotReached(u8),
    /// An id of ours with another machine's salt.
    ForeignSalt(u8),
    /// Not of the id's form.
    Malformed(u8),
}

#[derive(Debug, Clone)]
pub enum Op {
    Request(Req),
    /// The application answers a pending `initialize`: a successful InitializeResult
    /// naming `version`, or an error.
    AnswerInit {
        pick: u8,
        success: bool,
        version: ProtocolVersion,
    },
    /// The application answers one request the client is owed an answer for.
    Answer {
        pick: u8,
        error: bool,
    },
    /// A server notification on a stream.
    Notify {
        pick: u8,
    },
    /// A server-initiated request (not ping) on a stream.
    ServerRequest {
        pick: u8,
    },
    /// The client's connection of a stream goes away (the one it reads the stream on
    /// now; else an older one of that stream).
    Disconnect {
        pick: u8,
    },
    /// A late disconnect: a connection that is over already (ended, lost, closed early,
    /// or replaced by a resumption) is reported gone. Nothing may change.
    LateDisconnect {
        pick: u8,
    },
    /// The application closes the connection of a stream without ending the stream
    /// (`Server::close_connection`).
    CloseConnection {
        pick: u8,
    },
    /// The clock moves on, and the machine's timers run.
    Advance(Duration),
    /// The clock moves on, but the driver's timer is late: `handle_timeout` is not called.
    AdvanceLate(Duration),
}

/// A pick that names the newest stream (or connection).
pub const NEWEST: u8 = 255;

/// A valid request with the given session variant and body.
pub fn valid(session: SessV, body: BodyV) -> Req {
    Req {
        method: Meth::Post,
        host: HostV::Loopback,
        origin: OriginV::Absent,
        accept: AcceptV::Both,
        ct: CtV::Json,
        version: VerV::Absent,
        session,
        body,
        cl: ClV::Absent,
        last_event_id: None,
    }
}

/// A valid GET on the session `pick` names, with an optional `Last-Event-ID`.
pub fn get_on(pick: u8, last_event_id: Option<LeiV>) -> Req {
    Req {
        method: Meth::Get,
        last_event_id,
        ..valid(SessV::Live(pick), BodyV::Initialized)
    }
}

/// A session header resolved against the client's sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sess {
    None,
    /// A well-formed id, and whether the client holds it live, dead or never had it.
    Id(String, IdKind),
    CommaJoined,
    Repeated,
    NonAscii,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Live,
    Dead,
    Unknown,
}

/// What the check table reads of a body.
#[derive(Debug, Clone)]
pub enum Class {
    Parse,
    Invalid,
    Single {
        kind: MessageKind,
        initialize: bool,
        initialized: bool,
        id: Option<RequestId>,
    },
    Batch {
        requests: Vec<RequestId>,
        initialize: bool,
        initialized: bool,
        responses: usize,
        len: usize,
    },
}

impl Class {
    pub fn of_bytes(bytes: &[u8]) -> Class {
        match Messages::parse(Bytes::copy_from_slice(bytes)) {
            Err(BodyError::Parse(_)) => Class::Parse,
            Err(_) => Class::Invalid,
            Ok(Messages::One(e)) => Class::Single {
                kind: e.kind(),
                initialize: e.is_initialize(),
                initialized: e.method() == Some("notifications/initialized"),
                id: e.id().cloned(),
            },
            Ok(Messages::Batch(es)) => Class::Batch {
                requests: es
                    .iter()
                    .filter(|e| e.kind() == MessageKind::Request)
                    .filter_map(|e| e.id().cloned())
                    .collect(),
                initialize: es.iter().any(|e| e.is_initialize()),
                initialized: es
                    .iter()
                    .any(|e| e.method() == Some("notifications/initialized")),
                responses: es.iter().filter(|e| e.kind().is_response()).count(),
                len: es.len(),
            },
        }
    }

    /// The body carries `notifications/initialized` (`LIFE-5`).
    pub fn initialized(&self) -> bool {
        matches!(
            self,
            Class::Single {
                initialized: true,
                ..
            } | Class::Batch {
                initialized: true,
                ..
            }
        )
    }

    /// The ids of the requests the body holds, in body order: the answers owed.
    pub fn requests(&self) -> Vec<RequestId> {
        match self {
            Class::Single {
                kind: MessageKind::Request,
                id,
                ..
            } => id.iter().cloned().collect(),
            Class::Batch { requests, .. } => requests.clone(),
            _ => Vec::new(),
        }
    }
}

/// The body text for a body of the alphabet; `n` and `n + 1` are its request ids.
pub fn body_text(b: &BodyV, n: u64) -> Bytes {
    let text = match b {
        BodyV::Initialize => initialize_body(n, "2025-06-18"),
        BodyV::Initialized => INITIALIZED.to_owned(),
        BodyV::ToolsList => tools_list(n),
        BodyV::Response => CLIENT_RESPONSE.to_owned(),
        BodyV::Batch => format!("[{},{PROGRESS},{}]", tools_list(n), tools_list(n + 1)),
        BodyV::BatchInitialized => format!("[{INITIALIZED},{}]", tools_list(n)),
        BodyV::BatchWithInit => format!("[{},{PROGRESS}]", initialize_body(n, "2025-03-26")),
        BodyV::BatchResponses => format!("[{CLIENT_RESPONSE},{CLIENT_ERROR_RESPONSE}]"),
        BodyV::Garbage => "{garbage".to_owned(),
        BodyV::NotJsonRpc => r#"{"hello":"world"}"#.to_owned(),
        BodyV::Random(bytes) => return Bytes::from(bytes.clone()),
    };
    Bytes::from(text)
}

/// The HTTP request for `r`, with the resolved session header and `Last-Event-ID`.
pub fn build(r: &Req, sess: &Sess, body: Bytes, last_event_id: Option<&str>) -> Request<Bytes> {
    let method = match r.method {
        Meth::Post => "POST",
        Meth::Get => "GET",
        Meth::Delete => "DELETE",
        Meth::Put => "PUT",
    };
    let mut b = Request::builder().method(method).uri("/mcp");
    if let Some(h) = match r.host {
        HostV::Loopback => Some(HOST),
        HostV::Localhost => Some("localhost"),
        HostV::V6 => Some("[::1]:8080"),
        HostV::Foreign => Some("evil.example.com"),
        HostV::Repeated => {
            b = b.header("host", "localhost");
            Some("localhost")
        }
        HostV::Absent => None,
    } {
        b = b.header("host", h);
    }
    if let Some(o) = match r.origin {
        OriginV::Absent => None,
        OriginV::Loopback => Some("http://localhost:3000"),
        OriginV::Foreign => Some("http://evil.example.com"),
        OriginV::Null => Some("null"),
    } {
        b = b.header("origin", o);
    }
    if let Some(a) = match r.accept {
        AcceptV::Both => Some(ACCEPT_BOTH),
        AcceptV::JsonOnly => Some("application/json"),
        AcceptV::SseOnly => Some("text/event-stream"),
        AcceptV::Wildcard => Some("*/*"),
        AcceptV::Absent => None,
        AcceptV::SseQ0 => Some("application/json, text/event-stream;q=0"),
    } {
        b = b.header("accept", a);
    }
    if let Some(c) = match r.ct {
        CtV::Json => Some(JSON),
        CtV::JsonCharset => Some("application/json; charset=utf-8"),
        CtV::TextPlain => Some("text/plain"),
        CtV::Absent => None,
    } {
        b = b.header("content-type", c);
    }
    match r.version {
        VerV::Absent => {}
        VerV::Known(v) => b = b.header("mcp-protocol-version", v.as_str()),
        VerV::Garbage => b = b.header("mcp-protocol-version", "banana"),
    }
    match sess {
        Sess::None => {}
        Sess::Id(id, _) => b = b.header(SESSION_HEADER, id.as_str()),
        Sess::CommaJoined => b = b.header(SESSION_HEADER, "abc,def"),
        Sess::Repeated => {
            b = b
                .header(SESSION_HEADER, "abc")
                .header(SESSION_HEADER, "abc");
        }
        Sess::NonAscii => {
            b = b.header(
                SESSION_HEADER,
                http::HeaderValue::from_bytes(b"ab\xffc").unwrap(),
            );
        }
    }
    match r.cl {
        ClV::Absent => {}
        ClV::Oversize => b = b.header("content-length", "100000"),
        ClV::Malformed => b = b.header("content-length", "12a"),
    }
    if let (Meth::Get, Some(v)) = (r.method, last_event_id) {
        b = b.header("last-event-id", v);
    }
    b.body(body).unwrap()
}
