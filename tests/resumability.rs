//! Resumable SSE streams, under a virtual clock: event ids (`SRV-RES-1..3`, `INV-S9`),
//! replay after `Last-Event-ID` (`SRV-RES-5`, `SRV-RES-6`, `BOTH-RES-7`, `INV-S10`), the
//! replay limits and the retention of finished streams, priming events and early
//! connection closes for 2025-11-25 clients only (`SRV-PSSE-9`, `SRV-PSSE-10`,
//! `SRV-PSSE-12`, `INV-S12`), disconnects that are not cancellations (`SRV-PSSE-6`,
//! `INV-S15`), one response per request (`INV-S11`), none on the standalone stream
//! (`INV-S7`), and the refusals of step 12 (ambiguity 20: 400 for an id that cannot be
//! mapped, 409 for a stream still attached), which change nothing.
//!
//! Event ids are `{salt}-{stream}-{seq}` (see `src/server/replay.rs`): the salt is drawn
//! once per server machine, `stream` is the stream's number and `seq` counts the stream's
//! events from 0. The tests read that form to name positions a client could send (another
//! machine's salt, a position not reached yet).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use mcp_http_proto::server::UsageError;
use mcp_http_proto::server::{
    Outcome, Output, Refusal, ReplayLimits, ReplyMode, Server, ServerConfig, SessionMode,
    SessionRecord, StreamEvent, StreamId, StreamResumed, Timeout, TimeoutReason,
};

const NS: Duration = Duration::from_nanos(1);
const SECOND: Duration = Duration::from_secs(1);

/// The versions with resumable streams; only the last has priming and early closes.
const RESUMABLE_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];

// ----- helpers -----

/// A server with these replay limits (`None`: replay off) and no idle expiry, so that
/// `poll_timeout` speaks of replay windows only.
fn server_with(replay: Option<ReplayLimits>) -> Server {
    server(ServerConfig {
        replay,
        session_idle_timeout: None,
        ..ServerConfig::default()
    })
}

fn limits(max_events: usize, max_bytes: usize, max_age: Duration) -> ReplayLimits {
    ReplayLimits {
        max_events,
        max_bytes,
        max_age,
        max_finished_streams: 64,
        ..ReplayLimits::default()
    }
}

/// A session at `version`, with `notifications/initialized` sent.
fn session_at(s: &mut Server, version: &str, now: Instant) -> String {
    let id = open_session_with(s, version, now);
    let out = s.handle_request(post_in(&id, INITIALIZED), now);
    assert_eq!(out.response().unwrap().status(), 202);
    expect_initialized_event(s, &id);
    id
}

/// A progress notification numbered `n`, so that every message differs.
fn note(n: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":1,"progress":{n}}}}}"#
    )
}

/// POSTs `tools/list` with request id `rid` on `session`: its stream, and the frames
/// written right after the head (the priming event, for 2025-11-25).
fn request(s: &mut Server, session: &str, rid: u64, now: Instant) -> (StreamId, Vec<SseFrame>) {
    let stream = match s.handle_request(post_in(session, tools_list(rid)), now) {
        Outcome::Dispatch(d) => d.stream,
        other => panic!("not dispatched: {other:?}"),
    };
    let out = drain(s);
    assert_eq!(heads(&out).len(), 1, "{out:?}");
    (stream, frames_of(&out, stream))
}

/// Opens the standalone stream: its handle and the frames after the head.
fn standalone(s: &mut Server, session: &str, now: Instant) -> (StreamId, Vec<SseFrame>) {
    let stream = match s.handle_request(get(Some(session)), now) {
        Outcome::StreamOpened(o) => o.stream,
        other => panic!("not opened: {other:?}"),
    };
    let out = drain(s);
    (stream, frames_of(&out, stream))
}

/// Sends `message` on `stream`: the frames written (none while detached). Nothing is
/// written anywhere else.
fn send(s: &mut Server, stream: StreamId, message: &str, now: Instant) -> Vec<SseFrame> {
    s.send(stream, message.to_owned(), now)
        .unwrap_or_else(|e| panic!("send on {stream:?}: {e}"));
    let out = drain(s);
    assert!(out.iter().all(|o| o.stream == stream), "{out:?}");
    assert!(
        out.iter().all(|o| matches!(o.event, StreamEvent::Data(_))),
        "{out:?}"
    );
    frames_of(&out, stream)
}

/// Sends `message` on `stream` and returns the id of the one frame written.
fn send_id(s: &mut Server, stream: StreamId, message: &str, now: Instant) -> String {
    let frames = send(s, stream, message, now);
    assert_eq!(frames.len(), 1, "{frames:?}");
    frames[0]
        .id
        .clone()
        .expect("a resumable stream's event carries an id")
}

/// `{salt}-{stream}-{seq}`.
fn parts(id: &str) -> (String, u64, u64) {
    let p: Vec<&str> = id.split('-').collect();
    assert_eq!(p.len(), 3, "{id:?}");
    (
        p[0].to_owned(),
        p[1].parse().unwrap(),
        p[2].parse().unwrap(),
    )
}

fn at_seq(id: &str, seq: u64) -> String {
    let (salt, stream, _) = parts(id);
    format!("{salt}-{stream}-{seq}")
}

/// A GET with `Last-Event-ID` that must resume: the outcome and the outputs, which all
/// belong to the resumed stream and start with an SSE head that carries no session id.
fn resume(
    s: &mut Server,
    session: &str,
    last_event_id: &str,
    now: Instant,
) -> (StreamResumed, Vec<Output>) {
    let r = match s.handle_request(resume_get(session, last_event_id), now) {
        Outcome::StreamResumed(r) => r,
        other => panic!("{last_event_id} did not resume: {other:?}"),
    };
    assert_eq!(r.session, sid(session));
    let out = drain(s);
    assert!(out.iter().all(|o| o.stream == r.stream), "{out:?}");
    assert!(matches!(
        out.first().map(|o| &o.event),
        Some(StreamEvent::Head(_))
    ));
    let head = only_head(&out);
    assert_eq!(head.status(), 200);
    assert_eq!(header(head, "content-type"), Some(EVENT_STREAM));
    assert_eq!(
        header(head, SESSION_HEADER),
        None,
        "only the initialize reply has it"
    );
    (r, out)
}

/// A GET with `Last-Event-ID` that must be refused with `refusal` and change nothing.
fn refused_resume(
    s: &mut Server,
    session: &str,
    last_event_id: &str,
    refusal: Refusal,
    now: Instant,
) {
    let before = state(s);
    let (status, code) = match refusal {
        Refusal::UnknownEventId => (400, -32600),
        Refusal::StreamConflict => (409, -32000),
        Refusal::UnknownSession => (404, -32001),
        other => panic!("{other:?}"),
    };
    assert_refused(
        s.handle_request(resume_get(session, last_event_id), now),
        refusal,
        status,
        code,
    );
    assert_eq!(
        state(s),
        before,
        "a refused resume ({last_event_id}) changed the machine"
    );
    assert!(s.poll_output().is_none());
    assert!(s.poll_event().is_none());
}

/// What a refused request must leave as it was.
#[derive(Debug, PartialEq)]
struct State {
    records: Vec<SessionRecord>,
    streams: usize,
    standalone: Vec<Option<StreamId>>,
    timeout: Option<Timeout>,
}

fn state(s: &Server) -> State {
    let mut records: Vec<SessionRecord> = s.sessions().cloned().collect();
    records.sort_by(|a, b| a.id.cmp(&b.id));
    State {
        standalone: records.iter().map(|r| s.standalone_stream(&r.id)).collect(),
        records,
        streams: s.stream_count(),
        timeout: s.poll_timeout(),
    }
}

fn replay_expiry(at: Instant) -> Option<Timeout> {
    Some(Timeout {
        at,
        reason: TimeoutReason::ReplayExpiry,
    })
}

/// The messages among `frames`.
fn messages(frames: &[SseFrame]) -> Vec<serde_json::Value> {
    frames.iter().filter_map(SseFrame::message).collect()
}

fn is_response(m: &serde_json::Value) -> bool {
    m.get("method").is_none() && (m.get("result").is_some() || m.get("error").is_some())
}

// ----- event ids -----

/// `SRV-RES-1`, `SRV-RES-2`, `INV-S9`, `SRV-RES-3`: with replay on, every message event of
/// every stream of a session (POST streams and the standalone stream, interleaved) carries
/// an id; no id is used twice across the session's streams, nor across two sessions of
/// one machine; each id names its own stream, and counts up along it. Every version with
/// resumability.
#[test]
fn event_ids_are_unique_across_every_stream_of_a_session() {
    for version in RESUMABLE_VERSIONS {
        let t0 = base_instant();
        let mut s = server(ServerConfig::default());
        let mut all = BTreeSet::new();
        for _session in 0..2 {
            let id = session_at(&mut s, version, t0);
            let (g, gf) = standalone(&mut s, &id, t0);
            let (a, af) = request(&mut s, &id, 2, t0);
            let (b, bf) = request(&mut s, &id, 3, t0);
            let mut frames: Vec<(StreamId, SseFrame)> = Vec::new();
            for (stream, fs) in [(g, gf), (a, af), (b, bf)] {
                frames.extend(fs.into_iter().map(|f| (stream, f)));
            }
            for n in 0..4 {
                for stream in [a, g, b] {
                    let msg = note(n);
                    frames.extend(
                        send(&mut s, stream, &msg, t0)
                            .into_iter()
                            .map(|f| (stream, f)),
                    );
                }
            }
            for (stream, rid) in [(b, 3), (a, 2)] {
                s.send(stream, result_answer(rid), t0).unwrap();
                let out = drain(&mut s);
                assert!(ends(&out, stream));
                frames.extend(frames_of(&out, stream).into_iter().map(|f| (stream, f)));
            }
            let mut last_seq = std::collections::BTreeMap::new();
            for (stream, f) in &frames {
                if f.message().is_some() {
                    assert!(f.id.is_some(), "{version}: a message without an id: {f:?}");
                }
                let Some(event_id) = &f.id else { continue };
                assert!(
                    all.insert(event_id.clone()),
                    "{version}: {event_id} used twice"
                );
                let (_, named, seq) = parts(event_id);
                assert_eq!(
                    named,
                    stream.as_u64(),
                    "{version}: {event_id} names its stream"
                );
                if let Some(prev) = last_seq.insert(*stream, seq) {
                    assert!(seq > prev, "{version}: {event_id} after seq {prev}");
                }
            }
            let written = frames.iter().filter(|(_, f)| f.message().is_some());
            assert_eq!(
                written.count(),
                12 + 2,
                "{version}: every note and both answers"
            );
        }
    }
}

/// `SRV-RES-3`, `BOTH-RES-7`: an id names its stream, so a GET with any id the client saw
/// on a stream resumes exactly that stream, the same handle, whichever stream it is (two
/// POST streams whose clients went away, and the standalone stream whose connection the
/// server closed), and whatever position on it.
#[test]
fn an_event_id_resumes_exactly_the_stream_it_came_from() {
    let t0 = base_instant();
    let mut s = server_with(Some(ReplayLimits::default()));
    let id = open_session_2025_11_25(&mut s, t0);
    let (a, af) = request(&mut s, &id, 2, t0);
    let (b, bf) = request(&mut s, &id, 3, t0);
    let (g, gf) = standalone(&mut s, &id, t0);
    let mut ids: Vec<(StreamId, String)> = Vec::new();
    for (stream, fs) in [(a, af), (b, bf), (g, gf)] {
        ids.push((stream, fs[0].id.clone().expect("the priming id")));
    }
    for n in 0..2 {
        for stream in [a, b, g] {
            let event_id = send_id(&mut s, stream, &note(n), t0);
            ids.push((stream, event_id));
        }
    }
    disconnect(&mut s, a, t0).unwrap();
    disconnect(&mut s, b, t0).unwrap();
    s.close_connection(g, t0).unwrap();
    drain(&mut s);
    for (stream, event_id) in &ids {
        let (r, _) = resume(&mut s, &id, event_id, t0);
        assert_eq!(r.stream, *stream, "{event_id}");
        // Detach it again for the next id.
        if *stream == g {
            s.close_connection(g, t0).unwrap();
        } else {
            disconnect(&mut s, *stream, t0).unwrap();
        }
        drain(&mut s);
    }
    assert_eq!(s.stream_count(), 3, "no stream ended on the way");
}

// ----- replay -----

/// `INV-S10`, `SRV-RES-5`, `SRV-RES-6`: after `Last-Event-ID = e`, the replay is exactly
/// the events of `e`'s stream that followed `e`, byte for byte as first written, in their
/// order; never `e` itself or anything before it, never an event of the other stream that
/// was interleaved with them; then the stream goes on live (no end: it is still open).
#[test]
fn replay_is_exactly_the_events_after_the_last_event_id() {
    let t0 = base_instant();
    let mut s = server_with(Some(ReplayLimits::default()));
    let id = session_at(&mut s, "2025-06-18", t0);
    let (a, _) = request(&mut s, &id, 2, t0);
    let (b, _) = request(&mut s, &id, 3, t0);
    let mut written_a: Vec<(String, Vec<u8>)> = Vec::new();
    let mut written_b: Vec<Vec<u8>> = Vec::new();
    for n in 0..5 {
        s.send(a, note(n), t0).unwrap();
        let out = drain(&mut s);
        written_a.push((ids_of(&out, a)[0].clone(), data_of(&out, a)));
        s.send(b, note(100 + n), t0).unwrap();
        written_b.push(data_of(&drain(&mut s), b));
    }
    disconnect(&mut s, a, t0).unwrap();
    disconnect(&mut s, b, t0).unwrap();
    for k in 0..5 {
        let (r, out) = resume(&mut s, &id, &written_a[k].0, t0 + SECOND);
        assert_eq!(r.stream, a);
        let replayed: Vec<Vec<u8>> = out
            .iter()
            .filter_map(|o| match &o.event {
                StreamEvent::Data(d) => Some(d.to_vec()),
                _ => None,
            })
            .collect();
        let want: Vec<Vec<u8>> = written_a[k + 1..].iter().map(|(_, d)| d.clone()).collect();
        assert_eq!(replayed, want, "after event {k}");
        assert_eq!((r.replayed, r.missed), (4 - k, 0));
        assert!(!ends(&out, a), "a live stream goes on after the replay");
        for other in &written_b {
            assert!(
                !replayed.contains(other),
                "another stream's event was replayed"
            );
        }
        disconnect(&mut s, a, t0 + SECOND).unwrap();
    }
}

/// `SRV-GET-6` (the resumption exception), `BOTH-RES-7`, `SRV-RES-5`, `INV-S15`: a GET
/// resuming a POST stream whose client went away carries what was sent meanwhile,
/// including the response, to the new connection, then ends (the request is answered).
#[test]
fn a_get_resuming_a_post_stream_carries_its_response() {
    let t0 = base_instant();
    let mut s = server_with(Some(ReplayLimits::default()));
    let id = session_at(&mut s, "2025-06-18", t0);
    let (a, _) = request(&mut s, &id, 2, t0);
    let seen = send_id(&mut s, a, &note(1), t0);
    disconnect(&mut s, a, t0).unwrap();
    assert!(
        send(&mut s, a, &note(2), t0 + SECOND).is_empty(),
        "nothing to write to"
    );
    assert!(send(&mut s, a, &result_answer(2), t0 + SECOND).is_empty());
    assert_eq!(s.stream_count(), 0, "answered: the stream has finished");
    assert_eq!(
        s.send(a, note(3), t0 + SECOND),
        Err(UsageError::StreamClosed(a))
    );

    let (r, out) = resume(&mut s, &id, &seen, t0 + 2 * SECOND);
    assert_eq!((r.stream, r.replayed, r.missed), (a, 2, 0));
    assert_eq!(shape(&out), [(a, 'H'), (a, 'D'), (a, 'D'), (a, 'E')]);
    assert_eq!(
        messages(&frames_of(&out, a)),
        [json(&note(2)), json(&result_answer(2))]
    );
}

/// `SRV-RES-5`: after the replay the stream carries on live on the new connection, under
/// the same handle: later events are written at once, numbered after the replayed ones,
/// and the response ends it.
#[test]
fn live_events_follow_the_replay_on_the_new_connection() {
    let t0 = base_instant();
    let mut s = server_with(Some(ReplayLimits::default()));
    let id = open_session_2025_11_25(&mut s, t0);
    let (a, head) = request(&mut s, &id, 2, t0);
    let priming = head[0].id.clone().unwrap();
    let first = send_id(&mut s, a, &note(1), t0);
    disconnect(&mut s, a, t0).unwrap();
    assert!(send(&mut s, a, &note(2), t0).is_empty());
    let (r, out) = resume(&mut s, &id, &first, t0);
    assert_eq!((r.stream, r.replayed), (a, 1));
    let replayed = frames_of(&out, a);
    assert_eq!(messages(&replayed), [json(&note(2))]);
    let live = send(&mut s, a, &note(3), t0);
    assert_eq!(messages(&live), [json(&note(3))]);
    s.send(a, result_answer(2), t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(shape(&out), [(a, 'D'), (a, 'E')]);
    let seqs: Vec<u64> = [&priming, &first, replayed[0].id.as_ref().unwrap()]
        .into_iter()
        .chain(live[0].id.as_ref())
        .chain(ids_of(&out, a).iter())
        .map(|i| parts(i).2)
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
}

/// `SRV-RES-5`, `SRV-PSSE-5`: a finished stream whose client lost the end is kept: a GET
/// with any id it saw gets the rest, then the end; it can be resumed again (each
/// connection gets the same bytes); from its last id, just the head and the end.
#[test]
fn a_finished_stream_resumed_gets_its_replay_then_its_end() {
    let t0 = base_instant();
    let mut s = server_with(Some(ReplayLimits::default()));
    let id = session_at(&mut s, "2025-06-18", t0);
    let (a, _) = request(&mut s, &id, 2, t0);
    let first = send_id(&mut s, a, &note(1), t0);
    send_id(&mut s, a, &note(2), t0);
    s.send(a, result_answer(2), t0).unwrap();
    let out = drain(&mut s);
    assert!(ends(&out, a));
    let last = ids_of(&out, a)[0].clone();

    let (r1, out1) = resume(&mut s, &id, &first, t0 + SECOND);
    assert_eq!((r1.stream, r1.replayed, r1.missed), (a, 2, 0));
    assert_eq!(shape(&out1), [(a, 'H'), (a, 'D'), (a, 'D'), (a, 'E')]);
    assert_eq!(
        messages(&frames_of(&out1, a)),
        [json(&note(2)), json(&result_answer(2))]
    );
    let (_, out2) = resume(&mut s, &id, &first, t0 + 2 * SECOND);
    assert_eq!(data_of(&out2, a), data_of(&out1, a), "the same bytes again");
    let (r3, out3) = resume(&mut s, &id, &last, t0 + 3 * SECOND);
    assert_eq!(r3.replayed, 0);
    assert_eq!(shape(&out3), [(a, 'H'), (a, 'E')]);
}

// ----- bounds -----

/// `ReplayLimits::max_events`: the oldest events go first; a resume after an evicted
/// position replays what is left, and `missed` counts the events after `Last-Event-ID`
/// the client will not see. An evicted event's own id still resumes (the position is
/// known), with no gap after it when its successors are kept.
#[test]
fn the_count_limit_evicts_the_oldest_first_and_missed_reports_the_gap() {
    let t0 = base_instant();
    let mut s = server_with(Some(limits(3, 1 << 20, Duration::from_secs(300))));
    let id = session_at(&mut s, "2025-06-18", t0);
    let (a, _) = request(&mut s, &id, 2, t0);
    let ids: Vec<String> = (1..=6).map(|n| send_id(&mut s, a, &note(n), t0)).collect();
    disconnect(&mut s, a, t0).unwrap();
    // Kept: notes 4, 5, 6.
    for (after, want_missed, want) in [(0, 2, 4..=6), (1, 1, 4..=6), (2, 0, 4..=6), (3, 0, 5..=6)] {
        let (r, out) = resume(&mut s, &id, &ids[after], t0);
        let want: Vec<_> = want.map(|n| json(&note(n))).collect();
        assert_eq!(
            messages(&frames_of(&out, a)),
            want,
            "after note {}",
            after + 1
        );
        assert_eq!((r.replayed, r.missed), (want.len(), want_missed));
        disconnect(&mut s, a, t0).unwrap();
    }
}

/// `ReplayLimits::max_bytes`: the oldest events go first; an event larger than the whole
/// budget is not kept at all (it is missed, not replayed).
#[test]
fn the_byte_limit_evicts_the_oldest_first() {
    let t0 = base_instant();
    // Measure one frame (every note below encodes to the same length).
    let len = {
        let mut s = server_with(Some(ReplayLimits::default()));
        let id = session_at(&mut s, "2025-06-18", t0);
        let (a, _) = request(&mut s, &id, 2, t0);
        s.send(a, note(1), t0).unwrap();
        data_of(&drain(&mut s), a).len()
    };
    let mut s = server_with(Some(limits(
        1024,
        2 * len + len / 2,
        Duration::from_secs(300),
    )));
    let id = session_at(&mut s, "2025-06-18", t0);
    let (a, _) = request(&mut s, &id, 2, t0);
    let ids: Vec<String> = (1..=5).map(|n| send_id(&mut s, a, &note(n), t0)).collect();
    disconnect(&mut s, a, t0).unwrap();
    let (r, out) = resume(&mut s, &id, &ids[0], t0);
    assert_eq!(
        messages(&frames_of(&out, a)),
        [json(&note(4)), json(&note(5))]
    );
    assert_eq!((r.replayed, r.missed), (2, 2));
    // A message bigger than the budget evicts everything, itself included.
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"info","data":"{}"}}}}"#,
        "x".repeat(3 * len)
    );
    let big_id = send_id(&mut s, a, &big, t0);
    disconnect(&mut s, a, t0).unwrap();
    let (r, out) = resume(&mut s, &id, &ids[4], t0);
    assert_eq!((r.replayed, r.missed), (0, 1), "the big event is missed");
    assert_eq!(shape(&out), [(a, 'H')]);
    disconnect(&mut s, a, t0).unwrap();
    let (r, _) = resume(&mut s, &id, &big_id, t0);
    assert_eq!((r.replayed, r.missed), (0, 0));
}

/// `ReplayLimits::max_age`: when an event is kept, events that reached the age limit go
/// first (and only those); `missed` reports them.
#[test]
fn the_age_limit_evicts_the_oldest_first() {
    let t0 = base_instant();
    let mut s = server_with(Some(limits(1024, 1 << 20, Duration::from_secs(10))));
    let id = open_session_2025_11_25(&mut s, t0);
    let (a, head) = request(&mut s, &id, 2, t0);
    let priming = head[0].id.clone().unwrap();
    send_id(&mut s, a, &note(1), t0);
    send_id(&mut s, a, &note(2), t0 + Duration::from_secs(5));
    // Note 1 is 10 s old (gone), note 2 is 5 s old (kept).
    send_id(&mut s, a, &note(3), t0 + Duration::from_secs(10));
    disconnect(&mut s, a, t0 + Duration::from_secs(10)).unwrap();
    let (r, out) = resume(&mut s, &id, &priming, t0 + Duration::from_secs(10));
    assert_eq!(
        messages(&frames_of(&out, a)),
        [json(&note(2)), json(&note(3))]
    );
    assert_eq!((r.replayed, r.missed), (2, 1));
}

// ----- retention of finished streams -----

/// `TimeoutReason::ReplayExpiry`: a finished stream is kept until its newest event is
/// `max_age` old; `poll_timeout` names that instant. A nanosecond before, `handle_timeout`
/// keeps it (and it still resumes); at it, the stream goes, the timer with it, and its ids
/// get 400 from then on. The session itself lives on.
#[test]
fn a_finished_stream_is_kept_until_its_newest_event_is_max_age_old() {
    let t0 = base_instant();
    let age = Duration::from_secs(60);
    let mut s = server_with(Some(limits(1024, 1 << 20, age)));
    let id = session_at(&mut s, "2025-06-18", t0);
    // Let the initialize reply's window pass first.
    s.handle_timeout(t0 + age);
    assert_eq!(s.poll_timeout(), None);
    let t1 = t0 + Duration::from_secs(100);
    let (a, _) = request(&mut s, &id, 2, t1);
    let first = send_id(&mut s, a, &note(1), t1);
    assert_eq!(s.poll_timeout(), None, "an open stream has no window");
    let t2 = t1 + Duration::from_secs(20);
    s.send(a, result_answer(2), t2).unwrap();
    drain(&mut s);
    assert_eq!(
        s.poll_timeout(),
        replay_expiry(t2 + age),
        "from the newest event"
    );

    s.handle_timeout(t2 + age - NS);
    assert_eq!(s.poll_timeout(), replay_expiry(t2 + age));
    let (r, _) = resume(&mut s, &id, &first, t2 + age - NS);
    assert_eq!(r.replayed, 1);

    s.handle_timeout(t2 + age);
    assert_eq!(s.poll_timeout(), None);
    assert!(s.poll_event().is_none(), "a window ends no session");
    refused_resume(&mut s, &id, &first, Refusal::UnknownEventId, t2 + age);
    assert!(matches!(
        s.handle_request(post_in(&id, tools_list(3)), t2 + age),
        Outcome::Dispatch(_)
    ));
}

/// `ReplayLimits::max_finished_streams`: a session keeps at most that many finished
/// streams, dropping the one that finished first (not the one opened first); the ids of a
/// dropped stream get 400, and the replay timer follows the streams kept.
#[test]
fn max_finished_streams_drops_the_stream_that_finished_first() {
    let t0 = base_instant();
    let mut s = server_with(Some(ReplayLimits {
        max_finished_streams: 2,
        ..ReplayLimits::default()
    }));
    let id = session_at(&mut s, "2025-06-18", t0);
    let mut first_ids = Vec::new();
    let streams: Vec<StreamId> = (0..4)
        .map(|i| {
            let (stream, _) = request(&mut s, &id, 10 + i, t0);
            first_ids.push(send_id(&mut s, stream, &note(i), t0));
            stream
        })
        .collect();
    // Finish in the order A, C, B, D, a second apart.
    for (k, i) in [0usize, 2, 1, 3].into_iter().enumerate() {
        let at = t0 + SECOND * (k as u32 + 1);
        s.send(streams[i], result_answer(10 + i as u64), at)
            .unwrap();
        drain(&mut s);
    }
    // Kept: B (finished at +3 s) and D (+4 s).
    let age = ReplayLimits::default().max_age;
    assert_eq!(s.poll_timeout(), replay_expiry(t0 + 3 * SECOND + age));
    for dropped in [0, 2] {
        refused_resume(
            &mut s,
            &id,
            &first_ids[dropped],
            Refusal::UnknownEventId,
            t0,
        );
    }
    for kept in [1, 3] {
        let (r, out) = resume(&mut s, &id, &first_ids[kept], t0);
        assert_eq!(r.stream, streams[kept]);
        assert!(ends(&out, streams[kept]));
    }
}

// ----- refusals -----

/// Ambiguity 20, step 12: a `Last-Event-ID` naming a stream that still has a connection
/// gets 409 (a POST stream, and the standalone stream), and changes nothing: the stream
/// keeps its connection and its output.
#[test]
fn resuming_an_attached_stream_is_a_conflict() {
    let t0 = base_instant();
    let mut s = server_with(Some(ReplayLimits::default()));
    let id = open_session_2025_11_25(&mut s, t0);
    let (a, af) = request(&mut s, &id, 2, t0);
    let (g, gf) = standalone(&mut s, &id, t0);
    let a1 = send_id(&mut s, a, &note(1), t0);
    for event_id in [af[0].id.clone().unwrap(), a1, gf[0].id.clone().unwrap()] {
        refused_resume(&mut s, &id, &event_id, Refusal::StreamConflict, t0);
    }
    // Both connections are still served.
    assert_eq!(messages(&send(&mut s, a, &note(2), t0)), [json(&note(2))]);
    assert_eq!(messages(&send(&mut s, g, LOG, t0)), [json(LOG)]);
}

/// Ambiguity 20, step 12 (`SRV-RES-6`): a `Last-Event-ID` that cannot be mapped to a stream
/// of this session that is kept gets 400 and changes nothing: malformed values, another
/// machine's salt, another session's stream (open or finished), a position the stream has
/// not reached, a stream never opened, a standalone stream that closed, an open stream
/// that is not resumable (JSON reply).
#[test]
fn unmappable_event_ids_get_400_and_change_nothing() {
    let t0 = base_instant();
    let mut s = server_with(Some(ReplayLimits::default()));
    let mine = session_at(&mut s, "2025-06-18", t0);
    let other = session_at(&mut s, "2025-06-18", t0);
    let (a, _) = request(&mut s, &mine, 2, t0);
    let a1 = send_id(&mut s, a, &note(1), t0);
    disconnect(&mut s, a, t0).unwrap();
    // Another session's streams: one detached, one finished.
    let (o, _) = request(&mut s, &other, 2, t0);
    let o1 = send_id(&mut s, o, &note(1), t0);
    disconnect(&mut s, o, t0).unwrap();
    let (f, _) = request(&mut s, &other, 3, t0);
    let f1 = send_id(&mut s, f, &note(1), t0);
    s.send(f, result_answer(3), t0).unwrap();
    drain(&mut s);
    // A standalone stream whose client went away is closed.
    let (g, _) = standalone(&mut s, &mine, t0);
    let g1 = send_id(&mut s, g, LOG, t0);
    disconnect(&mut s, g, t0).unwrap();
    // The same positions minted by another machine.
    let mut twin = server_seeded(
        ServerConfig {
            session_idle_timeout: None,
            ..ServerConfig::default()
        },
        8,
    );
    let twin_id = session_at(&mut twin, "2025-06-18", t0);
    let (ta, _) = request(&mut twin, &twin_id, 2, t0);
    let twins = send_id(&mut twin, ta, &note(1), t0);
    let (salt, stream, seq) = parts(&a1);
    let twin_salt = parts(&twins).0;
    assert_ne!(twin_salt, salt, "each machine draws its own salt");
    // `a1`'s very position, under the other machine's salt.
    let foreign = format!("{twin_salt}-{stream}-{seq}");

    let never = format!("{salt}-{}-0", stream + 1000);
    let cases = [
        "0".to_owned(),
        "garbage".to_owned(),
        format!("{salt}-{stream}"),
        format!("{salt}-{stream}-{seq}-0"),
        format!("{salt}-0{stream}-{seq}"),
        format!("{salt}-{stream}-+{seq}"),
        format!("{salt}-{stream}-99999999999999999999"),
        format!("{}-{stream}-{seq}", salt.to_uppercase() + "0"),
        foreign,
        twins,
        o1,
        f1,
        at_seq(&a1, seq + 1),
        at_seq(&a1, u64::MAX),
        never,
        g1,
    ];
    for case in &cases {
        refused_resume(&mut s, &mine, case, Refusal::UnknownEventId, t0);
    }
    // Still resumable by its own session, exactly as before.
    let (r, _) = resume(&mut s, &mine, &a1, t0);
    assert_eq!((r.stream, r.replayed), (a, 0));

    // JSON replies are not resumable: a position on an open JSON-reply stream gets 400.
    let mut j = server(ServerConfig {
        reply_mode: ReplyMode::Json,
        ..ServerConfig::default()
    });
    let jid = session_at(&mut j, "2025-06-18", t0);
    // The standalone stream is SSE, hence resumable, in JSON mode too: it shows the salt.
    let (jg, _) = standalone(&mut j, &jid, t0);
    let jsalt = parts(&send_id(&mut j, jg, LOG, t0)).0;
    let js = j
        .handle_request(post_in(&jid, tools_list(2)), t0)
        .stream()
        .unwrap();
    refused_resume(
        &mut j,
        &jid,
        &format!("{jsalt}-{}-0", js.as_u64()),
        Refusal::UnknownEventId,
        t0,
    );
}

/// A refused resumption changes nothing: a machine that refused a series of bad
/// `Last-Event-ID`s (400, 409, and a 404 for a wrong session) then resumes exactly as a
/// twin that never saw them: same outcome, same bytes, same timer.
#[test]
fn a_refused_resume_changes_nothing() {
    let t0 = base_instant();
    let build = || {
        let mut s = server(ServerConfig::default());
        let id = open_session_2025_11_25(&mut s, t0);
        let (a, head) = request(&mut s, &id, 2, t0);
        send_id(&mut s, a, &note(1), t0);
        s.close_connection(a, t0).unwrap();
        drain(&mut s);
        s.send(a, note(2), t0).unwrap();
        let (b, _) = request(&mut s, &id, 3, t0);
        let b1 = send_id(&mut s, b, &note(3), t0);
        (s, id, head[0].id.clone().unwrap(), b1)
    };
    let (mut plain, id, priming, _) = build();
    let (mut tried, id2, priming2, b1) = build();
    assert_eq!((&id, &priming), (&id2, &priming2), "twins");
    let later = t0 + SECOND;
    refused_resume(&mut tried, &id, &b1, Refusal::StreamConflict, later);
    refused_resume(
        &mut tried,
        &id,
        &at_seq(&priming, 9),
        Refusal::UnknownEventId,
        later,
    );
    refused_resume(&mut tried, &id, "nonsense", Refusal::UnknownEventId, later);
    refused_resume(
        &mut tried,
        "never-issued",
        &priming,
        Refusal::UnknownSession,
        later,
    );
    let run = |s: &mut Server| {
        let (r, out) = resume(s, &id, &priming, later);
        (
            r.stream,
            r.replayed,
            r.missed,
            data_of(&out, r.stream),
            state(s),
        )
    };
    assert_eq!(run(&mut tried), run(&mut plain));
}

// ----- priming events -----

/// `SRV-PSSE-9`, `INV-S12`, ambiguity 15: toward a 2025-11-25 client, the first event of
/// every stream (the initialize reply, a POST reply, the standalone stream) is a priming
/// event: an id, the configured `retry`, empty data, no event type. Toward 2025-06-18 and
/// 2025-03-26 clients there is none, ever, but every message still carries an id (their
/// streams are resumable too). With replay off there is neither.
#[test]
fn priming_events_only_for_2025_11_25_clients() {
    for replay in [Some(ReplayLimits::default()), None] {
        for version in RESUMABLE_VERSIONS {
            let t0 = base_instant();
            let mut s = server(ServerConfig {
                replay,
                sse_retry: Duration::from_millis(2500),
                ..ServerConfig::default()
            });
            let init = s
                .handle_request(post(initialize_body(1, version)), t0)
                .stream()
                .unwrap();
            s.send(init, initialize_result(1, version), t0).unwrap();
            let out = drain(&mut s);
            let id = header(only_head(&out), SESSION_HEADER).unwrap().to_owned();
            let mut streams = vec![frames_of(&out, init)];
            let _ = s.handle_request(post_in(&id, INITIALIZED), t0);
            let (a, mut af) = request(&mut s, &id, 2, t0);
            af.extend(send(&mut s, a, &note(1), t0));
            streams.push(af);
            let (g, mut gf) = standalone(&mut s, &id, t0);
            gf.extend(send(&mut s, g, LOG, t0));
            streams.push(gf);
            let wants_priming = version == "2025-11-25" && replay.is_some();
            for frames in &streams {
                let ctx = format!("{version}, replay {}: {frames:?}", replay.is_some());
                let primings = frames.iter().filter(|f| f.is_priming()).count();
                if wants_priming {
                    assert!(frames[0].is_priming(), "{ctx}");
                    assert_eq!(frames[0].retry, Some(2500), "{ctx}");
                    assert_eq!(parts(frames[0].id.as_ref().unwrap()).2, 0, "{ctx}");
                    assert_eq!(primings, 1, "{ctx}");
                } else {
                    assert_eq!(primings, 0, "{ctx}");
                    assert!(
                        frames.iter().all(|f| f.retry.is_none() && f.has_data),
                        "{ctx}"
                    );
                }
                for f in frames.iter().filter(|f| f.message().is_some()) {
                    assert_eq!(f.id.is_some(), replay.is_some(), "{ctx}");
                }
                assert_eq!(frames.iter().filter(|f| f.message().is_some()).count(), 1);
            }
        }
    }
}

// ----- early connection close -----

/// `SRV-PSSE-10`, `SRV-PSSE-12`, `INV-S11`, `INV-S12`, `INV-S15`: `close_connection` ends
/// the connection with a `retry` (the configured delay) and nothing else, after the
/// priming event gave the client an id; the stream lives on, detached: the application's
/// later events and its response are kept, and a GET with the last id seen delivers them,
/// the response once, then the end.
#[test]
fn close_connection_sends_retry_then_ends_and_the_stream_lives_on() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        sse_retry: Duration::from_millis(2500),
        session_idle_timeout: None,
        ..ServerConfig::default()
    });
    let id = open_session_2025_11_25(&mut s, t0);
    let (a, head) = request(&mut s, &id, 2, t0);
    let priming = head[0].id.clone().unwrap();
    let n1 = send_id(&mut s, a, &note(1), t0);
    let streams = s.stream_count();

    assert_eq!(s.close_connection(a, t0), Ok(()));
    let out = drain(&mut s);
    assert_eq!(shape(&out), [(a, 'D'), (a, 'E')]);
    assert_eq!(data_of(&out, a), b"retry: 2500\n\n");
    assert_eq!(s.stream_count(), streams, "the stream lives on");

    let t1 = t0 + Duration::from_secs(5);
    assert!(send(&mut s, a, &note(2), t1).is_empty());
    assert!(send(&mut s, a, &result_answer(2), t1).is_empty());
    assert_eq!(s.stream_count(), streams - 1, "answered: finished");

    for (after, want) in [
        (
            &priming,
            vec![json(&note(1)), json(&note(2)), json(&result_answer(2))],
        ),
        (&n1, vec![json(&note(2)), json(&result_answer(2))]),
    ] {
        let (r, out) = resume(&mut s, &id, after, t1 + SECOND);
        assert_eq!(r.stream, a);
        assert!(ends(&out, a));
        let got = messages(&frames_of(&out, a));
        assert_eq!(got, want);
        assert_eq!(got.iter().filter(|m| is_response(m)).count(), 1);
    }
}

/// `SRV-PSSE-10`, `SRV-GET-9`: the standalone stream's connection can be closed early too:
/// the stream stays the session's standalone stream, detached; a GET with an id it carried
/// resumes it (replay, then live events); a plain GET replaces it with a new stream, after
/// which its ids get 400.
#[test]
fn a_standalone_stream_closed_early_is_resumed_or_replaced() {
    let t0 = base_instant();
    let mut s = server_with(Some(ReplayLimits::default()));
    let id = open_session_2025_11_25(&mut s, t0);
    let (g, _) = standalone(&mut s, &id, t0);
    let g1 = send_id(&mut s, g, &note(1), t0);
    s.close_connection(g, t0).unwrap();
    let out = drain(&mut s);
    assert_eq!(data_of(&out, g), b"retry: 1000\n\n");
    assert!(ends(&out, g));
    assert_eq!(s.standalone_stream(&sid(&id)), Some(g));
    assert!(
        send(&mut s, g, &note(2), t0).is_empty(),
        "kept, not written"
    );

    let (r, out) = resume(&mut s, &id, &g1, t0);
    assert_eq!((r.stream, r.replayed), (g, 1));
    assert_eq!(messages(&frames_of(&out, g)), [json(&note(2))]);
    assert_eq!(messages(&send(&mut s, g, &note(3), t0)), [json(&note(3))]);
    refused_resume(&mut s, &id, &g1, Refusal::StreamConflict, t0);

    s.close_connection(g, t0).unwrap();
    drain(&mut s);
    let (h, hf) = standalone(&mut s, &id, t0);
    assert_ne!(h, g);
    assert!(
        hf[0].is_priming(),
        "a new stream, with its own priming event"
    );
    assert_eq!(s.standalone_stream(&sid(&id)), Some(h));
    assert_eq!(s.send(g, note(4), t0), Err(UsageError::StreamClosed(g)));
    refused_resume(&mut s, &id, &g1, Refusal::UnknownEventId, t0);
}

/// `SRV-PSSE-4`, ambiguity 15, `INV-S11`: only a resumable stream of a 2025-11-25 client
/// whose priming event went out may have its connection closed early. Older clients' streams,
/// JSON replies, replay off, stateless servers and an `initialize` reply not yet begun get
/// `NotResumable`, and nothing changes: the connection is still written to.
#[test]
fn close_connection_is_refused_where_the_stream_cannot_be_resumed() {
    let t0 = base_instant();
    let refused = |s: &mut Server, stream: StreamId| {
        let before = state(s);
        assert_eq!(
            s.close_connection(stream, t0),
            Err(UsageError::NotResumable(stream))
        );
        assert!(s.poll_output().is_none());
        assert_eq!(state(s), before);
    };
    // Older versions: POST and standalone streams.
    for version in ["2025-03-26", "2025-06-18"] {
        let mut s = server(ServerConfig::default());
        let id = session_at(&mut s, version, t0);
        let (a, _) = request(&mut s, &id, 2, t0);
        let (g, _) = standalone(&mut s, &id, t0);
        for stream in [a, g] {
            refused(&mut s, stream);
            assert_eq!(
                send(&mut s, stream, LOG, t0).len(),
                1,
                "{version}: still attached"
            );
        }
    }
    // JSON replies, replay off, stateless: a 2025-11-25 client.
    for config in [
        ServerConfig {
            reply_mode: ReplyMode::Json,
            ..ServerConfig::default()
        },
        ServerConfig {
            replay: None,
            ..ServerConfig::default()
        },
        ServerConfig {
            session_mode: SessionMode::Stateless,
            ..ServerConfig::default()
        },
    ] {
        let mut s = server(config.clone());
        let header_version = post(tools_list(2)).set("mcp-protocol-version", "2025-11-25");
        let session = (config.session_mode == SessionMode::Stateful)
            .then(|| session_at(&mut s, "2025-11-25", t0));
        let req = match &session {
            Some(id) => header_version.set(SESSION_HEADER, id),
            None => header_version,
        };
        let a = s.handle_request(req, t0).stream().unwrap();
        drain(&mut s);
        refused(&mut s, a);
        s.send(a, result_answer(2), t0).unwrap();
        assert!(
            ends(&drain(&mut s), a),
            "{config:?}: answered on its connection"
        );
    }
    // An initialize reply whose head has not gone (no session, no priming yet).
    let mut s = server(ServerConfig::default());
    let init = s
        .handle_request(post(initialize_body(1, "2025-11-25")), t0)
        .stream()
        .unwrap();
    refused(&mut s, init);
    // Ended streams are a usage error of their own.
    s.send(init, initialize_result(1, "2025-11-25"), t0)
        .unwrap();
    drain(&mut s);
    assert_eq!(
        s.close_connection(init, t0),
        Err(UsageError::StreamClosed(init))
    );
}

/// Closing the connection of a stream that has none (its client went away) does nothing.
#[test]
fn close_connection_without_a_connection_does_nothing() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session_2025_11_25(&mut s, t0);
    let (a, head) = request(&mut s, &id, 2, t0);
    disconnect(&mut s, a, t0).unwrap();
    let before = state(&s);
    assert_eq!(s.close_connection(a, t0), Ok(()));
    assert!(s.poll_output().is_none());
    assert_eq!(state(&s), before);
    let (r, _) = resume(&mut s, &id, head[0].id.as_ref().unwrap(), t0);
    assert_eq!(r.stream, a);
}

// ----- disconnects, responses -----

/// `SRV-PSSE-6`, `INV-S15`: in the 2025 revisions a disconnect is not a cancellation:
/// the application's response after the client went away is taken, numbered and kept, and
/// a GET with the last id the client saw delivers it. With replay off it is still taken
/// (the request is not cancelled), but there is nothing to resume.
#[test]
fn a_disconnect_is_not_a_cancellation() {
    for version in RESUMABLE_VERSIONS {
        let t0 = base_instant();
        let mut s = server(ServerConfig::default());
        let id = session_at(&mut s, version, t0);
        let (a, _) = request(&mut s, &id, 2, t0);
        let seen = send_id(&mut s, a, &note(1), t0);
        disconnect(&mut s, a, t0).unwrap();
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(s.send(a, note(2), t1), Ok(()), "{version}");
        assert_eq!(s.send(a, result_answer(2), t1), Ok(()), "{version}");
        assert!(s.poll_output().is_none(), "{version}: nothing written");
        let (r, out) = resume(&mut s, &id, &seen, t1);
        assert_eq!((r.stream, r.replayed, r.missed), (a, 2, 0), "{version}");
        assert_eq!(
            messages(&frames_of(&out, a)),
            [json(&note(2)), json(&result_answer(2))],
            "{version}"
        );
        assert!(ends(&out, a));
    }

    let t0 = base_instant();
    let mut s = server(ServerConfig {
        replay: None,
        ..ServerConfig::default()
    });
    let id = session_at(&mut s, "2025-11-25", t0);
    let (a, _) = request(&mut s, &id, 2, t0);
    disconnect(&mut s, a, t0).unwrap();
    assert_eq!(s.send(a, result_answer(2), t0), Ok(()), "not cancelled");
    assert_eq!(s.stream_count(), 0);
    assert!(s.poll_output().is_none());
}

/// `INV-S11`: each request of a POST is answered once, on its stream: a second answer to
/// the same id is refused (`NotPending` while the stream is open, `StreamClosed` after), and
/// a replay carries each response exactly once, on every connection that resumes.
#[test]
fn each_request_is_answered_at_most_once() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = session_at(&mut s, "2025-03-26", t0);
    let stream = s
        .handle_request(
            post_in(&id, format!("[{},{}]", tools_list(1), tools_list(2))),
            t0,
        )
        .stream()
        .unwrap();
    drain(&mut s);
    let seen = send_id(&mut s, stream, &note(1), t0);
    disconnect(&mut s, stream, t0).unwrap();
    s.send(stream, result_answer(1), t0).unwrap();
    assert_eq!(
        s.send(stream, error_answer(1), t0),
        Err(UsageError::NotPending(Some(
            mcp_http_proto::wire::jsonrpc::RequestId::Number(1)
        )))
    );
    s.send(stream, result_answer(2), t0).unwrap();
    assert_eq!(
        s.send(stream, result_answer(2), t0),
        Err(UsageError::StreamClosed(stream))
    );
    for _connection in 0..2 {
        let (_, out) = resume(&mut s, &id, &seen, t0);
        let responses: Vec<_> = messages(&frames_of(&out, stream))
            .into_iter()
            .filter(is_response)
            .collect();
        assert_eq!(
            responses,
            [json(&result_answer(1)), json(&result_answer(2))]
        );
    }
}

/// `INV-S7`, `SRV-GET-6`: the standalone stream never carries a response, fresh or resumed
/// (a resumed standalone stream is no POST stream), and its replay holds none.
#[test]
fn the_standalone_stream_never_carries_a_response() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = open_session_2025_11_25(&mut s, t0);
    let (g, head) = standalone(&mut s, &id, t0);
    for answer in [
        result_answer(1),
        error_answer(1),
        CLIENT_RESPONSE.to_owned(),
    ] {
        assert_eq!(
            s.send(g, answer, t0),
            Err(UsageError::ResponseOnStandaloneStream)
        );
    }
    send(&mut s, g, LOG, t0);
    send(&mut s, g, PING_REQUEST, t0);
    s.close_connection(g, t0).unwrap();
    drain(&mut s);
    let (_, out) = resume(&mut s, &id, head[0].id.as_ref().unwrap(), t0);
    let replayed = messages(&frames_of(&out, g));
    assert_eq!(replayed, [json(LOG), json(PING_REQUEST)]);
    assert!(!replayed.iter().any(is_response));
    assert_eq!(
        s.send(g, result_answer(1), t0),
        Err(UsageError::ResponseOnStandaloneStream)
    );
}

/// `SRV-GET-7`, `CLI-GET-8`: a standalone stream whose client went away is over, and is
/// not kept (it carries no response anyone waits for): its ids get 400, and the next GET
/// opens a new stream with ids of its own.
#[test]
fn a_standalone_stream_ends_when_its_client_disconnects() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let id = session_at(&mut s, "2025-06-18", t0);
    let (g, _) = standalone(&mut s, &id, t0);
    let g1 = send_id(&mut s, g, LOG, t0);
    disconnect(&mut s, g, t0).unwrap();
    assert_eq!(s.send(g, LOG, t0), Err(UsageError::StreamClosed(g)));
    assert_eq!(s.standalone_stream(&sid(&id)), None);
    refused_resume(&mut s, &id, &g1, Refusal::UnknownEventId, t0);
    let (h, _) = standalone(&mut s, &id, t0);
    let h1 = send_id(&mut s, h, LOG, t0);
    assert_ne!(parts(&h1).1, parts(&g1).1);
}

// ----- replay off, session end -----

/// `SRV-RES-1` (ids are a MAY): with `replay: None` no event carries an id, there is no
/// priming event and no replay window, and any `Last-Event-ID` gets 400, even one of the
/// right form.
#[test]
fn without_replay_there_are_no_ids_and_last_event_id_gets_400() {
    for version in RESUMABLE_VERSIONS {
        let t0 = base_instant();
        let mut s = server_with(None);
        let id = session_at(&mut s, version, t0);
        let (a, head) = request(&mut s, &id, 2, t0);
        assert!(head.is_empty(), "{version}: no priming event");
        let mut frames = send(&mut s, a, &note(1), t0);
        s.send(a, result_answer(2), t0).unwrap();
        frames.extend(frames_of(&drain(&mut s), a));
        assert_eq!(frames.len(), 2);
        assert!(
            frames.iter().all(|f| f.id.is_none()),
            "{version}: {frames:?}"
        );
        assert_eq!(s.poll_timeout(), None, "{version}: nothing kept");
        for lei in ["0", "00000000-1-0", "garbage"] {
            refused_resume(&mut s, &id, lei, Refusal::UnknownEventId, t0);
        }
    }
}

/// `SRV-SESS-7`, `INV-S2`: DELETE drops everything the session kept for replay (its
/// window leaves `poll_timeout`); a resume with its id and the old session gets 404, and
/// under another session 400.
#[test]
fn delete_drops_the_sessions_streams_kept_for_replay() {
    let t0 = base_instant();
    let mut s = server_with(Some(ReplayLimits::default()));
    let id = session_at(&mut s, "2025-06-18", t0);
    let (a, _) = request(&mut s, &id, 2, t0);
    let a1 = send_id(&mut s, a, &note(1), t0);
    s.send(a, result_answer(2), t0).unwrap();
    let (b, _) = request(&mut s, &id, 3, t0);
    let b1 = send_id(&mut s, b, &note(1), t0);
    disconnect(&mut s, b, t0).unwrap();
    drain(&mut s);
    assert!(matches!(
        s.poll_timeout(),
        Some(Timeout {
            reason: TimeoutReason::ReplayExpiry,
            ..
        })
    ));
    assert!(matches!(
        s.handle_request(delete(Some(&id)), t0),
        Outcome::SessionDeleted(_)
    ));
    assert_eq!(s.poll_timeout(), None, "no window left");
    assert_eq!(s.stream_count(), 0);
    drain_events(&mut s);
    for lei in [&a1, &b1] {
        refused_resume(&mut s, &id, lei, Refusal::UnknownSession, t0);
    }
    let fresh = session_at(&mut s, "2025-06-18", t0);
    for lei in [&a1, &b1] {
        refused_resume(&mut s, &fresh, lei, Refusal::UnknownEventId, t0);
    }
}

// ----- regressions: bugs these tests found, now fixed -----

/// `Server::close_connection` on a standalone stream takes it out of the session's streams
/// (a detached stream must not keep the session alive), and starts the idle clock at the
/// close, not at the GET: a session whose standalone stream ran longer than the idle
/// timeout stays live after the close, and the client's resume succeeds.
#[test]
fn closing_a_long_standalone_connection_leaves_the_session_live() {
    let t0 = base_instant();
    let idle = Duration::from_secs(60);
    let mut s = server(ServerConfig {
        session_idle_timeout: Some(idle),
        ..ServerConfig::default()
    });
    let id = open_session_2025_11_25(&mut s, t0);
    let (g, _) = standalone(&mut s, &id, t0);
    let later = t0 + Duration::from_secs(3600);
    let g1 = send_id(&mut s, g, LOG, later);
    s.close_connection(g, later).unwrap();
    drain(&mut s);
    // The driver's timer has run meanwhile: the initialize reply's replay window (5
    // minutes) closed long ago.
    s.handle_timeout(later);
    // The idle clock starts at the close, as it does after a disconnect.
    assert!(
        s.poll_timeout().is_some_and(|t| t.at >= later + idle),
        "{:?}",
        s.poll_timeout()
    );
    let (r, _) = resume(&mut s, &id, &g1, later + SECOND);
    assert_eq!(r.stream, g);
}

/// With `standalone_stream: false` a plain GET gets 405 at step 1, but a GET with
/// `Last-Event-ID` still resumes (`BOTH-RES-7`: resumption is always a GET), so a stream
/// whose connection was closed early can deliver its response.
#[test]
fn a_connection_closed_early_can_be_resumed_without_the_standalone_stream() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        standalone_stream: false,
        ..ServerConfig::default()
    });
    let id = open_session_2025_11_25(&mut s, t0);
    let (a, head) = request(&mut s, &id, 2, t0);
    let priming = head[0].id.clone().unwrap();
    // Either refuse the early close ...
    if s.close_connection(a, t0).is_ok() {
        drain(&mut s);
        s.send(a, result_answer(2), t0).unwrap();
        // ... or let the client come back for the response.
        let (r, out) = resume(&mut s, &id, &priming, t0);
        assert_eq!(r.stream, a);
        assert_eq!(messages(&frames_of(&out, a)), [json(&result_answer(2))]);
    }
    // A plain GET is still 405.
    assert_refused(
        s.handle_request(get(Some(&id)), t0),
        Refusal::StandaloneStreamDisabled,
        405,
        -32000,
    );
}

/// The age limit holds at resume time: events older than `max_age` are never replayed
/// (they count as `missed`) even when no newer event pushed them out, and a finished
/// stream whose window has passed is gone (400) even when the driver's timer is late.
#[test]
fn events_older_than_max_age_are_never_replayed() {
    let t0 = base_instant();
    let age = Duration::from_secs(10);
    let mut s = server_with(Some(limits(1024, 1 << 20, age)));
    let id = session_at(&mut s, "2025-06-18", t0);
    let (a, _) = request(&mut s, &id, 2, t0);
    let n1 = send_id(&mut s, a, &note(1), t0);
    send_id(&mut s, a, &note(2), t0);
    disconnect(&mut s, a, t0).unwrap();
    // A quiet stream: note 2 is 100 s old.
    let t1 = t0 + Duration::from_secs(100);
    let (r, _) = resume(&mut s, &id, &n1, t1);
    assert_eq!((r.replayed, r.missed), (0, 1), "note 2 is past max_age");
    disconnect(&mut s, a, t1).unwrap();
    // A finished stream past its window, the timer not yet run.
    s.send(a, result_answer(2), t1).unwrap();
    let last = t1 + age;
    refused_resume(&mut s, &id, &n1, Refusal::UnknownEventId, last);
}

/// Defect 2 of the outside review: replay memory is held under a server-wide budget
/// (`ReplayLimits::max_total_bytes`), whatever the sessions do; the oldest events go
/// first, so the newest streams still resume with their responses, and a resume past a
/// dropped event is told of the gap.
#[test]
fn defect_02_replay_memory_is_held_under_a_global_budget() {
    let t0 = base_instant();
    let budget = 256 * 1024;
    let mut s = server_with(Some(ReplayLimits {
        max_total_bytes: budget,
        ..ReplayLimits::default()
    }));
    let answer = |rid: u64| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{rid},"result":{{"text":"{}"}}}}"#,
            "x".repeat(16 * 1024)
        )
    };
    let mut kept = Vec::new();
    for _ in 0..4 {
        let session = session_at(&mut s, "2025-11-25", t0);
        for rid in 1..=20 {
            let now = t0 + Duration::from_millis(rid);
            let (stream, _) = request(&mut s, &session, rid, now);
            s.send(stream, answer(rid), now).unwrap();
            let out = drain(&mut s);
            let frames = frames_of(&out, stream);
            let id = frames[0].id.clone().expect("an event id");
            assert!(
                s.replay_bytes() <= budget,
                "{} > {budget}",
                s.replay_bytes()
            );
            kept.push((session.clone(), id));
        }
    }
    // 80 answers of 16 KiB were written; a quarter of a MiB is kept.
    assert!(s.replay_bytes() > budget / 2, "{}", s.replay_bytes());
    // The newest answer still resumes with its response...
    let (session, last) = kept.last().unwrap().clone();
    let (_, out) = resume(&mut s, &session, &at_seq(&last, 0), t0 + SECOND);
    assert!(
        messages(&frames_of(&out, out[0].stream))
            .iter()
            .any(is_response)
    );
    // ... the oldest one's was dropped, and the resume says so.
    let (session, first) = kept[0].clone();
    let (r, out) = resume(&mut s, &session, &at_seq(&first, 0), t0 + SECOND);
    assert_eq!(r.missed, 1, "{r:?}");
    assert!(messages(&frames_of(&out, r.stream)).is_empty());
}
