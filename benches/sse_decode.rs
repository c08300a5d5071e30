//! SSE decoding throughput, side by side with the decoders Rust MCP users run today:
//! `sse-stream` 0.2 (what the official SDK `rmcp` depends on), `sse-stream` 0.3 (its
//! newest release) and `eventsource-stream` 0.2 (reqwest-eventsource and many clients).
//!
//! Two inputs, built before timing starts, one benchmark group each:
//! - `mcp_stream`: 4,000 small MCP events (`event: message`, an `id`, 150-300 bytes of
//!   JSON-RPC), cut into chunks of 1-16 KiB at random points.
//! - `large_event`: one event whose data is 1 MiB of JSON on one line, in 16 KiB chunks.
//!
//! Every decoder gets the same `Bytes` chunks and must read the event type, id and data as
//! text; each iteration asserts the number of events and data bytes. The other crates are
//! async streams, driven with `futures::executor::block_on` over `stream::iter`, which
//! never waits. After the runs, the bench prints each decoder's throughput and how many
//! times faster ours is, from criterion's means, then again from an interleaved run
//! (fastest of N rounds), which load from other processes skews less.
//!
//! `cargo bench -p mcp-http-proto-benches --bench sse_decode -- --warm-up-time 1 --measurement-time 3`

use std::convert::Infallible;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use criterion::{BenchmarkGroup, Criterion, Throughput, measurement::WallTime};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use futures::executor::block_on;
use mcp_http_proto::wire::sse::{Decoder, Event};

/// A deterministic pseudo-random sequence (no `rand` needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One input: the stream, cut into chunks, and what decoding it must give.
struct Input {
    name: &'static str,
    chunks: Vec<Bytes>,
    bytes: u64,
    events: usize,
    data_bytes: usize,
}

/// Cuts `stream` into chunks whose sizes `size` picks.
fn cut(stream: Vec<u8>, mut size: impl FnMut() -> usize) -> Vec<Bytes> {
    let stream = Bytes::from(stream);
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let end = (at + size()).min(stream.len());
        chunks.push(stream.slice(at..end));
        at = end;
    }
    chunks
}

/// 4,000 MCP server messages as one SSE response stream, as the official SDKs write
/// them: `event: message`, an id naming the stream, one `data` line of JSON-RPC.
fn mcp_stream() -> Input {
    const EVENTS: usize = 4000;
    let mut rng = Lcg(0x5EED);
    let words = [
        "indexing",
        "workspace",
        "src/lib.rs",
        "tokens",
        "embedding",
        "chunk",
        "query",
        "result",
        "cache",
        "warm",
        "files",
        "matched",
        "pattern",
        "build",
        "test",
    ];
    let text = |rng: &mut Lcg, min: u64, spread: u64| {
        let len = (min + rng.below(spread)) as usize;
        let mut s = String::new();
        while s.len() < len {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(words[rng.below(words.len() as u64) as usize]);
        }
        s
    };
    let mut stream = Vec::new();
    let mut data_bytes = 0;
    for n in 0..EVENTS {
        let json = match n % 4 {
            0 => format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":"tok-{}","progress":{},"total":{EVENTS},"message":"{}"}}}}"#,
                n / 50,
                n,
                text(&mut rng, 40, 120)
            ),
            1 => format!(
                r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"info","logger":"indexer","data":"{}"}}}}"#,
                text(&mut rng, 60, 140)
            ),
            2 => format!(
                r#"{{"jsonrpc":"2.0","id":{},"result":{{"content":[{{"type":"text","text":"{}"}}],"isError":false}}}}"#,
                n,
                text(&mut rng, 60, 150)
            ),
            _ => format!(
                r#"{{"jsonrpc":"2.0","id":{n},"method":"sampling/createMessage","params":{{"messages":[{{"role":"user","content":{{"type":"text","text":"{}"}}}}],"maxTokens":256}}}}"#,
                text(&mut rng, 30, 120)
            ),
        };
        data_bytes += json.len();
        let id = format!("7f1c2a9e-43b1-4c5e-9d0a-5be1f6a2c3d4_{n}");
        Event {
            id: Some(&id),
            ..Event::message(json.as_bytes())
        }
        .encode(&mut stream)
        .unwrap();
    }
    let bytes = stream.len() as u64;
    let chunks = cut(stream, || 1024 + rng.below(15 * 1024 + 1) as usize);
    Input {
        name: "mcp_stream",
        chunks,
        bytes,
        events: EVENTS,
        data_bytes,
    }
}

/// One event carrying 1 MiB of JSON on one data line, in 16 KiB chunks.
fn large_event() -> Input {
    let mut json = String::from(r#"{"jsonrpc":"2.0","id":1,"result":{"content":["#);
    let mut n = 0;
    while json.len() < (1 << 20) - 64 {
        json.push_str(&format!(
            r#"{{"type":"text","text":"row {n}: the quick brown fox jumps over the lazy dog"}},"#
        ));
        n += 1;
    }
    json.pop();
    json.push_str(r#"],"isError":false}}"#);
    let mut stream = Vec::new();
    Event {
        id: Some("0"),
        ..Event::message(json.as_bytes())
    }
    .encode(&mut stream)
    .unwrap();
    let bytes = stream.len() as u64;
    Input {
        name: "large_event",
        chunks: cut(stream, || 16 * 1024),
        bytes,
        events: 1,
        data_bytes: json.len(),
    }
}

/// The decoders' benchmark names.
const OURS: &str = "mcp-http-proto";
const OURS_COPYING: &str = "mcp-http-proto_feed_copying";
const SSE_STREAM_02: &str = "sse-stream-0.2";
const SSE_STREAM_03: &str = "sse-stream-0.3";
const EVENTSOURCE_STREAM: &str = "eventsource-stream-0.2";

fn chunk_stream(input: &Input) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + '_ {
    futures::stream::iter(input.chunks.iter().cloned().map(Ok))
}

/// Ours, fed with `feed_bytes` (no copy) or `feed` (one copy of each chunk).
fn ours(input: &Input, copying: bool) -> (usize, usize) {
    let mut decoder = Decoder::new();
    let (mut events, mut data) = (0, 0);
    let mut read = |decoder: &mut Decoder| {
        while let Some(event) = decoder.next_event().unwrap() {
            let event = black_box(event);
            // The text accessors validate UTF-8; the others' events hold `String`s.
            data += event.data().len();
            black_box(event.event_type().len() + event.last_event_id().map_or(0, |id| id.len()));
            events += 1;
        }
    };
    for chunk in &input.chunks {
        if copying {
            decoder.feed(chunk);
        } else {
            decoder.feed_bytes(chunk.clone());
        }
        read(&mut decoder);
    }
    decoder.finish();
    read(&mut decoder);
    (events, data)
}

fn sse_stream_02(input: &Input) -> (usize, usize) {
    block_on(async {
        let mut stream = sse_stream::SseStream::from_bytes_stream(chunk_stream(input));
        let (mut events, mut data) = (0, 0);
        while let Some(event) = stream.next().await {
            let event = black_box(event.unwrap());
            data += event.data.map_or(0, |d| d.len());
            black_box(event.event.map_or(0, |e| e.len()) + event.id.map_or(0, |id| id.len()));
            events += 1;
        }
        (events, data)
    })
}

fn sse_stream_03(input: &Input) -> (usize, usize) {
    block_on(async {
        let mut stream = sse_stream_03::SseByteStream::new(chunk_stream(input));
        let (mut events, mut data) = (0, 0);
        while let Some(event) = stream.next().await {
            let event = black_box(event.unwrap());
            data += event.data.map_or(0, |d| d.len());
            black_box(event.event.map_or(0, |e| e.len()) + event.id.map_or(0, |id| id.len()));
            events += 1;
        }
        (events, data)
    })
}

fn eventsource_stream(input: &Input) -> (usize, usize) {
    block_on(async {
        let mut stream = chunk_stream(input).eventsource();
        let (mut events, mut data) = (0, 0);
        while let Some(event) = stream.next().await {
            let event = black_box(event.unwrap());
            data += event.data.len();
            black_box(event.event.len() + event.id.len());
            events += 1;
        }
        (events, data)
    })
}

/// A decoder run over a whole input: (events, data bytes).
type Decode = fn(&Input) -> (usize, usize);

/// The decoders, by benchmark name.
const RUNS: [(&str, Decode); 5] = [
    (OURS, |i| ours(i, false)),
    (OURS_COPYING, |i| ours(i, true)),
    (SSE_STREAM_02, sse_stream_02),
    (SSE_STREAM_03, sse_stream_03),
    (EVENTSOURCE_STREAM, eventsource_stream),
];

fn bench_input(group: &mut BenchmarkGroup<'_, WallTime>, input: &Input) {
    group.throughput(Throughput::Bytes(input.bytes));
    let expected = (input.events, input.data_bytes);
    for (name, decode) in RUNS {
        group.bench_function(name, |b| {
            b.iter(|| assert_eq!(decode(black_box(input)), expected, "{name}"));
        });
    }
}

/// Where criterion wrote its estimates, found as criterion finds it.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        // The workspace's target directory, one level above this member.
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("criterion")
}

/// Mean time per iteration, in ns, from the estimates criterion wrote after `since`
/// (older files are from an earlier run, or a bench this run filtered out).
fn mean_ns(group: &str, bench: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn print_ratios(inputs: &[Input], since: SystemTime) {
    println!("\nSSE decode throughput (MiB/s, from criterion's mean):");
    for input in inputs {
        let group = format!("sse_decode_{}", input.name);
        let Some(ours_ns) = mean_ns(&group, OURS, since) else {
            continue;
        };
        let mib_s = |ns: f64| input.bytes as f64 / ns * 1e9 / (1024.0 * 1024.0);
        println!(
            "  {} ({} bytes, {} events):",
            input.name, input.bytes, input.events
        );
        for (name, _) in RUNS {
            if let Some(ns) = mean_ns(&group, name, since) {
                println!(
                    "    {name:<28} {:>9.1} MiB/s   ours is {:>5.2}x as fast",
                    mib_s(ns),
                    ns / ours_ns
                );
            }
        }
    }
}

/// Each decoder in turn, round after round, keeping each one's fastest run: criterion
/// measures one decoder for seconds, then the next, so load that comes and goes on a
/// shared machine skews its ratios; interleaving does not. Each timed run follows an
/// untimed one of the same decoder (so none pays for the heap another left behind), and
/// the order rotates every round.
#[expect(
    clippy::disallowed_methods,
    reason = "a bench is a driver: it reads the clock to time the decoders"
)]
fn print_head_to_head(inputs: &[Input]) {
    println!("\nSSE decode throughput (MiB/s), interleaved, fastest of N rounds:");
    for input in inputs {
        let rounds = if input.events > 1 { 60 } else { 20 };
        let expected = (input.events, input.data_bytes);
        let mut best = [f64::INFINITY; RUNS.len()];
        for round in 0..rounds {
            for k in (0..RUNS.len()).map(|k| (k + round) % RUNS.len()) {
                let (name, decode) = RUNS[k];
                assert_eq!(decode(black_box(input)), expected, "{name}");
                let start = Instant::now();
                let got = decode(black_box(input));
                let ns = start.elapsed().as_nanos() as f64;
                assert_eq!(got, expected, "{name}");
                best[k] = best[k].min(ns);
            }
        }
        let mib_s = |ns: f64| input.bytes as f64 / ns * 1e9 / (1024.0 * 1024.0);
        println!("  {} ({rounds} rounds):", input.name);
        for ((name, _), ns) in RUNS.iter().zip(best) {
            println!(
                "    {name:<28} {:>9.1} MiB/s   ours is {:>5.2}x as fast",
                mib_s(ns),
                ns / best[0]
            );
        }
    }
}

fn main() {
    #[expect(
        clippy::disallowed_methods,
        reason = "a bench is a driver: the clock only tells this run's estimates from stale ones"
    )]
    let started = SystemTime::now();
    let inputs = [mcp_stream(), large_event()];
    // Outside the timing: every decoder agrees on the inputs.
    for input in &inputs {
        let expected = (input.events, input.data_bytes);
        assert_eq!(ours(input, false), expected);
        assert_eq!(ours(input, true), expected);
        assert_eq!(sse_stream_02(input), expected);
        assert_eq!(sse_stream_03(input), expected);
        assert_eq!(eventsource_stream(input), expected);
    }
    let mut criterion = Criterion::default().configure_from_args();
    for input in &inputs {
        let mut group = criterion.benchmark_group(format!("sse_decode_{}", input.name));
        bench_input(&mut group, input);
        group.finish();
    }
    criterion.final_summary();
    print_ratios(&inputs, started);
    // Only under `cargo bench`, not when `cargo test --benches` runs each bench once.
    if std::env::args().any(|arg| arg == "--bench") {
        print_head_to_head(&inputs);
    }
}
