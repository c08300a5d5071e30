//! Stateless mode (`SRV-SESS-13`, `SRV-GET-10`, `N26-10`): no session is minted or
//! required, a well-formed session header is ignored, and GET and DELETE get 405.

mod common;

use common::*;
use mcp_http_proto::server::{Outcome, Refusal, ReplyMode, Server, ServerConfig, SessionMode};

fn stateless(reply_mode: ReplyMode) -> Server {
    server(ServerConfig {
        reply_mode,
        ..ServerConfig::stateless()
    })
}

/// `SRV-SESS-13`: `initialize` is dispatched and answered, but mints nothing: no session
/// header on the reply, no session, no event, no timer. Both reply modes.
#[test]
fn initialize_mints_no_session() {
    for mode in [ReplyMode::Sse, ReplyMode::Json] {
        let t0 = base_instant();
        let mut s = stateless(mode);
        assert_eq!(s.config().session_mode, SessionMode::Stateless);
        let out = s.handle_request(post(initialize_body(1, "2025-06-18")), t0);
        let Outcome::Dispatch(d) = out else {
            panic!("{out:?}")
        };
        assert_eq!(d.session, None);
        s.send(d.stream, initialize_result(1, "2025-06-18"), t0)
            .unwrap();
        let out = drain(&mut s);
        let head = only_head(&out);
        assert_eq!(head.status(), 200, "{mode:?}");
        assert!(head.headers().get(SESSION_HEADER).is_none(), "{mode:?}");
        assert!(ends(&out, d.stream));
        assert_eq!(s.session_count(), 0);
        assert!(s.poll_event().is_none());
        assert_eq!(s.poll_timeout(), None);
    }
}

/// `SRV-SESS-13`: a request needs no session header, and a well-formed one (never issued)
/// is ignored: dispatched with no session, never 404.
#[test]
fn session_header_is_ignored() {
    let t0 = base_instant();
    let mut s = stateless(ReplyMode::Sse);
    for req in [
        post(tools_list(1)),
        post_in("never-issued", tools_list(2)),
        post_in("deadbeef", tools_list(3)),
    ] {
        let out = s.handle_request(req, t0);
        let Outcome::Dispatch(d) = out else {
            panic!("{out:?}")
        };
        assert_eq!(d.session, None);
        let head = only_head(&drain(&mut s)).clone();
        assert!(head.headers().get(SESSION_HEADER).is_none());
    }
    let out = s.handle_request(post_in("whatever", INITIALIZED), t0);
    let Outcome::Accepted(a) = out else {
        panic!("{out:?}")
    };
    assert_eq!(a.response.status(), 202);
    assert_eq!(a.session, None);
    assert_eq!(s.session_count(), 0);
}

/// The header is still checked for form (step 7): a comma-joined or repeated value is a
/// 400, as in stateful mode.
#[test]
fn malformed_session_header_is_still_refused() {
    let t0 = base_instant();
    let mut s = stateless(ReplyMode::Sse);
    assert_refused(
        s.handle_request(post_in("a,b", tools_list(1)), t0),
        Refusal::MalformedSessionId,
        400,
        -32600,
    );
    assert_refused(
        s.handle_request(post_in("a", tools_list(1)).add(SESSION_HEADER, "a"), t0),
        Refusal::MalformedSessionId,
        400,
        -32600,
    );
}

/// `SRV-GET-10`, `N26-10`, `SRV-EP-2`: GET and DELETE get 405 with `Allow: POST`, with or
/// without a session header.
#[test]
fn get_and_delete_get_405_allow_post() {
    let t0 = base_instant();
    let mut s = stateless(ReplyMode::Sse);
    for req in [
        get(None),
        get(Some("abc")),
        delete(None),
        delete(Some("abc")),
    ] {
        let (r, _) = assert_refused(
            s.handle_request(req, t0),
            Refusal::MethodNotAllowed,
            405,
            -32000,
        );
        assert_eq!(header(&r.response, "allow"), Some("POST"));
    }
    assert_eq!(s.stream_count(), 0);
}

/// Stateless `initialize` requests are not held against a session cap: there are no
/// sessions to cap.
#[test]
fn initialize_is_never_capped() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        max_sessions: Some(1),
        ..ServerConfig::stateless()
    });
    for i in 0..5 {
        let out = s.handle_request(post(initialize_body(i, "2025-06-18")), t0);
        assert!(matches!(out, Outcome::Dispatch(_)), "{i}: {out:?}");
    }
    assert_eq!(s.stream_count(), 5);
}

/// The other checks run as in stateful mode: a foreign Origin is 403, a bad body 400.
#[test]
fn other_checks_still_apply() {
    let t0 = base_instant();
    let mut s = stateless(ReplyMode::Json);
    assert_refused(
        s.handle_request(post(tools_list(1)).set("origin", "http://evil.example"), t0),
        Refusal::ForbiddenOrigin,
        403,
        -32000,
    );
    assert_refused(
        s.handle_request(post("{"), t0),
        Refusal::ParseError,
        400,
        -32700,
    );
}

/// `SRV-VER-3`, `CLI-POST-4`: with no session, the header's version governs the body: a
/// batch is refused under `MCP-Protocol-Version: 2025-06-18`, and allowed without a header
/// (2025-03-26 is assumed).
#[test]
fn header_version_governs_batches() {
    let t0 = base_instant();
    let mut s = stateless(ReplyMode::Json);
    let batch = format!("[{},{}]", tools_list(1), tools_list(2));
    assert_refused(
        s.handle_request(post(&*batch).set("mcp-protocol-version", "2025-06-18"), t0),
        Refusal::BatchNotAllowed,
        400,
        -32600,
    );
    let out = s.handle_request(post(&*batch), t0);
    let Outcome::Dispatch(d) = out else {
        panic!("{out:?}")
    };
    assert_eq!(d.version.as_str(), "2025-03-26");
    assert_eq!(d.messages.len(), 2);
}
