//! The mistakes users make with session headers and endpoints, and the answers that fix
//! them (issue "The mistakes users make ..."): look-alike headers, a request before
//! `initialize`, and a URL without the endpoint path. One test per mistake.

mod common;

use common::*;
use http::StatusCode;
use mcp_http_proto::client::{ClientConfig, ClientEvent, ClientMode};
use mcp_http_proto::server::{Refusal, ServerConfig};
use serde_json::json;

const INVALID_REQUEST: i64 = -32600;

/// `X-Session-ID` (and the other look-alikes) carrying the live id: the same 400 as a
/// missing header, whose message and data name the header found and the right one.
#[test]
fn session_id_in_a_look_alike_header_is_named() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let live = open_session(&mut s, t0);
    for name in [
        "X-Session-ID",
        "Session-Id",
        "Mcp-Session",
        "mcp_session_id",
        "X-MCP-Session-Id",
    ] {
        let req = post(tools_list(2)).set(name, &live);
        let (_, body) = assert_refused(
            s.handle_request(req, t0),
            Refusal::MissingSessionId,
            400,
            INVALID_REQUEST,
        );
        let found = name.to_ascii_lowercase();
        assert_eq!(
            body["error"]["data"],
            json!({"found": found, "expected": "MCP-Session-Id"})
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&found) && message.contains("MCP-Session-Id"),
            "{message}"
        );
        assert!(
            !message.contains(&live),
            "the value is never echoed: {message}"
        );
    }
    // The session is untouched by the refusals.
    let ok = s.handle_request(post_in(&live, tools_list(3)), t0);
    assert!(matches!(ok, mcp_http_proto::server::Outcome::Dispatch(_)));
}

/// A request before `initialize` (no session header, or a look-alike naming no live
/// session): the message says to call `initialize` first.
#[test]
fn request_before_initialize_says_call_initialize_first() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    for req in [
        post(tools_list(2)),
        post(tools_list(2)).set("x-session-id", "not-a-session"),
        get(None),
    ] {
        let (_, body) = assert_refused(
            s.handle_request(req, t0),
            Refusal::MissingSessionId,
            400,
            INVALID_REQUEST,
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("call initialize first"), "{message}");
        assert_eq!(body["error"]["data"]["expected"], "MCP-Session-Id");
    }
}

/// A peer-facing message stays bounded: a long look-alike value is never echoed, and
/// a long look-alike name is cut.
#[test]
fn look_alike_answers_are_bounded() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let long_value = "v".repeat(64 * 1024);
    let long_name = format!("x-session-{}", "a".repeat(4000));
    let req = post(tools_list(2))
        .set("x-session-id", &long_value)
        .set(&long_name, "1");
    let outcome = s.handle_request(req, t0);
    let r = rejected(outcome);
    let len = r.response.body().len();
    assert!(len < 1024, "an error body of {len} bytes");
}

/// `X-MCP-Protocol-Version` in place of `MCP-Protocol-Version`, on a server that needs the
/// header (2026-07-28 only): the -32020 names both.
#[test]
fn protocol_version_in_a_look_alike_header_is_named() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        supported_versions: vec![mcp_http_proto::ProtocolVersion::V2026_07_28],
        ..ServerConfig::default()
    });
    let req = post(tools_list(2)).set("x-mcp-protocol-version", "2026-07-28");
    let outcome = s.handle_request(req, t0);
    let r = rejected(outcome);
    assert_eq!(r.refusal, Refusal::HeaderMismatch);
    let body = error_body(&r.response);
    assert_eq!(
        body["error"]["data"],
        json!({"found": "x-mcp-protocol-version", "expected": "MCP-Protocol-Version"})
    );
}

mod client_side {
    //! The client given a URL without the endpoint path.

    use super::*;
    use bytes::Bytes;
    use mcp_http_proto::Client;
    use mcp_http_proto::entropy::SeededEntropy;

    fn client(url: &str, mode: ClientMode) -> Client {
        let mut config = ClientConfig::new(url.parse().unwrap());
        config.mode = mode;
        Client::with_entropy(config, Box::new(SeededEntropy::new(1))).unwrap()
    }

    /// Answers the request of `t` with `status`, a JSON or plain `body`; the request.
    fn reply(
        c: &mut Client,
        t: mcp_http_proto::client::Transmit,
        status: u16,
        json: bool,
        body: &str,
    ) -> http::Request<Bytes> {
        let ct = if json {
            "application/json"
        } else {
            "text/plain"
        };
        let head = http::Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header("content-type", ct)
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let now = base_instant();
        c.handle_response_head(t.exchange, head).unwrap();
        c.handle_response_chunk(t.exchange, Bytes::from(body.to_owned()), now)
            .unwrap();
        c.handle_response_end(t.exchange, now).unwrap();
        t.request
    }

    /// Answers the next request with `status` and a JSON `body`; the request.
    fn answer(c: &mut Client, status: u16, body: &str) -> http::Request<Bytes> {
        let t = c.poll_transmit().expect("a request");
        reply(c, t, status, true, body)
    }

    const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    const OURS_404: &str = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"not found: the MCP endpoint is /api/mcp","data":{"endpoint":"/api/mcp"}}}"#;

    /// A bare origin: the client tries the path the 404 names, keeps the one that
    /// answers, and sends everything there.
    #[test]
    fn bare_url_follows_the_path_the_404_names() {
        let mut c = client("http://127.0.0.1:9", ClientMode::SessionEra);
        c.initialize(INIT).unwrap();
        let first = answer(&mut c, 404, OURS_404);
        assert_eq!(first.uri().path(), "/");
        let result = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}"#;
        let second = answer(&mut c, 200, result);
        assert_eq!(second.uri().to_string(), "http://127.0.0.1:9/api/mcp");
        let events: Vec<ClientEvent> = std::iter::from_fn(|| c.poll_event()).collect();
        assert!(
            matches!(events[0], ClientEvent::EndpointRetry { .. }),
            "{events:?}"
        );
        assert!(c.is_ready());
        assert_eq!(c.endpoint().path(), "/api/mcp");
        let note = c.poll_transmit().unwrap();
        assert_eq!(note.request.uri().path(), "/api/mcp");
    }

    /// Then the well-known paths (`/mcp`), before the legacy fallback; when none
    /// answers, the failure is a 404 with the server's words, never a session expiry.
    #[test]
    fn bare_url_tries_well_known_paths_then_reports_no_endpoint() {
        let mut c = client("http://127.0.0.1:9/", ClientMode::Auto);
        c.initialize(INIT).unwrap();
        let mut paths = Vec::new();
        while paths.len() < 8 {
            let Some(t) = c.poll_transmit() else { break };
            let r = reply(&mut c, t, 404, false, "Not Found");
            paths.push(format!("{} {}", r.method(), r.uri().path()));
        }
        // discover at /, at /mcp; then initialize and the legacy GET at the URL given.
        assert_eq!(paths, ["POST /", "POST /mcp", "POST /", "GET /"]);
        let events: Vec<ClientEvent> = std::iter::from_fn(|| c.poll_event()).collect();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ClientEvent::SessionExpired { .. })),
            "{events:?}"
        );
        assert!(matches!(
            events.last(),
            Some(ClientEvent::InitializeFailed {
                status: Some(StatusCode::NOT_FOUND),
                ..
            })
        ));
        let tried: Vec<String> = c.endpoints_tried().iter().map(|u| u.to_string()).collect();
        assert_eq!(tried, ["http://127.0.0.1:9/", "http://127.0.0.1:9/mcp"]);
    }

    /// A URL with a path is taken as given: a 404 there tries nothing else.
    #[test]
    fn a_url_with_a_path_is_never_rewritten() {
        let mut c = client("http://127.0.0.1:9/v1/mcp", ClientMode::SessionEra);
        c.initialize(INIT).unwrap();
        answer(&mut c, 404, OURS_404);
        // The session-era fallback after a 404 is the legacy GET at the same URL.
        let t = c.poll_transmit().unwrap();
        assert_eq!(t.request.method(), "GET");
        assert_eq!(t.request.uri().path(), "/v1/mcp");
    }
}
