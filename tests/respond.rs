//! `Server::respond` and `Server::respond_error`: the machine writes the answer's
//! envelope itself. Each must put on the wire exactly what `send` of the same JSON does
//! (`SRV-PSSE-3..5`, `SRV-POST-10`, `SRV-SESS-1`), and refuse the same misuses with the
//! same `UsageError`.

mod common;

use std::collections::HashMap;

use common::*;
use mcp_http_proto::server::{
    Outcome, Output, ReplyMode, ServerConfig, ServerEvent, StreamEvent, UsageError,
};
use mcp_http_proto::wire::jsonrpc::RequestId;
use serde_json::json;

/// What a connection received, in order, heads as status and headers.
fn wire(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .map(|o| match &o.event {
            StreamEvent::Head(h) => format!("{:?} head {} {:?}", o.stream, h.status(), h.headers()),
            StreamEvent::Data(d) => format!("{:?} data {}", o.stream, String::from_utf8_lossy(d)),
            StreamEvent::End => format!("{:?} end", o.stream),
        })
        .collect()
}

/// Two machines with the same seed and the same session, one answered with `send`, the
/// other with `respond`, give the same bytes: SSE with replay ids, and JSON.
#[test]
fn respond_writes_what_send_of_the_same_answer_writes() {
    for mode in [ReplyMode::Sse, ReplyMode::Json] {
        let t0 = base_instant();
        let config = || ServerConfig {
            reply_mode: mode,
            ..ServerConfig::default()
        };
        let (mut a, mut b) = (server(config()), server(config()));
        let (ida, idb) = (
            open_session_with(&mut a, "2025-11-25", t0),
            open_session_with(&mut b, "2025-11-25", t0),
        );
        assert_eq!(ida, idb, "same seed, same session id");
        for (n, result) in [
            json!({"tools": []}),
            json!(null),
            json!([1, "two", {"3": 4.5}]),
        ]
        .into_iter()
        .enumerate()
        {
            let n = n as i64 + 2;
            let body = format!(r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/list"}}"#);
            let sa = dispatch(&mut a, post_in(&ida, body.clone()), t0);
            let sb = dispatch(&mut b, post_in(&idb, body), t0);
            let text = format!(r#"{{"jsonrpc":"2.0","id":{n},"result":{result}}}"#);
            a.send(sa, text, t0).expect("send");
            b.respond(sb, &RequestId::Number(n), &result, t0)
                .expect("respond");
            let (oa, ob) = (drain(&mut a), drain(&mut b));
            assert!(ends(&ob, sb), "{mode:?}: the last answer ends the stream");
            assert_eq!(wire(&oa), wire(&ob), "{mode:?} {result}");
        }
        // An error, with and without data.
        for data in [None, Some(json!({"why": "x"}))] {
            let body = r#"{"jsonrpc":"2.0","id":"e","method":"tools/list"}"#;
            let sa = dispatch(&mut a, post_in(&ida, body), t0);
            let sb = dispatch(&mut b, post_in(&idb, body), t0);
            let id = RequestId::String("e".into());
            let text =
                mcp_http_proto::wire::jsonrpc::error_body(Some(&id), -32602, "bad", data.as_ref());
            a.send(sa, text, t0).expect("send");
            b.respond_error(sb, &id, -32602, "bad", data.as_ref(), t0)
                .expect("respond_error");
            assert_eq!(wire(&drain(&mut a)), wire(&drain(&mut b)), "{mode:?} error");
        }
    }
}

/// `SRV-SESS-1`: an `InitializeResult` given to `respond` mints the session as `send`'s
/// does; the id rides on that response.
#[test]
fn respond_to_initialize_mints_the_session() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let stream = dispatch(&mut s, post(initialize_body(1, "2025-06-18")), t0);
    let result = json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "serverInfo": {"name": "t", "version": "1"}
    });
    s.respond(stream, &RequestId::Number(1), &result, t0)
        .expect("respond");
    let out = drain(&mut s);
    let id = header(only_head(&out), SESSION_HEADER)
        .expect("the session id on the initialize response")
        .to_owned();
    assert!(
        drain_events(&mut s).iter().any(
            |e| matches!(e, ServerEvent::SessionCreated { id: got, .. } if got.as_str() == id)
        )
    );
    assert!(s.session(&sid(&id)).is_some());
}

/// The misuses `send` refuses, `respond` refuses alike; a refused answer changes nothing.
#[test]
fn respond_refuses_what_send_refuses() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session(&mut s, t0);
    let stream = dispatch(&mut s, post_in(&id, tools_list(5)), t0);
    drain(&mut s);
    // Not an id of this POST.
    assert_eq!(
        s.respond(stream, &RequestId::Number(6), &json!({}), t0),
        Err(UsageError::NotPending(Some(RequestId::Number(6))))
    );
    // A result that does not serialize: a map with non-string keys.
    let bad: HashMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
    assert!(matches!(
        s.respond(stream, &RequestId::Number(5), &bad, t0),
        Err(UsageError::Unserializable(_))
    ));
    assert!(
        drain(&mut s).is_empty(),
        "nothing written for a refused answer"
    );
    // The request is still pending: the right answer goes through and ends the stream.
    s.respond(stream, &RequestId::Number(5), &json!({"tools": []}), t0)
        .expect("respond");
    let out = drain(&mut s);
    assert!(ends(&out, stream));
    // The stream has ended: closed, as for send.
    assert_eq!(
        s.respond(stream, &RequestId::Number(5), &json!({}), t0),
        Err(UsageError::StreamClosed(stream))
    );
    // A standalone GET stream carries no response.
    let get_stream = match s.handle_request(get(Some(&id)), t0) {
        Outcome::StreamOpened(g) => g.stream,
        other => panic!("expected a standalone stream, got {other:?}"),
    };
    assert_eq!(
        s.respond(get_stream, &RequestId::Number(5), &json!({}), t0),
        Err(UsageError::ResponseOnStandaloneStream)
    );
}
