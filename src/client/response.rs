//! What a response means, decided from its head and from what its body held (`INV-C10`,
//! `INV-C17`, ambiguities 16 and 24). The functions here are pure: they return what to
//! do, and [`Machine`](super::machine::Machine) carries it out.
//!
//! ```text
//!  head ─┬─ 404 with the current session (CLI-SESS-8) ─────────────────────▶ Expired
//!        ├─ DELETE ────────────────────────────────────────────────────────▶ Closed
//!        ├─ POST: error status ─▶ Read(Error) ─end─▶ ErrorStatus
//!        │        no requests, or legacy ─▶ Read(Discard)
//!        │        202 / other type ─▶ Refused      JSON ─▶ Read(Json) ─end─▶ Body
//!        │        SSE ─▶ Stream (initialize: Read(Sse), no logical stream) ─end─▶ Lost
//!        ├─ standalone GET: SSE ─▶ Stream   405 ─▶ Unavailable   409 / else ─▶ Closed
//!        ├─ resuming GET:   SSE ─▶ Resumed  else ─▶ ResumeFailed
//!        └─ legacy GET:     SSE ─▶ Read(Sse) else ─▶ ProbeFailed
//! ```

use bytes::Bytes;
use http::StatusCode;

use super::event::{ProtocolErrorKind, RequestFailure};
use super::exchanges::{Finished, Kind, Media, Read, Reader};
use super::reconnect::Standalone;

/// What to do with a response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum OnHead {
    /// The DELETE was answered (`CLI-SESS-9`).
    Closed,
    /// Read the body this way.
    Read(Reader),
    /// The head breaks the protocol: the requests of the POST fail.
    Refused(ProtocolErrorKind),
    /// A new logical SSE stream: the POST's (its requests wait on it) or the standalone
    /// one.
    Stream,
    /// A resumption got its stream back.
    Resumed,
    /// The standalone stream is in this state now; `failed`: report the head.
    Standalone { state: Standalone, failed: bool },
    /// A resumption failed: report the head; the stream is given up.
    ResumeFailed(RequestFailure),
    /// The legacy probe failed: `initialize` failed.
    ProbeFailed,
}

/// What a head of `kind` with `status` and `media` means; `legacy` when the client uses
/// the 2024-11-05 transport.
pub(super) fn on_head(kind: &Kind, status: StatusCode, media: Media, legacy: bool) -> OnHead {
    let sse = status.is_success() && media == Media::Sse;
    match kind {
        Kind::Delete => OnHead::Closed,
        Kind::Initialize | Kind::Discover | Kind::Post { .. } => {
            let answers = match kind {
                Kind::Post { requests } => !requests.is_empty(),
                _ => true,
            };
            if !status.is_success() {
                OnHead::Read(Reader::Error)
            } else if !answers || legacy {
                // INV-C10: a 202 (or any 2xx) completes a POST of notifications or
                // responses; legacy replies come on the GET stream (LEG-4).
                OnHead::Read(Reader::Discard)
            } else if status == StatusCode::ACCEPTED {
                OnHead::Refused(ProtocolErrorKind::AcceptedWithRequests)
            } else if media == Media::Other {
                OnHead::Refused(ProtocolErrorKind::UnexpectedContentType)
            } else if media == Media::Json {
                OnHead::Read(Reader::Json)
            } else if matches!(kind, Kind::Initialize | Kind::Discover) {
                // No session yet: this stream cannot be resumed, so no logical stream.
                OnHead::Read(Reader::Sse)
            } else {
                OnHead::Stream
            }
        }
        Kind::Standalone if sse => OnHead::Stream,
        // INV-C17: no standalone stream; the session stays as it is.
        Kind::Standalone if status == StatusCode::METHOD_NOT_ALLOWED => OnHead::Standalone {
            state: Standalone::Unavailable,
            failed: false,
        },
        // Ambiguity 24: a 409 says another GET stream is open; not a failure.
        Kind::Standalone => OnHead::Standalone {
            state: Standalone::Closed,
            failed: status != StatusCode::CONFLICT,
        },
        Kind::Get if sse => OnHead::Resumed,
        Kind::Get if status.is_success() => OnHead::ResumeFailed(RequestFailure::Protocol),
        Kind::Get => OnHead::ResumeFailed(RequestFailure::Http(status)),
        Kind::LegacyProbe if sse => OnHead::Read(Reader::Sse),
        Kind::LegacyProbe => OnHead::ProbeFailed,
    }
}

/// What to do once an exchange is over.
#[derive(Debug)]
pub(super) enum OnEnd {
    /// A complete JSON body: route its messages, then check that none is missing.
    Body(Bytes),
    /// The (start of the) body of an error status.
    ErrorStatus(Bytes),
    /// The SSE connection (or the request of a GET) is gone (`CLI-RES-4`).
    Lost,
    /// The request may or may not have been processed (ambiguity 16): its requests fail
    /// with [`RequestFailure::OutcomeUnknown`].
    OutcomeUnknown,
    /// The standalone GET failed before its head.
    StandaloneEnded,
    /// Nothing more.
    Nothing,
}

/// What the end of `f` means; `complete` when the body arrived whole.
pub(super) fn on_end(f: &mut Finished, complete: bool) -> OnEnd {
    match std::mem::replace(&mut f.body, Read::Discard) {
        Read::Json(buf) if complete => OnEnd::Body(buf),
        Read::Error(buf) => OnEnd::ErrorStatus(buf),
        Read::Sse => OnEnd::Lost,
        Read::Json(_) => OnEnd::OutcomeUnknown,
        Read::Discard if !f.head => match f.kind {
            Kind::Get | Kind::LegacyProbe => OnEnd::Lost,
            Kind::Standalone => OnEnd::StandaloneEnded,
            _ => OnEnd::OutcomeUnknown,
        },
        Read::Discard => OnEnd::Nothing,
    }
}
