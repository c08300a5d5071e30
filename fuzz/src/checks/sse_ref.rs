//! A small reference parser of the WHATWG event-stream format ("interpreting an event
//! stream"), written for clarity and nothing else: the whole input at once, one line at a
//! time, with the standard's buffers as plain vectors. The fuzz target compares the
//! crate's incremental decoder with it.
//!
//! It works on bytes: every byte the rules look at is ASCII, so splitting raw bytes and
//! decoding values afterwards gives what decoding first would.

/// One dispatched event, as the reference sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefEvent {
    /// The type: the event type buffer, or `message` when it was empty.
    pub event_type: String,
    /// The data buffer without its final LF.
    pub data: Vec<u8>,
    /// The last event ID string when the event was dispatched; `None` when empty.
    pub last_event_id: Option<String>,
    /// The valid `retry` field of the event's own block, if any.
    pub retry: Option<u64>,
}

/// What the whole stream gave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefStream {
    /// The dispatched events, in order.
    pub events: Vec<RefEvent>,
    /// The last event ID string at the end of the stream; `None` when empty.
    pub last_event_id: Option<String>,
    /// The reconnection time: the last valid `retry` of the stream.
    pub retry: Option<u64>,
}

fn text(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        None
    } else {
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// Splits the stream into complete lines. A line ends at CRLF, LF or CR; whatever
/// follows the last line end is an unfinished line, which the end of the stream
/// discards.
fn complete_lines(mut input: &[u8]) -> Vec<&[u8]> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    if input.starts_with(BOM) {
        input = &input[BOM.len()..];
    }
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\n' => {
                lines.push(&input[start..i]);
                i += 1;
                start = i;
            }
            b'\r' => {
                lines.push(&input[start..i]);
                i += 1;
                if input.get(i) == Some(&b'\n') {
                    i += 1;
                }
                start = i;
            }
            _ => i += 1,
        }
    }
    lines
}

/// Parses a whole stream.
pub fn parse(input: &[u8]) -> RefStream {
    let mut out = RefStream::default();
    let mut data: Vec<u8> = Vec::new();
    let mut event_type: Vec<u8> = Vec::new();
    let mut id_buffer: Vec<u8> = Vec::new();
    let mut id_string: Vec<u8> = Vec::new();
    let mut block_retry: Option<u64> = None;

    for line in complete_lines(input) {
        if line.is_empty() {
            // Dispatch.
            id_string = id_buffer.clone();
            let retry = block_retry.take();
            if data.is_empty() {
                event_type.clear();
                continue;
            }
            if data.last() == Some(&b'\n') {
                data.pop();
            }
            let ty = if event_type.is_empty() {
                "message".to_owned()
            } else {
                String::from_utf8_lossy(&event_type).into_owned()
            };
            out.events.push(RefEvent {
                event_type: ty,
                data: std::mem::take(&mut data),
                last_event_id: text(&id_string),
                retry,
            });
            event_type.clear();
            continue;
        }
        if line[0] == b':' {
            continue; // a comment
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let mut value = &line[colon + 1..];
                if value.first() == Some(&b' ') {
                    value = &value[1..];
                }
                (&line[..colon], value)
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                data.extend_from_slice(value);
                data.push(b'\n');
            }
            b"event" => event_type = value.to_vec(),
            b"id" if !value.contains(&0) => {
                id_buffer = value.to_vec();
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let mut ms: u64 = 0;
                for d in value {
                    ms = ms.saturating_mul(10).saturating_add(u64::from(d - b'0'));
                }
                out.retry = Some(ms);
                block_retry = Some(ms);
            }
            _ => {}
        }
    }
    out.last_event_id = text(&id_string);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_streams() {
        let s =
            parse(b"\xEF\xBB\xBFid: 1\r\ndata: a\rdata\n\nretry: 7\nid:\ndata: x\n\ndata: lost");
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.events[0].data, b"a\n");
        assert_eq!(s.events[0].last_event_id.as_deref(), Some("1"));
        assert_eq!(s.events[1].last_event_id, None);
        assert_eq!(s.events[1].retry, Some(7));
        assert_eq!(s.retry, Some(7));
    }
}
