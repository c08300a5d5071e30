//! Properties of the SSE decoder: the events do not depend on how the stream is split
//! into chunks, and what the encoder writes the decoder reads back.

use bytes::Bytes;
use mcp_http_proto::wire::sse::{DecodeError, DecodedEvent, Decoder, Event};
use proptest::prelude::*;

/// What decoding a whole stream gives: the events, the error that stopped it (if any),
/// and the decoder's final last event id and reconnection time.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<DecodedEvent>,
    error: Option<DecodeError>,
    last_event_id: Option<String>,
    retry: Option<u64>,
}

/// Decodes `stream` cut at `cuts`. With `drain_each`, events are read after every chunk;
/// otherwise all chunks are queued first.
fn decode(stream: &[u8], cuts: &[usize], drain_each: bool, max: usize) -> Outcome {
    let mut decoder = Decoder::with_max_event_bytes(max);
    let mut events = Vec::new();
    let mut error = None;
    let mut drain = |decoder: &mut Decoder| {
        while error.is_none() {
            match decoder.next_event() {
                Ok(Some(e)) => events.push(e),
                Ok(None) => break,
                Err(e) => error = Some(e),
            }
        }
    };
    let mut start = 0;
    for &cut in cuts.iter().chain([&stream.len()]) {
        // Alternate the two ways in, so both are covered by every split.
        if start % 2 == 0 {
            decoder.feed(&stream[start..cut]);
        } else {
            decoder.feed_bytes(Bytes::copy_from_slice(&stream[start..cut]));
        }
        start = cut;
        if drain_each {
            drain(&mut decoder);
        }
    }
    decoder.finish();
    drain(&mut decoder);
    Outcome {
        events,
        error,
        last_event_id: decoder.last_event_id().map(|s| s.into_owned()),
        retry: decoder.retry(),
    }
}

/// Pieces a value or a stray run of bytes is made of, valid or not.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::sample::select(vec![
            &b"data"[..], b"event", b"id", b"retry", b"message", b"dat", b"Data",
        ])
        .prop_map(<[u8]>::to_vec),
        2 => prop::sample::select(vec![&b":"[..], b": ", b" ", b"\r", b"\n", b"\r\n"])
            .prop_map(<[u8]>::to_vec),
        1 => Just(b"\xEF\xBB\xBF".to_vec()),
        1 => Just(b"\0".to_vec()),
        3 => "[0-9]{1,4}".prop_map(String::into_bytes),
        3 => "[a-z{}\":,]{1,8}".prop_map(String::into_bytes),
        1 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 1..4),
    ]
}

/// One line: mostly a known field, a separator, a value and a line end; sometimes a
/// blank line, a comment, or stray fragments with no line end.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec![
        &b"data"[..],
        b"data",
        b"data",
        b"event",
        b"id",
        b"retry",
        b"",
        b"foo",
        b"dat",
    ]);
    let separator = prop::sample::select(vec![&b": "[..], b":", b":  ", b""]);
    let value = prop_oneof![
        3 => prop::collection::vec(fragment(), 0..3).prop_map(|f| f.concat()),
        1 => "[0-9]{0,5}".prop_map(String::into_bytes),
    ];
    let end = prop::sample::select(vec![&b"\n"[..], b"\n", b"\r\n", b"\r"]);
    prop_oneof![
        6 => (name, separator, value, end.clone()).prop_map(|(n, s, v, e)| [n, s, &v, e].concat()),
        3 => end.prop_map(<[u8]>::to_vec),
        1 => fragment(),
    ]
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), prop::collection::vec(line(), 0..24)).prop_map(|(bom, lines)| {
        let mut s = if bom {
            b"\xEF\xBB\xBF".to_vec()
        } else {
            Vec::new()
        };
        s.extend(lines.concat());
        s
    })
}

/// A stream and sorted cut points into it.
fn stream_and_cuts() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    stream().prop_flat_map(|s| {
        let len = s.len();
        let cuts = prop::collection::vec(0..=len, 0..12).prop_map(|mut cuts| {
            cuts.sort_unstable();
            cuts
        });
        (Just(s), cuts)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whole, byte-at-a-time and random splits (drained after each chunk or all at the
    /// end) give the same events, errors, last event id and retry.
    #[test]
    fn chunking_does_not_change_the_events((stream, cuts) in stream_and_cuts()) {
        let max = Decoder::DEFAULT_MAX_EVENT_BYTES;
        let whole = decode(&stream, &[], true, max);
        prop_assert_eq!(whole.error, None);
        let bytewise: Vec<usize> = (1..stream.len()).collect();
        prop_assert_eq!(&decode(&stream, &bytewise, true, max), &whole, "byte at a time");
        prop_assert_eq!(&decode(&stream, &cuts, true, max), &whole, "split at {:?}", cuts);
        prop_assert_eq!(&decode(&stream, &cuts, false, max), &whole, "queued, split at {:?}", cuts);
    }

    /// With a small bound, where the error falls does not depend on the split either.
    #[test]
    fn chunking_does_not_change_where_the_bound_trips(
        (stream, cuts) in stream_and_cuts(),
        max in 0usize..24,
    ) {
        let whole = decode(&stream, &[], true, max);
        let bytewise: Vec<usize> = (1..stream.len()).collect();
        prop_assert_eq!(&decode(&stream, &bytewise, true, max), &whole, "byte at a time");
        prop_assert_eq!(&decode(&stream, &cuts, false, max), &whole, "split at {:?}", cuts);
    }
}

/// One event to encode, owning its fields.
#[derive(Debug, Clone)]
struct Spec {
    id: Option<String>,
    event: Option<String>,
    retry: Option<u64>,
    data: String,
}

fn spec() -> impl Strategy<Value = Spec> {
    let field = "[^\r\n\u{0}]{0,12}";
    let data_piece = prop_oneof![
        4 => any::<char>().prop_map(String::from),
        1 => prop::sample::select(vec!["\r", "\n", "\r\n", " ", ":"]).prop_map(String::from),
    ];
    (
        prop::option::of(field),
        prop::option::of(prop_oneof![
            Just("message".to_owned()),
            field.prop_map(|s| s)
        ]),
        prop::option::of(any::<u64>()),
        prop::collection::vec(data_piece, 0..24).prop_map(|p| p.concat()),
    )
        .prop_map(|(id, event, retry, data)| Spec {
            id,
            event,
            retry,
            data,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Encode then decode (in random chunks) gives the events back: data with CR and CRLF
    /// turned into LF, the type `message` when none or empty, and the last event id
    /// carried from the latest `id` field (an empty one clears it).
    #[test]
    fn encoded_events_decode_to_the_same_events(
        specs in prop::collection::vec(spec(), 0..8),
        cut_seed in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut stream = Vec::new();
        for s in &specs {
            Event {
                id: s.id.as_deref(),
                event: s.event.as_deref(),
                retry: s.retry,
                data: s.data.as_bytes(),
            }
            .encode(&mut stream)
            .unwrap();
        }
        let mut cuts: Vec<usize> = cut_seed.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        let out = decode(&stream, &cuts, true, Decoder::DEFAULT_MAX_EVENT_BYTES);
        prop_assert_eq!(out.error, None);
        // The encoder always writes a `data` line, so every event is dispatched.
        prop_assert_eq!(out.events.len(), specs.len());

        let mut last_id = String::new();
        for (got, want) in out.events.iter().zip(&specs) {
            if let Some(id) = &want.id {
                last_id.clone_from(id);
            }
            let data = want.data.replace("\r\n", "\n").replace('\r', "\n");
            prop_assert_eq!(got.data(), data.as_str());
            let event_type = want.event.as_deref().filter(|e| !e.is_empty()).unwrap_or("message");
            prop_assert_eq!(got.event_type(), event_type);
            let got_id = got.last_event_id();
            prop_assert_eq!(got_id.as_deref(), Some(last_id.as_str()).filter(|s| !s.is_empty()));
            prop_assert_eq!(got.retry(), want.retry);
        }
        prop_assert_eq!(out.last_event_id, Some(last_id).filter(|s| !s.is_empty()));
        prop_assert_eq!(out.retry, specs.iter().rev().find_map(|s| s.retry));
    }
}
