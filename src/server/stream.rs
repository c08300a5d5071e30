//! Response streams: what each holds, how its output is written, and how it is kept for
//! replay and resumed.
//!
//! ```text
//!  open ──head──▶ [priming: id + empty data + retry, for 2025-11-25 sessions]
//!       ──events (each with an id when resumable)──▶ last response ──▶ finished
//!  connection gone (client, or Server::close_connection) ─▶ detached: events are still
//!       numbered and kept; GET + Last-Event-ID re-attaches and replays what followed
//!  finished ─▶ kept (retained) until its newest event is max_age old, for a client that
//!       lost the end; then dropped
//! ```

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use http::Response;

use super::error::UsageError;
use super::replay::{EventPosition, ReplayBuffer};
use super::{Output, ReplyMode, Server, StreamEvent, StreamId, reply};
use crate::wire::jsonrpc::RequestId;
use crate::wire::{SessionId, sse};

#[derive(Debug)]
pub(super) struct Stream {
    pub session: Option<SessionId>,
    pub reply: ReplyMode,
    pub kind: StreamKind,
    pub head_sent: bool,
    /// SSE frames written before the head could go (an `initialize` stream's head waits
    /// for the response that may mint the session).
    pub held: Vec<Bytes>,
    /// Whether a connection is there to write to.
    pub attached: bool,
    /// Present when the stream's events carry ids and are kept for replay.
    pub replay: Option<Replay>,
}

#[derive(Debug)]
pub(super) enum StreamKind {
    Post {
        /// The requests of the POST, in body order, with their answers once given.
        slots: Vec<(RequestId, Option<Bytes>)>,
        unanswered: usize,
        batch: bool,
        initialize: bool,
    },
    Standalone,
}

#[derive(Debug)]
pub(super) struct Replay {
    /// The sequence number of the stream's next event.
    pub next_seq: u64,
    pub buffer: ReplayBuffer,
    /// Whether the client's version understands priming events and early closes
    /// (2025-11-25 and later, `SRV-PSSE-9`).
    pub priming: bool,
}

/// A finished stream kept for replay.
#[derive(Debug)]
pub(super) struct Retained {
    pub session: SessionId,
    pub buffer: ReplayBuffer,
    /// One past the last sequence number the stream used.
    pub next_seq: u64,
    pub until: Instant,
}

impl Server {
    pub(super) fn open_stream(
        &mut self,
        session: Option<SessionId>,
        reply: ReplyMode,
        kind: StreamKind,
    ) -> StreamId {
        let id = StreamId(self.next_stream);
        self.next_stream += 1;
        if let Some(s) = &session {
            self.sessions.with(s, |e| e.streams.push(id));
        }
        self.streams.insert(
            id,
            Stream {
                session,
                reply,
                kind,
                head_sent: false,
                held: Vec::new(),
                attached: true,
                replay: None,
            },
        );
        self.make_resumable(id);
        id
    }

    /// Gives a stream event ids and a replay buffer when it can be resumed: an SSE stream
    /// of a session, with replay configured (`SRV-RES-1`). Called when the stream opens,
    /// and again when an `initialize` answer mints the stream's session.
    pub(super) fn make_resumable(&mut self, stream: StreamId) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        if s.replay.is_some() || s.reply != ReplyMode::Sse || self.config.replay.is_none() {
            return;
        }
        let Some(version) = s
            .session
            .as_ref()
            .and_then(|id| self.sessions.get(id))
            .map(|e| e.record.protocol_version)
        else {
            return;
        };
        if !version.has_resumability() {
            return;
        }
        s.replay = Some(Replay {
            next_seq: 0,
            buffer: ReplayBuffer::default(),
            priming: version.allows_priming(),
        });
    }

    /// Queues the SSE head (carrying the session id only on the `initialize` reply), the
    /// priming event where the client understands it (`SRV-PSSE-9`, `INV-S12`), then any
    /// frames held for the head.
    pub(super) fn emit_head(&mut self, stream: StreamId) {
        let retry = self.config.sse_retry;
        let s = self.streams.get_mut(&stream).expect("present");
        let carries_session = matches!(
            s.kind,
            StreamKind::Post {
                initialize: true,
                ..
            }
        );
        let head = reply::sse_head(s.session.as_ref().filter(|_| carries_session));
        s.head_sent = true;
        let priming = match &mut s.replay {
            Some(r) if r.priming => {
                let seq = r.next_seq;
                r.next_seq += 1;
                let id = self.event_ids.format(EventPosition {
                    stream: stream.0,
                    seq,
                });
                let retry_ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
                let frame = sse::Event {
                    id: Some(&id),
                    retry: Some(retry_ms),
                    ..sse::Event::default()
                }
                .to_vec()
                .expect("our ids hold no CR, LF or NUL");
                Some(Bytes::from(frame))
            }
            _ => None,
        };
        let held = std::mem::take(&mut s.held);
        if s.attached {
            self.outputs.push_back(Output {
                stream,
                event: StreamEvent::Head(head),
            });
            for frame in priming.into_iter().chain(held) {
                self.outputs.push_back(Output {
                    stream,
                    event: StreamEvent::Data(frame),
                });
            }
        }
    }

    /// Writes one message event on a stream: numbered and kept for replay when the stream
    /// is resumable (ids unique across the session's streams, `SRV-RES-2`, `INV-S9`), held
    /// until the head, written only while a connection is attached.
    pub(super) fn write_message(&mut self, stream: StreamId, json: &[u8], now: Instant) {
        let limits = self.config.replay.unwrap_or_default();
        let s = self.streams.get_mut(&stream).expect("present");
        let frame = match &mut s.replay {
            Some(r) => {
                let seq = r.next_seq;
                r.next_seq += 1;
                let id = self.event_ids.format(EventPosition {
                    stream: stream.0,
                    seq,
                });
                let mut ev = sse::Event::message(json);
                ev.id = Some(&id);
                let frame = Bytes::from(ev.to_vec().expect("our ids hold no CR, LF or NUL"));
                r.buffer.push(seq, frame.clone(), now, &limits);
                frame
            }
            None => {
                let frame = sse::Event::message(json)
                    .to_vec()
                    .expect("a message event has no id or event name to refuse");
                Bytes::from(frame)
            }
        };
        if !s.head_sent {
            s.held.push(frame);
        } else if s.attached {
            self.outputs.push_back(Output {
                stream,
                event: StreamEvent::Data(frame),
            });
        }
    }

    /// Ends a stream: its connection (if any) gets the end, a resumable stream with
    /// events is kept for replay (`SRV-RES-5`), and its session may become idle.
    pub(super) fn close_stream(&mut self, stream: StreamId, now: Instant) {
        let Some(s) = self.streams.remove(&stream) else {
            return;
        };
        if s.attached && !s.head_sent {
            // The stream ends before its reply could start (a JSON reply, or an
            // `initialize` reply, cut short by the end of the session): the connection
            // still gets a complete response, the 404 of a session that is gone
            // (`SRV-SESS-7`), so the driver never has to invent one.
            let answer = self.config.policy.unknown_session;
            let response = reply::error(answer, "the session ended before the response", None);
            let (parts, body) = response.into_parts();
            self.outputs.push_back(Output {
                stream,
                event: StreamEvent::Head(Response::from_parts(parts, ())),
            });
            self.outputs.push_back(Output {
                stream,
                event: StreamEvent::Data(body),
            });
        }
        if s.attached {
            self.outputs.push_back(Output {
                stream,
                event: StreamEvent::End,
            });
        }
        if let StreamKind::Post {
            initialize: true, ..
        } = s.kind
        {
            if self.config.mode == super::Mode::Stateful {
                self.pending_initializes -= 1;
            }
        }
        // Session-less requests it carried (stateless mode, or sent before `initialize`
        // minted a session) can be answered no more.
        self.outstanding.drop_stateless_stream(stream);
        let Some(id) = s.session else { return };
        let live = self.sessions.contains(&id);
        // The session is idle from now if this was its last stream.
        self.sessions.with(&id, |e| {
            e.streams.retain(|&x| x != stream);
            if e.standalone == Some(stream) {
                e.standalone = None;
            }
            e.last_activity = e.last_activity.max(now);
        });
        // A finished POST stream is kept for a client that lost its end. A standalone
        // stream that ends carries no response anyone waits for.
        let (Some(replay), true, StreamKind::Post { .. }) = (s.replay, live, s.kind) else {
            return;
        };
        let limits = self.config.replay.unwrap_or_default();
        let Some(until) = replay.buffer.drained_at(&limits) else {
            return; // nothing to replay
        };
        self.retain(
            stream,
            Retained {
                session: id,
                buffer: replay.buffer,
                next_seq: replay.next_seq,
                until,
            },
        );
    }

    fn retain(&mut self, stream: StreamId, retained: Retained) {
        let max = self.config.replay.unwrap_or_default().max_finished_streams;
        let session = retained.session.clone();
        self.retained_deadlines.insert((retained.until, stream));
        self.retained.insert(stream, retained);
        let evicted = self
            .sessions
            .with(&session, |e| {
                e.retained.push_back(stream);
                let mut gone = VecDeque::new();
                while e.retained.len() > max {
                    gone.extend(e.retained.pop_front());
                }
                gone
            })
            .unwrap_or_default();
        for old in evicted {
            self.drop_retained(old);
        }
    }

    pub(super) fn drop_retained(&mut self, stream: StreamId) {
        if let Some(r) = self.retained.remove(&stream) {
            self.retained_deadlines.remove(&(r.until, stream));
            self.sessions
                .with(&r.session, |e| e.retained.retain(|&x| x != stream));
        }
    }

    /// Drops finished streams whose replay window has passed.
    pub(super) fn expire_retained(&mut self, now: Instant) {
        while let Some(&(until, stream)) = self.retained_deadlines.first() {
            if until > now {
                break;
            }
            self.drop_retained(stream);
        }
    }

    /// Re-attaches a stream to a new connection after `Last-Event-ID`: the head, then the
    /// events that followed `after` on that stream only, in order (`SRV-RES-5`,
    /// `SRV-RES-6`, `INV-S10`), then the live stream, or the end if the stream had
    /// finished. Returns how many events were replayed and how many were already evicted.
    pub(super) fn resume(&mut self, stream: StreamId, after: u64, now: Instant) -> (usize, u64) {
        // Events past the age limit are never replayed, even if no newer event has pushed
        // them out yet; `missed` counts them.
        let limits = self.config.replay.unwrap_or_default();
        if let Some(r) = self
            .streams
            .get_mut(&stream)
            .and_then(|s| s.replay.as_mut())
        {
            r.buffer.evict(now, &limits);
        } else if let Some(r) = self.retained.get_mut(&stream) {
            r.buffer.evict(now, &limits);
        }
        let head = reply::sse_head(None);
        let mut out = vec![StreamEvent::Head(head)];
        let (replayed, missed, finished) = if let Some(s) = self.streams.get_mut(&stream) {
            s.attached = true;
            if let (StreamKind::Standalone, Some(id)) = (&s.kind, s.session.clone()) {
                self.sessions.with(&id, |e| {
                    if !e.streams.contains(&stream) {
                        e.streams.push(stream);
                    }
                });
            }
            let s = self.streams.get(&stream).expect("present");
            let r = s.replay.as_ref().expect("checked: resumable");
            let (frames, missed) = r.buffer.after(after);
            let before = out.len();
            out.extend(frames.cloned().map(StreamEvent::Data));
            (out.len() - before, missed, false)
        } else {
            let r = self.retained.get(&stream).expect("checked: retained");
            let (frames, missed) = r.buffer.after(after);
            let before = out.len();
            out.extend(frames.cloned().map(StreamEvent::Data));
            (out.len() - before, missed, true)
        };
        if finished {
            out.push(StreamEvent::End);
        }
        self.outputs
            .extend(out.into_iter().map(|event| Output { stream, event }));
        (replayed, missed)
    }

    /// Closes the connection of a stream without ending the stream (`SRV-PSSE-10`), so
    /// that no connection is held while a long request runs: a `retry` goes out first
    /// (`SRV-PSSE-12`, `INV-S12`), then the end of this connection's body. Events sent
    /// meanwhile are numbered and kept; the client resumes with GET + `Last-Event-ID`.
    ///
    /// Only for resumable streams of clients at 2025-11-25 or later, whose first event
    /// carried an id: older clients do not expect the server to close early
    /// (`SRV-PSSE-4`). Closing a stream that has no connection attached does nothing.
    pub fn close_connection(&mut self, stream: StreamId, now: Instant) -> Result<(), UsageError> {
        let s = self.stream_ref(stream)?;
        let ok = matches!(&s.replay, Some(r) if r.priming) && s.head_sent;
        if !ok {
            return Err(UsageError::NotResumable(stream));
        }
        let retry_ms = u64::try_from(self.config.sse_retry.as_millis()).unwrap_or(u64::MAX);
        let s = self.streams.get_mut(&stream).expect("present");
        if !s.attached {
            return Ok(());
        }
        s.attached = false;
        // A detached standalone stream does not keep its session from idling: nothing
        // but the client's return would end it.
        // Its idle clock starts now, as when a stream ends.
        if let (StreamKind::Standalone, Some(id)) = (&s.kind, s.session.clone()) {
            self.sessions.with(&id, |e| {
                e.streams.retain(|&x| x != stream);
                e.last_activity = e.last_activity.max(now);
            });
        }
        // A `retry` field alone: it sets the client's reconnection delay, and an event
        // with no data line is not dispatched.
        let bytes = format!("retry: {retry_ms}\n\n").into_bytes();
        self.outputs.push_back(Output {
            stream,
            event: StreamEvent::Data(Bytes::from(bytes)),
        });
        self.outputs.push_back(Output {
            stream,
            event: StreamEvent::End,
        });
        Ok(())
    }
}
