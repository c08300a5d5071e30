//! The SSE decoder against the WHATWG HTML standard's "interpreting an event stream"
//! rules (section 9.2.6), one test per rule, plus the standard's own examples (9.2.5).

use bytes::Bytes;
use mcp_http_proto::wire::sse::{DecodeError, DecodedEvent, Decoder};

/// Feeds `chunks` in order, drains after each, then finishes and drains.
fn decode_chunks(chunks: &[&[u8]]) -> (Vec<DecodedEvent>, Decoder) {
    let mut decoder = Decoder::new();
    let mut events = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk);
        while let Some(event) = decoder.next_event().expect("no decode error") {
            events.push(event);
        }
    }
    decoder.finish();
    while let Some(event) = decoder.next_event().expect("no decode error") {
        events.push(event);
    }
    (events, decoder)
}

fn decode(stream: &[u8]) -> (Vec<DecodedEvent>, Decoder) {
    decode_chunks(&[stream])
}

/// The data of each event, as text.
fn data(events: &[DecodedEvent]) -> Vec<String> {
    events.iter().map(|e| e.data().into_owned()).collect()
}

// --- the standard's examples (9.2.5) ---

#[test]
fn whatwg_example_stock_ticker_data_lines_join_with_lf() {
    let (events, _) = decode(b"data: YHOO\ndata: +2\ndata: 10\n\n");
    assert_eq!(data(&events), ["YHOO\n+2\n10"]);
    assert_eq!(events[0].event_type(), "message");
    assert_eq!(events[0].last_event_id(), None);
}

#[test]
fn whatwg_example_test_stream_with_comment_and_ids() {
    let stream = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n";
    let mut decoder = Decoder::new();
    decoder.feed(stream);
    // The comment-only block fires nothing.
    let first = decoder.next_event().unwrap().unwrap();
    assert_eq!(first.data(), "first event");
    assert_eq!(first.last_event_id().as_deref(), Some("1"));
    // "if the connection died between this block and the next, the server would be sent a
    // Last-Event-ID header with the value 1"
    assert_eq!(decoder.last_event_id().as_deref(), Some("1"));
    // `id` with no value resets the last event id.
    let second = decoder.next_event().unwrap().unwrap();
    assert_eq!(second.data(), "second event");
    assert_eq!(second.last_event_id(), None);
    assert_eq!(decoder.last_event_id(), None);
    // " third event" keeps one leading space, but the stream ends without a blank line, so
    // the block is not dispatched.
    assert_eq!(decoder.next_event().unwrap(), None);
    decoder.finish();
    assert_eq!(decoder.next_event().unwrap(), None);

    // With the blank line, it fires with its single leading space.
    let (events, _) = decode(&[&stream[..], b"\n"].concat());
    assert_eq!(
        data(&events),
        ["first event", "second event", " third event"]
    );
}

#[test]
fn whatwg_example_data_without_colon_and_empty_data_fire_events() {
    let (events, _) = decode(b"data\n\ndata\ndata\n\ndata:");
    // The first block fires data ""; the middle block a single newline; the last block is
    // discarded because no blank line follows it.
    assert_eq!(data(&events), ["", "\n"]);
}

#[test]
fn whatwg_example_space_after_colon_is_optional() {
    let (events, _) = decode(b"data:test\n\ndata: test\n\n");
    assert_eq!(data(&events), ["test", "test"]);
    assert_eq!(events[0], events[1]);
}

#[test]
fn whatwg_example_event_types() {
    let (events, _) = decode(
        b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n",
    );
    let got: Vec<_> = events
        .iter()
        .map(|e| (e.event_type().into_owned(), e.data().into_owned()))
        .collect();
    assert_eq!(
        got,
        [
            ("add".to_owned(), "73857293".to_owned()),
            ("remove".to_owned(), "2153".to_owned()),
            ("add".to_owned(), "113411".to_owned()),
        ]
    );
}

// --- line ends ---

#[test]
fn lines_end_with_lf() {
    let (events, _) = decode(b"data: a\ndata: b\n\n");
    assert_eq!(data(&events), ["a\nb"]);
}

#[test]
fn lines_end_with_cr() {
    let (events, _) = decode(b"data: a\rdata: b\r\r");
    assert_eq!(data(&events), ["a\nb"]);
}

#[test]
fn lines_end_with_crlf() {
    let (events, _) = decode(b"data: a\r\ndata: b\r\n\r\n");
    assert_eq!(data(&events), ["a\nb"]);
}

#[test]
fn lines_end_with_mixed_line_ends() {
    let (events, _) = decode(b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\n\r");
    assert_eq!(data(&events), ["a\nb\nc", "d"]);
}

#[test]
fn lf_cr_is_two_line_ends_not_one() {
    // LF then CR: the CR ends an empty line, so it dispatches.
    let (events, _) = decode(b"data: a\n\rdata: b\n\n");
    assert_eq!(data(&events), ["a", "b"]);
}

#[test]
fn crlf_split_across_chunks_is_one_line_end() {
    // Were the LF taken as a second line end, the empty line would dispatch "a" alone.
    let (events, _) = decode_chunks(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
    assert_eq!(data(&events), ["a\nb"]);
}

#[test]
fn crlf_split_across_chunks_with_empty_chunks_between() {
    let (events, _) = decode_chunks(&[b"data: a\r", b"", b"", b"\ndata: b\n\n"]);
    assert_eq!(data(&events), ["a\nb"]);
}

#[test]
fn cr_at_end_of_chunk_dispatches_without_waiting_for_the_next_chunk() {
    let mut decoder = Decoder::new();
    decoder.feed(b"data: a\r\r");
    let event = decoder
        .next_event()
        .unwrap()
        .expect("CR ends the blank line");
    assert_eq!(event.data(), "a");
    // The next chunk's LF completes the CRLF and is not another blank line.
    decoder.feed(b"\ndata: b\n\n");
    assert_eq!(decoder.next_event().unwrap().unwrap().data(), "b");
    assert_eq!(decoder.next_event().unwrap(), None);
}

// --- BOM ---

#[test]
fn leading_bom_is_skipped() {
    let (events, _) = decode(b"\xEF\xBB\xBFdata: a\n\n");
    assert_eq!(data(&events), ["a"]);
}

#[test]
fn leading_bom_split_across_chunks_is_skipped() {
    let (events, _) = decode_chunks(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]);
    assert_eq!(data(&events), ["a"]);
}

#[test]
fn bom_is_skipped_only_at_the_very_start() {
    // A second BOM is part of the first line's field name, which is then unknown.
    let (events, _) = decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n");
    assert_eq!(data(&events), ["b"]);
    // A BOM at the start of a later line is not skipped either.
    let (events, _) = decode(b"data: a\n\n\xEF\xBB\xBFdata: b\n\ndata: c\n\n");
    assert_eq!(data(&events), ["a", "c"]);
}

#[test]
fn partial_bom_at_the_start_is_content() {
    // EF BB then `d`: not a BOM, so the line's field name is "\u{FFFD}data", unknown.
    let (events, _) = decode_chunks(&[b"\xEF\xBB", b"data: a\n\ndata: b\n\n"]);
    assert_eq!(data(&events), ["b"]);
    // A lone EF before a blank line is a line of its own, ignored.
    let (events, _) = decode(b"\xEF\n\ndata: b\n\n");
    assert_eq!(data(&events), ["b"]);
}

// --- lines and fields ---

#[test]
fn comment_lines_are_ignored() {
    let (events, _) = decode(b": keep-alive\n\n:\ndata: a\n: inside an event\ndata: b\n\n");
    assert_eq!(data(&events), ["a\nb"]);
}

#[test]
fn field_without_colon_is_the_name_with_an_empty_value() {
    // `data` alone is an empty data line; `event` alone is the default type; `id` alone
    // clears the last event id.
    let (events, decoder) = decode(b"id: 5\nevent: x\nevent\ndata\ndata: b\nid\n\n");
    assert_eq!(data(&events), ["\nb"]);
    assert_eq!(events[0].event_type(), "message");
    assert_eq!(events[0].last_event_id(), None);
    assert_eq!(decoder.last_event_id(), None);
}

#[test]
fn only_one_space_after_the_colon_is_removed() {
    let (events, _) = decode(b"data:  two\n\ndata:\tTab\n\ndata: \n\nevent:  x\ndata: y\n\n");
    assert_eq!(data(&events), [" two", "\tTab", "", "y"]);
    assert_eq!(events[3].event_type(), " x");
}

#[test]
fn value_is_everything_after_the_first_colon() {
    let (events, _) = decode(b"data: a: b:c\n\ndata::\n\n");
    assert_eq!(data(&events), ["a: b:c", ":"]);
}

#[test]
fn field_names_are_case_sensitive_and_exact() {
    let (events, _) = decode(b"Data: a\ndata : b\n data: c\nDATA: d\ndata: e\n\n");
    assert_eq!(data(&events), ["e"]);
}

#[test]
fn data_lines_are_joined_with_lf_and_the_last_lf_is_removed() {
    let (events, _) = decode(b"data: a\ndata:\ndata: b\ndata:\n\n");
    assert_eq!(data(&events), ["a\n\nb\n"]);
}

#[test]
fn event_field_sets_the_type_until_the_blank_line() {
    let (events, _) = decode(b"event: first\nevent: second\ndata: a\n\ndata: b\n\n");
    assert_eq!(events[0].event_type(), "second");
    assert!(!events[0].is_message());
    // The type buffer is reset after each dispatch.
    assert_eq!(events[1].event_type(), "message");
    assert!(events[1].is_message());
}

#[test]
fn empty_event_type_is_message() {
    let (events, _) = decode(b"event:\ndata: a\n\nevent: message\ndata: a\n\ndata: a\n\n");
    assert!(
        events
            .iter()
            .all(|e| e.event_type() == "message" && e.is_message())
    );
    // `message`, explicit or by default, is one type: the events are equal.
    assert_eq!(events[0], events[1]);
    assert_eq!(events[1], events[2]);
}

#[test]
fn id_sets_the_last_event_id_which_persists_across_events() {
    let (events, decoder) = decode(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n");
    let ids: Vec<_> = events
        .iter()
        .map(|e| e.last_event_id().map(|id| id.into_owned()))
        .collect();
    assert_eq!(ids, [Some("1".into()), Some("1".into()), Some("2".into())]);
    assert_eq!(decoder.last_event_id().as_deref(), Some("2"));
}

#[test]
fn id_containing_nul_is_ignored() {
    let (events, decoder) = decode(b"id: 1\n\nid: 2\0x\ndata: a\n\n");
    assert_eq!(events[0].last_event_id().as_deref(), Some("1"));
    assert_eq!(decoder.last_event_id().as_deref(), Some("1"));
}

#[test]
fn empty_id_clears_the_last_event_id() {
    let (events, decoder) = decode(b"id: 1\ndata: a\n\nid:\ndata: b\n\n");
    assert_eq!(events[0].last_event_id().as_deref(), Some("1"));
    assert_eq!(events[1].last_event_id(), None);
    assert_eq!(decoder.last_event_id(), None);
}

#[test]
fn id_counts_only_once_a_blank_line_ends_its_block() {
    // The standard sets the last event ID string at the blank line, so an id whose block
    // never ends is not what a reconnecting client sends.
    let mut decoder = Decoder::new();
    decoder.feed(b"id: 1\n\nid: 2\ndata: x\n");
    assert_eq!(decoder.next_event().unwrap(), None);
    assert_eq!(decoder.last_event_id().as_deref(), Some("1"));
    decoder.finish();
    assert_eq!(decoder.next_event().unwrap(), None);
    assert_eq!(decoder.last_event_id().as_deref(), Some("1"));
}

#[test]
fn priming_block_without_data_dispatches_nothing_but_keeps_its_id() {
    // INV-C13: a block with an id and no data updates the cursor without an event.
    let mut decoder = Decoder::new();
    decoder.feed(b"id: s1-0\nretry: 3000\n\n");
    assert_eq!(decoder.next_event().unwrap(), None);
    assert_eq!(decoder.last_event_id().as_deref(), Some("s1-0"));
    assert_eq!(decoder.retry(), Some(3000));
    // The next event carries that id until it sets its own.
    decoder.feed(b"data: {}\n\n");
    let event = decoder.next_event().unwrap().unwrap();
    assert_eq!(event.last_event_id().as_deref(), Some("s1-0"));
    assert_eq!(event.retry(), None, "retry belonged to the earlier block");
}

#[test]
fn priming_event_with_empty_data_line_is_dispatched_with_empty_data() {
    // MCP servers prime with `id` and an empty `data:` line: under the standard that is an
    // event (data ""), which the client must not parse as JSON-RPC.
    let (events, decoder) = decode(b"id: s1-0\ndata:\n\n");
    assert_eq!(events.len(), 1);
    assert!(events[0].data_bytes().is_empty());
    assert_eq!(decoder.last_event_id().as_deref(), Some("s1-0"));
}

#[test]
fn blank_line_without_data_resets_the_event_type() {
    let (events, _) = decode(b"event: ping\n\ndata: a\n\n");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type(), "message");
}

#[test]
fn retry_is_used_only_when_all_ascii_digits() {
    for (line, expected) in [
        (&b"retry: 1500\n"[..], Some(1500)),
        (b"retry:0\n", Some(0)),
        (b"retry: 015\n", Some(15)),
        (b"retry: 15 \n", None),
        (b"retry: -1\n", None),
        (b"retry: 1.5\n", None),
        (b"retry: +1\n", None),
        (b"retry: 1e3\n", None),
        (b"retry:\n", None),
        (b"retry\n", None),
        (b"retry: \xEF\xBC\x91\n", None), // a full-width digit is not ASCII
    ] {
        let (events, decoder) = decode(&[line, b"data: a\n\n"].concat());
        assert_eq!(
            decoder.retry(),
            expected,
            "{:?}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(events[0].retry(), expected);
    }
}

#[test]
fn retry_keeps_the_last_valid_value_across_blocks() {
    let (events, decoder) = decode(b"retry: 10\ndata: a\n\nretry: x\ndata: b\n\nretry: 20\n\n");
    assert_eq!(events[0].retry(), Some(10));
    assert_eq!(events[1].retry(), None, "an invalid retry is ignored");
    // The last block has no data, yet its retry still sets the reconnection time.
    assert_eq!(decoder.retry(), Some(20));
}

#[test]
fn retry_past_u64_saturates() {
    let (_, decoder) = decode(b"retry: 99999999999999999999999999\n\n");
    assert_eq!(decoder.retry(), Some(u64::MAX));
}

#[test]
fn unknown_fields_are_ignored() {
    let (events, decoder) = decode(b"foo: bar\ndata: a\nretries: 5\nids: 9\n\n");
    assert_eq!(data(&events), ["a"]);
    assert_eq!(decoder.retry(), None);
    assert_eq!(decoder.last_event_id(), None);
}

// --- end of stream ---

#[test]
fn incomplete_event_is_discarded_at_end_of_stream() {
    let (events, decoder) = decode(b"data: a\n\ndata: b\nid: 2\nretry: 9\ndata: c");
    assert_eq!(data(&events), ["a"]);
    assert_eq!(
        decoder.last_event_id(),
        None,
        "id 2 never reached a blank line"
    );
    // retry takes effect when its line is read, whether or not the block completes.
    assert_eq!(decoder.retry(), Some(9));
}

#[test]
fn finish_still_returns_events_fed_before_it() {
    let mut decoder = Decoder::new();
    decoder.feed(b"data: a\n\ndata: b\n\ndata: c\n");
    decoder.finish();
    assert!(decoder.is_finished());
    let mut events = Vec::new();
    while let Some(e) = decoder.next_event().unwrap() {
        events.push(e);
    }
    assert_eq!(data(&events), ["a", "b"]);
}

#[test]
fn feeding_after_finish_is_an_error() {
    let mut decoder = Decoder::new();
    decoder.finish();
    decoder.feed(b"data: a\n\n");
    assert_eq!(decoder.next_event(), Err(DecodeError::FedAfterFinish));
    assert_eq!(decoder.next_event(), Err(DecodeError::FedAfterFinish));
}

// --- bytes, text and bounds ---

#[test]
fn invalid_utf8_is_replaced_not_a_panic() {
    let (events, _) = decode(b"data: a\xFFb\xC3\ndata: \xE2\x82\n\n");
    assert_eq!(data(&events), ["a\u{FFFD}b\u{FFFD}\n\u{FFFD}"]);
    // The raw bytes are kept for callers that want them.
    assert_eq!(&events[0].data_bytes()[..], b"a\xFFb\xC3\n\xE2\x82");
    let (events, _) = decode(b"event: \xFF\nid: \xC0\ndata: x\n\n");
    assert_eq!(events[0].event_type(), "\u{FFFD}");
    assert_eq!(events[0].last_event_id().as_deref(), Some("\u{FFFD}"));
}

#[test]
fn utf8_split_across_chunks_is_kept_whole() {
    let euro = "€".as_bytes(); // E2 82 AC
    let (events, _) = decode_chunks(&[b"data: ", &euro[..1], &euro[1..2], &euro[2..], b"\n\n"]);
    assert_eq!(data(&events), ["€"]);
}

/// The `event: message` line is bounded like any other, whole or byte at a time (the
/// fast path for MCP's common event shape once let it through; found by
/// `chunking_does_not_change_where_the_bound_trips`).
#[test]
fn an_event_type_line_longer_than_the_bound_is_refused_however_it_is_fed() {
    let stream = b"event: message\n"; // a 14-byte line
    let mut whole = Decoder::with_max_event_bytes(13);
    whole.feed(stream);
    assert_eq!(
        whole.next_event(),
        Err(DecodeError::EventTooLarge { limit: 13 })
    );
    let mut bytewise = Decoder::with_max_event_bytes(13);
    let mut got = Ok(None);
    for b in stream {
        bytewise.feed(std::slice::from_ref(b));
        got = bytewise.next_event();
        if got.is_err() {
            break;
        }
    }
    assert_eq!(got, Err(DecodeError::EventTooLarge { limit: 13 }));
    let mut fits = Decoder::with_max_event_bytes(14);
    fits.feed(b"event: message\ndata: x\n\n");
    assert_eq!(
        fits.next_event().unwrap().unwrap().data(),
        "x",
        "a 14-byte bound takes it"
    );
}

#[test]
fn line_longer_than_max_event_bytes_is_a_typed_error() {
    let mut decoder = Decoder::with_max_event_bytes(16);
    decoder.feed(b"data: 0123456789\n\n"); // 16 bytes: fits
    assert_eq!(decoder.next_event().unwrap().unwrap().data(), "0123456789");
    decoder.feed(b"data: 01234567890\n\n"); // 17 bytes
    assert_eq!(
        decoder.next_event(),
        Err(DecodeError::EventTooLarge { limit: 16 })
    );
    // The decoder stays failed.
    decoder.feed(b"data: a\n\n");
    assert_eq!(
        decoder.next_event(),
        Err(DecodeError::EventTooLarge { limit: 16 })
    );
}

#[test]
fn line_without_end_is_not_buffered_past_max_event_bytes() {
    let mut decoder = Decoder::with_max_event_bytes(1024);
    let chunk = [b'x'; 100];
    let mut fed = 0;
    let error = loop {
        decoder.feed(&chunk);
        fed += chunk.len();
        match decoder.next_event() {
            Ok(None) => assert!(fed <= 1024),
            Ok(Some(e)) => panic!("unexpected event {e:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(error, DecodeError::EventTooLarge { limit: 1024 });
    assert_eq!(fed, 1100, "refused as soon as the line passed the limit");
}

#[test]
fn data_of_many_lines_longer_than_max_event_bytes_is_a_typed_error() {
    let mut decoder = Decoder::with_max_event_bytes(20);
    let mut stream = b"data: 0123456789\n".repeat(3);
    stream.extend_from_slice(b"\n");
    decoder.feed(&stream);
    assert_eq!(
        decoder.next_event(),
        Err(DecodeError::EventTooLarge { limit: 20 })
    );
    // At the limit exactly, it fits: "0123456789\n012345678" is 20 bytes.
    let mut decoder = Decoder::with_max_event_bytes(20);
    decoder.feed(b"data: 0123456789\ndata: 012345678\n\n");
    assert_eq!(
        decoder.next_event().unwrap().unwrap().data(),
        "0123456789\n012345678"
    );
}

#[test]
fn events_before_a_too_large_one_are_returned_first() {
    let mut decoder = Decoder::with_max_event_bytes(10);
    decoder.feed(b"data: a\n\ndata: 0123456789\n\n");
    assert_eq!(decoder.next_event().unwrap().unwrap().data(), "a");
    assert_eq!(
        decoder.next_event(),
        Err(DecodeError::EventTooLarge { limit: 10 })
    );
}

#[test]
fn data_in_one_chunk_is_a_slice_of_that_chunk() {
    // feed_bytes copies nothing: the event's data points into the chunk.
    let chunk = Bytes::from_static(b"event: message\nid: 7\ndata: {\"jsonrpc\":\"2.0\"}\n\n");
    let mut decoder = Decoder::new();
    decoder.feed_bytes(chunk.clone());
    let event = decoder.next_event().unwrap().unwrap();
    let range = chunk.as_ptr_range();
    assert!(range.contains(&event.data_bytes().as_ptr()));
    assert_eq!(event.data(), r#"{"jsonrpc":"2.0"}"#);
    assert!(matches!(event.data(), std::borrow::Cow::Borrowed(_)));
}

#[test]
fn chunks_fed_before_draining_are_all_read() {
    let mut decoder = Decoder::new();
    decoder.feed(b"data: a\n");
    decoder.feed(b"\ndata: b");
    decoder.feed(b"\n\n");
    let mut events = Vec::new();
    while let Some(e) = decoder.next_event().unwrap() {
        events.push(e);
    }
    assert_eq!(data(&events), ["a", "b"]);
}
