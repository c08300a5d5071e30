//! The encoder: events to WHATWG event-stream frames.
//!
//! A data payload holding CR, LF or CRLF is written as several `data:` lines, so the
//! decoder joins it back with LF; MCP's JSON (compact serde output) never holds raw line
//! breaks, so a message is one `data:` line.

/// Why a field could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An `id` or `event` holds CR, LF or NUL, which would end the field early (an `id`
    /// with NUL is ignored by decoders).
    #[error("an SSE id or event name must not contain CR, LF or NUL")]
    ForbiddenByte,
}

/// One event to write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `id` field (the resumption cursor), if any.
    pub id: Option<&'a str>,
    /// The `event` field (the type), if any. MCP SDKs write `message`.
    pub event: Option<&'a str>,
    /// The `retry` field, in milliseconds, if any.
    pub retry: Option<u64>,
    /// The payload; UTF-8 text. Empty data with an id is a priming event.
    pub data: &'a [u8],
}

impl<'a> Event<'a> {
    /// An MCP message event: `event: message` and the JSON text as data.
    pub fn message(json: &'a [u8]) -> Self {
        Self {
            event: Some("message"),
            data: json,
            ..Self::default()
        }
    }

    /// Appends the event's frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.check()?;
        out.reserve(self.encoded_len());
        self.write(out);
        Ok(())
    }

    /// The event's frame as a new buffer, allocated at its length: a frame kept for
    /// replay holds what is counted, not a doubled capacity.
    pub fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        self.check()?;
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write(&mut out);
        Ok(out)
    }

    /// An `id` or `event` with a line break or NUL cannot be written.
    fn check(&self) -> Result<(), EncodeError> {
        let bad = |s: &str| memchr::memchr3(b'\r', b'\n', 0, s.as_bytes()).is_some();
        if self.id.is_some_and(bad) || self.event.is_some_and(bad) {
            return Err(EncodeError::ForbiddenByte);
        }
        Ok(())
    }

    /// The frame, as [`to_vec`](Self::to_vec) writes it, of an event whose `id` and
    /// `event` the caller wrote itself and knows to hold no CR, LF or NUL (the server's
    /// own ids): the check is skipped (kept in debug builds).
    pub(crate) fn trusted_frame(&self) -> Vec<u8> {
        debug_assert_eq!(self.check(), Ok(()));
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write(&mut out);
        out
    }

    /// Writes the fields (checked) into `out`.
    fn write(&self, out: &mut Vec<u8>) {
        match self.event {
            // Every MCP message event: one copy instead of three.
            Some("message") => out.extend_from_slice(b"event: message\n"),
            Some(event) => push_field(out, b"event", event.as_bytes()),
            None => {}
        }
        if let Some(id) = self.id {
            push_field(out, b"id", id.as_bytes());
        }
        if let Some(retry) = self.retry {
            let mut digits = [0u8; 20];
            push_field(out, b"retry", decimal(retry, &mut digits));
        }
        // Split on CRLF, CR or LF; each line becomes a `data:` field.
        let mut rest = self.data;
        loop {
            match memchr::memchr2(b'\r', b'\n', rest) {
                None => {
                    push_field(out, b"data", rest);
                    break;
                }
                Some(i) => {
                    push_field(out, b"data", &rest[..i]);
                    let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                    rest = &rest[i + skip..];
                }
            }
        }
        out.push(b'\n');
    }

    /// The frame's length: exact for data without line breaks (every MCP message), at
    /// most 7 bytes over per CRLF otherwise.
    pub fn encoded_len(&self) -> usize {
        let field = |name: &str, value: usize| name.len() + if value == 0 { 2 } else { 3 + value };
        let mut n = 1; // the blank line that ends the event
        if let Some(event) = self.event {
            n += field("event", event.len());
        }
        if let Some(id) = self.id {
            n += field("id", id.len());
        }
        if let Some(retry) = self.retry {
            n += field("retry", decimal(retry, &mut [0u8; 20]).len());
        }
        let breaks = memchr::memchr2_iter(b'\r', b'\n', self.data).count();
        // Each line is `data: line\n` (`data:\n` when empty): at most 7 bytes besides
        // the line.
        n + field("data", self.data.len() - breaks) + 7 * breaks
    }
}

/// `n` in decimal, written at the end of `buf`.
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    if value.is_empty() {
        // `data:` alone is an empty line of data; no space needed.
        out.extend_from_slice(b":\n");
        return;
    }
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// A comment frame (`: text`), which decoders ignore; useful as a keep-alive.
pub fn comment(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 4);
    for line in text.split(['\r', '\n']) {
        out.extend_from_slice(b": ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_is_exact_without_line_breaks() {
        for (id, retry, data) in [
            (None, None, &b"{}"[..]),
            (
                Some("0123456789abcdef0123456789abcdef/42"),
                None,
                &b"{\"x\":1}"[..],
            ),
            (Some("1"), Some(1500), &b""[..]),
        ] {
            let ev = Event {
                id,
                event: Some("message"),
                retry,
                data,
            };
            let v = ev.to_vec().unwrap();
            assert_eq!(v.len(), ev.encoded_len());
            assert_eq!(v.capacity(), v.len(), "no slack: {v:?}");
        }
        let ev = Event::message(b"a\r\nb\rc\n");
        assert!(ev.to_vec().unwrap().len() <= ev.encoded_len());
        let big = vec![b'x'; 1 << 20];
        let v = Event::message(&big).to_vec().unwrap();
        assert_eq!(v.capacity(), v.len(), "a 1 MiB event holds 1 MiB");
    }

    #[test]
    fn writes_a_message_event() {
        let f = Event::message(br#"{"a":1}"#).to_vec().unwrap();
        assert_eq!(f, b"event: message\ndata: {\"a\":1}\n\n");
        // The trusted path writes the same bytes, for any event name.
        for event in [Some("message"), Some("other"), None] {
            let ev = Event {
                id: Some("n.s-1-2"),
                event,
                retry: Some(1000),
                data: b"x\ny",
            };
            assert_eq!(ev.trusted_frame(), ev.to_vec().unwrap(), "{event:?}");
        }
    }

    #[test]
    fn splits_data_on_every_line_end() {
        let e = Event {
            data: b"a\r\nb\rc\nd",
            ..Event::default()
        };
        assert_eq!(
            e.to_vec().unwrap(),
            b"data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        let e = Event {
            data: b"a\n",
            ..Event::default()
        };
        assert_eq!(e.to_vec().unwrap(), b"data: a\ndata:\n\n");
    }

    #[test]
    fn writes_a_priming_event_with_retry() {
        let e = Event {
            id: Some("s1-0"),
            retry: Some(1500),
            data: b"",
            ..Event::default()
        };
        assert_eq!(e.to_vec().unwrap(), b"id: s1-0\nretry: 1500\ndata:\n\n");
    }

    #[test]
    fn refuses_line_breaks_in_id_and_event() {
        let e = Event {
            id: Some("a\nb"),
            ..Event::default()
        };
        assert_eq!(e.to_vec(), Err(EncodeError::ForbiddenByte));
        let e = Event {
            event: Some("a\0"),
            ..Event::default()
        };
        assert_eq!(e.to_vec(), Err(EncodeError::ForbiddenByte));
    }

    #[test]
    fn comments_cover_every_line() {
        assert_eq!(comment("ka\nx"), b": ka\n: x\n\n");
    }
}
