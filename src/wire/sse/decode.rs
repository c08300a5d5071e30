//! The decoder: a `text/event-stream` body, chunk by chunk, into events.
//!
//! It implements the WHATWG HTML standard, section 9.2.6 "Interpreting an event stream"
//! (<https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>);
//! the rule each branch implements is quoted next to it.
//!
//! # Bytes, text and copies
//!
//! The standard decodes the stream as UTF-8 (invalid sequences become U+FFFD) and then
//! splits lines and fields. Every byte the rules look at (CR, LF, `:`, space, NUL, the
//! field names, digits) is ASCII, and an ASCII byte always ends a broken UTF-8 sequence,
//! so splitting the raw bytes first and decoding each value afterwards gives the same
//! text. The decoder therefore works on bytes and hands out [`Bytes`] slices of the input;
//! the text accessors ([`DecodedEvent::data`] ...) decode with replacement, borrowing when
//! the bytes are valid UTF-8 (always, for a correct server).
//!
//! A line that lies inside one chunk given to [`Decoder::feed_bytes`] is never copied:
//! its value is a slice of that chunk. [`Decoder::feed`] copies the chunk once. A line
//! split across chunks is copied once into a line buffer, and `data` of several lines is
//! copied once more, to join it.

use std::borrow::Cow;
use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// The UTF-8 byte order mark, skipped once at the very start of the stream.
const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// Why the decoder stopped. After an error every later call returns the same error: a
/// stream the decoder refused cannot be resumed mid-way, so drop the connection (and
/// reconnect with [`Decoder::last_event_id`], if the stream is resumable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// One line, or the `data` of one event, is longer than the decoder's
    /// `max_event_bytes`. The peer sent more than this client accepts for one message.
    #[error(
        "an SSE line or event is longer than {limit} bytes; drop the stream or raise max_event_bytes"
    )]
    EventTooLarge {
        /// The configured `max_event_bytes`.
        limit: usize,
    },
    /// [`Decoder::feed`] or [`Decoder::feed_bytes`] was called after [`Decoder::finish`].
    /// A decoder reads one stream; use a new one for the next connection.
    #[error("SSE input fed after finish(); use a new Decoder for each stream")]
    FedAfterFinish,
}

/// One dispatched event (a WHATWG `MessageEvent`).
///
/// Equality compares the raw bytes. An event whose data is empty (a `data:` line with
/// nothing after it, as in MCP's priming event) is dispatched too; it carries no JSON-RPC
/// message (`INV-C13`), so check [`DecodedEvent::data_bytes`] before parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedEvent {
    /// The `event` field's value; empty for the default, `message`.
    event_type: Bytes,
    data: Bytes,
    last_event_id: Bytes,
    retry: Option<u64>,
}

impl DecodedEvent {
    /// The event type: the value of the event's last `event` field, or `message` when it
    /// had none or an empty one (the WHATWG default). MCP servers send `message`.
    pub fn event_type(&self) -> Cow<'_, str> {
        match &self.event_type[..] {
            b"" => Cow::Borrowed("message"),
            name => text(name),
        }
    }

    /// Whether the event type is `message`, explicit or by default.
    pub fn is_message(&self) -> bool {
        self.event_type.is_empty()
    }

    /// The data as text: the `data` lines joined with LF, invalid UTF-8 replaced by
    /// U+FFFD. Borrows when the bytes are valid UTF-8.
    pub fn data(&self) -> Cow<'_, str> {
        text(&self.data)
    }

    /// The data's raw bytes (for `serde_json::from_slice`), without a copy.
    pub fn data_bytes(&self) -> &Bytes {
        &self.data
    }

    /// The data's raw bytes, owned.
    pub fn into_data(self) -> Bytes {
        self.data
    }

    /// The last event id when this event was dispatched: set by this event's `id` field
    /// or by an earlier one (it persists across events). `None` when no id was set yet,
    /// or the last `id` field was empty (which clears it).
    pub fn last_event_id(&self) -> Option<Cow<'_, str>> {
        lossy(&self.last_event_id)
    }

    /// The reconnection time, in milliseconds, from this event's own `retry` field, if it
    /// had a valid one. [`Decoder::retry`] also keeps `retry` from blocks that were not
    /// dispatched.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }
}

/// The standard's UTF-8 decode: invalid sequences become U+FFFD. Borrows valid text.
fn text(bytes: &[u8]) -> Cow<'_, str> {
    // `from_utf8` has a fast path for ASCII that `from_utf8_lossy` lacks (several times
    // faster on JSON); the lossy pass runs only on invalid input.
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

fn lossy(bytes: &[u8]) -> Option<Cow<'_, str>> {
    (!bytes.is_empty()).then(|| text(bytes))
}

/// An incremental SSE decoder for one stream (one HTTP response body).
///
/// Give it the body's chunks as they arrive with [`feed`](Self::feed) (or
/// [`feed_bytes`](Self::feed_bytes), which copies nothing), then call
/// [`next_event`](Self::next_event) until it returns `Ok(None)`. When the body ends, call
/// [`finish`](Self::finish) and drain once more: an event the stream did not end with a
/// blank line is discarded, as the standard requires. A client that reconnects reads
/// [`last_event_id`](Self::last_event_id) (for `Last-Event-ID`) and
/// [`retry`](Self::retry) (how long to wait) from here, and uses a new decoder for the
/// new stream.
///
/// ```
/// use mcp_http_proto::wire::sse::Decoder;
///
/// let mut decoder = Decoder::new();
/// let mut events = Vec::new();
/// for chunk in [&b"id: 1\nretry: 500\ndata:\n\nevent: message\r"[..], b"\ndata: {}\n\nda"] {
///     decoder.feed(chunk);
///     while let Some(event) = decoder.next_event()? {
///         events.push(event);
///     }
/// }
/// decoder.finish();
/// assert_eq!(decoder.next_event()?, None); // the unfinished `da` is dropped
/// assert_eq!(events.len(), 2);
/// assert!(events[0].data_bytes().is_empty()); // the priming event
/// assert_eq!(events[1].data(), "{}");
/// assert_eq!(events[1].last_event_id().as_deref(), Some("1"));
/// assert_eq!(decoder.retry(), Some(500));
/// # Ok::<(), mcp_http_proto::wire::sse::DecodeError>(())
/// ```
///
/// Memory is bounded by `max_event_bytes` (a line, or the data of an event, longer than
/// that is a [`DecodeError::EventTooLarge`]), plus the chunks fed and not yet drained.
#[derive(Debug, Clone)]
pub struct Decoder {
    max_event_bytes: usize,
    /// The chunk being read and how far; more chunks queue behind it.
    current: Bytes,
    pos: usize,
    queued: VecDeque<Bytes>,
    /// The start of a line whose end has not arrived yet.
    partial: BytesMut,
    /// How many bytes of a BOM were matched at the start of the stream; `None` once the
    /// start of the stream has been decided.
    bom: Option<usize>,
    /// The last line ended with CR at the end of a chunk: a LF starting the next one
    /// belongs to it.
    after_cr: bool,
    finished: bool,
    error: Option<DecodeError>,
    fields: Buffers,
}

/// The standard's buffers, plus the reconnection time.
#[derive(Debug, Clone, Default)]
struct Buffers {
    data: Data,
    /// The event type buffer; empty for `message`.
    event_type: Bytes,
    /// An `id` seen since the last blank line: the last event ID buffer when it differs
    /// from the last event ID string.
    pending_id: Option<Bytes>,
    /// The last event ID string: the buffer's value at the last blank line.
    last_event_id: Bytes,
    /// A valid `retry` in the current block.
    block_retry: Option<u64>,
    /// The reconnection time: the last valid `retry` of the stream.
    retry: Option<u64>,
}

/// The data buffer. `None` and `One(empty)` differ: a `data` line with an empty value
/// still makes an event.
#[derive(Debug, Clone, Default)]
enum Data {
    #[default]
    None,
    /// One line: a slice of the input.
    One(Bytes),
    /// Several lines, joined with LF.
    Many(BytesMut),
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// The default bound on one line or one event's data: 4 MiB, the server's default
    /// body limit.
    pub const DEFAULT_MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

    /// A decoder at the start of a stream, with the default bound.
    pub fn new() -> Self {
        Self::with_max_event_bytes(Self::DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that refuses a line, or an event's data, longer than `max_event_bytes`.
    pub fn with_max_event_bytes(max_event_bytes: usize) -> Self {
        Self {
            max_event_bytes,
            current: Bytes::new(),
            pos: 0,
            queued: VecDeque::new(),
            partial: BytesMut::new(),
            bom: Some(0),
            after_cr: false,
            finished: false,
            error: None,
            fields: Buffers::default(),
        }
    }

    // --- getters ---

    /// The bound on one line or one event's data, in bytes.
    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// The last event id: what a reconnecting client sends as `Last-Event-ID`.
    ///
    /// As in the standard, this is the value of the last `id` field (without NUL) as of
    /// the last blank line, whether or not that blank line dispatched an event: a priming
    /// block `id: x` + blank line sets it (`INV-C13`). An `id` not yet followed by a blank
    /// line does not count. `None` before any id, or after an empty `id` field.
    pub fn last_event_id(&self) -> Option<Cow<'_, str>> {
        lossy(&self.fields.last_event_id)
    }

    /// The reconnection time in milliseconds: the stream's last valid `retry` field (all
    /// ASCII digits; a value past `u64::MAX` saturates), whether or not its event was
    /// dispatched. `None` if there was none; the client then picks its own delay.
    pub fn retry(&self) -> Option<u64> {
        self.fields.retry
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    // --- input ---

    /// Gives the decoder the next chunk of the body (copied once). Call
    /// [`next_event`](Self::next_event) until `Ok(None)` afterwards.
    pub fn feed(&mut self, chunk: &[u8]) {
        if !chunk.is_empty() || self.finished {
            self.feed_bytes(Bytes::copy_from_slice(chunk));
        }
    }

    /// Gives the decoder the next chunk of the body, without copying it: the events'
    /// values are slices of it. Call [`next_event`](Self::next_event) until `Ok(None)`
    /// afterwards.
    pub fn feed_bytes(&mut self, chunk: Bytes) {
        if self.finished {
            self.error.get_or_insert(DecodeError::FedAfterFinish);
            return;
        }
        if chunk.is_empty() {
            return;
        }
        if self.pos == self.current.len() && self.queued.is_empty() {
            self.current = chunk;
            self.pos = 0;
        } else {
            self.queued.push_back(chunk);
        }
    }

    /// The body has ended. Events completed by what was fed are still returned by
    /// [`next_event`](Self::next_event); then, per the standard, "if the file ends in the
    /// middle of an event, before the final empty line, the incomplete event is not
    /// dispatched". [`last_event_id`](Self::last_event_id) and [`retry`](Self::retry)
    /// stay readable.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    // --- output ---

    /// The next complete event, `Ok(None)` when the input fed so far holds no more.
    ///
    /// # Errors
    ///
    /// [`DecodeError::EventTooLarge`] when a line or an event's data passes
    /// `max_event_bytes`; [`DecodeError::FedAfterFinish`] on input after
    /// [`finish`](Self::finish). Events before the fault are returned first; after it,
    /// every call returns the same error.
    pub fn next_event(&mut self) -> Result<Option<DecodedEvent>, DecodeError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        self.run()
    }

    #[inline(always)] // one caller; the event goes straight to its return slot
    fn run(&mut self) -> Result<Option<DecodedEvent>, DecodeError> {
        loop {
            if self.pos == self.current.len() {
                if let Some(next) = self.queued.pop_front() {
                    self.current = next;
                    self.pos = 0;
                    continue;
                }
                self.current = Bytes::new();
                self.pos = 0;
                if self.finished {
                    // "Once the end of the file is reached, any pending data must be
                    // discarded."
                    self.partial = BytesMut::new();
                    self.fields.discard_event();
                }
                return Ok(None);
            }
            if let Some(matched) = self.bom {
                self.skip_bom(matched);
                continue;
            }
            if self.after_cr {
                self.after_cr = false;
                if self.current[self.pos] == b'\n' {
                    // The LF of a CRLF whose CR ended the previous chunk.
                    self.pos += 1;
                    continue;
                }
            }

            // A blank line (the end of nearly every event): dispatch without a scan.
            let first = self.current[self.pos];
            if (first == b'\n' || first == b'\r') && self.partial.is_empty() {
                self.pass_line_end(self.pos);
                match self.fields.dispatch() {
                    Some(event) => return Ok(Some(event)),
                    None => continue,
                }
            }

            let rest = &self.current[self.pos..];
            let Some(len) = find_line_end(rest) else {
                // No line end in this chunk: keep the start of the line.
                if self.partial.len() + rest.len() > self.max_event_bytes {
                    return Err(self.fail(self.too_large()));
                }
                self.partial.extend_from_slice(rest);
                self.pos = self.current.len();
                continue;
            };
            let (start, end) = (self.pos, self.pos + len);
            self.pass_line_end(end);
            let dispatched = if self.partial.is_empty() {
                if len > self.max_event_bytes {
                    return Err(self.fail(self.too_large()));
                }
                self.fields
                    .line(&self.current, start, end, self.max_event_bytes)
            } else {
                if self.partial.len() + len > self.max_event_bytes {
                    return Err(self.fail(self.too_large()));
                }
                self.partial.extend_from_slice(&self.current[start..end]);
                let line = self.partial.split().freeze();
                self.fields.line(&line, 0, line.len(), self.max_event_bytes)
            };
            let dispatched = match dispatched {
                Ok(dispatched) => dispatched,
                Err(error) => return Err(self.fail(error)),
            };
            if dispatched.is_some() {
                return Ok(dispatched);
            }
        }
    }

    /// Moves past the line end at `at`, a CR or a LF. "Lines must be separated by either a
    /// U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single U+000A LINE
    /// FEED (LF) character, or a single U+000D CARRIAGE RETURN (CR) character."
    #[inline]
    fn pass_line_end(&mut self, at: usize) {
        self.pos = at + 1;
        if self.current[at] == b'\r' {
            match self.current.get(self.pos) {
                Some(b'\n') => self.pos += 1,
                Some(_) => {}
                // The LF of this CRLF, if any, starts the next chunk.
                None => self.after_cr = true,
            }
        }
    }

    /// The standard's UTF-8 decode strips one BOM at the start of the stream only. The
    /// first three bytes may come in separate chunks.
    fn skip_bom(&mut self, mut matched: usize) {
        while matched < BOM.len() {
            let Some(&byte) = self.current.get(self.pos) else {
                self.bom = Some(matched); // wait for the next chunk
                return;
            };
            if byte != BOM[matched] {
                // Not a BOM: the bytes matched so far start the first line.
                self.partial.extend_from_slice(&BOM[..matched]);
                self.bom = None;
                return;
            }
            matched += 1;
            self.pos += 1;
        }
        self.bom = None;
    }

    fn too_large(&self) -> DecodeError {
        DecodeError::EventTooLarge {
            limit: self.max_event_bytes,
        }
    }

    /// Records the error every later call returns, and drops everything buffered.
    #[cold]
    fn fail(&mut self, error: DecodeError) -> DecodeError {
        self.error = Some(error);
        self.release();
        error
    }

    /// After an error: drop everything buffered.
    fn release(&mut self) {
        self.current = Bytes::new();
        self.pos = 0;
        self.queued = VecDeque::new();
        self.partial = BytesMut::new();
        self.fields.discard_event();
    }
}

impl Buffers {
    /// Processes one complete line, `src[start..end]`, without its line end.
    #[inline(always)] // two callers in the hot loop; the event is built in place
    fn line(
        &mut self,
        src: &Bytes,
        start: usize,
        end: usize,
        max: usize,
    ) -> Result<Option<DecodedEvent>, DecodeError> {
        let line = &src[start..end];
        // Fast paths for the lines of an MCP event (the general rules below give the same
        // result): `data:` and `id:` (a name directly followed by the first colon), and
        // `event: message`, the default type.
        if let Some(after) = line.strip_prefix(b"data:") {
            let value = start + 5 + usize::from(after.first() == Some(&b' '));
            self.push_data(src, value, end, max)?;
            return Ok(None);
        }
        if let Some(after) = line.strip_prefix(b"id:") {
            let value = start + 3 + usize::from(after.first() == Some(&b' '));
            self.set_id(src, value, end);
            return Ok(None);
        }
        if line == b"event: message" {
            if !self.event_type.is_empty() {
                self.event_type = Bytes::new();
            }
            return Ok(None);
        }
        // "If the line is empty (a blank line): Dispatch the event."
        let Some(&first) = line.first() else {
            return Ok(self.dispatch());
        };
        // "If the line starts with a U+003A COLON character (:): Ignore the line."
        if first == b':' {
            return Ok(None);
        }
        // "If the line contains a U+003A COLON character (:): Collect the characters on the
        // line before the first U+003A COLON character (:), and let field be that string.
        // Collect the characters on the line after the first U+003A COLON character (:),
        // and let value be that string. If value starts with a U+0020 SPACE character,
        // remove it from value."
        // "Otherwise, the string is not empty but does not contain a U+003A COLON character
        // (:): process the field using the whole line as the field name, and the empty
        // string as the field value."
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = start + colon + 1;
                let space = usize::from(value < end && src[value] == b' ');
                (&line[..colon], value + space)
            }
            None => (line, end),
        };
        match name {
            // "If the field name is "data": Append the field value to the data buffer, then
            // append a single U+000A LINE FEED (LF) character to the data buffer."
            b"data" => self.push_data(src, value, end, max)?,
            // "If the field name is "event": Set the event type buffer to field value."
            b"event" => {
                // Kept empty for `message`, the default, so equal events compare equal.
                self.event_type = if &src[value..end] == b"message" {
                    Bytes::new()
                } else {
                    src.slice(value..end)
                };
            }
            b"id" => self.set_id(src, value, end),
            // "If the field name is "retry": If the field value consists of only ASCII
            // digits, then interpret the field value as an integer in base ten, and set the
            // event stream's reconnection time to that integer. Otherwise, ignore the
            // field."
            b"retry" => {
                if let Some(ms) = parse_retry(&src[value..end]) {
                    self.retry = Some(ms);
                    self.block_retry = Some(ms);
                }
            }
            // "Otherwise: The field is ignored."
            _ => {}
        }
        Ok(None)
    }

    /// "If the field name is "id": If the field value does not contain U+0000 NULL, then
    /// set the last event ID buffer to the field value. Otherwise, ignore the field."
    /// (The NUL test has no early exit, so it vectorizes; ids are short.)
    #[inline(always)]
    fn set_id(&mut self, src: &Bytes, start: usize, end: usize) {
        if !src[start..end].iter().fold(false, |nul, &b| nul | (b == 0)) {
            self.pending_id = Some(src.slice(start..end));
        }
    }

    fn push_data(
        &mut self,
        src: &Bytes,
        start: usize,
        end: usize,
        max: usize,
    ) -> Result<(), DecodeError> {
        match &mut self.data {
            Data::None => self.data = Data::One(src.slice(start..end)),
            Data::One(first) => {
                let len = first.len() + 1 + (end - start);
                if len > max {
                    return Err(DecodeError::EventTooLarge { limit: max });
                }
                let mut joined = BytesMut::with_capacity(len);
                joined.extend_from_slice(first);
                joined.extend_from_slice(b"\n");
                joined.extend_from_slice(&src[start..end]);
                self.data = Data::Many(joined);
            }
            Data::Many(joined) => {
                if joined.len() + 1 + (end - start) > max {
                    return Err(DecodeError::EventTooLarge { limit: max });
                }
                joined.extend_from_slice(b"\n");
                joined.extend_from_slice(&src[start..end]);
            }
        }
        Ok(())
    }

    /// A blank line.
    #[inline(always)]
    fn dispatch(&mut self) -> Option<DecodedEvent> {
        // "1. Set the last event ID string of the event source to the value of the last
        // event ID buffer. The buffer does not get reset, so the last event ID string of
        // the event source remains set to this value until the next time it is set by the
        // server."
        if let Some(id) = self.pending_id.take() {
            self.last_event_id = id;
        }
        let retry = self.block_retry.take();
        // "2. If the data buffer is an empty string, set the data buffer and the event
        // type buffer to the empty string and return."
        // "3. If the data buffer's last character is a U+000A LINE FEED (LF) character,
        // then remove the last character from the data buffer." (Our buffer holds the
        // lines joined, without that final LF.)
        let data = match std::mem::take(&mut self.data) {
            Data::None => {
                self.event_type = Bytes::new();
                return None;
            }
            Data::One(line) => line,
            Data::Many(joined) => joined.freeze(),
        };
        // "5. If the event type buffer has a value other than the empty string, change the
        // type of the newly created event to equal the value of the event type buffer."
        // "6. Set the data buffer and the event type buffer to the empty string."
        Some(DecodedEvent {
            event_type: std::mem::take(&mut self.event_type),
            data,
            last_event_id: self.last_event_id.clone(),
            retry,
        })
    }

    /// The end of the stream, or an error: the event being built is dropped; the last
    /// event id and the reconnection time stay.
    fn discard_event(&mut self) {
        self.data = Data::None;
        self.event_type = Bytes::new();
        self.pending_id = None;
        self.block_retry = None;
    }
}

/// `retry`: only ASCII digits, at least one; saturates past `u64::MAX`.
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |ms, &d| {
        ms.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The index of the first CR or LF.
///
/// Blocks of bytes at a time, with a branch-free test ([`has_line_end`]) the compiler turns
/// into vector compares: 32-byte blocks over the first 512 bytes (most lines are short),
/// then 128-byte blocks. In the block that hits, and in the tail, 8 bytes at a time as a
/// `u64`. About 5 GB/s on short lines and 25 GB/s on long ones, without `unsafe`.
#[inline]
fn find_line_end(hay: &[u8]) -> Option<usize> {
    const SHORT: usize = 512;
    let (head, tail) = hay.split_at(hay.len().min(SHORT));
    let mut offset = 0;
    let mut blocks = head.chunks_exact(32);
    for block in &mut blocks {
        if has_line_end(block) {
            return find_in_words(block).map(|i| offset + i);
        }
        offset += 32;
    }
    if tail.is_empty() {
        return find_in_words(blocks.remainder()).map(|i| offset + i);
    }
    // A long line: `head` was whole 32-byte blocks without a line end.
    let mut blocks = tail.chunks_exact(128);
    for block in &mut blocks {
        if has_line_end(block) {
            return find_in_words(block).map(|i| offset + i);
        }
        offset += 128;
    }
    let mut blocks = blocks.remainder().chunks_exact(32);
    for block in &mut blocks {
        if has_line_end(block) {
            return find_in_words(block).map(|i| offset + i);
        }
        offset += 32;
    }
    find_in_words(blocks.remainder()).map(|i| offset + i)
}

/// Whether `block` holds a CR or a LF; no early exit, so that it vectorizes.
#[inline(always)]
fn has_line_end(block: &[u8]) -> bool {
    block
        .iter()
        .fold(0u8, |hit, &b| hit | u8::from((b == b'\n') | (b == b'\r')))
        != 0
}

/// [`find_line_end`] on a short slice, a word at a time ("has a zero byte" on the word
/// XOR each line end: the lowest flagged byte is always a true match).
#[inline]
fn find_in_words(hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let flags = |word: u64| {
        let (lf, cr) = (
            word ^ (LO * u64::from(b'\n')),
            word ^ (LO * u64::from(b'\r')),
        );
        ((lf.wrapping_sub(LO) & !lf) | (cr.wrapping_sub(LO) & !cr)) & HI
    };
    let mut words = hay.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut bytes = [0; 8];
        bytes.copy_from_slice(word);
        let flagged = flags(u64::from_le_bytes(bytes));
        if flagged != 0 {
            return Some(offset + flagged.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_line_ends_in_every_position() {
        // Fillers next to the line ends' values, and ones that trip a naive word test.
        for fill in [b'x', 0x00, 0x01, 0x0B, 0x0C, 0x0E, 0x8A, 0x8D, 0xFF] {
            for len in 0..100 {
                for at in 0..len {
                    for eol in [b'\n', b'\r'] {
                        let mut hay = vec![fill; len];
                        hay[at] = eol;
                        assert_eq!(find_line_end(&hay), Some(at), "len {len} at {at}");
                        // A second line end later does not matter.
                        if at + 1 < len {
                            hay[len - 1] = b'\r';
                            assert_eq!(find_line_end(&hay), Some(at), "len {len} at {at}");
                        }
                    }
                }
                assert_eq!(find_line_end(&vec![fill; len]), None);
            }
        }
    }

    #[test]
    fn finds_line_ends_in_long_lines() {
        // Around the switch to 128-byte blocks at 512, and past it.
        for len in [511, 512, 513, 544, 639, 640, 641, 672, 700, 1100] {
            for at in 0..len {
                let mut hay = vec![b'x'; len];
                hay[at] = if at % 2 == 0 { b'\n' } else { b'\r' };
                assert_eq!(find_line_end(&hay), Some(at), "len {len} at {at}");
            }
            assert_eq!(find_line_end(&vec![0x8A; len]), None);
        }
    }

    #[test]
    fn retry_needs_digits_and_saturates() {
        assert_eq!(parse_retry(b"1500"), Some(1500));
        assert_eq!(parse_retry(b"007"), Some(7));
        assert_eq!(parse_retry(b""), None);
        assert_eq!(parse_retry(b"15 "), None);
        assert_eq!(parse_retry(b"-1"), None);
        assert_eq!(parse_retry(b"1e3"), None);
        assert_eq!(parse_retry(b"99999999999999999999999"), Some(u64::MAX));
    }
}
