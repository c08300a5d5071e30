//! What the inputs start and end across components: a POST accepted or dispatched, an
//! answer and the session it may mint, a stream closed and what it leaves, a session
//! ended with everything it held.

use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;

use super::Machine;
use crate::handle::StreamId;
use crate::server::sessions::{RecordChange, Sessions};
use crate::server::streams::{Slots, StreamKind};
use crate::server::{
    AbandonReason, Accepted, CloseReason, Dispatch, Outcome, ReplyMode, ServerEvent, SessionRecord,
    UsageError, reply,
};
use crate::version::ProtocolVersion;
use crate::wire::SessionId;
use crate::wire::jsonrpc::{self, Body, Message, MessageKind, Messages, RequestId};

impl Machine {
    pub(super) fn accept_post(
        &mut self,
        session: Option<SessionId>,
        version: ProtocolVersion,
        body: &Bytes,
        parsed: Body<'_>,
        modern: bool,
        now: Instant,
    ) -> Outcome {
        if let Some(s) = &session {
            self.activity(s, now);
        }
        let envelopes = parsed.messages();
        let messages = Messages::from_body(body, &parsed);
        // `LIFE-5`: the client's `notifications/initialized` (alone, or batched with
        // requests in 2025-03-26) opens the session for server-initiated requests
        // (`INV-S16`).
        if let Some(s) = &session {
            let initialized = messages
                .iter()
                .any(|m| m.method() == Some("notifications/initialized"));
            if let Some(record) = initialized
                .then(|| self.sessions.mark_initialized(s))
                .flatten()
            {
                self.write_through_change(&record.id, RecordChange::Initialized);
                self.events_out
                    .push_back(ServerEvent::SessionUpdated { record });
            }
        }
        let slots = Slots::collect(
            envelopes
                .iter()
                .filter(|e| e.kind == MessageKind::Request)
                .filter_map(|e| e.id.clone()),
        );
        if slots.is_empty() {
            // `SRV-POST-7`, `INV-S4`: 202 with no body. Responses answer the server's own
            // requests (`SRV-PSSE-2`, `SRV-GET-4`).
            let table = match &session {
                Some(s) => self.sessions.outstanding_mut(s),
                None => Some(&mut self.sessionless),
            };
            let mut answers = table.map(|t| t.pair_all(&messages)).unwrap_or_default();
            self.forward_answers(session.as_ref(), &mut answers);
            return Outcome::Accepted(Accepted {
                response: reply::empty(StatusCode::ACCEPTED),
                session,
                messages,
                answers,
            });
        }
        let init = envelopes.iter().find(|e| e.is_initialize());
        // `LIFE-3`: the machine negotiates; the application answers with this version.
        let negotiated = init.map(|e| {
            self.config
                .negotiate(e.initialize_request_version().as_deref().unwrap_or(""))
        });
        let kind = StreamKind::Post {
            slots,
            batch: parsed.is_batch(),
            initialize: init.is_some(),
            modern,
        };
        let reply_mode = self.config.reply_mode;
        let (stream, connection) =
            self.streams
                .open(session.clone(), reply_mode, kind, &mut self.connections);
        if let Some(s) = &session {
            self.sessions.stream_busy(s, stream);
            // `version` is the session's (`SRV-VER-3`): no second lookup.
            self.make_resumable_at(stream, version);
        }
        // SSE: the head goes at once, but for `initialize`, whose head must carry the
        // session id minted by the answer (`SRV-SESS-1`).
        // A 2026-07-28 reply's head waits for its first message (`N26-9`).
        if reply_mode == ReplyMode::Sse && init.is_none() && !modern {
            self.streams.emit_head(stream, &mut self.connections);
        }
        Outcome::Dispatch(Dispatch {
            stream,
            connection,
            session,
            version,
            negotiated,
            messages,
        })
    }

    /// A response or error for a POST stream: the answer of one of its requests.
    /// The rules of `Server::send` for answers (`respond` and `respond_error` come here
    /// too): only a POST stream of this node carries a response.
    pub(super) fn answer(
        &mut self,
        stream: StreamId,
        answer: AnswerView<'_>,
        now: Instant,
    ) -> Result<(), UsageError> {
        let s = self.stream_ref(stream)?;
        if s.is_relay() {
            // Its events are another node's: only `Server::relay` writes on it.
            return Err(UsageError::RelayStream(stream));
        }
        if !matches!(s.kind(), StreamKind::Post { .. }) {
            return Err(UsageError::ResponseOnStandaloneStream);
        }
        let slot = answer
            .id
            .and_then(|id| s.unanswered_slot(id))
            .ok_or_else(|| UsageError::NotPending(answer.id.cloned()))?;
        // 2026-07-28 errors with an HTTP status of their own, when nothing was sent yet:
        // an unknown method is 404 (`N26-9`), a missing client capability 400 (`N26-13`).
        let code = match answer.kind {
            MessageKind::Error => jsonrpc::error_code_of(answer.json),
            _ => None,
        };
        let status = match code {
            Some(c) if c == i64::from(jsonrpc::METHOD_NOT_FOUND) => Some(StatusCode::NOT_FOUND),
            Some(c) if c == i64::from(jsonrpc::MISSING_REQUIRED_CLIENT_CAPABILITY) => {
                Some(StatusCode::BAD_REQUEST)
            }
            _ => None,
        };
        if let Some(status) = status.filter(|_| s.is_modern() && !s.head_sent()) {
            self.streams.answer_with_status(
                stream,
                slot,
                &answer.to_bytes(),
                status,
                &mut self.connections,
            );
            self.close_stream(stream, Some(now));
            return Ok(());
        }
        // The answer to `initialize`: mint the session when it succeeded (`SRV-SESS-1`).
        let mut minted = None;
        let mints = s.is_initialize() && s.session().is_none() && self.config.is_stateful();
        if mints && answer.kind == MessageKind::Response {
            if let Some(v) = jsonrpc::initialize_result_version_of(answer.json) {
                let version = ProtocolVersion::from_wire(&v)
                    // A session is negotiated only in a version that has sessions.
                    .filter(|v| v.has_initialize() && self.config.supports(*v))
                    .ok_or(UsageError::UnsupportedNegotiatedVersion(v))?;
                minted = Some(version);
            }
        }
        // Committed from here on.
        if let Some(version) = minted {
            let id = self.sessions.mint_id(&mut *self.entropy);
            let record = SessionRecord::new(id.clone(), version);
            self.sessions.insert(record.clone(), Some(stream), now);
            self.streams.set_session(stream, id.clone());
            self.make_resumable(stream, &id);
            // With a store the reply (which carries the id) waits until the record is
            // written: no client learns of a session another node cannot fetch.
            self.write_through_created(record, stream, now);
            self.events_out
                .push_back(ServerEvent::SessionCreated { id, version });
        }
        let done = self
            .streams
            .answer(stream, slot, &answer, now, &mut self.connections);
        if done {
            self.close_stream(stream, Some(now));
        }
        Ok(())
    }

    /// Gives a stream of `session` event ids and a replay buffer when it can be resumed:
    /// an SSE stream of a session whose version has resumability, with replay configured
    /// (`SRV-RES-1`).
    pub(super) fn make_resumable(&mut self, stream: StreamId, session: &SessionId) {
        if let Some(entry) = self.sessions.get(session) {
            let version = entry.version();
            self.make_resumable_at(stream, version);
        }
    }

    /// [`make_resumable`](Self::make_resumable) for a stream of a session at `version`.
    pub(super) fn make_resumable_at(&mut self, stream: StreamId, version: ProtocolVersion) {
        // `SRV-RES-1`: ids and replay only where the version resumes and replay is on.
        if self.config.replay.is_some() && version.has_resumability() {
            let prefix = self.events.clone();
            self.streams
                .make_resumable(stream, prefix, version.allows_priming());
        }
    }

    /// Checks that a request about to go out can be remembered (a fresh id, room under
    /// the cap), and remembers it.
    pub(super) fn remember_request(
        &mut self,
        session: Option<&SessionId>,
        stream: StreamId,
        message: &Message,
    ) -> Result<(), UsageError> {
        let max = self.config.max_outstanding_requests;
        let table = match session {
            Some(s) => self
                .sessions
                .outstanding_mut(s)
                .expect("a stream's session is live"),
            None => &mut self.sessionless,
        };
        table.remember(message, stream, max)
    }

    /// Ends a stream and settles what it leaves with its session; `now` is `None` when the
    /// session itself has ended.
    pub(super) fn close_stream(&mut self, stream: StreamId, now: Option<Instant>) {
        self.listens.remove(stream);
        let live = self
            .streams
            .get(stream)
            .and_then(|s| s.session())
            .is_some_and(|id| self.sessions.contains(id));
        let Some(closed) = self.streams.close(stream, live, &mut self.connections) else {
            return;
        };
        // Session-less requests it carried (stateless mode, or sent before `initialize`
        // minted a session) can be answered no more.
        for request in self.sessionless.drain_stream(stream) {
            self.events_out.push_back(ServerEvent::RequestAbandoned {
                session: None,
                request,
                reason: AbandonReason::StreamEnded,
            });
        }
        let (Some(id), Some(now)) = (closed.session, now) else {
            return;
        };
        // The session is idle from now if this was its last stream.
        self.sessions.stream_ended(&id, stream, now);
        if closed.retained_until.is_some() {
            let max = self.replay_limits().max_finished_streams;
            let streams = &mut self.streams;
            self.sessions.retain(&id, stream, max, |old| {
                streams.drop_retained(old);
            });
        }
    }

    /// Ends a session: its id gets 404 from now on. With a store, a DELETE or the
    /// application's end is written through (the store's TTL decides expiry, and a
    /// session that ended elsewhere is already gone from the store).
    pub(super) fn end_session(&mut self, id: &SessionId, reason: CloseReason) {
        if !self.teardown(id, AbandonReason::SessionClosed) {
            return;
        }
        if matches!(reason, CloseReason::Deleted | CloseReason::Terminated) {
            self.write_through_delete(id);
        }
        self.events_out.push_back(ServerEvent::SessionClosed {
            id: id.clone(),
            reason,
        });
    }

    /// Takes a session out of the table with everything it held: its streams end, its
    /// replay is dropped, its unanswered requests are abandoned. Returns whether it was
    /// held.
    pub(super) fn teardown(&mut self, id: &SessionId, abandon: AbandonReason) -> bool {
        let Some(mut entry) = self.sessions.remove(id) else {
            return false;
        };
        // Its streams end, a detached standalone one too; nothing of it is kept for
        // replay: its id gets 404 from now on.
        let open: Vec<StreamId> = Sessions::streams_of(&entry).collect();
        for stream in open {
            self.close_stream(stream, None);
        }
        for stream in Sessions::retained_of(&entry).collect::<Vec<_>>() {
            self.streams.drop_retained(stream);
        }
        for request in Sessions::outstanding_of(&mut entry) {
            self.events_out.push_back(ServerEvent::RequestAbandoned {
                session: Some(id.clone()),
                request,
                reason: abandon,
            });
        }
        true
    }
}

/// An answer to one request of a POST stream, as the machine reads it: borrowed, so that
/// an answer the machine wrote into its own buffer ([`Server::respond`]) is copied only
/// into the frame that carries it.
///
/// [`Server::respond`]: crate::server::Server::respond
#[derive(Debug, Clone, Copy)]
pub(in crate::server) struct AnswerView<'a> {
    /// A response or an error.
    pub kind: MessageKind,
    /// Its id (`None` for an error with a `null` id).
    pub id: Option<&'a RequestId>,
    /// Its JSON text.
    pub json: &'a [u8],
    /// The same text as shared bytes, when the caller holds them: a JSON reply keeps
    /// them without a copy.
    pub shared: Option<&'a Bytes>,
}

impl<'a> AnswerView<'a> {
    /// A parsed message's view.
    pub fn of(message: &'a Message) -> Self {
        Self {
            kind: message.kind(),
            id: message.id(),
            json: message.json(),
            shared: Some(message.json()),
        }
    }

    /// The text as owned bytes: shared when the caller gave them, else copied.
    pub fn to_bytes(self) -> Bytes {
        match self.shared {
            Some(b) => b.clone(),
            None => Bytes::copy_from_slice(self.json),
        }
    }
}
