//! `sse_decode`: the SSE decoder against itself (whole input, byte by byte, arbitrary
//! splits), against the reference parser, and the encoder's output read back.

use arbitrary::Arbitrary;
use bytes::Bytes;
use mcp_http_proto::wire::sse::{DecodeError, DecodedEvent, Decoder, Event, comment};

use super::sse_ref;

/// A line end, or none (the line runs into the next piece).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum LineEnd {
    Lf,
    Cr,
    CrLf,
    Nothing,
}

impl LineEnd {
    fn bytes(self) -> &'static [u8] {
        match self {
            Self::Lf => b"\n",
            Self::Cr => b"\r",
            Self::CrLf => b"\r\n",
            Self::Nothing => b"",
        }
    }
}

/// A field name: the four the format knows, near misses, or anything.
#[derive(Arbitrary, Debug, Clone)]
pub enum FieldName {
    Data,
    Event,
    Id,
    Retry,
    NearMiss(u8),
    Other(Vec<u8>),
}

impl FieldName {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Data => b"data".to_vec(),
            Self::Event => b"event".to_vec(),
            Self::Id => b"id".to_vec(),
            Self::Retry => b"retry".to_vec(),
            Self::NearMiss(n) => {
                let names: [&[u8]; 8] = [
                    b"Data", b"dat", b"data ", b"ids", b"retr", b"EVENT", b" id", b"",
                ];
                names[usize::from(*n) % names.len()].to_vec()
            }
            Self::Other(b) => b.clone(),
        }
    }
}

/// What separates a field name from its value.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Separator {
    /// No colon: the whole line is the name.
    Bare,
    Colon,
    ColonSpace,
    ColonTwoSpaces,
}

/// A field value: bytes, a number (for `retry`), a typical MCP value, or one with NUL.
#[derive(Arbitrary, Debug, Clone)]
pub enum FieldValue {
    Bytes(Vec<u8>),
    Number(u64),
    Digits(Vec<u8>),
    Json,
    Message,
    WithNul(Vec<u8>),
    Utf8(String),
}

impl FieldValue {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Bytes(b) => b.clone(),
            Self::Number(n) => n.to_string().into_bytes(),
            Self::Digits(d) => d.iter().map(|b| b'0' + b % 10).collect(),
            Self::Json => br#"{"jsonrpc":"2.0","id":1,"result":{}}"#.to_vec(),
            Self::Message => b"message".to_vec(),
            Self::WithNul(b) => {
                let mut v = b.clone();
                v.insert(v.len() / 2, 0);
                v
            }
            Self::Utf8(s) => s.as_bytes().to_vec(),
        }
    }
}

/// One piece of a stream.
#[derive(Arbitrary, Debug, Clone)]
pub enum Piece {
    Blank(LineEnd),
    Comment(Vec<u8>, LineEnd),
    Field {
        name: FieldName,
        separator: Separator,
        value: FieldValue,
        end: LineEnd,
    },
    Bom,
    Raw(Vec<u8>),
    /// Fields followed by a blank line: an event block.
    Block(Vec<BlockField>, LineEnd),
}

/// A field of an event block; its line ends with `end` (a missing end is LF).
#[derive(Arbitrary, Debug, Clone)]
pub struct BlockField {
    pub name: FieldName,
    pub separator: Separator,
    pub value: FieldValue,
    pub end: LineEnd,
}

fn push_field(out: &mut Vec<u8>, name: &FieldName, separator: Separator, value: &FieldValue) {
    out.extend_from_slice(&name.bytes());
    match separator {
        Separator::Bare => {}
        Separator::Colon => out.push(b':'),
        Separator::ColonSpace => out.extend_from_slice(b": "),
        Separator::ColonTwoSpaces => out.extend_from_slice(b":  "),
    }
    if !matches!(separator, Separator::Bare) {
        out.extend_from_slice(&value.bytes());
    }
}

/// The stream: raw bytes, or pieces laid end to end.
#[derive(Arbitrary, Debug, Clone)]
pub enum Stream {
    Raw(Vec<u8>),
    Pieces(Vec<Piece>),
}

impl Stream {
    /// The stream's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let pieces = match self {
            Self::Raw(b) => return b.clone(),
            Self::Pieces(p) => p,
        };
        let mut out = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Blank(end) => out.extend_from_slice(end.bytes()),
                Piece::Comment(text, end) => {
                    out.push(b':');
                    out.extend_from_slice(text);
                    out.extend_from_slice(end.bytes());
                }
                Piece::Field {
                    name,
                    separator,
                    value,
                    end,
                } => {
                    push_field(&mut out, name, *separator, value);
                    out.extend_from_slice(end.bytes());
                }
                Piece::Bom => out.extend_from_slice(b"\xEF\xBB\xBF"),
                Piece::Raw(b) => out.extend_from_slice(b),
                Piece::Block(fields, end) => {
                    for f in fields {
                        push_field(&mut out, &f.name, f.separator, &f.value);
                        match f.end {
                            LineEnd::Nothing => out.push(b'\n'),
                            e => out.extend_from_slice(e.bytes()),
                        }
                    }
                    match end {
                        LineEnd::Nothing => out.push(b'\n'),
                        e => out.extend_from_slice(e.bytes()),
                    }
                }
            }
        }
        out
    }
}

/// One event for the encoder.
#[derive(Arbitrary, Debug, Clone)]
pub struct EncodeEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub retry: Option<u64>,
    pub data: Vec<u8>,
    /// A comment written before the event (the decoder must skip it).
    pub comment_before: Option<String>,
}

/// The `sse_decode` case.
#[derive(Arbitrary, Debug, Clone)]
pub struct SseCase {
    /// `None`: the default bound; `Some(n)`: a bound of `1 + n % 64` bytes.
    pub limit: Option<u8>,
    pub stream: Stream,
    /// Where to cut the input for the split run (taken modulo its length + 1).
    pub splits: Vec<u16>,
    /// Events for the encode/decode round trip.
    pub encode: Vec<EncodeEvent>,
}

/// What a decoded event is made of, for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub event_type: String,
    pub data: Vec<u8>,
    pub last_event_id: Option<String>,
    pub retry: Option<u64>,
}

fn seen(e: &DecodedEvent) -> Seen {
    // Consistency of the accessors with the raw bytes.
    let data = e.data_bytes().to_vec();
    assert_eq!(
        e.data(),
        String::from_utf8_lossy(&data),
        "data() is the lossy text of data_bytes()"
    );
    assert_eq!(
        e.is_message(),
        e.event_type() == "message",
        "is_message() agrees with event_type()"
    );
    assert_eq!(e.clone().into_data().to_vec(), data, "into_data()");
    Seen {
        event_type: e.event_type().into_owned(),
        data,
        last_event_id: e.last_event_id().map(|c| c.into_owned()),
        retry: e.retry(),
    }
}

/// One decoding of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub events: Vec<Seen>,
    pub error: Option<DecodeError>,
    /// The decoder's `last_event_id()` and `retry()` after the end (no error only).
    pub last_event_id: Option<String>,
    pub retry: Option<u64>,
}

/// How a run hands the chunks over.
#[derive(Clone, Copy)]
enum Feed {
    Copy,
    Shared,
}

/// Drains `decoder`; false once it reported an error.
fn drain(decoder: &mut Decoder, run: &mut Run) -> bool {
    loop {
        match decoder.next_event() {
            Ok(Some(e)) => run.events.push(seen(&e)),
            Ok(None) => return true,
            Err(err) => {
                // Every later call reports the same error.
                assert_eq!(decoder.next_event(), Err(err), "the error sticks");
                run.error = Some(err);
                return false;
            }
        }
    }
}

/// Decodes `chunks` with a decoder bounded by `limit`.
fn decode(limit: Option<usize>, chunks: &[&[u8]], feed: Feed) -> Run {
    let mut decoder = match limit {
        Some(n) => Decoder::with_max_event_bytes(n),
        None => Decoder::new(),
    };
    let mut run = Run {
        events: Vec::new(),
        error: None,
        last_event_id: None,
        retry: None,
    };
    for chunk in chunks {
        match feed {
            Feed::Copy => decoder.feed(chunk),
            Feed::Shared => decoder.feed_bytes(Bytes::copy_from_slice(chunk)),
        }
        if !drain(&mut decoder, &mut run) {
            return run;
        }
    }
    decoder.finish();
    assert!(decoder.is_finished());
    if !drain(&mut decoder, &mut run) {
        return run;
    }
    run.last_event_id = decoder.last_event_id().map(|c| c.into_owned());
    run.retry = decoder.retry();
    // Input after the end is refused, and the state read above stays.
    decoder.feed(b"data: late\n\n");
    assert_eq!(
        decoder.next_event(),
        Err(DecodeError::FedAfterFinish),
        "input after finish()"
    );
    assert_eq!(
        decoder.last_event_id().map(|c| c.into_owned()),
        run.last_event_id
    );
    run
}

/// Cuts `input` at the given points (sorted, each modulo `len + 1`).
fn cut<'a>(input: &'a [u8], splits: &[u16]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = splits
        .iter()
        .map(|&s| usize::from(s) % (input.len() + 1))
        .collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut at = 0;
    for p in points {
        chunks.push(&input[at..p]);
        at = p;
    }
    chunks.push(&input[at..]);
    chunks
}

/// The three ways of feeding `input` agree, up to and including the first error.
fn decode_every_way(limit: Option<usize>, input: &[u8], splits: &[u16]) -> Run {
    let whole = decode(limit, &[input], Feed::Copy);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let by_byte = decode(limit, &bytes, Feed::Copy);
    let split = decode(limit, &cut(input, splits), Feed::Shared);
    let shared = decode(limit, &[input], Feed::Shared);
    assert_eq!(
        whole, by_byte,
        "whole input vs byte by byte (limit {limit:?})"
    );
    assert_eq!(whole, split, "whole input vs split (limit {limit:?})");
    assert_eq!(whole, shared, "feed vs feed_bytes (limit {limit:?})");
    whole
}

fn compare_with_reference(run: &Run, input: &[u8], what: &str) {
    let reference = sse_ref::parse(input);
    assert_eq!(
        run.error, None,
        "{what}: an input within the bound is never refused"
    );
    let events: Vec<Seen> = reference
        .events
        .into_iter()
        .map(|e| Seen {
            event_type: e.event_type,
            data: e.data,
            last_event_id: e.last_event_id,
            retry: e.retry,
        })
        .collect();
    assert_eq!(run.events, events, "{what}: events vs the reference parser");
    assert_eq!(
        run.last_event_id, reference.last_event_id,
        "{what}: last event id vs the reference parser"
    );
    assert_eq!(
        run.retry, reference.retry,
        "{what}: retry vs the reference parser"
    );
}

/// Data with CRLF and CR turned into LF.
fn normalise(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\r' => {
                out.push(b'\n');
                if data.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn forbidden(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// The encoder's frames read back as the events they were built from.
fn check_round_trip(events: &[EncodeEvent], splits: &[u16]) {
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    let mut last_id: Option<String> = None;
    let mut last_retry = None;
    for e in events {
        let event = Event {
            id: e.id.as_deref(),
            event: e.event.as_deref(),
            retry: e.retry,
            data: &e.data,
        };
        let bad =
            e.id.as_deref().is_some_and(forbidden) || e.event.as_deref().is_some_and(forbidden);
        let frame = event.to_vec();
        if bad {
            assert!(
                frame.is_err(),
                "an id or event with CR, LF or NUL is refused"
            );
            continue;
        }
        let frame = frame.expect("a frame without forbidden bytes encodes");
        let mut appended = Vec::new();
        event.encode(&mut appended).expect("encode() as to_vec()");
        assert_eq!(appended, frame, "encode() and to_vec() agree");
        if e.data.iter().any(|&b| b == b'\r' || b == b'\n') {
            assert!(
                frame.len() <= event.encoded_len(),
                "encoded_len() bounds the frame"
            );
        } else {
            assert_eq!(frame.len(), event.encoded_len(), "encoded_len() is exact");
        }
        if let Some(text) = &e.comment_before {
            stream.extend_from_slice(&comment(text));
        }
        stream.extend_from_slice(&frame);
        if let Some(id) = &e.id {
            last_id = (!id.is_empty()).then(|| id.clone());
        }
        if e.retry.is_some() {
            last_retry = e.retry;
        }
        let event_type = match e.event.as_deref() {
            None | Some("") => "message".to_owned(),
            Some(t) => t.to_owned(),
        };
        expected.push(Seen {
            event_type,
            data: normalise(&e.data),
            last_event_id: last_id.clone(),
            retry: e.retry,
        });
    }
    for run in [
        decode(None, &[&stream], Feed::Copy),
        decode(None, &cut(&stream, splits), Feed::Shared),
    ] {
        assert_eq!(run.error, None, "the encoder's frames decode");
        assert_eq!(
            run.events, expected,
            "encode then decode gives the fields back"
        );
        assert_eq!(run.last_event_id, last_id, "the last id survives");
        assert_eq!(run.retry, last_retry, "the last retry survives");
    }
}

/// The `sse_decode` checks.
pub fn check_sse(case: &SseCase) {
    let input = case.stream.bytes();
    let default = decode_every_way(None, &input, &case.splits);
    compare_with_reference(&default, &input, "default bound");
    if let Some(n) = case.limit {
        let limit = 1 + usize::from(n) % 64;
        let bounded = decode_every_way(Some(limit), &input, &case.splits);
        // A bound only cuts the stream short: what came before the error is what the
        // default decoder gave.
        assert!(
            bounded.events.len() <= default.events.len()
                && bounded.events[..] == default.events[..bounded.events.len()],
            "a bound of {limit} changed the events before its error"
        );
        if bounded.error.is_none() {
            assert_eq!(bounded, default, "no error under the bound: same result");
        }
        if input.len() <= limit {
            compare_with_reference(&bounded, &input, "small bound");
        }
    }
    check_round_trip(&case.encode, &case.splits);
}
