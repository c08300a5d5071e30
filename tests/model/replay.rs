//! What a client could still replay of one stream: the events after each id it saw, as
//! far as the replay limits (count, bytes, age) keep them (`SRV-RES-4`).

use std::collections::VecDeque;
use std::time::Instant;

use mcp_http_proto::server::{ReplayLimits, StreamId};

/// One SSE frame or body the client reads. Event ids are `(stream, seq)`, rendered
/// `{salt}-{stream}-{seq}` with the machine's salt (`SRV-RES-3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `event: message`, an id when the stream is resumable, one `data:` line of JSON.
    Message {
        id: Option<(StreamId, u64)>,
        json: String,
    },
    /// A priming event: an id, the `retry`, empty data (`SRV-PSSE-9`, `INV-S12`).
    Priming { id: (StreamId, u64), retry: u64 },
    /// A `retry` alone, before the server closes the connection early (`SRV-PSSE-12`).
    Retry(u64),
    /// An `application/json` reply body, exactly.
    Json(String),
    /// A JSON-RPC error body with a null id and this code (`INV-S17`).
    Error(i64),
}

impl Frame {
    pub fn id(&self) -> Option<(StreamId, u64)> {
        match self {
            Frame::Message { id, .. } => *id,
            Frame::Priming { id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn render(&self, salt: &str) -> String {
        let id = |(stream, seq): (StreamId, u64)| format!("{salt}-{}-{seq}", stream.as_u64());
        match self {
            Frame::Message { id: None, json } => format!("event: message\ndata: {json}\n\n"),
            Frame::Message { id: Some(p), json } => {
                format!("event: message\nid: {}\ndata: {json}\n\n", id(*p))
            }
            Frame::Priming { id: p, retry } => format!("id: {}\nretry: {retry}\ndata:\n\n", id(*p)),
            Frame::Retry(ms) => format!("retry: {ms}\n\n"),
            Frame::Json(body) => body.clone(),
            Frame::Error(code) => format!("<a JSON-RPC error {code} with a null id>"),
        }
    }

    /// The frame's size on the wire: salts are always 8 hex digits.
    pub fn len(&self) -> usize {
        self.render("00000000").len()
    }
}

#[derive(Debug, Clone)]
struct Kept {
    seq: u64,
    frame: Frame,
    len: usize,
    at: Instant,
}

/// The events of one stream a client could still have replayed, oldest first.
#[derive(Debug, Clone, Default)]
pub struct ReplayLog {
    events: VecDeque<Kept>,
    bytes: usize,
    /// The newest event the limits have made unreplayable.
    lost_through: Option<u64>,
}

/// Why events became unreplayable.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lost {
    pub by_age: bool,
    pub by_size: bool,
}

impl ReplayLog {
    /// An event the client may want again; older ones may become unreplayable.
    pub fn keep(&mut self, seq: u64, frame: Frame, now: Instant, limits: &ReplayLimits) -> Lost {
        let len = frame.len();
        self.bytes += len;
        self.events.push_back(Kept {
            seq,
            frame,
            len,
            at: now,
        });
        self.forget_old(now, limits)
    }

    /// The oldest events go while a limit is exceeded or they are `max_age` old: when an
    /// event is kept, and when a resumption is about to replay.
    pub fn forget_old(&mut self, now: Instant, limits: &ReplayLimits) -> Lost {
        let mut why = Lost::default();
        while let Some(front) = self.events.front() {
            let too_old = now.saturating_duration_since(front.at) >= limits.max_age;
            let over = self.events.len() > limits.max_events || self.bytes > limits.max_bytes;
            if !(too_old || over) {
                break;
            }
            if too_old {
                why.by_age = true;
            } else {
                why.by_size = true;
            }
            let gone = self.events.pop_front().expect("a front event");
            self.bytes -= gone.len;
            self.lost_through = Some(gone.seq);
        }
        why
    }

    /// What a client resuming after `seq` reads (`INV-S10`), and how many events after
    /// `seq` it will never see.
    pub fn after(&self, seq: u64) -> (Vec<Frame>, u64) {
        let missed = match self.lost_through {
            Some(through) if through > seq => through - seq,
            _ => 0,
        };
        let frames = self
            .events
            .iter()
            .filter(|e| e.seq > seq)
            .map(|e| e.frame.clone())
            .collect();
        (frames, missed)
    }

    /// When the newest event turns `max_age` old: nothing is left to replay after that.
    pub fn empty_at(&self, limits: &ReplayLimits) -> Option<Instant> {
        self.events.back().map(|e| e.at + limits.max_age)
    }
}
