//! The one table of refusals: every check of the pipeline that can refuse a request, the
//! step it belongs to, and its default answer. [`Policy`] answers a refusal; nothing else
//! lists them.
//!
//! Adding a check is one row in the `refusals!` table below, the branch in
//! `pipeline.rs` that returns it, and its test.

use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::wire::jsonrpc::{
    HEADER_MISMATCH, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, SERVER_ERROR,
    SESSION_NOT_FOUND, UNSUPPORTED_PROTOCOL_VERSION,
};

/// A status and a JSON-RPC error code: what the server answers when a check fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON-RPC `error.code` of the body.
    pub code: i32,
}

impl Answer {
    /// An answer.
    pub const fn new(status: StatusCode, code: i32) -> Self {
        Self { status, code }
    }
}

macro_rules! refusals {
    ($( $(#[$doc:meta])* $name:ident = $step:literal, $status:ident, $code:ident; )*) => {
        /// Which check refused a request: a row of the check table.
        ///
        /// | refusal | step | default answer |
        /// | --- | --- | --- |
        $( #[doc = concat!("| [`", stringify!($name), "`](Refusal::", stringify!($name), ") | ", stringify!($step), " | ", stringify!($status), ", ", stringify!($code), " |")] )*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Refusal {
            $( $(#[$doc])* $name, )*
        }

        impl Refusal {
            /// Every refusal, in table order.
            pub const ALL: &'static [Refusal] = &[$(Refusal::$name),*];

            /// The step of the check table that refuses with it.
            pub const fn step(self) -> u8 {
                match self { $(Refusal::$name => $step,)* }
            }

            /// Its default answer (the spec's where it speaks, the SDKs' common practice
            /// where it does not, `ERR-SDK`).
            pub const fn default_answer(self) -> Answer {
                match self { $(Refusal::$name => Answer::new(StatusCode::$status, $code),)* }
            }
        }
    };
}

refusals! {
    /// Step 1: a method the endpoint does not serve (405 + `Allow`, `SRV-EP-2`, `SRV-EP-3`).
    MethodNotAllowed = 1, METHOD_NOT_ALLOWED, SERVER_ERROR;
    /// Step 1: GET on a session-era server whose standalone stream is off (`SRV-GET-3`).
    StandaloneStreamDisabled = 1, METHOD_NOT_ALLOWED, SERVER_ERROR;
    /// Step 2: `Host` is repeated, comma-joined or not a valid field value: 400, as RFC
    /// 9112 §3.2 requires.
    BadHost = 2, BAD_REQUEST, INVALID_REQUEST;
    /// Step 2: the `Host` header names a host that is not allowed (the spec names no
    /// status for `Host`; a proxy may prefer 421).
    ForbiddenHost = 2, FORBIDDEN, SERVER_ERROR;
    /// Step 2: the `Origin` header is present and not allowed (`SRV-SEC-2`, `INV-S13`).
    ForbiddenOrigin = 2, FORBIDDEN, SERVER_ERROR;
    /// Step 3: the declared (or actual) body is over the limit.
    BodyTooLarge = 3, PAYLOAD_TOO_LARGE, SERVER_ERROR;
    /// Step 3: `Content-Length` is not one decimal number.
    BadContentLength = 3, BAD_REQUEST, INVALID_REQUEST;
    /// Step 4: `Accept` lacks a required media type (`CLI-POST-2`, `CLI-GET-2`).
    NotAcceptable = 4, NOT_ACCEPTABLE, SERVER_ERROR;
    /// Step 5: `Content-Type` is not `application/json`.
    UnsupportedMediaType = 5, UNSUPPORTED_MEDIA_TYPE, SERVER_ERROR;
    /// Step 6: the request's era and version are not served: `MCP-Protocol-Version` is
    /// unknown, unsupported or malformed (`SRV-VER-4`), or the request is of the
    /// 2026-07-28 revision, which this server does not serve. The data lists the
    /// supported versions (`VER-26`).
    UnsupportedVersion = 6, BAD_REQUEST, UNSUPPORTED_PROTOCOL_VERSION;
    /// Step 6: a request of a modern revision (2026-07-28, or an unknown later one) on a
    /// server that serves only the session era. -32022 would tell a dual-era client that
    /// the server is modern and make it retry a modern version instead of falling back
    /// (the 2026-07-28 "Backward Compatibility" rule); this 400 with -32600 is no modern
    /// error, so it falls back to `initialize`. The message and the data name the
    /// supported versions (`N26-20`).
    ModernNotServed = 6, BAD_REQUEST, INVALID_REQUEST;
    /// Step 7: the session header is repeated, comma-joined, or not visible ASCII.
    MalformedSessionId = 7, BAD_REQUEST, INVALID_REQUEST;
    /// Step 8: no session header on a request that needs one (`SRV-SESS-5`).
    MissingSessionId = 8, BAD_REQUEST, INVALID_REQUEST;
    /// Step 8: the session is unknown, expired or terminated (`SRV-SESS-7`).
    UnknownSession = 8, NOT_FOUND, SESSION_NOT_FOUND;
    /// Step 8, with a shared session store: the store could not be read (or a write a
    /// reply waited for failed): 503 + `Retry-After`, and nothing changed.
    StoreUnavailable = 8, SERVICE_UNAVAILABLE, SERVER_ERROR;
    /// Step 9: the body is not JSON (-32700).
    ParseError = 9, BAD_REQUEST, PARSE_ERROR;
    /// Step 9: the body is JSON but not JSON-RPC (-32600).
    InvalidMessage = 9, BAD_REQUEST, INVALID_REQUEST;
    /// Step 9: a batch where the revision does not allow one (`CLI-POST-4`).
    BatchNotAllowed = 9, BAD_REQUEST, INVALID_REQUEST;
    /// Step 9: `initialize` inside a batch (`CLI-POST-5`).
    InitializeInBatch = 9, BAD_REQUEST, INVALID_REQUEST;
    /// Step 9, 2026-07-28: a request metadata header (`MCP-Protocol-Version`,
    /// `Mcp-Method`, `Mcp-Name`) is missing, malformed, or disagrees with the body
    /// (`N26-6`, `N26-7`, `N26-12`, `N26-15`): -32020 `HeaderMismatch`.
    HeaderMismatch = 9, BAD_REQUEST, HEADER_MISMATCH;
    /// Step 9, 2026-07-28: a method this revision removed (`initialize`, `ping`,
    /// `logging/setLevel`, `resources/subscribe`, `resources/unsubscribe`) is an unknown
    /// method: 404 with -32601 (`N26-9`).
    RemovedMethod = 9, NOT_FOUND, METHOD_NOT_FOUND;
    /// Step 9, 2026-07-28: `_meta` lacks the protocol version or the client
    /// capabilities (`N26-13`): -32602.
    MissingMeta = 9, BAD_REQUEST, INVALID_PARAMS;
    /// Step 10: `initialize` on a live session (`INV-S18`).
    Reinitialize = 10, BAD_REQUEST, INVALID_REQUEST;
    /// Step 11: the session cap is reached (503 + `Retry-After`).
    SessionCap = 11, SERVICE_UNAVAILABLE, SERVER_ERROR;
    /// Step 11: the session already has
    /// [`max_streams_per_session`](crate::server::ServerConfig::max_streams_per_session)
    /// streams open (429 + `Retry-After`).
    TooManyStreams = 11, TOO_MANY_REQUESTS, SERVER_ERROR;
    /// Step 12: `Last-Event-ID` names no stream that can be resumed: malformed, minted by
    /// another server, of another session, or of a stream no longer kept (ambiguity 20).
    UnknownEventId = 12, BAD_REQUEST, INVALID_REQUEST;
    /// Step 12: the stream asked for is attached to another connection (ambiguity 24).
    StreamConflict = 12, CONFLICT, SERVER_ERROR;
}

impl Refusal {
    /// The position of this refusal in [`Refusal::ALL`].
    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|r| *r == self)
            .expect("every refusal is in ALL")
    }
}

/// Every status and JSON-RPC code the server answers with: one [`Answer`] per
/// [`Refusal`], starting from each refusal's default. The order of the checks is fixed;
/// only the answers change.
///
/// ```
/// use http::StatusCode;
/// use mcp_http_proto::server::{Answer, Policy, Refusal};
///
/// // A proxy that wants 421 for a foreign Host, and 204 for DELETE.
/// let mut policy = Policy::default()
///     .with(Refusal::ForbiddenHost, Answer::new(StatusCode::MISDIRECTED_REQUEST, -32000));
/// policy.delete_status = StatusCode::NO_CONTENT;
/// assert_eq!(policy.answer(Refusal::ForbiddenHost).status, 421);
/// assert_eq!(policy.answer(Refusal::ForbiddenOrigin).status, 403);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    answers: Vec<Answer>,
    /// The `Retry-After` of a [`Refusal::SessionCap`] answer (default 5 seconds).
    pub session_cap_retry_after: Duration,
    /// The `Retry-After` of a [`Refusal::StoreUnavailable`] answer (default 1 second).
    pub store_retry_after: Duration,
    /// The status of a successful DELETE (200; the spec names none, `NOTE-SESS-12`).
    pub delete_status: StatusCode,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            answers: Refusal::ALL.iter().map(|r| r.default_answer()).collect(),
            session_cap_retry_after: Duration::from_secs(5),
            store_retry_after: Duration::from_secs(1),
            delete_status: StatusCode::OK,
        }
    }
}

impl Policy {
    /// The answer to `refusal`.
    pub fn answer(&self, refusal: Refusal) -> Answer {
        self.answers[refusal.index()]
    }

    /// Sets the answer to `refusal`.
    pub fn set(&mut self, refusal: Refusal, answer: Answer) -> &mut Self {
        self.answers[refusal.index()] = answer;
        self
    }

    /// This policy with the answer to `refusal` set.
    #[must_use]
    pub fn with(mut self, refusal: Refusal, answer: Answer) -> Self {
        self.set(refusal, answer);
        self
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
    /// Why, in words (also the body's `error.message`): for logs.
    pub reason: Box<str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_in_step_order_and_every_default_is_an_error_status() {
        let steps: Vec<u8> = Refusal::ALL.iter().map(|r| r.step()).collect();
        let mut sorted = steps.clone();
        sorted.sort_unstable();
        assert_eq!(steps, sorted);
        for r in Refusal::ALL {
            let a = r.default_answer();
            assert!(
                a.status.is_client_error() || a.status.is_server_error(),
                "{r:?}"
            );
            assert!(a.code < 0, "{r:?}");
        }
    }

    #[test]
    fn the_policy_answers_each_refusal_on_its_own() {
        let p = Policy::default().with(Refusal::BatchNotAllowed, Answer::new(StatusCode::GONE, -1));
        assert_eq!(
            p.answer(Refusal::BatchNotAllowed),
            Answer::new(StatusCode::GONE, -1)
        );
        assert_eq!(
            p.answer(Refusal::InitializeInBatch),
            Refusal::InitializeInBatch.default_answer()
        );
    }
}
