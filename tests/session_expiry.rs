//! Idle expiry and the session cap, under a virtual clock (`SRV-SESS-6`, `SRV-SESS-7`,
//! `INV-S2`; DESIGN "Sessions expire after an idle timeout (default on) and are capped
//! (default on); both are visible through `poll_timeout`").

mod common;

use std::time::{Duration, Instant};

use common::*;
use mcp_http_proto::Server;
use mcp_http_proto::server::{
    CloseReason, Outcome, Refusal, ReplayLimits, ServerConfig, ServerEvent, Timeout, TimeoutReason,
};

const IDLE: Duration = Duration::from_secs(60);
const NS: Duration = Duration::from_nanos(1);

fn idle_server() -> Server {
    server(ServerConfig {
        session_idle_timeout: Some(IDLE),
        ..ServerConfig::default()
    })
}

/// [`idle_server`] with replay on (the default limits) or off. With replay on, a finished
/// SSE reply (but the `initialize` reply, which is never kept) is kept for replay until
/// its newest event is `max_age` old, and `poll_timeout` names that instant too
/// (`TimeoutReason::ReplayExpiry`); with it off only the idle timer is left.
fn idle_server_with(replay: Option<ReplayLimits>) -> Server {
    server(ServerConfig {
        session_idle_timeout: Some(IDLE),
        replay,
        ..ServerConfig::default()
    })
}

/// Both settings of replay, for tests that check `poll_timeout` exactly.
const REPLAY_SETTINGS: [Option<ReplayLimits>; 2] = [
    None,
    Some(ReplayLimits {
        max_events: 1024,
        max_bytes: 1024 * 1024,
        max_age: Duration::from_secs(300),
        max_finished_streams: 64,
        max_total_bytes: usize::MAX,
    }),
];

fn deadline(at: Instant) -> Option<Timeout> {
    Some(Timeout {
        at,
        reason: TimeoutReason::SessionIdle,
    })
}

fn replay_expiry(at: Instant) -> Option<Timeout> {
    Some(Timeout {
        at,
        reason: TimeoutReason::ReplayExpiry,
    })
}

/// What `poll_timeout` says while a session's only stream was its `initialize` reply:
/// nothing, replay on or off, for that reply is not kept once answered.
fn init_reply_window(_replay: Option<ReplayLimits>, _answered: Instant) -> Option<Timeout> {
    None
}

/// A `tools/list` answered at `at`: its reply is kept for replay until `at + max_age`
/// (the `initialize` reply is not kept).
fn answered_call(s: &mut Server, id: &str, at: Instant) {
    let Outcome::Dispatch(d) = s.handle_request(post_in(id, tools_list(9)), at) else {
        panic!("tools/list was not dispatched");
    };
    s.send(d.stream, result_answer(9), at).expect("answer");
    drain(s);
}

fn expired(id: &str) -> ServerEvent {
    ServerEvent::SessionClosed {
        id: sid(id),
        reason: CloseReason::Expired,
    }
}

/// `SRV-SESS-6`: an idle session expires at exactly its last activity (the answer that
/// minted it) plus the timeout: not a nanosecond before, and then with
/// `SessionClosed { Expired }`.
#[test]
fn idle_session_expires_exactly_at_last_activity_plus_timeout() {
    let t0 = base_instant();
    let mut s = idle_server();
    assert_eq!(s.poll_timeout(), None);
    let stream = s
        .handle_request(post(initialize_body(1, "2025-06-18")), t0)
        .stream()
        .unwrap();
    assert_eq!(s.poll_timeout(), None, "no session yet");
    let t1 = t0 + Duration::from_secs(3);
    s.send(stream, initialize_result(1, "2025-06-18"), t1)
        .unwrap();
    let id = header(only_head(&drain(&mut s)), SESSION_HEADER)
        .unwrap()
        .to_owned();
    drain_events(&mut s);
    assert_eq!(s.poll_timeout(), deadline(t1 + IDLE));

    s.handle_timeout(t1 + IDLE - NS);
    assert_eq!(s.session_count(), 1, "not a nanosecond early");
    assert!(s.poll_event().is_none());
    assert_eq!(s.poll_timeout(), deadline(t1 + IDLE));

    s.handle_timeout(t1 + IDLE);
    assert_eq!(s.session_count(), 0);
    assert_eq!(drain_events(&mut s), [expired(&id)]);
    assert!(
        s.poll_output().is_none(),
        "an idle session has no stream to end"
    );
    assert_eq!(s.poll_timeout(), None);
}

/// `SRV-SESS-7`, `INV-S2`: after expiry the id gets 404 on POST, GET and DELETE.
#[test]
fn expired_session_gets_404() {
    let t0 = base_instant();
    let mut s = idle_server();
    let id = open_session(&mut s, t0);
    let t = s.poll_timeout().unwrap().at;
    s.handle_timeout(t);
    for req in [
        post_in(&id, INITIALIZED),
        post_in(&id, tools_list(2)),
        get(Some(&id)),
        delete(Some(&id)),
    ] {
        assert_refused(
            s.handle_request(req, t + NS),
            Refusal::UnknownSession,
            404,
            -32001,
        );
    }
    assert_eq!(s.poll_timeout(), None, "404s revive nothing");
}

/// `INV-S2`, `SRV-SESS-7`: a session past its idle deadline is gone for every request even
/// before the driver's timer runs `handle_timeout`, so a late timer never revives it; a
/// nanosecond earlier it is still served. The timer then closes it as expired.
#[test]
fn overdue_session_gets_404_before_the_timer_runs() {
    let t0 = base_instant();
    let mut s = idle_server();
    let id = open_session(&mut s, t0);
    let just_before = t0 + IDLE - NS;
    let out = s.handle_request(post_in(&id, INITIALIZED), just_before);
    assert_eq!(out.response().unwrap().status(), 202, "still live");
    expect_initialized_event(&mut s, &id);
    let due = just_before + IDLE;
    assert_eq!(s.poll_timeout(), deadline(due));
    for req in [
        post_in(&id, tools_list(2)),
        get(Some(&id)),
        delete(Some(&id)),
        post_in(&id, INITIALIZED),
    ] {
        assert_refused(
            s.handle_request(req, due),
            Refusal::UnknownSession,
            404,
            -32001,
        );
    }
    // The refusals changed nothing: the timer is still due and closes it as expired, not
    // deleted.
    assert_eq!(s.poll_timeout(), deadline(due));
    assert_eq!(s.session_count(), 1);
    assert!(s.poll_event().is_none());
    let late = due + Duration::from_secs(3600);
    assert_refused(
        s.handle_request(post_in(&id, INITIALIZED), late),
        Refusal::UnknownSession,
        404,
        -32001,
    );
    s.handle_timeout(late);
    assert_eq!(drain_events(&mut s), [expired(&id)]);
    assert_eq!(s.session_count(), 0);
}

/// Accepted activity (here a 202) pushes the deadline; a refused request carrying the id
/// does not (`INV-S3`), and the superseded deadline passes harmlessly.
#[test]
fn activity_pushes_the_deadline_and_refusals_do_not() {
    let t0 = base_instant();
    let mut s = idle_server();
    let id = open_session(&mut s, t0);
    assert_eq!(s.poll_timeout(), deadline(t0 + IDLE));

    let t1 = t0 + Duration::from_secs(30);
    let out = s.handle_request(post_in(&id, INITIALIZED), t1);
    assert_eq!(out.response().unwrap().status(), 202);
    expect_initialized_event(&mut s, &id);
    assert_eq!(s.poll_timeout(), deadline(t1 + IDLE));

    // Refused requests carrying the id change nothing.
    let t2 = t0 + Duration::from_secs(50);
    let _ = s.handle_request(post_in(&id, "{not json"), t2);
    let _ = s.handle_request(post_in(&id, initialize_body(2, "2025-06-18")), t2);
    let _ = s.handle_request(post_in(&id, INITIALIZED).set("accept", "text/html"), t2);
    assert_eq!(s.poll_timeout(), deadline(t1 + IDLE));

    // The old deadline passes harmlessly.
    s.handle_timeout(t0 + IDLE);
    assert_eq!(s.session_count(), 1);
    s.handle_timeout(t1 + IDLE);
    assert_eq!(s.session_count(), 0);
    assert_eq!(drain_events(&mut s), [expired(&id)]);
}

/// A session does not expire while one of its POST streams is open, even long past the
/// timeout; the clock starts again when the last answer ends the stream. With replay on,
/// the only deadline meanwhile is the `initialize` reply's replay window, whose passing
/// ends nothing but that window.
#[test]
fn open_post_stream_keeps_the_session_alive() {
    for replay in REPLAY_SETTINGS {
        let t0 = base_instant();
        let mut s = idle_server_with(replay);
        let id = open_initialized_session(&mut s, t0);
        let stream = s
            .handle_request(post_in(&id, tools_list(2)), t0 + Duration::from_secs(10))
            .stream()
            .unwrap();
        assert_eq!(
            s.poll_timeout(),
            init_reply_window(replay, t0),
            "an open stream: no idle deadline ({replay:?})"
        );
        let late = t0 + Duration::from_secs(3600);
        s.handle_timeout(late);
        assert_eq!(s.session_count(), 1);
        assert!(s.poll_event().is_none());
        assert_eq!(s.poll_timeout(), None, "{replay:?}");
        s.send(stream, result_answer(2), late).unwrap();
        assert_eq!(s.poll_timeout(), deadline(late + IDLE), "{replay:?}");
    }
}

/// A disconnected POST stream still awaits its answer (`SRV-PSSE-6`), so it keeps the
/// session alive too.
#[test]
fn disconnected_but_unanswered_post_stream_keeps_the_session_alive() {
    for replay in REPLAY_SETTINGS {
        let t0 = base_instant();
        let mut s = idle_server_with(replay);
        let id = open_initialized_session(&mut s, t0);
        let stream = s
            .handle_request(post_in(&id, tools_list(2)), t0)
            .stream()
            .unwrap();
        disconnect(&mut s, stream, t0 + NS).unwrap();
        assert_eq!(
            s.poll_timeout(),
            init_reply_window(replay, t0),
            "{replay:?}"
        );
        let t1 = t0 + Duration::from_secs(500);
        s.send(stream, result_answer(2), t1).unwrap();
        // The initialize reply's window (t0 + 300 s) is overdue, the driver's timer not
        // yet run: it comes first.
        assert_eq!(
            s.poll_timeout(),
            init_reply_window(replay, t0).or(deadline(t1 + IDLE)),
            "{replay:?}"
        );
        s.handle_timeout(t1);
        assert_eq!(s.session_count(), 1);
        assert_eq!(s.poll_timeout(), deadline(t1 + IDLE), "{replay:?}");
    }
}

/// An open standalone GET stream keeps the session alive; after the client disconnects,
/// the idle clock starts from the disconnect.
#[test]
fn open_standalone_stream_keeps_the_session_alive_until_it_ends() {
    for replay in REPLAY_SETTINGS {
        let t0 = base_instant();
        let mut s = idle_server_with(replay);
        let id = open_session(&mut s, t0);
        let stream = s
            .handle_request(get(Some(&id)), t0 + Duration::from_secs(5))
            .stream()
            .unwrap();
        drain(&mut s);
        assert_eq!(
            s.poll_timeout(),
            init_reply_window(replay, t0),
            "{replay:?}"
        );
        s.handle_timeout(t0 + Duration::from_secs(7200));
        assert_eq!(s.session_count(), 1);
        assert_eq!(s.poll_timeout(), None, "{replay:?}");
        let gone = t0 + Duration::from_secs(7201);
        disconnect(&mut s, stream, gone).unwrap();
        assert_eq!(s.poll_timeout(), deadline(gone + IDLE), "{replay:?}");
        s.handle_timeout(gone + IDLE - NS);
        assert_eq!(s.session_count(), 1);
        s.handle_timeout(gone + IDLE);
        assert_eq!(s.session_count(), 0);
    }
}

/// `poll_timeout` names the earlier of the idle deadline and a finished stream's replay
/// window, with its reason. A retained stream does not keep its session alive: the session
/// expires at its idle deadline, and takes its retained streams (and their windows) along.
#[test]
fn replay_windows_and_idle_deadlines_are_reported_earliest_first() {
    let t0 = base_instant();
    let short = ReplayLimits {
        max_age: Duration::from_secs(20),
        ..ReplayLimits::default()
    };
    let mut s = idle_server_with(Some(short));
    let id = open_session(&mut s, t0);
    answered_call(&mut s, &id, t0);
    // The tools/list reply is kept for 20 s, before the idle deadline.
    assert_eq!(
        s.poll_timeout(),
        replay_expiry(t0 + Duration::from_secs(20))
    );
    s.handle_timeout(t0 + Duration::from_secs(20) - NS);
    assert_eq!(
        s.poll_timeout(),
        replay_expiry(t0 + Duration::from_secs(20))
    );
    s.handle_timeout(t0 + Duration::from_secs(20));
    assert!(s.poll_event().is_none(), "a window ends no session");
    assert_eq!(live_ids(&s), [id]);
    assert_eq!(s.poll_timeout(), deadline(t0 + IDLE));

    // A window that would outlast the idle deadline: the idle deadline comes first, and
    // the session's end takes the window with it.
    let long = ReplayLimits {
        max_age: Duration::from_secs(600),
        ..ReplayLimits::default()
    };
    let mut s = idle_server_with(Some(long));
    let id2 = open_session(&mut s, t0);
    assert_eq!(s.poll_timeout(), deadline(t0 + IDLE));
    s.handle_timeout(t0 + IDLE);
    assert_eq!(drain_events(&mut s), [expired(&id2)]);
    assert_eq!(
        s.poll_timeout(),
        None,
        "the retained reply went with its session"
    );
    assert_eq!(live_ids(&s), Vec::<String>::new());
}

/// `poll_timeout` names the earliest deadline; one `handle_timeout` expires every session
/// due, and only those, including several due at the same instant.
#[test]
fn several_sessions_expire_in_deadline_order() {
    let t0 = base_instant();
    let mut s = idle_server();
    let a = open_session(&mut s, t0);
    let b = open_session(&mut s, t0);
    let c = open_session(&mut s, t0 + Duration::from_secs(10));
    let d = open_session(&mut s, t0 + Duration::from_secs(20));
    assert_eq!(s.poll_timeout(), deadline(t0 + IDLE));
    s.handle_timeout(t0 + IDLE + Duration::from_secs(10));
    let mut closed: Vec<_> = drain_events(&mut s);
    closed.sort_by_key(|e| format!("{e:?}"));
    let mut want = vec![expired(&a), expired(&b), expired(&c)];
    want.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(closed, want);
    assert_eq!(live_ids(&s), [d]);
    assert_eq!(
        s.poll_timeout(),
        deadline(t0 + Duration::from_secs(20) + IDLE)
    );
}

/// An expiry ends only the idle session; a session whose timer was pushed survives the
/// same `handle_timeout`.
#[test]
fn expiry_leaves_active_sessions_alone() {
    let t0 = base_instant();
    let mut s = idle_server();
    let idle = open_session(&mut s, t0);
    let busy = open_session(&mut s, t0);
    let _ = s.handle_request(post_in(&busy, INITIALIZED), t0 + Duration::from_secs(59));
    expect_initialized_event(&mut s, &busy);
    s.handle_timeout(t0 + IDLE);
    assert_eq!(live_ids(&s), std::slice::from_ref(&busy));
    assert_eq!(drain_events(&mut s), [expired(&idle)]);
    assert!(matches!(
        s.handle_request(post_in(&busy, tools_list(1)), t0 + IDLE),
        Outcome::Dispatch(_)
    ));
}

/// `session_idle_timeout: None` disables expiry: no idle deadline, and sessions live
/// forever. The only deadline left is the replay window of a finished reply (5 minutes by
/// default), whose passing ends nothing else.
#[test]
fn expiry_disabled_with_none() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        session_idle_timeout: None,
        ..ServerConfig::default()
    });
    let id = open_session(&mut s, t0);
    answered_call(&mut s, &id, t0);
    assert_eq!(
        s.poll_timeout(),
        replay_expiry(t0 + Duration::from_secs(300))
    );
    let far = t0 + Duration::from_secs(10 * 365 * 86_400);
    s.handle_timeout(far);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(live_ids(&s), std::slice::from_ref(&id));
    assert!(s.poll_event().is_none());
    assert!(matches!(
        s.handle_request(post_in(&id, tools_list(1)), far),
        Outcome::Dispatch(_)
    ));
}

/// The default configuration expires idle sessions after 30 minutes. Before that, a
/// finished reply's replay window (5 minutes by default) passes, and ends nothing else.
#[test]
fn default_idle_timeout_is_thirty_minutes() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session(&mut s, t0);
    answered_call(&mut s, &id, t0);
    assert_eq!(
        s.poll_timeout(),
        replay_expiry(t0 + Duration::from_secs(300))
    );
    s.handle_timeout(t0 + Duration::from_secs(300));
    assert_eq!(live_ids(&s), [id]);
    assert!(s.poll_event().is_none());
    assert_eq!(s.poll_timeout(), deadline(t0 + Duration::from_secs(1800)));
}

fn capped(cap: usize) -> Server {
    server(ServerConfig {
        max_sessions: Some(cap),
        session_idle_timeout: Some(IDLE),
        ..ServerConfig::default()
    })
}

fn assert_cap_refuses(s: &mut Server, now: Instant) {
    let (r, _) = assert_refused(
        s.handle_request(post(initialize_body(9, "2025-06-18")), now),
        Refusal::SessionCap,
        503,
        -32000,
    );
    assert_eq!(header(&r.response, "retry-after"), Some("5"));
}

/// The cap: at `max_sessions` live sessions a new `initialize` gets 503 + `Retry-After`,
/// and nothing changes.
#[test]
fn cap_refuses_new_sessions_with_503() {
    let t0 = base_instant();
    let mut s = capped(2);
    let a = open_session(&mut s, t0);
    let b = open_session(&mut s, t0);
    let timeout = s.poll_timeout();
    assert_cap_refuses(&mut s, t0);
    assert_eq!(s.stream_count(), 0);
    assert_eq!(s.poll_timeout(), timeout);
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(live_ids(&s), want);
}

/// `initialize` requests awaiting their answer count toward the cap; the slot frees when
/// the answer is an error, and becomes the session when it succeeds.
#[test]
fn pending_initializes_count_toward_the_cap() {
    let t0 = base_instant();
    let mut s = capped(1);
    let stream = s
        .handle_request(post(initialize_body(1, "2025-06-18")), t0)
        .stream()
        .unwrap();
    assert_cap_refuses(&mut s, t0);
    // The client going away does not free the slot: the answer is still awaited.
    disconnect(&mut s, stream, t0).unwrap();
    assert_cap_refuses(&mut s, t0);
    s.send(stream, error_answer(1), t0).unwrap();
    let stream = s
        .handle_request(post(initialize_body(2, "2025-06-18")), t0)
        .stream()
        .expect("the slot is free again");
    s.send(stream, initialize_result(2, "2025-06-18"), t0)
        .unwrap();
    assert_eq!(s.session_count(), 1);
    assert_cap_refuses(&mut s, t0);
}

/// Capacity frees when a session ends by DELETE, by `terminate_session` or by expiry.
#[test]
fn capacity_frees_after_delete_termination_or_expiry() {
    let t0 = base_instant();
    let mut s = capped(1);
    let id = open_session(&mut s, t0);
    assert_cap_refuses(&mut s, t0);
    let _ = s.handle_request(delete(Some(&id)), t0);
    let id = open_session(&mut s, t0);
    assert_cap_refuses(&mut s, t0);
    assert!(s.terminate_session(&sid(&id)));
    let _id = open_session(&mut s, t0);
    assert_cap_refuses(&mut s, t0);
    s.handle_timeout(t0 + IDLE);
    assert_eq!(s.session_count(), 0);
    let _id = open_session(&mut s, t0 + IDLE);
    assert_eq!(s.session_count(), 1);
}

/// `max_sessions: None` disables the cap.
#[test]
fn cap_disabled_with_none() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        max_sessions: None,
        ..ServerConfig::default()
    });
    for _ in 0..200 {
        let _ = open_session(&mut s, t0);
    }
    assert_eq!(s.session_count(), 200);
}

/// An expired session does not come back to life (`INV-S2`, `SRV-SESS-7`): its standalone
/// stream's connection is closed early, the clock passes the idle deadline before the
/// driver's timer runs (a POST now gets 404), and then the driver reports that connection
/// gone. Closing the stream must not refresh the idle clock of a session already past its
/// deadline: the next POST still gets 404, and the timer closes it as expired.
#[test]
fn an_expired_session_stays_expired_when_its_stream_closes_late() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        session_idle_timeout: Some(Duration::from_secs(10)),
        ..ServerConfig::default()
    });
    let id = open_session_2025_11_25(&mut s, t0);
    let opened = match s.handle_request(get(Some(&id)), t0) {
        Outcome::StreamOpened(o) => o,
        other => panic!("{other:?}"),
    };
    s.close_connection(opened.stream, t0).unwrap();
    drain(&mut s);
    let late = t0 + Duration::from_secs(11);
    assert_refused(
        s.handle_request(post_in(&id, tools_list(2)), late),
        Refusal::UnknownSession,
        404,
        -32001,
    );
    // The driver reports the standalone connection gone, late.
    s.handle_disconnect(opened.connection, late).unwrap();
    assert_refused(
        s.handle_request(post_in(&id, tools_list(3)), late),
        Refusal::UnknownSession,
        404,
        -32001,
    );
    assert_eq!(s.poll_timeout(), deadline(t0 + Duration::from_secs(10)));
    s.handle_timeout(late);
    assert_eq!(s.session_count(), 0);
}
