//! What a client reads on one connection: a head (status, media type, whether it carries
//! the session id), then SSE frames or one body, then the end; and how the machine's
//! outputs are read back in those terms.

use std::collections::BTreeMap;

use mcp_http_proto::server::{ConnectionId, Output, StreamEvent, StreamId};

use super::replay::Frame;
use crate::common::*;

/// A response head as the client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub content_type: &'static str,
    /// The `MCP-Session-Id` it carries (`INV-S1`: only the InitializeResult's).
    pub session: Option<String>,
}

impl Head {
    pub fn sse(session: Option<String>) -> Self {
        Self {
            status: 200,
            content_type: EVENT_STREAM,
            session,
        }
    }

    pub fn json(session: Option<String>) -> Self {
        Self {
            status: 200,
            content_type: JSON,
            session,
        }
    }

    /// The 404 of a reply cut short by the end of its session (`SRV-SESS-7`).
    pub fn gone() -> Self {
        Self {
            status: 404,
            content_type: JSON,
            session: None,
        }
    }

    fn render(&self) -> String {
        format!(
            "head {} {} session={:?}",
            self.status, self.content_type, self.session
        )
    }
}

/// One thing a connection carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Head(Head),
    Data(Frame),
    End,
}

impl Read {
    pub fn render(&self, salt: &str) -> String {
        match self {
            Read::Head(h) => h.render(),
            Read::Data(f) => format!("data {}", f.render(salt)),
            Read::End => "end".to_owned(),
        }
    }
}

/// The machine's outputs as the client reads them, per connection, in order; and the
/// stream each connection's outputs named.
pub fn observe(
    outputs: &[Output],
) -> (
    BTreeMap<ConnectionId, Vec<String>>,
    BTreeMap<ConnectionId, StreamId>,
) {
    let mut reads: BTreeMap<ConnectionId, Vec<String>> = BTreeMap::new();
    let mut streams: BTreeMap<ConnectionId, StreamId> = BTreeMap::new();
    let mut error_head: BTreeMap<ConnectionId, bool> = BTreeMap::new();
    for o in outputs {
        let prev = streams.insert(o.connection, o.stream);
        assert!(
            prev.is_none_or(|s| s == o.stream),
            "a connection carries one stream: {:?}",
            o.connection
        );
        let text = match &o.event {
            StreamEvent::Head(h) => {
                let ct = header(h, "content-type").unwrap_or("<none>");
                let content_type = match ct {
                    EVENT_STREAM => EVENT_STREAM,
                    JSON => JSON,
                    other => panic!("an unexpected content type {other:?}: {h:?}"),
                };
                error_head.insert(o.connection, !h.status().is_success());
                Head {
                    status: h.status().as_u16(),
                    content_type,
                    session: header(h, SESSION_HEADER).map(str::to_owned),
                }
                .render()
            }
            StreamEvent::Data(b) if error_head.get(&o.connection) == Some(&true) => {
                // `INV-S17`: a JSON-RPC error object with a null id.
                let body: serde_json::Value = serde_json::from_slice(b).expect("an error body");
                assert!(body["id"].is_null() && body.get("id").is_some(), "{body}");
                let code = body["error"]["code"].as_i64().expect("an integer code");
                format!("data {}", Frame::Error(code).render(""))
            }
            StreamEvent::Data(b) => format!("data {}", std::str::from_utf8(b).unwrap()),
            StreamEvent::End => "end".to_owned(),
        };
        reads.entry(o.connection).or_default().push(text);
    }
    (reads, streams)
}

/// The machine's event-id salt, from the first id in `outputs`: 8 lower-case hex digits.
pub fn learn_salt(outputs: &[Output]) -> Option<String> {
    outputs.iter().find_map(|o| {
        let StreamEvent::Data(b) = &o.event else {
            return None;
        };
        let text = std::str::from_utf8(b).ok()?;
        let id = text.lines().find_map(|l| l.strip_prefix("id: "))?;
        let salt = id.split('-').next().unwrap().to_owned();
        assert!(
            salt.len() == 8 && salt.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "an event-id salt is 8 lower-case hex digits: {id:?}"
        );
        Some(salt)
    })
}
