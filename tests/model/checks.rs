//! The check table (steps 1..12 of `src/server/pipeline.rs`) restated over what the
//! client knows: the outcome of a request of the alphabet. `Refusal` only names the row;
//! the status and code the client gets are the policy's answer to it.

use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::{Refusal, StreamId};
use mcp_http_proto::wire::jsonrpc::MessageKind;

use super::Model;
use super::alphabet::*;

/// What becomes of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Refuse(Refusal),
    /// 202, nothing to answer (`SRV-POST-7`, `INV-S4`).
    Accepted,
    /// The requests go to the application; the client reads the reply.
    Dispatch,
    /// The session's GET stream opens (`INV-S6`).
    Opened,
    /// DELETE ended the session.
    Deleted,
    /// GET + `Last-Event-ID` resumed this stream.
    Resumed(StreamId),
}

/// The outcome of `r`. `last_event_id` is there when a GET carries one, with the
/// position it names when it is one of this machine's ids.
pub fn predict(
    m: &Model,
    r: &Req,
    sess: &Sess,
    class: &Class,
    body_len: usize,
    last_event_id: Option<Option<(StreamId, u64)>>,
) -> Expect {
    use Refusal::*;
    let cfg = &m.cfg;
    let stateful = m.stateful();
    let refuse = Expect::Refuse;
    // Step 1: POST always; GET for the session's stream, or to resume (always a GET,
    // `BOTH-RES-7`) when replay is on; DELETE with sessions. A session-era server
    // without the GET stream answers GET with its own refusal (`SRV-GET-3`).
    let served = match r.method {
        Meth::Post => true,
        Meth::Get => {
            stateful && (cfg.standalone_stream || (cfg.replay.is_some() && last_event_id.is_some()))
        }
        Meth::Delete => stateful,
        Meth::Put => false,
    };
    if !served {
        return refuse(if stateful && r.method == Meth::Get {
            StandaloneStreamDisabled
        } else {
            MethodNotAllowed
        });
    }
    // Step 2 (`INV-S13`): a foreign Host, or an Origin present and not allowed.
    if r.host == HostV::Repeated {
        return refuse(BadHost);
    }
    if r.host == HostV::Foreign {
        return refuse(ForbiddenHost);
    }
    if matches!(r.origin, OriginV::Foreign | OriginV::Null) {
        return refuse(ForbiddenOrigin);
    }
    // Step 3.
    match r.cl {
        ClV::Malformed => return refuse(BadContentLength),
        ClV::Oversize => return refuse(BodyTooLarge),
        ClV::Absent => {}
    }
    if body_len > cfg.max_body_bytes {
        return refuse(BodyTooLarge);
    }
    // Step 4: POST accepts both media types; GET the event stream.
    let acceptable = match r.method {
        Meth::Post => matches!(r.accept, AcceptV::Both | AcceptV::Wildcard),
        Meth::Get => matches!(
            r.accept,
            AcceptV::Both | AcceptV::SseOnly | AcceptV::Wildcard
        ),
        _ => true,
    };
    if !acceptable {
        return refuse(NotAcceptable);
    }
    // Step 5.
    if r.method == Meth::Post && !matches!(r.ct, CtV::Json | CtV::JsonCharset) {
        return refuse(UnsupportedMediaType);
    }
    // Step 6 (`INV-S14`): a version header present must be served; a modern one on a
    // server that serves no modern version gets an answer that is no modern error
    // (`N26-20`).
    let header_version = match r.version {
        VerV::Absent => None,
        VerV::Known(v) if cfg.supports(v) => Some(v),
        VerV::Known(v) if !v.has_initialize() && !cfg.serves_modern() => {
            return refuse(ModernNotServed);
        }
        _ => return refuse(UnsupportedVersion),
    };
    // Step 7.
    let id = match sess {
        Sess::CommaJoined | Sess::Repeated | Sess::NonAscii => return refuse(MalformedSessionId),
        Sess::None => None,
        Sess::Id(id, _) => Some(id.clone()),
    };
    // Stateless: the header is ignored beyond its form (`SRV-SESS-13`).
    let id = if stateful { id } else { None };
    // Step 8 (`INV-S2`, `SRV-SESS-7`): an id the client holds no live session for gets
    // 404, also one past its idle deadline whose timer has not run.
    if let Some(id) = &id {
        if !m.is_live(id) {
            return refuse(UnknownSession);
        }
    }
    match r.method {
        Meth::Delete => {
            return if id.is_some() {
                Expect::Deleted
            } else {
                refuse(MissingSessionId)
            };
        }
        Meth::Get => {
            let Some(id) = id else {
                return refuse(MissingSessionId);
            };
            if let Some(position) = last_event_id {
                return predict_resume(m, &id, position);
            }
            // Step 12: one GET stream read at a time; one the server closed early is
            // replaced.
            let listening = m.live[&id].listening;
            if listening
                .is_some_and(|s| m.streams.get(&s).is_some_and(|st| st.reading_on.is_some()))
            {
                return refuse(StreamConflict);
            }
            return Expect::Opened;
        }
        _ => {}
    }
    let is_init = matches!(
        class,
        Class::Single {
            initialize: true,
            ..
        }
    );
    // Step 8 (`INV-S3`): only `initialize` comes without a session.
    if stateful && id.is_none() && !is_init {
        return refuse(MissingSessionId);
    }
    // The revision that governs the body: the session's, else the header's, else
    // 2025-03-26 (`SRV-VER-3`).
    let version = id
        .as_ref()
        .map(|i| m.live[i].version)
        .or(header_version)
        .unwrap_or(ProtocolVersion::V2025_03_26);
    // Step 9.
    let has_request = match class {
        Class::Parse => return refuse(ParseError),
        Class::Invalid => return refuse(InvalidMessage),
        Class::Single { kind, .. } => *kind == MessageKind::Request,
        Class::Batch {
            requests,
            initialize,
            responses,
            len,
            ..
        } => {
            if version != ProtocolVersion::V2025_03_26 {
                return refuse(BatchNotAllowed);
            }
            if *initialize {
                return refuse(InitializeInBatch);
            }
            let mut unique = requests.clone();
            unique.sort();
            unique.dedup();
            if (*responses != 0 && responses != len) || unique.len() != requests.len() {
                return refuse(InvalidMessage);
            }
            !requests.is_empty()
        }
    };
    if is_init && stateful {
        // Step 10 (`INV-S18`).
        if id.is_some() {
            return refuse(Reinitialize);
        }
        // Step 11: live sessions and `initialize` requests awaiting their answer.
        if cfg
            .max_sessions
            .is_some_and(|cap| m.live.len() + m.initializes_unanswered() >= cap)
        {
            return refuse(SessionCap);
        }
    }
    if has_request {
        Expect::Dispatch
    } else {
        Expect::Accepted
    }
}

/// Step 12 for GET + `Last-Event-ID` (`SRV-RES-5`, `SRV-RES-6`): the id must be one of
/// this machine's, and name a stream of this session the client could resume, at a
/// position it has reached; a stream the client reads now is a conflict.
fn predict_resume(m: &Model, session: &str, position: Option<(StreamId, u64)>) -> Expect {
    let unknown = Expect::Refuse(Refusal::UnknownEventId);
    if m.cfg.replay.is_none() {
        return unknown;
    }
    let Some((stream, seq)) = position else {
        return unknown;
    };
    let Some((owner, next_seq, read_now)) = m.resume_point(stream) else {
        return unknown;
    };
    if owner != session || seq >= next_seq {
        return unknown;
    }
    if read_now {
        return Expect::Refuse(Refusal::StreamConflict);
    }
    Expect::Resumed(stream)
}
