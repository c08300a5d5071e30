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
//! its value is a slice of that chunk. [`Decoder::feed`] copies the chunk once. The value
//! of a `data` line split across chunks, and `data` of several lines, is copied once into
//! the data buffer, and checked for UTF-8 piece by piece as it is copied (while it is in
//! the cache), so that [`DecodedEvent::data`] then borrows it without a second check.
//! Another line split across chunks is copied once into a line buffer.
//!
//! # Speed
//!
//! Line ends are found with `memchr` (SIMD, chosen at run time) and UTF-8 is checked with
//! `simdutf8`; both hold the `unsafe` they need, this module none. The lines of an MCP
//! event lying in one chunk (`event: message`, `id`, `data`, a blank line) take a short
//! path ([`Decoder::whole_lines`]); events share nothing but a reference count on their
//! chunk, and the last event id is kept as a position in the current chunk until the
//! chunk goes. `benches/sse_decode.rs` compares this with the decoders Rust MCP clients
//! use.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

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
#[derive(Clone)]
pub struct DecodedEvent {
    /// The `event` field's value; empty for the default, `message`.
    event_type: Bytes,
    data: Bytes,
    /// The same bytes as `data`, as text, when the decoder already checked they are
    /// valid UTF-8 (data it had to copy, as it copied it: a line split across chunks, or
    /// several lines). `data` is then a view of this `String`.
    data_text: Option<Arc<String>>,
    last_event_id: EventId,
    retry: Option<u64>,
}

impl PartialEq for DecodedEvent {
    fn eq(&self, other: &Self) -> bool {
        // `data_text` only caches what `data` holds.
        self.event_type == other.event_type
            && self.data == other.data
            && self.last_event_id == other.last_event_id
            && self.retry == other.retry
    }
}

impl Eq for DecodedEvent {}

impl std::fmt::Debug for DecodedEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `data_text` only caches what `data` holds.
        f.debug_struct("DecodedEvent")
            .field("event_type", &self.event_type)
            .field("data", &self.data)
            .field("last_event_id", &self.last_event_id)
            .field("retry", &self.retry)
            .finish()
    }
}

impl DecodedEvent {
    /// The event type: the value of the event's last `event` field, or `message` when it
    /// had none or an empty one (the WHATWG default). MCP servers send `message`.
    #[inline]
    pub fn event_type(&self) -> Cow<'_, str> {
        match &self.event_type[..] {
            b"" => Cow::Borrowed("message"),
            name => text(name),
        }
    }

    /// Whether the event type is `message`, explicit or by default.
    #[inline]
    pub fn is_message(&self) -> bool {
        self.event_type.is_empty()
    }

    /// The data as text: the `data` lines joined with LF, invalid UTF-8 replaced by
    /// U+FFFD. Borrows when the bytes are valid UTF-8.
    #[inline]
    pub fn data(&self) -> Cow<'_, str> {
        match &self.data_text {
            Some(data) => Cow::Borrowed(data.as_str()),
            None => text(&self.data),
        }
    }

    /// The data's raw bytes (for `serde_json::from_slice`), without a copy.
    #[inline]
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
    #[inline]
    pub fn last_event_id(&self) -> Option<Cow<'_, str>> {
        lossy(self.last_event_id.as_bytes())
    }

    /// The reconnection time, in milliseconds, from this event's own `retry` field, if it
    /// had a valid one. [`Decoder::retry`] also keeps `retry` from blocks that were not
    /// dispatched.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }
}

/// The standard's UTF-8 decode: invalid sequences become U+FFFD. Borrows valid text.
#[inline]
fn text(bytes: &[u8]) -> Cow<'_, str> {
    // The check has fast paths for ASCII that `from_utf8_lossy` lacks (several times
    // faster on JSON); the lossy pass runs only on invalid input.
    match utf8(bytes) {
        Some(text) => Cow::Borrowed(text),
        None => String::from_utf8_lossy(bytes),
    }
}

/// `bytes` as text if they are valid UTF-8. Past a few dozen bytes `simdutf8` (SSE4.2 or
/// AVX2, chosen at run time) checks 3-4 times as fast as `std::str::from_utf8` on JSON;
/// on shorter values its set-up costs more than it saves.
#[inline]
fn utf8(bytes: &[u8]) -> Option<&str> {
    if bytes.len() >= 32 {
        simdutf8::basic::from_utf8(bytes).ok()
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

#[inline]
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
    /// A `data` line whose end has not arrived yet is being appended to the data buffer
    /// as it comes, rather than kept in `partial`: `Some(true)` while the space that may
    /// follow `data:` has yet to be seen.
    data_line: Option<bool>,
    /// That line's length so far, for the bound.
    data_line_len: usize,
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
    pending_id: Option<Id>,
    /// The last event ID string: the buffer's value at the last blank line.
    last_event_id: Id,
    /// A valid `retry` in the current block.
    block_retry: Option<u64>,
    /// The reconnection time: the last valid `retry` of the stream.
    retry: Option<u64>,
}

/// An id the decoder holds: its bytes, or, for one read by [`Decoder::whole_lines`], where
/// it lies in the current chunk. Each event then takes the one reference to the chunk its
/// id needs, and the decoder none, until the chunk goes ([`Buffers::detach_ids`]).
#[derive(Debug, Clone)]
enum Id {
    Bytes(Bytes),
    InChunk(usize, usize),
}

impl Default for Id {
    fn default() -> Self {
        Self::Bytes(Bytes::new())
    }
}

impl Id {
    /// The id's bytes; `chunk` is the current chunk.
    #[inline]
    fn get<'a>(&'a self, chunk: &'a Bytes) -> &'a [u8] {
        match *self {
            Self::Bytes(ref bytes) => bytes,
            Self::InChunk(start, end) => &chunk[start..end],
        }
    }

    #[inline]
    fn to_event_id(&self, chunk: &Bytes) -> EventId {
        match *self {
            Self::Bytes(ref bytes) => EventId::new(bytes),
            Self::InChunk(start, end) => {
                if end - start <= EventId::INLINE {
                    EventId::inline_at(chunk, start, end)
                } else {
                    EventId::Shared(chunk.slice(start..end))
                }
            }
        }
    }

    fn detach(&mut self, chunk: &Bytes) {
        if let Self::InChunk(start, end) = *self {
            *self = Self::Bytes(chunk.slice(start..end));
        }
    }
}

/// A [`DecodedEvent`]'s id: copied when short (an MCP id, a UUID and a counter, is), which
/// costs less than sharing the chunk, and leaves it aligned for the UTF-8 check.
#[derive(Clone)]
enum EventId {
    Inline { len: u8, buf: IdBuf },
    Shared(Bytes),
}

#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct IdBuf([u8; EventId::INLINE]);

impl EventId {
    const INLINE: usize = 48;

    #[inline]
    fn inline(bytes: &[u8]) -> Self {
        let mut buf = IdBuf([0; Self::INLINE]);
        buf.0[..bytes.len()].copy_from_slice(bytes);
        Self::Inline {
            len: bytes.len() as u8,
            buf,
        }
    }

    /// `src[start..end]`, at most [`INLINE`](Self::INLINE) bytes.
    #[inline]
    fn inline_at(src: &[u8], start: usize, end: usize) -> Self {
        match src.get(start..start + Self::INLINE) {
            // A copy of fixed length is a few moves; the bytes past `end` are not used.
            Some(window) => {
                let mut buf = IdBuf([0; Self::INLINE]);
                buf.0.copy_from_slice(window);
                Self::Inline {
                    len: (end - start) as u8,
                    buf,
                }
            }
            None => Self::inline(&src[start..end]),
        }
    }

    #[inline]
    fn new(bytes: &Bytes) -> Self {
        if bytes.len() <= Self::INLINE {
            Self::inline(bytes)
        } else {
            Self::Shared(bytes.clone())
        }
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, buf } => &buf.0[..usize::from(*len)],
            Self::Shared(bytes) => bytes,
        }
    }
}

impl PartialEq for EventId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for EventId {}

impl std::fmt::Debug for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // As `Bytes` shows itself.
        write!(f, "b\"{}\"", self.as_bytes().escape_ascii())
    }
}

/// A field [`Decoder::whole_lines`] reads.
#[derive(Clone, Copy)]
enum Field {
    Data,
    Id,
}

/// The data buffer. `None` and `One(empty)` differ: a `data` line with an empty value
/// still makes an event.
#[derive(Debug, Clone, Default)]
enum Data {
    #[default]
    None,
    /// One line: a slice of the input.
    One(Bytes),
    /// Several lines joined with LF, or one line that was split across chunks.
    Joined(Joined),
}

/// Data the decoder copies, checked for UTF-8 piece by piece while the piece is in the
/// cache, so that [`DecodedEvent::data`] does not go over it again.
#[derive(Debug, Clone, Default)]
struct Joined {
    /// The bytes so far when they are valid UTF-8 (but for `tail`).
    text: String,
    /// The first bytes of a character whose last bytes have not come yet.
    tail: [u8; 3],
    tail_len: usize,
    /// All the bytes, once one of them was not valid UTF-8 (`text` is then unused).
    raw: Option<Vec<u8>>,
}

impl Joined {
    fn len(&self) -> usize {
        match &self.raw {
            Some(raw) => raw.len(),
            None => self.text.len() + self.tail_len,
        }
    }

    /// Appends `bytes`.
    fn push(&mut self, mut bytes: &[u8]) {
        if self.raw.is_none() && self.tail_len > 0 {
            // Finish the character the last piece began.
            let width = utf8_width(self.tail[0]);
            let take = (width - self.tail_len).min(bytes.len());
            let mut char = [0; 4];
            char[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
            char[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            let have = self.tail_len + take;
            if have < width {
                self.tail[..have].copy_from_slice(&char[..have]);
                self.tail_len = have;
                return;
            }
            match std::str::from_utf8(&char[..width]) {
                Ok(char) => {
                    self.text.push_str(char);
                    self.tail_len = 0;
                    bytes = &bytes[take..];
                }
                Err(_) => self.make_raw(),
            }
        }
        if let Some(raw) = &mut self.raw {
            raw.extend_from_slice(bytes);
            return;
        }
        let whole = whole_chars(bytes);
        match utf8(&bytes[..whole]) {
            Some(text) => {
                self.text.push_str(text);
                let tail = &bytes[whole..];
                self.tail[..tail.len()].copy_from_slice(tail);
                self.tail_len = tail.len();
            }
            None => {
                self.make_raw();
                if let Some(raw) = &mut self.raw {
                    raw.extend_from_slice(bytes);
                }
            }
        }
    }

    /// Not valid UTF-8: keep the bytes only.
    #[cold]
    fn make_raw(&mut self) {
        let mut raw = std::mem::take(&mut self.text).into_bytes();
        raw.extend_from_slice(&self.tail[..self.tail_len]);
        self.tail_len = 0;
        self.raw = Some(raw);
    }

    /// The bytes, and the same as text if they are valid UTF-8.
    fn finish(mut self) -> (Bytes, Option<Arc<String>>) {
        if self.tail_len > 0 {
            self.make_raw(); // ends in the middle of a character
        }
        match self.raw {
            Some(raw) => (Bytes::from(raw), None),
            None => {
                let text = Arc::new(self.text);
                (Bytes::from_owner(SharedText(text.clone())), Some(text))
            }
        }
    }
}

/// The owner of a [`DecodedEvent`]'s data when the decoder built it as text.
struct SharedText(Arc<String>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The length of a UTF-8 character from its first byte; 1 for a byte that cannot start
/// one of two bytes or more.
fn utf8_width(first: u8) -> usize {
    match first {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

/// How much of `bytes` to check now: all of it, but for the start of a character whose
/// end is past `bytes` (it is checked once the next piece completes it).
fn whole_chars(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(3) {
        let byte = bytes[len - back];
        if byte & 0xC0 != 0x80 {
            // Not a continuation byte: the last character starts here.
            return if utf8_width(byte) > back {
                len - back
            } else {
                len
            };
        }
    }
    len
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
            data_line: None,
            data_line_len: 0,
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
        lossy(self.fields.last_event_id.get(&self.current))
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
            self.fields.detach_ids(&self.current);
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
    #[inline]
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
                    self.fields.detach_ids(&self.current);
                    self.current = next;
                    self.pos = 0;
                    continue;
                }
                self.fields.detach_ids(&self.current);
                self.current = Bytes::new();
                self.pos = 0;
                if self.finished {
                    // "Once the end of the file is reached, any pending data must be
                    // discarded."
                    self.partial = BytesMut::new();
                    self.data_line = None;
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
            if let Some(space) = self.data_line {
                if let Err(error) = self.continue_data_line(space) {
                    return Err(self.fail(error));
                }
                continue;
            }

            if self.partial.is_empty() {
                if let Some(event) = self.whole_lines() {
                    return Ok(Some(event));
                }
                if self.pos == self.current.len() {
                    continue;
                }
            }

            // A blank line (the end of nearly every event): dispatch without a scan.
            let first = self.current[self.pos];
            if (first == b'\n' || first == b'\r') && self.partial.is_empty() {
                self.pass_line_end(self.pos);
                match self.fields.dispatch(&self.current) {
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
                let line = if self.partial.is_empty() {
                    if !rest.starts_with(b"data:") {
                        self.partial.extend_from_slice(rest);
                        self.pos = self.current.len();
                        continue;
                    }
                    self.current.slice(self.pos..)
                } else {
                    self.partial.extend_from_slice(rest);
                    if !self.partial.starts_with(b"data:") {
                        self.pos = self.current.len();
                        continue;
                    }
                    self.partial.split().freeze()
                };
                self.pos = self.current.len();
                // A `data` line, often a long one: its value goes to the data buffer as it
                // comes, checked for UTF-8 once, rather than to `partial` to be copied again.
                let value = &line[b"data:".len()..];
                let space = value.first() == Some(&b' ');
                let result = self
                    .fields
                    .begin_data_line(&value[usize::from(space)..], self.max_event_bytes);
                if let Err(error) = result {
                    return Err(self.fail(error));
                }
                self.data_line = Some(value.is_empty());
                self.data_line_len = line.len();
                continue;
            };
            let (start, end) = (self.pos, self.pos + len);
            self.pass_line_end(end);
            let dispatched = if self.partial.is_empty() {
                if len > self.max_event_bytes {
                    return Err(self.fail(self.too_large()));
                }
                self.fields.line(
                    &self.current,
                    start,
                    end,
                    self.max_event_bytes,
                    &self.current,
                )
            } else {
                if self.partial.len() + len > self.max_event_bytes {
                    return Err(self.fail(self.too_large()));
                }
                self.partial.extend_from_slice(&self.current[start..end]);
                let line = self.partial.split().freeze();
                self.fields
                    .line(&line, 0, line.len(), self.max_event_bytes, &self.current)
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

    /// The lines of an MCP event (`event: message`, `id`, `data`, a blank line), each
    /// ending with LF inside the current chunk, read in a tight loop up to the event they
    /// make. Anything else (and a line over the bound) is left to the general path in
    /// [`run`](Self::run), which gives the same result.
    #[inline(always)]
    fn whole_lines(&mut self) -> Option<DecodedEvent> {
        let chunk = &self.current;
        let mut pos = self.pos;
        let event = loop {
            let rest = &chunk[pos..];
            let (value, field) = match rest.first() {
                Some(b'\n') => {
                    pos += 1;
                    match self.fields.dispatch(chunk) {
                        Some(event) => break Some(event),
                        None => continue,
                    }
                }
                Some(b'd') if rest.starts_with(b"data:") => (pos + 5, Field::Data),
                Some(b'i') if rest.starts_with(b"id:") => (pos + 3, Field::Id),
                // The line is bounded like any other: under a bound shorter than it, the
                // general path reports it.
                Some(b'e')
                    if rest.starts_with(b"event: message\n")
                        && b"event: message".len() <= self.max_event_bytes =>
                {
                    if !self.fields.event_type.is_empty() {
                        self.fields.event_type = Bytes::new();
                    }
                    pos += b"event: message\n".len();
                    continue;
                }
                _ => break None,
            };
            let hay = &chunk[value..];
            let found = match field {
                // An id (a UUID and a counter) ends within 64 bytes.
                Field::Id => find_line_end_after::<64>(hay),
                Field::Data => find_line_end(hay),
            };
            let Some(len) = found else {
                break None;
            };
            let end = value + len;
            if chunk[end] != b'\n' || end - pos > self.max_event_bytes {
                break None;
            }
            let value = value + usize::from(chunk.get(value) == Some(&b' ') && value < end);
            match field {
                Field::Data => {
                    if self
                        .fields
                        .push_data(chunk, value, end, self.max_event_bytes)
                        .is_err()
                    {
                        break None; // the general path reports it
                    }
                }
                Field::Id => self.fields.set_id_in_chunk(chunk, value, end),
            }
            pos = end + 1;
        };
        self.pos = pos;
        event
    }

    /// The rest of a `data` line begun in an earlier chunk, up to the line end or the end
    /// of this chunk.
    fn continue_data_line(&mut self, space: bool) -> Result<(), DecodeError> {
        if space {
            self.data_line = Some(false);
            if self.current[self.pos] == b' ' {
                self.data_line_len += 1;
                if self.data_line_len > self.max_event_bytes {
                    return Err(self.too_large());
                }
                self.pos += 1;
                return Ok(());
            }
        }
        let rest = &self.current[self.pos..];
        let (piece, end) = match find_line_end(rest) {
            Some(len) => (&rest[..len], Some(self.pos + len)),
            None => (rest, None),
        };
        self.data_line_len += piece.len();
        if self.data_line_len > self.max_event_bytes {
            return Err(self.too_large());
        }
        self.fields
            .continue_data_line(piece, self.max_event_bytes)?;
        match end {
            Some(end) => {
                self.data_line = None;
                self.pass_line_end(end);
            }
            None => self.pos = self.current.len(),
        }
        Ok(())
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
        self.fields.detach_ids(&self.current);
        self.current = Bytes::new();
        self.pos = 0;
        self.queued = VecDeque::new();
        self.partial = BytesMut::new();
        self.data_line = None;
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
        chunk: &Bytes,
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
            return Ok(self.dispatch(chunk));
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
            self.pending_id = Some(Id::Bytes(src.slice(start..end)));
        }
    }

    /// [`set_id`](Self::set_id) for an id in the current chunk, `chunk`.
    #[inline(always)]
    fn set_id_in_chunk(&mut self, chunk: &Bytes, start: usize, end: usize) {
        if !chunk[start..end]
            .iter()
            .fold(false, |nul, &b| nul | (b == 0))
        {
            self.pending_id = Some(Id::InChunk(start, end));
        }
    }

    /// The current chunk, `chunk`, is about to go: ids in it take their own reference.
    fn detach_ids(&mut self, chunk: &Bytes) {
        if let Some(id) = &mut self.pending_id {
            id.detach(chunk);
        }
        self.last_event_id.detach(chunk);
    }

    fn push_data(
        &mut self,
        src: &Bytes,
        start: usize,
        end: usize,
        max: usize,
    ) -> Result<(), DecodeError> {
        if let Data::None = self.data {
            self.data = Data::One(src.slice(start..end));
            return Ok(());
        }
        self.begin_data_line(&src[start..end], max)
    }

    /// Appends a `data` line, or the start of one, to the data buffer.
    fn begin_data_line(&mut self, value: &[u8], max: usize) -> Result<(), DecodeError> {
        match &mut self.data {
            Data::None => {
                let mut joined = Joined::default();
                joined.push(value);
                self.data = Data::Joined(joined);
            }
            Data::One(first) => {
                if first.len() + 1 + value.len() > max {
                    return Err(DecodeError::EventTooLarge { limit: max });
                }
                let mut joined = Joined {
                    text: String::with_capacity(first.len() + 1 + value.len()),
                    ..Joined::default()
                };
                joined.push(first);
                joined.push(b"\n");
                joined.push(value);
                self.data = Data::Joined(joined);
            }
            Data::Joined(joined) => {
                if joined.len() + 1 + value.len() > max {
                    return Err(DecodeError::EventTooLarge { limit: max });
                }
                joined.push(b"\n");
                joined.push(value);
            }
        }
        Ok(())
    }

    /// Appends more of the `data` line [`begin_data_line`](Self::begin_data_line) began.
    fn continue_data_line(&mut self, more: &[u8], max: usize) -> Result<(), DecodeError> {
        if let Data::Joined(joined) = &mut self.data {
            if joined.len() + more.len() > max {
                return Err(DecodeError::EventTooLarge { limit: max });
            }
            joined.push(more);
        }
        Ok(())
    }

    /// A blank line. `chunk` is the current chunk.
    #[inline(always)]
    fn dispatch(&mut self, chunk: &Bytes) -> Option<DecodedEvent> {
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
        let (data, data_text) = match std::mem::take(&mut self.data) {
            Data::None => {
                self.event_type = Bytes::new();
                return None;
            }
            Data::One(line) => (line, None),
            Data::Joined(joined) => joined.finish(),
        };
        // "5. If the event type buffer has a value other than the empty string, change the
        // type of the newly created event to equal the value of the event type buffer."
        // "6. Set the data buffer and the event type buffer to the empty string."
        Some(DecodedEvent {
            event_type: std::mem::take(&mut self.event_type),
            data,
            data_text,
            last_event_id: self.last_event_id.to_event_id(chunk),
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
/// The first 16 bytes a word at a time ([`find_in_words`]): an `event` line and a blank
/// line end there, and a call into the SIMD search would cost more than it saves. Past
/// them, [`memchr::memchr2`] (SSE2/AVX2, chosen at run time; no `unsafe` here).
#[inline]
fn find_line_end(hay: &[u8]) -> Option<usize> {
    find_line_end_after::<16>(hay)
}

/// [`find_line_end`], reading the first `HEAD` bytes a word at a time.
#[inline]
fn find_line_end_after<const HEAD: usize>(hay: &[u8]) -> Option<usize> {
    if hay.len() <= HEAD {
        return find_in_words(hay);
    }
    if let Some(at) = find_in_words(&hay[..HEAD]) {
        return Some(at);
    }
    memchr::memchr2(b'\n', b'\r', &hay[HEAD..]).map(|at| HEAD + at)
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

    /// Data the decoder copies (split across chunks, or on several lines) is checked for
    /// UTF-8 piece by piece; wherever the cuts fall, even inside a character or an invalid
    /// sequence, `data()` must be the lossy decoding of the bytes.
    #[test]
    fn copied_data_text_matches_its_bytes_wherever_it_is_cut() {
        let values: [&[u8]; 7] = [
            "caf\u{e9} \u{20ac}\u{1F600} \u{4e2d}\u{6587}".as_bytes(),
            b"ascii only, a bit longer than one SIMD block of sixty-four bytes..",
            b"bad \xFF byte",
            b"cut \xE2\x82 short",
            b"ends mid \xF0\x9F\x98",
            b"\xC0\x80 overlong \xED\xA0\x80 surrogate",
            "\u{1F600}".as_bytes(),
        ];
        for value in values {
            for lines in [1, 2] {
                let mut stream = b"id: 1\n".to_vec();
                for _ in 0..lines {
                    stream.extend_from_slice(b"data: ");
                    stream.extend_from_slice(value);
                    stream.push(b'\n');
                }
                stream.push(b'\n');
                for a in 0..=stream.len() {
                    for b in a..=stream.len() {
                        let mut decoder = Decoder::new();
                        let mut events = Vec::new();
                        for chunk in [&stream[..a], &stream[a..b], &stream[b..]] {
                            decoder.feed(chunk);
                            while let Some(event) = decoder.next_event().unwrap() {
                                events.push(event);
                            }
                        }
                        assert_eq!(events.len(), 1, "cut at {a}, {b}");
                        let event = &events[0];
                        let want = vec![value; lines].join(&b'\n');
                        assert_eq!(&event.data_bytes()[..], &want[..], "cut at {a}, {b}");
                        assert_eq!(
                            event.data(),
                            String::from_utf8_lossy(&want),
                            "cut at {a}, {b}"
                        );
                    }
                }
            }
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
