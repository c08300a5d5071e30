//! The ordered checks every request goes through: a pure function over a read-only view
//! of the machine. A refused request changes nothing, because nothing here can.
//!
//! | step | check | refusals |
//! | --- | --- | --- |
//! | 1 | method is POST, GET or DELETE (as the configuration serves them) | `MethodNotAllowed`, `StandaloneStreamDisabled` (405 + `Allow`) |
//! | 2 | `Host` sent once; the target authority (absolute form wins) and `Origin` allowed | `BadHost` (400), `ForbiddenHost`, `ForbiddenOrigin` (403) |
//! | 3 | declared body size within the limit | `BodyTooLarge` (413), `BadContentLength` (400) |
//! | 4 | `Accept` (POST: json + event-stream; GET: event-stream) | `NotAcceptable` (406) |
//! | 5 | `Content-Type` is `application/json` on POST | `UnsupportedMediaType` (415) |
//! | 6 | the era ([`era::classify`]) and its version are served | `UnsupportedVersion` (400, -32022); `ModernNotServed` (400, -32600) for a modern request to a session-era-only server |
//! | 7 | session header single-valued and visible ASCII | `MalformedSessionId` (400) |
//! | 8 | session required but missing ⇒ 400; unknown or terminated ⇒ 404 | `MissingSessionId`, `UnknownSession` |
//! | 9 | body is JSON, is JSON-RPC, batch only where allowed, no `initialize` in a batch | `ParseError`, `InvalidMessage`, `BatchNotAllowed`, `InitializeInBatch` (400) |
//! | 10 | `initialize` on a live session | `Reinitialize` (400) |
//! | 11 | session cap reached (on a new `initialize`); the session's open streams at their cap (a request-bearing POST, a standalone GET) | `SessionCap` (503 + `Retry-After`), `TooManyStreams` (429 + `Retry-After`) |
//! | 12 | GET: `Last-Event-ID` resumable; the stream not attached elsewhere | `UnknownEventId` (400), `StreamConflict` (409) |
//!
//! Every answer comes from [`Policy::answer`](super::Policy::answer); the order is fixed.

use std::time::Instant;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, HOST, ORIGIN, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, request};

use super::config::ServerConfig;
use super::era::{self, Era};
use super::lookalike::{self, Meant};
use super::refusal::{Refusal, Reject};
use super::replay::{EventIds, ParsedEventId};
use super::reply;
use super::sessions::Sessions;
use super::store::StreamKey;
use super::streams::Streams;
use crate::handle::StreamId;
use crate::version::ProtocolVersion;
use crate::wire::jsonrpc::{self, Body, BodyError};
use crate::wire::media;
use crate::wire::{
    HeaderError, LAST_EVENT_ID, MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, MCP_SESSION_ID,
    SessionId, codec, single_value,
};

/// What the checks read.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    pub config: &'a ServerConfig,
    pub sessions: &'a Sessions,
    pub streams: &'a Streams,
    /// This machine's event ids.
    pub events: &'a EventIds,
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
        stream: StreamId,
        after: u64,
    },
    Delete {
        session: SessionId,
    },
    /// A POST of the stateless 2026-07-28 revision: one request or notification whose
    /// metadata headers agree with its body.
    Modern {
        version: ProtocolVersion,
        body: Body<'b>,
    },
    /// With a shared store: steps 1 to 7 passed and the request names a session this
    /// node does not hold; its record decides step 8.
    Fetch {
        session: SessionId,
    },
    /// With a shared store: a GET whose `Last-Event-ID` names a stream this node does
    /// not hold (another node's, an earlier run's, or one that left with its session);
    /// the store's copy decides step 12.
    FetchStream {
        session: SessionId,
        stream: StreamKey,
        after: u64,
    },
    /// The checks ran on the head alone and found nothing to refuse yet.
    HeadOnly,
}

type Checks<T> = Result<T, Reject>;

/// Builds the refusal: the policy's answer, a JSON-RPC error body with a null id.
fn refuse(cfg: &ServerConfig, refusal: Refusal, message: &str) -> Reject {
    refuse_with(cfg, refusal, message, None)
}

fn refuse_with(
    cfg: &ServerConfig,
    refusal: Refusal,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Reject {
    refuse_to(cfg, refusal, message, data, None)
}

/// A refusal whose JSON-RPC error names request `id`: a 2026-07-28 request whose body was
/// read is answered as itself (its error carries its id).
fn refuse_to(
    cfg: &ServerConfig,
    refusal: Refusal,
    message: &str,
    data: Option<&serde_json::Value>,
    id: Option<&jsonrpc::RequestId>,
) -> Reject {
    // Messages quote what the peer sent (header values, methods, names): what an error
    // echoes is bounded, whatever the peer sent.
    let message = bounded(message, MAX_MESSAGE);
    let message = message.as_ref();
    Reject {
        refusal,
        response: reply::error_to(id, cfg.policy.answer(refusal), message, data),
        reason: message.into(),
    }
}

/// Runs the checks in table order. With `body = None` the checks that need the body
/// (step 8 for POST, 9, 10, 11) are skipped. With `now`, a session past its idle
/// deadline counts as gone.
// A refusal is built once, on the refusing path; boxing it would only add an allocation.
#[allow(clippy::result_large_err)]
pub(super) fn check<'b>(
    view: View<'_>,
    head: &request::Parts,
    body: Option<&'b Bytes>,
    now: Option<Instant>,
) -> Checks<Checked<'b>> {
    let cfg = view.config;
    let headers = &head.headers;
    check_method(cfg, head)?;
    check_origin(cfg, head)?;
    check_size(cfg, headers, body)?;
    check_media(cfg, head)?;

    // The body is parsed once, here: the era classifier reads its `_meta`, and step 9
    // reports what is wrong with it. Parsing refuses nothing by itself. A batch without a
    // session header on a stateful server is the exception: a batch is neither
    // `initialize` nor a 2026-07-28 request (and carries no era of its own), so step 8
    // refuses it whatever it holds, and it is not parsed (a 4 MiB batch would cost tens
    // of MiB and milliseconds for nothing).
    let sessionless_batch = head.method == Method::POST
        && cfg.is_stateful()
        && body.is_some_and(|b| b.trim_ascii_start().first() == Some(&b'['))
        && !headers.contains_key(MCP_SESSION_ID);
    let parsed = match (&head.method, body) {
        (&Method::POST, Some(b)) if !sessionless_batch => Some(jsonrpc::classify(b)),
        _ => None,
    };
    // Step 6: the era, decided once for the whole request.
    let era = era::classify(headers, parsed.as_ref().and_then(|p| p.as_ref().ok()));
    let initialize = matches!(&parsed, Some(Ok(Body::Single(e))) if e.is_initialize());
    // A request written for 2026-07-28 (its `_meta` names a protocol version, whatever
    // it is) is refused as itself: the error carries its id (SEP-2575). Session-era
    // refusals keep the null id the SDKs send. The id is read on the refusing path only.
    let served = check_era(cfg, headers, &era, initialize, None).or_else(|_| {
        check_era(
            cfg,
            headers,
            &era,
            initialize,
            modern_request_id(&parsed).as_ref(),
        )
    });
    if served.is_err() && head.method == Method::POST && body.is_none() {
        // On the head alone a POST's version refusal waits for the body: a 2026-07-28
        // request's error must carry its id, and its `_meta` may change the era. Nothing
        // later is checked either, so the table's order holds.
        return Ok(Checked::HeadOnly);
    }
    let header_version = match served? {
        Served::Session(v) => v,
        Served::Modern(version) => {
            // `N26-10`: GET and DELETE are not part of 2026-07-28; `Mcp-Session-Id` and
            // `Last-Event-ID` are ignored (nothing is read, minted or echoed).
            if head.method != Method::POST {
                let mut r = refuse(
                    cfg,
                    Refusal::MethodNotAllowed,
                    &format!(
                        "method {} is not part of protocol version {version}",
                        head.method
                    ),
                );
                r.response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("POST"));
                return Err(r);
            }
            // A batch deferred above is read now: the modern rules refuse it as itself.
            let parsed = parsed.or_else(|| body.map(|b| jsonrpc::classify(b)));
            return match (body, parsed) {
                (Some(_), Some(parsed)) => check_modern(cfg, headers, version, parsed),
                _ => Ok(Checked::HeadOnly),
            };
        }
    };

    let session = check_session_form(cfg, headers)?;
    // Stateless: the session header is ignored beyond its form (`SRV-SESS-13`).
    let session = session.filter(|_| cfg.is_stateful());

    // Step 8, the unknown-session half: an id we do not hold gets 404 whatever the
    // body (`SRV-SESS-7`, `INV-S2`), including one past its idle deadline. With a
    // shared store, the store's record decides: the request is parked while the driver
    // reads it, and the checks go on here (`Server::resume_fetched`). A live id is the
    // table's own (no copy of the header's text).
    let (session, live) = match session {
        None => (None, None),
        Some(text) => match view.sessions.live_id(text, now) {
            Some(live) => (Some(live.id.clone()), Some(live)),
            None if cfg.store.is_some() => {
                return Ok(Checked::Fetch {
                    session: SessionId::new(text).expect("checked by check_session_form"),
                });
            }
            None => return Err(unknown_session(cfg)),
        },
    };

    match head.method {
        Method::GET | Method::DELETE => {
            // Step 8: GET and DELETE always need a session (`SRV-SESS-5`).
            let Some(session) = session else {
                return Err(missing_session(view, headers, now));
            };
            if head.method == Method::DELETE {
                return Ok(Checked::Delete { session });
            }
            // Step 12: resumption (`SRV-RES-5`, `SRV-RES-6`), and one attached standalone
            // stream per session.
            if headers.contains_key(LAST_EVENT_ID) {
                return check_resume(view, headers, session, now);
            }
            let open = view.sessions.get(&session).and_then(|e| e.standalone());
            let attached = open
                .and_then(|s| view.streams.get(s))
                .is_some_and(|s| s.connection().is_some());
            if attached {
                return Err(refuse(
                    cfg,
                    Refusal::StreamConflict,
                    "the session's standalone SSE stream is already open",
                ));
            }
            too_many_streams(view, &session)?;
            Ok(Checked::Get { session })
        }
        _ => match (body, parsed) {
            (Some(_), Some(parsed)) => {
                let version = live.as_ref().map(|l| l.version).or(header_version);
                let open_streams = live.as_ref().map_or(0, |l| l.open_streams);
                check_post_body(view, headers, now, parsed, session, version, open_streams)
            }
            // Step 8 for the session-less batch deferred above.
            (Some(_), None) if sessionless_batch => Err(missing_session(view, headers, now)),
            _ => Ok(Checked::HeadOnly),
        },
    }
}

/// Step 1: the method (`SRV-EP-1`, `SRV-EP-2`, `SRV-GET-3`, `SRV-GET-10`). Without the
/// standalone stream a GET still serves resumption, which is always a GET
/// (`BOTH-RES-7`), when streams are resumable.
#[allow(clippy::result_large_err)]
fn check_method(cfg: &ServerConfig, head: &request::Parts) -> Checks<()> {
    // GET and DELETE belong to the session era, with sessions (`SRV-GET-10`, `N26-10`).
    let stateful = cfg.is_stateful() && cfg.serves_session_era();
    let get_served = stateful && cfg.standalone_stream;
    let resumption =
        || stateful && cfg.replay.is_some() && head.headers.contains_key(LAST_EVENT_ID);
    let served = match head.method {
        Method::POST => true,
        Method::GET => get_served || resumption(),
        Method::DELETE => stateful,
        _ => false,
    };
    if served {
        return Ok(());
    }
    let allow = match (stateful, get_served) {
        (false, _) => "POST",
        (true, true) => "GET, POST, DELETE",
        (true, false) => "POST, DELETE",
    };
    // A stateful server without the standalone stream answers GET with its own refusal
    // (`SRV-GET-3`); everything else is the plain 405.
    let refusal = if stateful && head.method == Method::GET {
        Refusal::StandaloneStreamDisabled
    } else {
        Refusal::MethodNotAllowed
    };
    let mut r = refuse(
        cfg,
        refusal,
        &format!("method {} is not allowed on the MCP endpoint", head.method),
    );
    r.response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    Err(r)
}

/// Step 2: DNS-rebinding protection (`SRV-SEC-1`, `SRV-SEC-2`, `INV-S13`).
#[allow(clippy::result_large_err)]
fn check_origin(cfg: &ServerConfig, head: &request::Parts) -> Checks<()> {
    let op = &cfg.origin_policy;
    let headers = &head.headers;
    if op.check_host {
        // RFC 9112 §3.2: more than one Host, or an invalid one, is a bad request.
        let Ok(host) = single_value(headers, &HOST) else {
            return Err(refuse(
                cfg,
                Refusal::BadHost,
                "Host must be sent once, with one valid value (RFC 9112 section 3.2)",
            ));
        };
        // RFC 9112 §3.2.2: an absolute-form target's authority wins over Host.
        let host = head.uri.authority().map(|a| a.as_str()).or(host);
        if host.is_some_and(|h| !op.allows_authority(h)) {
            return Err(refuse(
                cfg,
                Refusal::ForbiddenHost,
                "the Host header is not allowed",
            ));
        }
    }
    if op.check_origin && headers.contains_key(ORIGIN) {
        let ok = matches!(single_value(headers, &ORIGIN), Ok(Some(o)) if op.allows_origin(o));
        if !ok {
            return Err(refuse(
                cfg,
                Refusal::ForbiddenOrigin,
                "the Origin header is not allowed",
            ));
        }
    }
    Ok(())
}

/// Step 3: the declared body size, decidable from the head; the actual size when the body
/// is given, which must equal a declared `Content-Length`.
#[allow(clippy::result_large_err)]
fn check_size(cfg: &ServerConfig, headers: &HeaderMap, body: Option<&Bytes>) -> Checks<()> {
    let limit = cfg.max_body_bytes;
    let declared = match single_value(headers, &CONTENT_LENGTH) {
        Ok(None) => None,
        Ok(Some(v)) if v.bytes().all(|b| b.is_ascii_digit()) => match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => Some(u64::MAX), // more digits than u64: certainly too large
        },
        _ => {
            return Err(refuse(
                cfg,
                Refusal::BadContentLength,
                "Content-Length must be one decimal number",
            ));
        }
    };
    let too_large =
        declared.is_some_and(|n| n > limit as u64) || body.is_some_and(|b| b.len() > limit);
    if too_large {
        return Err(refuse(
            cfg,
            Refusal::BodyTooLarge,
            &format!("the body is larger than the limit of {limit} bytes"),
        ));
    }
    // The body handed over must be the one the head declared: a driver (or a proxy)
    // that cut it or added to it would have the machine read another request than the
    // peer sent. The driver hands over the body as received, with no content coding.
    if let (Some(n), Some(b)) = (declared, body) {
        if n != b.len() as u64 {
            return Err(refuse(
                cfg,
                Refusal::BadContentLength,
                &format!(
                    "Content-Length declares {n} bytes, but the body has {}",
                    b.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Steps 4 and 5: `Accept` (`CLI-POST-2`, `CLI-GET-2`; wildcards and q=0 honoured) and
/// `Content-Type` on POST.
#[allow(clippy::result_large_err)]
fn check_media(cfg: &ServerConfig, head: &request::Parts) -> Checks<()> {
    let headers = &head.headers;
    let acceptable = match head.method {
        Method::POST => media::accepts_json_and_event_stream(headers),
        Method::GET => media::accepts_event_stream(headers),
        _ => true,
    };
    if !acceptable {
        let what = if head.method == Method::POST {
            "Accept must list both application/json and text/event-stream"
        } else {
            "Accept must list text/event-stream"
        };
        return Err(refuse(cfg, Refusal::NotAcceptable, what));
    }
    if head.method == Method::POST && !media::is_json_content_type(headers) {
        return Err(refuse(
            cfg,
            Refusal::UnsupportedMediaType,
            "Content-Type must be application/json",
        ));
    }
    Ok(())
}

/// The era a request is served by, and its version.
enum Served {
    /// The session era, with the declared version if any.
    Session(Option<ProtocolVersion>),
    /// The stateless 2026-07-28 revision.
    Modern(ProtocolVersion),
}

/// Step 6: the era and its version are served (`SRV-VER-4`, `INV-S14`, `N26-12`): a
/// version the configuration does not list gets -32022 with the supported versions. A
/// request without `MCP-Protocol-Version` is taken as 2025-03-26 only by a server that
/// serves the session era (`VER-26`); a modern-only server refuses it (`N26-12`).
#[allow(clippy::result_large_err)]
fn check_era(
    cfg: &ServerConfig,
    headers: &HeaderMap,
    era: &Era,
    initialize: bool,
    id: Option<&jsonrpc::RequestId>,
) -> Checks<Served> {
    match era {
        Era::Session { header: None } if cfg.serves_session_era() => Ok(Served::Session(None)),
        // A modern-only server names its versions to a legacy client's `initialize`: it
        // may be the only diagnostic that client can show (V26).
        Era::Session { header: None } if initialize => Err(unsupported_version(cfg, "", id)),
        Era::Session { header: None } => {
            let (message, data) =
                missing_version(headers, "MCP-Protocol-Version is required on every request");
            Err(refuse_to(
                cfg,
                Refusal::HeaderMismatch,
                &message,
                Some(&data),
                id,
            ))
        }
        Era::Session { header: Some(v) } if cfg.supports(*v) => Ok(Served::Session(Some(*v))),
        Era::Stateless { version } if cfg.supports(*version) => Ok(Served::Modern(*version)),
        // N26-20: no modern revision is served here, so the answer to a modern request
        // must not be a modern error, or dual-era clients never fall back.
        Era::Stateless { .. } if !cfg.serves_modern() => Err(modern_not_served(cfg, era, id)),
        Era::Unknown { requested } if !cfg.serves_modern() && is_later(requested) => {
            Err(modern_not_served(cfg, era, id))
        }
        Era::Session { .. } | Era::Stateless { .. } | Era::Unknown { .. } => {
            Err(unsupported_version(cfg, &era.requested(), id))
        }
    }
}

/// Step 9 for a 2026-07-28 POST: one request or notification (`N26-2`), its metadata
/// headers equal to the body (`N26-6`, `N26-7`, `N26-12`, `N26-15`), its `_meta`
/// complete (`N26-13`). Session and resumption headers are not read (`N26-10`).
#[allow(clippy::result_large_err)]
fn check_modern<'b>(
    cfg: &ServerConfig,
    headers: &HeaderMap,
    version: ProtocolVersion,
    parsed: Result<Body<'b>, BodyError>,
) -> Checks<Checked<'b>> {
    let body = parsed_body(cfg, parsed)?;
    let Body::Single(env) = &body else {
        return Err(refuse(
            cfg,
            Refusal::BatchNotAllowed,
            &format!("JSON-RPC batches are not allowed in protocol version {version}"),
        ));
    };
    if env.kind.is_response() {
        return Err(refuse(
            cfg,
            Refusal::InvalidMessage,
            "a 2026-07-28 client sends requests and notifications, never responses",
        ));
    }
    // From here on every error answers the request by its id.
    let id = env.id.clone();
    let refuse_req =
        |refusal: Refusal, message: &str| refuse_to(cfg, refusal, message, None, id.as_ref());
    let method = env.method.as_deref().unwrap_or_default();
    // `N26-9`: the methods 2026-07-28 removed (`initialize`, `ping`, logging levels,
    // resource subscriptions) are unknown methods of this revision: 404 with -32601.
    if env.kind == jsonrpc::MessageKind::Request && is_removed_method(method) {
        return Err(refuse_req(
            Refusal::RemovedMethod,
            &format!("method not found: {method} is not part of protocol version {version}"),
        ));
    }
    let mismatch =
        |what: String| refuse_req(Refusal::HeaderMismatch, &format!("header mismatch: {what}"));
    // `N26-6`: Mcp-Method on every request, equal to the body's method.
    let header_method =
        header_text(headers, &MCP_METHOD).map_err(|e| mismatch(format!("Mcp-Method {e}")))?;
    match header_method.as_deref() {
        Some(m) if m == method => {}
        Some(m) => {
            return Err(mismatch(format!(
                "Mcp-Method header value {m:?} does not match body value {method:?}"
            )));
        }
        None if env.kind == jsonrpc::MessageKind::Request => {
            return Err(mismatch("the Mcp-Method header is required".into()));
        }
        None => {}
    }
    let meta = env.modern_meta();
    // `N26-6`, `N26-15`: Mcp-Name for the named methods, decoded before it is compared.
    if let Some(key) = name_key(method) {
        let header =
            header_text(headers, &MCP_NAME).map_err(|e| mismatch(format!("Mcp-Name {e}")))?;
        let body_value = meta.name.as_deref();
        match (header.as_deref(), body_value) {
            (Some(h), Some(b)) if h == b => {}
            (None, Some(_)) => {
                return Err(mismatch(format!(
                    "the Mcp-Name header is required for {method}"
                )));
            }
            (Some(h), b) => {
                return Err(mismatch(format!(
                    "Mcp-Name header value {h:?} does not match body params.{key} {b:?}"
                )));
            }
            (None, None) => {}
        }
    }
    // `N26-16`: the `Mcp-Param-*` headers of a tool whose annotations were declared.
    if method == "tools/call" {
        let declared = meta
            .name
            .as_deref()
            .map_or(&[][..], |t| cfg.param_headers.of(t));
        if !declared.is_empty() {
            let params: Option<serde_json::Value> =
                env.params.and_then(|p| serde_json::from_str(p.get()).ok());
            let arguments = params.as_ref().and_then(|p| p.get("arguments"));
            crate::params::check(declared, headers, arguments).map_err(mismatch)?;
        }
    }
    // `N26-12`: the header is required and names the version the request is of. The era
    // may come from `_meta` alone (`N26-20`), so a session-era header or none at all is
    // the modern rules' mismatch here, never a reason to serve the request with sessions.
    match single_value(headers, &MCP_PROTOCOL_VERSION) {
        Ok(Some(h)) if h == version.as_str() => {}
        Ok(Some(h)) => {
            return Err(mismatch(format!(
                "MCP-Protocol-Version header value {h:?} does not match _meta value {:?}",
                version.as_str()
            )));
        }
        Ok(None) => {
            let base = "the MCP-Protocol-Version header is required in protocol version 2026-07-28";
            return Err(mismatch(missing_version(headers, base).0));
        }
        Err(_) => {
            return Err(mismatch(
                "MCP-Protocol-Version is repeated or malformed".into(),
            ));
        }
    }
    // `N26-12`, `N26-13`: `_meta` names the version the header does, and the capabilities.
    match meta.protocol_version.as_deref() {
        Some(v) if v == version.as_str() => {}
        Some(v) => {
            return Err(mismatch(format!(
                "MCP-Protocol-Version header value {:?} does not match _meta value {v:?}",
                version.as_str()
            )));
        }
        None => {
            return Err(refuse_req(
                Refusal::MissingMeta,
                "params._meta must carry io.modelcontextprotocol/protocolVersion",
            ));
        }
    }
    if !meta.client_capabilities {
        return Err(refuse_req(
            Refusal::MissingMeta,
            "params._meta must carry io.modelcontextprotocol/clientCapabilities",
        ));
    }
    Ok(Checked::Modern { version, body })
}

/// The request methods of the session era that 2026-07-28 removed (SEP-2575): `initialize`
/// and `ping` with the handshake, `logging/setLevel` for the per-request `_meta` log
/// level, `resources/subscribe` / `unsubscribe` for `subscriptions/listen`.
fn is_removed_method(method: &str) -> bool {
    matches!(
        method,
        "initialize"
            | "ping"
            | "logging/setLevel"
            | "resources/subscribe"
            | "resources/unsubscribe"
    )
}

/// The id of a single request whose `_meta` names a protocol version.
fn modern_request_id(parsed: &Option<Result<Body<'_>, BodyError>>) -> Option<jsonrpc::RequestId> {
    match parsed {
        Some(Ok(Body::Single(e)))
            if e.kind == jsonrpc::MessageKind::Request
                && e.modern_meta().protocol_version.is_some() =>
        {
            e.id.clone()
        }
        _ => None,
    }
}

/// Step 9's first question, for both eras: the body is JSON, and JSON-RPC.
#[allow(clippy::result_large_err)]
fn parsed_body<'b>(cfg: &ServerConfig, parsed: Result<Body<'b>, BodyError>) -> Checks<Body<'b>> {
    parsed.map_err(|e| match e {
        BodyError::Parse(e) => refuse(cfg, Refusal::ParseError, &format!("parse error: {e}")),
        BodyError::Invalid(e) => refuse(
            cfg,
            Refusal::InvalidMessage,
            &format!("invalid JSON-RPC message: {e}"),
        ),
    })
}

/// Which params key a method's `Mcp-Name` mirrors (`N26-6`).
fn name_key(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// A single-valued metadata header, decoded (`N26-15`); `Ok(None)` when absent.
fn header_text(
    headers: &HeaderMap,
    name: &http::HeaderName,
) -> Result<Option<String>, &'static str> {
    let mut values = headers.get_all(name).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("is repeated");
    }
    codec::decode(v.as_bytes())
        .map(|t| Some(t.into_owned()))
        .map_err(|_| "holds invalid characters")
}

#[allow(clippy::result_large_err)]
fn check_session_form<'h>(cfg: &ServerConfig, headers: &'h HeaderMap) -> Checks<Option<&'h str>> {
    SessionId::text_from_headers(headers).map_err(|e| {
        let message = match e {
            HeaderError::Repeated | HeaderError::CommaJoined => {
                "MCP-Session-Id must hold exactly one session id"
            }
            _ => "MCP-Session-Id must be 1 to 256 visible ASCII characters",
        };
        refuse(cfg, Refusal::MalformedSessionId, message)
    })
}

/// Step 8: no `MCP-Session-Id` (`SRV-SESS-5`). The message says what to do: send the id
/// in the right header when a look-alike header holds a live one, else call `initialize`
/// first; a look-alike is named (never its value) in the message and in `data`.
fn missing_session(view: View<'_>, headers: &HeaderMap, now: Option<Instant>) -> Reject {
    let cfg = view.config;
    let expected = Meant::SessionId.spelled();
    let Some(found) = lookalike::find(headers, Meant::SessionId) else {
        return refuse_with(
            cfg,
            Refusal::MissingSessionId,
            "MCP-Session-Id is required on every request after initialize: call initialize \
             first, then send the session id it returns in MCP-Session-Id",
            Some(&serde_json::json!({ "expected": expected })),
        );
    };
    let live = single_value(headers, found)
        .ok()
        .flatten()
        .and_then(|v| SessionId::new(v).ok())
        .is_some_and(|id| view.sessions.is_live(&id, now));
    let name = lookalike::echoed(found);
    let message = if live {
        format!("the session id was sent in {name}; the header is MCP-Session-Id")
    } else {
        format!(
            "MCP-Session-Id is required on every request after initialize (found {name}, \
             which is not it, and names no live session): call initialize first, then send \
             the session id in MCP-Session-Id"
        )
    };
    let data = serde_json::json!({ "found": name, "expected": expected });
    refuse_with(cfg, Refusal::MissingSessionId, &message, Some(&data))
}

/// The message and `data` for a missing `MCP-Protocol-Version`: `base`, and the
/// look-alike header sent instead, if any.
fn missing_version(headers: &HeaderMap, base: &str) -> (String, serde_json::Value) {
    let expected = Meant::ProtocolVersion.spelled();
    match lookalike::find(headers, Meant::ProtocolVersion) {
        Some(found) => {
            let name = lookalike::echoed(found);
            (
                format!("{base} (found {name}, which is not it)"),
                serde_json::json!({ "found": name, "expected": expected }),
            )
        }
        None => (base.to_owned(), serde_json::json!({ "expected": expected })),
    }
}

/// Steps 8 (POST), 9, 10 and 11.
#[allow(clippy::result_large_err)]
fn check_post_body<'b>(
    view: View<'_>,
    headers: &HeaderMap,
    now: Option<Instant>,
    parsed: Result<Body<'b>, BodyError>,
    session: Option<SessionId>,
    // The session's version, else the header's.
    known_version: Option<ProtocolVersion>,
    // The session's open streams.
    open_streams: usize,
) -> Checks<Checked<'b>> {
    let cfg = view.config;
    let stateful = cfg.is_stateful();
    let is_initialize = matches!(&parsed, Ok(Body::Single(e)) if e.is_initialize());

    // Step 8: a session-less POST must be `initialize` (`SRV-SESS-5`, `INV-S3`).
    if stateful && session.is_none() && !is_initialize {
        return Err(missing_session(view, headers, now));
    }

    // The revision that governs this request: the session's, else the header's, else
    // 2025-03-26 (`SRV-VER-3`).
    let version = known_version.unwrap_or(ProtocolVersion::ASSUMED_WITHOUT_HEADER);

    // Step 9: the body.
    let body = parsed_body(cfg, parsed)?;
    if let Body::Batch(messages) = &body {
        if !version.allows_batches() {
            return Err(refuse(
                cfg,
                Refusal::BatchNotAllowed,
                &format!("JSON-RPC batches are not allowed in protocol version {version}"),
            ));
        }
        if messages.iter().any(|m| m.is_initialize()) {
            return Err(refuse(
                cfg,
                Refusal::InitializeInBatch,
                "initialize must not be part of a JSON-RPC batch",
            ));
        }
        // A batch either holds requests/notifications or responses (`CLI-POST-3`), and no
        // request id twice, so each answer has exactly one slot.
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
            return Err(refuse(
                cfg,
                Refusal::InvalidMessage,
                "a batch mixes requests and responses, or repeats a request id",
            ));
        }
    }

    if is_initialize && stateful {
        // Step 10: `initialize` on a live session (`INV-S18`).
        if session.is_some() {
            return Err(refuse(
                cfg,
                Refusal::Reinitialize,
                "the session is already initialized; send initialize without MCP-Session-Id to start a new one",
            ));
        }
        // Step 11: the session cap.
        if session_cap_reached(view) {
            return Err(session_cap(cfg));
        }
    }
    // Step 11: one more stream for the session, when the POST holds a request.
    let opens_stream = body
        .messages()
        .iter()
        .any(|m| m.kind == jsonrpc::MessageKind::Request);
    if let (Some(_), true) = (&session, opens_stream) {
        stream_cap(cfg, open_streams)?;
    }
    Ok(Checked::Post {
        session,
        version,
        body,
    })
}

/// Step 11: the session's open streams are at
/// [`ServerConfig::max_streams_per_session`] (defect 2 of the outside review).
#[allow(clippy::result_large_err)]
fn too_many_streams(view: View<'_>, id: &SessionId) -> Checks<()> {
    stream_cap(view.config, view.sessions.open_streams(id))
}

/// Step 11 for a session with `open` streams.
#[allow(clippy::result_large_err)]
fn stream_cap(cfg: &ServerConfig, open: usize) -> Checks<()> {
    match cfg.max_streams_per_session {
        Some(cap) if open >= cap => Err(too_many(cfg, cap)),
        _ => Ok(()),
    }
}

/// Step 11: the session has `cap` streams open: 429 with `Retry-After`.
pub(super) fn too_many(cfg: &ServerConfig, cap: usize) -> Reject {
    retry_after(
        refuse(
            cfg,
            Refusal::TooManyStreams,
            &format!("the session has {cap} streams open; retry when one is answered"),
        ),
        std::time::Duration::from_secs(1),
    )
}

/// Step 12: `Last-Event-ID` names no stream of this session that can be resumed.
pub(super) fn unknown_event_id(cfg: &ServerConfig) -> Reject {
    refuse(
        cfg,
        Refusal::UnknownEventId,
        "Last-Event-ID names no stream of this session that can be resumed",
    )
}

/// Step 8: the session is not live (`SRV-SESS-7`): 404.
pub(super) fn unknown_session(cfg: &ServerConfig) -> Reject {
    refuse(
        cfg,
        Refusal::UnknownSession,
        "the session is unknown, expired or terminated; start a new one with initialize",
    )
}

/// Step 8 with a shared store: the store could not be read, or a write the reply waited
/// for failed: 503 with `Retry-After`.
pub(super) fn store_unavailable(cfg: &ServerConfig) -> Reject {
    retry_after(
        refuse(
            cfg,
            Refusal::StoreUnavailable,
            "the session store is unavailable; retry later",
        ),
        cfg.policy.store_retry_after,
    )
}

/// Step 11: the session cap is reached: 503 with `Retry-After`.
pub(super) fn session_cap(cfg: &ServerConfig) -> Reject {
    retry_after(
        refuse(cfg, Refusal::SessionCap, "too many sessions; retry later"),
        cfg.policy.session_cap_retry_after,
    )
}

/// `r` with `Retry-After` in whole seconds (at least 1).
fn retry_after(mut r: Reject, after: std::time::Duration) -> Reject {
    let secs = after.as_secs().max(1);
    r.response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// Whether one more session would pass the cap: it counts live sessions and
/// `initialize` requests awaiting their answer (step 11, and `Server::restore_session`).
/// With a shared store the table is a cache: an idle session is evicted to make room, so
/// only busy sessions count.
pub(super) fn session_cap_reached(view: View<'_>) -> bool {
    let evictable = if view.config.store.is_some() {
        view.sessions.idle_count()
    } else {
        0
    };
    view.config.max_sessions.is_some_and(|cap| {
        view.sessions.len() - evictable.min(view.sessions.len()) + view.streams.initializing()
            >= cap
    })
}

/// Step 12 for a GET carrying `Last-Event-ID`: the id must be one of this session's (its
/// event-id prefix), name a stream of this very session that is still kept, and a
/// position that stream has reached; the stream must have no live connection.
#[allow(clippy::result_large_err)]
fn check_resume<'b>(
    view: View<'_>,
    headers: &HeaderMap,
    session: SessionId,
    now: Option<Instant>,
) -> Checks<Checked<'b>> {
    let cfg = view.config;
    let unknown = || unknown_event_id(cfg);
    let Ok(Some(value)) = single_value(headers, &LAST_EVENT_ID) else {
        return Err(unknown());
    };
    if cfg.replay.is_none() {
        return Err(unknown());
    }
    if view.sessions.get(&session).is_none() {
        return Err(unknown());
    }
    let shared = cfg.store.is_some();
    let pos = match view.events.parse(value) {
        ParsedEventId::Ours(pos) => pos,
        // Another node's stream, or an earlier run's: the store's copy decides.
        ParsedEventId::Node { stream, seq } if shared => {
            return Ok(Checked::FetchStream {
                session,
                stream,
                after: seq,
            });
        }
        _ => return Err(unknown()),
    };
    let stream = StreamId(pos.stream);
    let Some(at) = view.streams.resumable(stream, now) else {
        if shared && view.streams.issued(stream) {
            // Ours, but no longer here (it left with its session): the store may keep it.
            return Ok(Checked::FetchStream {
                session,
                stream: view.events.stream_key(pos.stream),
                after: pos.seq,
            });
        }
        return Err(unknown());
    };
    // Never another session's stream (`SRV-RES-6`), never a position not yet reached.
    if at.session != Some(&session) || pos.seq >= at.next_seq {
        return Err(unknown());
    }
    if at.attached {
        return Err(refuse(
            cfg,
            Refusal::StreamConflict,
            "the stream named by Last-Event-ID is attached to another connection",
        ));
    }
    Ok(Checked::Resume {
        session,
        stream,
        after: pos.seq,
    })
}

/// The longest message a refusal carries, in bytes (before the `…` that marks a cut).
const MAX_MESSAGE: usize = 512;

/// The longest peer value (a requested version) echoed in an error's `data`.
const MAX_ECHOED_VALUE: usize = 64;

/// `text`, cut to at most `max` bytes at a character boundary, with `…` when cut.
fn bounded(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

/// Whether an unknown version is a date after the newest revision this crate knows:
/// the version of a newer, modern, revision.
fn is_later(requested: &str) -> bool {
    let b = requested.as_bytes();
    let shaped = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    shaped && requested > ProtocolVersion::LATEST.as_str()
}

/// The session era's answer to a modern request: 400, -32600, the supported versions
/// named (`N26-20`).
fn modern_not_served(cfg: &ServerConfig, era: &Era, id: Option<&jsonrpc::RequestId>) -> Reject {
    let supported: Vec<&str> = cfg.supported_versions.iter().map(|v| v.as_str()).collect();
    let requested = era.requested();
    let requested = bounded(&requested, MAX_ECHOED_VALUE);
    let data = serde_json::json!({ "supported": supported, "requested": requested });
    refuse_to(
        cfg,
        Refusal::ModernNotServed,
        &format!(
            "this server serves only the initialize-based versions {}, not {requested:?}: send initialize",
            supported.join(", ")
        ),
        Some(&data),
        id,
    )
}

fn unsupported_version(
    cfg: &ServerConfig,
    requested: &str,
    id: Option<&jsonrpc::RequestId>,
) -> Reject {
    let requested = bounded(requested, MAX_ECHOED_VALUE);
    let supported: Vec<&str> = cfg.supported_versions.iter().map(|v| v.as_str()).collect();
    let data = serde_json::json!({ "supported": supported, "requested": requested });
    refuse_to(
        cfg,
        Refusal::UnsupportedVersion,
        &format!(
            "unsupported MCP-Protocol-Version {requested:?}; supported: {}",
            supported.join(", ")
        ),
        Some(&data),
        id,
    )
}
