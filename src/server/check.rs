//! The ordered checks every request goes through, and what a refusal looks like.
//!
//! | step | check | default answer |
//! | --- | --- | --- |
//! | 1 | method is POST, GET or DELETE (per mode) | 405 + `Allow` |
//! | 2 | `Host` / `Origin` allowed | 403 |
//! | 3 | declared body size within the limit | 413 |
//! | 4 | `Accept` (POST: json + event-stream; GET: event-stream) | 406 |
//! | 5 | `Content-Type` is `application/json` on POST | 415 |
//! | 6 | `MCP-Protocol-Version` present ⇒ known and supported | 400 |
//! | 7 | session header single-valued and visible ASCII | 400 |
//! | 8 | session required but missing ⇒ 400; unknown or terminated ⇒ 404 | 400 / 404 |
//! | 9 | body is JSON, is JSON-RPC, batch only where allowed, no `initialize` in a batch | 400 |
//! | 10 | `initialize` on a live session | 400 |
//! | 11 | session cap reached (on a new `initialize`) | 503 + `Retry-After` |
//! | 12 | GET: `Last-Event-ID` resumable; standalone stream not already open | 400 / 409 |
//!
//! The checks only read the machine. A refused request changes nothing.

use std::time::Instant;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, HOST, ORIGIN, RETRY_AFTER};
use http::{HeaderValue, Method, Response, request};

use super::config::{Answer, Mode};
use super::replay::ParsedEventId;
use super::{Server, reply};
use crate::version::{ParsedVersion, ProtocolVersion};
use crate::wire::jsonrpc::{self, Body, BodyError};
use crate::wire::media::{self, APPLICATION_JSON, TEXT_EVENT_STREAM};
use crate::wire::{HeaderError, LAST_EVENT_ID, MCP_PROTOCOL_VERSION, SessionId, single_value};

/// Which check refused a request: the row of the check table it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// Step 1: a method the endpoint does not serve in this mode.
    MethodNotAllowed,
    /// Step 2: the `Host` header names a host that is not allowed.
    ForbiddenHost,
    /// Step 2: the `Origin` header is present and not allowed (`SRV-SEC-2`, `INV-S13`).
    ForbiddenOrigin,
    /// Step 3: the declared (or actual) body is over the limit.
    BodyTooLarge,
    /// Step 3: `Content-Length` is not one decimal number.
    BadContentLength,
    /// Step 4: `Accept` lacks a required media type.
    NotAcceptable,
    /// Step 5: `Content-Type` is not `application/json`.
    UnsupportedMediaType,
    /// Step 6: `MCP-Protocol-Version` is unknown, unsupported or malformed (`SRV-VER-4`).
    UnsupportedVersion,
    /// Step 7: the session header is repeated, comma-joined, or not visible ASCII.
    MalformedSessionId,
    /// Step 8: no session header on a request that needs one (`SRV-SESS-5`).
    MissingSessionId,
    /// Step 8: the session is unknown, expired or terminated (`SRV-SESS-7`).
    UnknownSession,
    /// Step 9: the body is not JSON (-32700).
    ParseError,
    /// Step 9: the body is JSON but not JSON-RPC (-32600).
    InvalidMessage,
    /// Step 9: a batch where the revision does not allow one (`CLI-POST-4`).
    BatchNotAllowed,
    /// Step 9: `initialize` inside a batch (`CLI-POST-5`).
    InitializeInBatch,
    /// Step 10: `initialize` on a live session.
    Reinitialize,
    /// Step 11: the session cap is reached.
    SessionCap,
    /// Step 12: `Last-Event-ID` names no stream that can be resumed.
    UnknownEventId,
    /// Step 12: the session's standalone stream is already open.
    StreamConflict,
}

impl Refusal {
    /// The step of the check table that refused.
    pub fn step(self) -> u8 {
        use Refusal::*;
        match self {
            MethodNotAllowed => 1,
            ForbiddenHost | ForbiddenOrigin => 2,
            BodyTooLarge | BadContentLength => 3,
            NotAcceptable => 4,
            UnsupportedMediaType => 5,
            UnsupportedVersion => 6,
            MalformedSessionId => 7,
            MissingSessionId | UnknownSession => 8,
            ParseError | InvalidMessage | BatchNotAllowed | InitializeInBatch => 9,
            Reinitialize => 10,
            SessionCap => 11,
            UnknownEventId | StreamConflict => 12,
        }
    }
}

/// A refused request: which check refused it, and the complete response to send.
#[derive(Debug)]
pub struct Reject {
    /// The check that failed.
    pub refusal: Refusal,
    /// The response: the policy's status, `Content-Type: application/json`, a JSON-RPC
    /// error body with a `null` id (`INV-S17`), and `Allow` or `Retry-After` where they
    /// belong.
    pub response: Response<Bytes>,
}

/// A request that passed every check.
pub(super) enum Checked<'b> {
    Post {
        session: Option<SessionId>,
        version: ProtocolVersion,
        body: Body<'b>,
    },
    Get {
        session: SessionId,
    },
    /// GET with a `Last-Event-ID` that names a stream of this session kept for replay.
    Resume {
        session: SessionId,
        stream: super::StreamId,
        after: u64,
    },
    Delete {
        session: SessionId,
    },
    /// `check` ran on the head alone and found nothing to refuse yet.
    HeadOnly,
}

impl Server {
    /// Runs the checks in table order. With `body = None` the checks that need the body
    /// (steps 8 for POST, 9, 10, 11) are skipped. With `now`, a session past its idle
    /// deadline counts as gone.
    // A refusal is built once, on the refusing path; boxing it would only add an allocation.
    #[allow(clippy::result_large_err)]
    pub(super) fn check<'b>(
        &self,
        head: &request::Parts,
        body: Option<&'b Bytes>,
        now: Option<Instant>,
    ) -> Result<Checked<'b>, Reject> {
        let cfg = &self.config;
        let policy = &cfg.policy;
        let headers = &head.headers;
        let stateful = cfg.mode == Mode::Stateful;

        // Step 1: the method (`SRV-EP-1`, `SRV-EP-2`, `SRV-GET-3`, `SRV-GET-10`). Without the
        // standalone stream a GET still serves resumption, which is always a GET
        // (`BOTH-RES-7`), when streams are resumable.
        let get_served = stateful && cfg.standalone_stream;
        let resumption = stateful && cfg.replay.is_some() && headers.contains_key(LAST_EVENT_ID);
        let served = match head.method {
            Method::POST => true,
            Method::GET => get_served || resumption,
            Method::DELETE => stateful,
            _ => false,
        };
        if !served {
            let allow = match (stateful, get_served) {
                (false, _) => "POST",
                (true, true) => "GET, POST, DELETE",
                (true, false) => "POST, DELETE",
            };
            // A stateful server without the standalone stream answers GET with its own
            // policy (`SRV-GET-3`); everything else is the plain 405.
            let answer = if stateful && head.method == Method::GET {
                policy.get_stream_disabled
            } else {
                policy.method_not_allowed
            };
            let mut r = self.refuse(
                Refusal::MethodNotAllowed,
                answer,
                &format!("method {} is not allowed on the MCP endpoint", head.method),
                None,
            );
            r.response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
            return Err(r);
        }

        // Step 2: DNS-rebinding protection (`SRV-SEC-1`, `SRV-SEC-2`, `INV-S13`).
        let op = &cfg.origin_policy;
        if op.check_host {
            let host = match single_value(headers, &HOST) {
                Ok(h) => h.or_else(|| head.uri.authority().map(|a| a.as_str())),
                Err(_) => Some(""),
            };
            if let Some(host) = host {
                if !op.allows_authority(host) {
                    return Err(self.refuse(
                        Refusal::ForbiddenHost,
                        policy.forbidden_host,
                        "the Host header is not allowed",
                        None,
                    ));
                }
            }
        }
        if op.check_origin && headers.contains_key(ORIGIN) {
            let ok = matches!(single_value(headers, &ORIGIN), Ok(Some(o)) if op.allows_origin(o));
            if !ok {
                return Err(self.refuse(
                    Refusal::ForbiddenOrigin,
                    policy.forbidden_origin,
                    "the Origin header is not allowed",
                    None,
                ));
            }
        }

        // Step 3: the declared body size, decidable from the head; the actual size when
        // the body is given.
        let limit = cfg.max_body_bytes;
        let declared = match single_value(headers, &CONTENT_LENGTH) {
            Ok(None) => None,
            Ok(Some(v)) if v.bytes().all(|b| b.is_ascii_digit()) => match v.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => Some(u64::MAX), // more digits than u64: certainly too large
            },
            _ => {
                return Err(self.refuse(
                    Refusal::BadContentLength,
                    policy.bad_content_length,
                    "Content-Length must be one decimal number",
                    None,
                ));
            }
        };
        let too_large =
            declared.is_some_and(|n| n > limit as u64) || body.is_some_and(|b| b.len() > limit);
        if too_large {
            return Err(self.refuse(
                Refusal::BodyTooLarge,
                policy.body_too_large,
                &format!("the body is larger than the limit of {limit} bytes"),
                None,
            ));
        }

        // Step 4: Accept (`CLI-POST-2`, `CLI-GET-2`); wildcards and q=0 honoured.
        let acceptable = match head.method {
            Method::POST => {
                media::accepts(headers, APPLICATION_JSON, false)
                    && media::accepts(headers, TEXT_EVENT_STREAM, false)
            }
            Method::GET => media::accepts(headers, TEXT_EVENT_STREAM, false),
            _ => true,
        };
        if !acceptable {
            let what = if head.method == Method::POST {
                "Accept must list both application/json and text/event-stream"
            } else {
                "Accept must list text/event-stream"
            };
            return Err(self.refuse(Refusal::NotAcceptable, policy.not_acceptable, what, None));
        }

        // Step 5: Content-Type on POST.
        if head.method == Method::POST && !media::is_json_content_type(headers) {
            return Err(self.refuse(
                Refusal::UnsupportedMediaType,
                policy.unsupported_media_type,
                "Content-Type must be application/json",
                None,
            ));
        }

        // Step 6: MCP-Protocol-Version, when present, is known and supported
        // (`SRV-VER-4`, `INV-S14`).
        let header_version = match single_value(headers, &MCP_PROTOCOL_VERSION) {
            Ok(None) => None,
            Ok(Some(v)) => match ParsedVersion::parse(v) {
                ParsedVersion::Known(v) if cfg.supports(v) => Some(v),
                other => return Err(self.unsupported_version(&other.to_string())),
            },
            Err(_) => return Err(self.unsupported_version("")),
        };

        // Step 7: the session header's form.
        let session_header = match SessionId::from_headers(headers) {
            Ok(s) => s,
            Err(e) => {
                let message = match e {
                    HeaderError::Repeated | HeaderError::CommaJoined => {
                        "MCP-Session-Id must hold exactly one session id"
                    }
                    _ => "MCP-Session-Id must be 1 to 256 visible ASCII characters",
                };
                return Err(self.refuse(
                    Refusal::MalformedSessionId,
                    policy.malformed_session_id,
                    message,
                    None,
                ));
            }
        };

        // Stateless: the session header is ignored beyond its form (`SRV-SESS-13`).
        let session_header = if stateful { session_header } else { None };

        // Step 8, the unknown-session half: an id we do not hold gets 404 whatever the
        // body (`SRV-SESS-7`, `INV-S2`), including one past its idle deadline.
        if let Some(id) = &session_header {
            if !self.sessions.is_live(id, now) {
                return Err(self.refuse(
                    Refusal::UnknownSession,
                    policy.unknown_session,
                    "the session is unknown, expired or terminated; start a new one with initialize",
                    None,
                ));
            }
        }
        let missing_session = || {
            self.refuse(
                Refusal::MissingSessionId,
                policy.missing_session_id,
                "MCP-Session-Id is required on every request after initialize",
                None,
            )
        };

        match head.method {
            Method::GET | Method::DELETE => {
                // Step 8: GET and DELETE always need a session (`SRV-SESS-5`).
                let Some(session) = session_header else {
                    return Err(missing_session());
                };
                if head.method == Method::DELETE {
                    return Ok(Checked::Delete { session });
                }
                // Step 12: resumption (`SRV-RES-5`, `SRV-RES-6`), and one attached
                // standalone stream per session.
                if headers.contains_key(LAST_EVENT_ID) {
                    return self.check_resume(headers, session, now);
                }
                let open = self.sessions.get(&session).and_then(|e| e.standalone);
                if open.is_some_and(|s| self.streams.get(&s).is_some_and(|s| s.attached)) {
                    return Err(self.refuse(
                        Refusal::StreamConflict,
                        policy.stream_conflict,
                        "the session's standalone SSE stream is already open",
                        None,
                    ));
                }
                Ok(Checked::Get { session })
            }
            _ => {
                let Some(body) = body else {
                    return Ok(Checked::HeadOnly);
                };
                self.check_post_body(body, session_header, header_version, &missing_session)
            }
        }
    }

    /// Steps 8 (POST), 9, 10 and 11.
    #[allow(clippy::result_large_err)]
    fn check_post_body<'b>(
        &self,
        body: &'b Bytes,
        session: Option<SessionId>,
        header_version: Option<ProtocolVersion>,
        missing_session: &dyn Fn() -> Reject,
    ) -> Result<Checked<'b>, Reject> {
        let cfg = &self.config;
        let policy = &cfg.policy;
        let stateful = cfg.mode == Mode::Stateful;
        // Parsed once; step 8 needs to know whether this is `initialize`, step 9 reports.
        let parsed = jsonrpc::classify(body);
        let is_initialize = matches!(&parsed, Ok(Body::Single(e)) if e.is_initialize());

        // Step 8: a session-less POST must be `initialize` (`SRV-SESS-5`, `INV-S3`).
        if stateful && session.is_none() && !is_initialize {
            return Err(missing_session());
        }

        // The revision that governs this request: the session's, else the header's, else
        // 2025-03-26 (`SRV-VER-3`).
        let version = session
            .as_ref()
            .and_then(|s| self.sessions.get(s))
            .map(|e| e.record.protocol_version)
            .or(header_version)
            .unwrap_or(ProtocolVersion::ASSUMED_WITHOUT_HEADER);

        // Step 9: the body.
        let body = match parsed {
            Ok(b) => b,
            Err(BodyError::Parse(e)) => {
                return Err(self.refuse(
                    Refusal::ParseError,
                    policy.parse_error,
                    &format!("parse error: {e}"),
                    None,
                ));
            }
            Err(BodyError::Invalid(e)) => {
                return Err(self.refuse(
                    Refusal::InvalidMessage,
                    policy.invalid_message,
                    &format!("invalid JSON-RPC message: {e}"),
                    None,
                ));
            }
        };
        if let Body::Batch(messages) = &body {
            if !version.allows_batches() {
                return Err(self.refuse(
                    Refusal::BatchNotAllowed,
                    policy.batch_rejected,
                    &format!("JSON-RPC batches are not allowed in protocol version {version}"),
                    None,
                ));
            }
            if messages.iter().any(|m| m.is_initialize()) {
                return Err(self.refuse(
                    Refusal::InitializeInBatch,
                    policy.batch_rejected,
                    "initialize must not be part of a JSON-RPC batch",
                    None,
                ));
            }
            // A batch either holds requests/notifications or responses (`CLI-POST-3`),
            // and no request id twice, so each answer has exactly one slot.
            let responses = messages.iter().filter(|m| m.kind.is_response()).count();
            let mut ids: Vec<_> = messages
                .iter()
                .filter(|m| m.kind == jsonrpc::MessageKind::Request)
                .filter_map(|m| m.id.as_ref())
                .collect();
            let requests = ids.len();
            ids.sort_unstable();
            ids.dedup();
            if (responses != 0 && responses != messages.len()) || ids.len() != requests {
                return Err(self.refuse(
                    Refusal::InvalidMessage,
                    policy.invalid_message,
                    "a batch mixes requests and responses, or repeats a request id",
                    None,
                ));
            }
        }

        if is_initialize && stateful {
            // Step 10: `initialize` on a live session (`INV-S18`).
            if session.is_some() {
                return Err(self.refuse(
                    Refusal::Reinitialize,
                    policy.reinitialize,
                    "the session is already initialized; send initialize without MCP-Session-Id to start a new one",
                    None,
                ));
            }
            // Step 11: the cap counts live sessions and initializes awaiting an answer.
            if let Some(cap) = cfg.max_sessions {
                if self.sessions.len() + self.pending_initializes >= cap {
                    let mut r = self.refuse(
                        Refusal::SessionCap,
                        policy.session_cap,
                        "too many sessions; retry later",
                        None,
                    );
                    let secs = policy.session_cap_retry_after.as_secs().max(1);
                    r.response
                        .headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from(secs));
                    return Err(r);
                }
            }
        }
        Ok(Checked::Post {
            session,
            version,
            body,
        })
    }

    /// Step 12 for a GET carrying `Last-Event-ID`: the id must be one of ours (this
    /// machine's salt), name a stream of this very session that is still kept, and a
    /// position that stream has reached; the stream must have no live connection.
    #[allow(clippy::result_large_err)]
    fn check_resume<'b>(
        &self,
        headers: &http::HeaderMap,
        session: SessionId,
        now: Option<Instant>,
    ) -> Result<Checked<'b>, Reject> {
        let policy = &self.config.policy;
        let unknown = || {
            self.refuse(
                Refusal::UnknownEventId,
                policy.unknown_event_id,
                "Last-Event-ID names no stream of this session that can be resumed",
                None,
            )
        };
        let Ok(Some(value)) = single_value(headers, &LAST_EVENT_ID) else {
            return Err(unknown());
        };
        if self.config.replay.is_none() {
            return Err(unknown());
        }
        let ParsedEventId::Ours(pos) = self.event_ids.parse(value) else {
            return Err(unknown());
        };
        let stream = super::StreamId(pos.stream);
        let (owner, next_seq, attached) =
            match (self.streams.get(&stream), self.retained.get(&stream)) {
                (Some(s), _) => match &s.replay {
                    Some(r) => (s.session.as_ref(), r.next_seq, s.attached),
                    None => return Err(unknown()),
                },
                // A finished stream whose replay window has closed is gone, even before the
                // driver's timer drops it.
                (None, Some(r)) if now.is_none_or(|now| now < r.until) => {
                    (Some(&r.session), r.next_seq, false)
                }
                (None, Some(_)) => return Err(unknown()),
                (None, None) => return Err(unknown()),
            };
        // Never another session's stream (`SRV-RES-6`), never a position not yet reached.
        if owner != Some(&session) || pos.seq >= next_seq {
            return Err(unknown());
        }
        if attached {
            return Err(self.refuse(
                Refusal::StreamConflict,
                policy.stream_conflict,
                "the stream named by Last-Event-ID is attached to another connection",
                None,
            ));
        }
        Ok(Checked::Resume {
            session,
            stream,
            after: pos.seq,
        })
    }

    fn unsupported_version(&self, requested: &str) -> Reject {
        let supported: Vec<&str> = self
            .config
            .supported_versions
            .iter()
            .map(|v| v.as_str())
            .collect();
        let data = serde_json::json!({ "supported": supported, "requested": requested });
        self.refuse(
            Refusal::UnsupportedVersion,
            self.config.policy.unsupported_version,
            &format!(
                "unsupported MCP-Protocol-Version {requested:?}; supported: {}",
                supported.join(", ")
            ),
            Some(&data),
        )
    }

    fn refuse(
        &self,
        refusal: Refusal,
        answer: Answer,
        message: &str,
        data: Option<&serde_json::Value>,
    ) -> Reject {
        Reject {
            refusal,
            response: reply::error(answer, message, data),
        }
    }
}
