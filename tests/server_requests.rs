//! Server-to-client requests (`SRV-PSSE-2` on a POST stream, `SRV-GET-4` on the
//! standalone stream) and the routing of the client's answers: the POST that carries
//! them is accepted (202, `SRV-POST-7`) and `Accepted::answers` names the request each
//! one answers.

mod common;

use common::*;
use mcp_http_proto::server::UsageError;
use mcp_http_proto::server::{Accepted, Outcome, Server, ServerConfig, StreamId};
use mcp_http_proto::wire::jsonrpc::RequestId;

fn request(id: &str, method: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":"{id}","method":"{method}","params":{{}}}}"#)
}

fn result(id: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":"{id}","result":{{"ok":true}}}}"#)
}

fn rid(id: &str) -> RequestId {
    RequestId::String(id.into())
}

fn accepted(outcome: Outcome) -> Accepted {
    match outcome {
        Outcome::Accepted(a) => {
            assert_eq!(a.response.status(), 202);
            a
        }
        other => panic!("expected 202 Accepted, got {other:?}"),
    }
}

/// An initialized session with an open `tools/call`-like POST stream.
fn session_with_post(s: &mut Server) -> (String, StreamId) {
    let t0 = base_instant();
    let id = open_initialized_session(s, t0);
    let stream = s
        .handle_request(post_in(&id, tools_list(7)), t0)
        .stream()
        .unwrap();
    drain(s);
    (id, stream)
}

/// `SRV-PSSE-2`: a request sent on a POST stream is remembered; the client's answer, in
/// a POST of its own, is accepted and names the request, its method and its stream.
#[test]
fn answer_to_a_request_on_a_post_stream_is_matched() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let (id, stream) = session_with_post(&mut s);
    s.send(stream, request("s1", "sampling/createMessage"), t0)
        .unwrap();
    let pending: Vec<_> = s.pending_requests(Some(&sid(&id))).cloned().collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, rid("s1"));
    assert_eq!(&*pending[0].method, "sampling/createMessage");
    assert_eq!(pending[0].stream, stream);
    drain(&mut s);

    let a = accepted(s.handle_request(post_in(&id, result("s1")), t0));
    assert_eq!(a.messages.len(), 1);
    assert_eq!(a.answers.len(), 1);
    let answer = &a.answers[0];
    assert!(answer.is_matched());
    let req = answer.request.as_ref().unwrap();
    assert_eq!(
        (req.id.clone(), &*req.method, req.stream),
        (rid("s1"), "sampling/createMessage", stream)
    );
    assert_eq!(answer.message, a.messages[0]);
    assert_eq!(s.pending_requests(Some(&sid(&id))).count(), 0);

    // The same answer again matches nothing: it was answered already.
    let again = accepted(s.handle_request(post_in(&id, result("s1")), t0));
    assert_eq!(again.answers.len(), 1);
    assert!(!again.answers[0].is_matched());
    // The POST stream is untouched: it still awaits its own response.
    s.send(stream, result_answer(7), t0).unwrap();
    assert!(ends(&drain(&mut s), stream));
}

/// `SRV-GET-4`: requests on the standalone stream are routed too, error answers
/// included; a batch of answers is matched message by message, in body order.
#[test]
fn answers_to_standalone_requests_are_matched_in_body_order() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_initialized_session(&mut s, t0);
    let get = s.handle_request(get(Some(&id)), t0).stream().unwrap();
    s.send(get, request("r1", "roots/list"), t0).unwrap();
    s.send(get, request("p1", "ping"), t0).unwrap();
    drain(&mut s);
    let error = r#"{"jsonrpc":"2.0","id":"p1","error":{"code":-32603,"message":"no"}}"#;
    let unknown = result("zz");
    // Batches are a 2025-03-26 feature: answer one by one here.
    let a = accepted(s.handle_request(post_in(&id, error), t0));
    assert_eq!(a.answers[0].request.as_ref().unwrap().id, rid("p1"));
    assert_eq!(&*a.answers[0].request.as_ref().unwrap().method, "ping");
    let a = accepted(s.handle_request(post_in(&id, unknown), t0));
    assert!(
        !a.answers[0].is_matched(),
        "an unknown id is handed over unmatched"
    );
    let a = accepted(s.handle_request(post_in(&id, result("r1")), t0));
    let req = a.answers[0].request.as_ref().unwrap();
    assert_eq!((req.id.clone(), req.stream), (rid("r1"), get));
}

/// A batch of answers (2025-03-26) is matched message by message; notifications in it
/// are no answers; an error with a `null` id is unmatched.
#[test]
fn a_batch_of_answers_is_matched_one_by_one() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session_with(&mut s, "2025-03-26", t0);
    let out = s.handle_request(
        post_in(&id, INITIALIZED).set("mcp-protocol-version", "2025-03-26"),
        t0,
    );
    assert_eq!(out.response().unwrap().status(), 202);
    let get = s
        .handle_request(get(Some(&id)).set("mcp-protocol-version", "2025-03-26"), t0)
        .stream()
        .unwrap();
    s.send(get, request("a", "roots/list"), t0).unwrap();
    s.send(get, request("b", "elicitation/create"), t0).unwrap();
    let null_error = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#;
    let batch = format!("[{},{},{null_error}]", result("b"), result("a"));
    let a = accepted(s.handle_request(
        post_in(&id, batch).set("mcp-protocol-version", "2025-03-26"),
        t0,
    ));
    let ids: Vec<_> = a
        .answers
        .iter()
        .map(|x| x.request.as_ref().map(|r| r.id.clone()))
        .collect();
    assert_eq!(ids, [Some(rid("b")), Some(rid("a")), None]);
    assert_eq!(s.pending_requests(Some(&sid(&id))).count(), 0);
}

/// Ids are unique per session while outstanding: a duplicate is refused and writes
/// nothing; once answered, the id may be used again.
#[test]
fn an_outstanding_id_cannot_be_reused() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let (id, stream) = session_with_post(&mut s);
    s.send(stream, request("x", "ping"), t0).unwrap();
    drain(&mut s);
    assert_eq!(
        s.send(stream, request("x", "roots/list"), t0),
        Err(UsageError::DuplicateOutstandingRequest(rid("x")))
    );
    assert!(
        s.poll_output().is_none(),
        "a refused request writes nothing"
    );
    let _ = accepted(s.handle_request(post_in(&id, result("x")), t0));
    s.send(stream, request("x", "roots/list"), t0).unwrap();
}

/// The per-session cap (`ServerConfig::max_outstanding_requests`): one more is refused
/// and writes nothing; an answer makes room.
#[test]
fn outstanding_requests_are_capped_per_session() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        max_outstanding_requests: 2,
        ..ServerConfig::default()
    });
    let (id, stream) = session_with_post(&mut s);
    s.send(stream, request("1", "ping"), t0).unwrap();
    s.send(stream, request("2", "ping"), t0).unwrap();
    drain(&mut s);
    assert_eq!(
        s.send(stream, request("3", "ping"), t0),
        Err(UsageError::TooManyOutstandingRequests(2))
    );
    assert!(s.poll_output().is_none());
    // Another session has its own budget.
    let (_other, other_stream) = session_with_post(&mut s);
    s.send(other_stream, request("3", "ping"), t0).unwrap();
    // An answer makes room.
    let _ = accepted(s.handle_request(post_in(&id, result("1")), t0));
    s.send(stream, request("3", "ping"), t0).unwrap();
}

/// Answers are matched within their own session only.
#[test]
fn answers_from_another_session_do_not_match() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let (a_id, a_stream) = session_with_post(&mut s);
    let (b_id, _) = session_with_post(&mut s);
    s.send(a_stream, request("q", "ping"), t0).unwrap();
    let a = accepted(s.handle_request(post_in(&b_id, result("q")), t0));
    assert!(!a.answers[0].is_matched());
    let a = accepted(s.handle_request(post_in(&a_id, result("q")), t0));
    assert!(a.answers[0].is_matched());
}

/// A request given up on with `forget_request` is no longer outstanding: its late answer
/// is unmatched.
#[test]
fn forgotten_requests_are_unmatched() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let (id, stream) = session_with_post(&mut s);
    s.send(stream, request("late", "sampling/createMessage"), t0)
        .unwrap();
    let gone = s.forget_request(Some(&sid(&id)), &rid("late")).unwrap();
    assert_eq!(gone.stream, stream);
    assert!(s.forget_request(Some(&sid(&id)), &rid("late")).is_none());
    let a = accepted(s.handle_request(post_in(&id, result("late")), t0));
    assert!(!a.answers[0].is_matched());
}

/// The end of a session forgets its outstanding requests.
#[test]
fn session_end_forgets_outstanding_requests() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let (id, stream) = session_with_post(&mut s);
    s.send(stream, request("x", "ping"), t0).unwrap();
    assert_eq!(s.pending_requests(Some(&sid(&id))).count(), 1);
    assert!(s.terminate_session(&sid(&id)));
    assert_eq!(s.pending_requests(Some(&sid(&id))).count(), 0);
}

/// A request refused by the lifecycle gate (`LIFE-7`) is not remembered.
#[test]
fn refused_requests_are_not_remembered() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session(&mut s, t0);
    let stream = s
        .handle_request(post_in(&id, tools_list(2)), t0)
        .stream()
        .unwrap();
    assert_eq!(
        s.send(stream, request("e", "elicitation/create"), t0),
        Err(UsageError::NotInitialized)
    );
    assert_eq!(s.pending_requests(Some(&sid(&id))).count(), 0);
}

/// Stateless mode: no session tells clients apart, so one table holds the requests;
/// a session-less answer is matched, and the end of the stream a request went on
/// forgets it.
#[test]
fn stateless_answers_are_matched_until_the_stream_ends() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::stateless());
    let stream = s.handle_request(post(tools_list(1)), t0).stream().unwrap();
    s.send(stream, request("s1", "sampling/createMessage"), t0)
        .unwrap();
    s.send(stream, request("s2", "elicitation/create"), t0)
        .unwrap();
    let a = accepted(s.handle_request(post(result("s1")), t0));
    assert_eq!(a.session, None);
    assert_eq!(a.answers[0].request.as_ref().unwrap().stream, stream);
    assert_eq!(s.pending_requests(None).count(), 1);
    s.send(stream, result_answer(1), t0).unwrap();
    assert!(ends(&drain(&mut s), stream));
    assert_eq!(s.pending_requests(None).count(), 0, "its stream ended");
    let a = accepted(s.handle_request(post(result("s2")), t0));
    assert!(!a.answers[0].is_matched());
}
