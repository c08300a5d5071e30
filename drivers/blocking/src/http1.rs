//! Minimal HTTP/1.1 framing for the blocking drivers, on `httparse`: reading a bounded
//! head, writing a head, and decoding a chunked body. Framing only; the MCP decisions are
//! the machines'.

use std::io::{self, Read, Write};

use http::{HeaderMap, HeaderName, HeaderValue};

/// The largest request or response head read, in bytes.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most header fields in a head.
pub const MAX_HEADERS: usize = 64;

/// Why a head could not be read.
#[derive(Debug)]
pub enum HeadError {
    /// The peer closed the connection before the first byte of a head.
    Closed,
    /// The head is larger than [`MAX_HEAD_BYTES`] or has more than [`MAX_HEADERS`] fields.
    TooLarge,
    /// Not HTTP/1.x.
    Malformed(String),
    /// The socket failed (a read timeout included).
    Io(io::Error),
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => f.write_str("connection closed"),
            Self::TooLarge => f.write_str("head too large"),
            Self::Malformed(e) => write!(f, "malformed head: {e}"),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Reads from `r` into `buf` (which may already hold bytes) until `parse` finds a complete
/// head; the head's bytes are removed from `buf`, what follows stays.
fn read_head<T>(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
    mut parse: impl FnMut(&[u8]) -> Result<Option<(usize, T)>, HeadError>,
) -> Result<T, HeadError> {
    let mut chunk = [0u8; 4096];
    loop {
        if !buf.is_empty() {
            if let Some((len, head)) = parse(buf)? {
                buf.drain(..len);
                return Ok(head);
            }
            if buf.len() >= MAX_HEAD_BYTES {
                return Err(HeadError::TooLarge);
            }
        }
        let room = (MAX_HEAD_BYTES + 1 - buf.len()).min(chunk.len());
        match r.read(&mut chunk[..room]) {
            Ok(0) if buf.is_empty() => return Err(HeadError::Closed),
            Ok(0) => return Err(HeadError::Malformed("truncated head".into())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(HeadError::Io(e)),
        }
    }
}

fn headers_of(fields: &[httparse::Header<'_>]) -> Result<HeaderMap, HeadError> {
    let mut map = HeaderMap::with_capacity(fields.len());
    for h in fields {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|e| HeadError::Malformed(e.to_string()))?;
        let value =
            HeaderValue::from_bytes(h.value).map_err(|e| HeadError::Malformed(e.to_string()))?;
        map.append(name, value);
    }
    Ok(map)
}

fn parse_error(e: httparse::Error) -> HeadError {
    match e {
        httparse::Error::TooManyHeaders => HeadError::TooLarge,
        e => HeadError::Malformed(e.to_string()),
    }
}

/// Reads a request head: its parts, with an empty body.
pub fn read_request_head(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
) -> Result<http::request::Parts, HeadError> {
    read_head(r, buf, |bytes| {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut fields);
        let len = match req.parse(bytes).map_err(parse_error)? {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => return Ok(None),
        };
        let mut b = http::Request::builder()
            .method(req.method.unwrap_or_default())
            .uri(req.path.unwrap_or_default())
            .version(match req.version {
                Some(0) => http::Version::HTTP_10,
                _ => http::Version::HTTP_11,
            });
        *b.headers_mut().expect("a fresh builder") = headers_of(req.headers)?;
        let (parts, ()) = b
            .body(())
            .map_err(|e| HeadError::Malformed(e.to_string()))?
            .into_parts();
        Ok(Some((len, parts)))
    })
}

/// Reads a response head: its parts, with an empty body. 1xx heads are skipped.
pub fn read_response_head(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
) -> Result<http::response::Parts, HeadError> {
    loop {
        let parts = read_head(r, buf, |bytes| {
            let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut res = httparse::Response::new(&mut fields);
            let len = match res.parse(bytes).map_err(parse_error)? {
                httparse::Status::Complete(n) => n,
                httparse::Status::Partial => return Ok(None),
            };
            let mut b = http::Response::builder().status(res.code.unwrap_or_default());
            *b.headers_mut().expect("a fresh builder") = headers_of(res.headers)?;
            let (parts, ()) = b
                .body(())
                .map_err(|e| HeadError::Malformed(e.to_string()))?
                .into_parts();
            Ok(Some((len, parts)))
        })?;
        if !parts.status.is_informational() {
            return Ok(parts);
        }
    }
}

/// Appends a status line and the headers (and the blank line) to `out`.
pub fn write_response_head(out: &mut Vec<u8>, status: http::StatusCode, headers: &HeaderMap) {
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    write_fields(out, headers);
}

/// Appends a request line and the headers (and the blank line) to `out`.
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &http::Method,
    target: &str,
    headers: &HeaderMap,
) {
    let _ = write!(out, "{method} {target} HTTP/1.1\r\n");
    write_fields(out, headers);
}

fn write_fields(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one chunk of a chunked body to `out` (nothing for an empty one: that would be
/// the end).
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if !data.is_empty() {
        let _ = write!(out, "{:x}\r\n", data.len());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
}

/// The end of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// An incremental decoder of a chunked body: feed it bytes, get the data back.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
    line: Vec<u8>,
}

#[derive(Debug, Default, PartialEq)]
enum ChunkState {
    /// Reading a chunk-size line.
    #[default]
    Size,
    /// Reading chunk data: this many bytes left.
    Data(u64),
    /// Reading the CRLF after chunk data.
    DataEnd,
    /// Reading trailer lines until an empty one.
    Trailer,
    Done,
}

impl ChunkedDecoder {
    /// Whether the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes `input`, appending the data to `out`. Bytes after the end are ignored.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        while !input.is_empty() && self.state != ChunkState::Done {
            match self.state {
                ChunkState::Data(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.state = if left == n as u64 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - n as u64)
                    };
                }
                _ => {
                    let b = input[0];
                    input = &input[1..];
                    if b != b'\n' {
                        if self.line.len() > 1024 {
                            return Err("chunk line too long".into());
                        }
                        self.line.push(b);
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = match self.state {
                        ChunkState::Size => {
                            let hex = line.split(|&c| c == b';').next().unwrap_or_default();
                            let hex = std::str::from_utf8(hex).unwrap_or("").trim();
                            let size = u64::from_str_radix(hex, 16)
                                .map_err(|_| format!("bad chunk size {hex:?}"))?;
                            if size == 0 {
                                ChunkState::Trailer
                            } else {
                                ChunkState::Data(size)
                            }
                        }
                        ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
                        ChunkState::DataEnd => return Err("no CRLF after chunk data".into()),
                        ChunkState::Trailer if line.is_empty() => ChunkState::Done,
                        ChunkState::Trailer => ChunkState::Trailer,
                        ChunkState::Data(_) | ChunkState::Done => unreachable!(),
                    };
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run with `cargo test --example blocking_client` (examples' tests are not run by a
    /// plain `cargo test`).
    #[test]
    fn chunked_body_decodes_the_same_whole_and_byte_by_byte() {
        let mut wire = Vec::new();
        write_chunk(&mut wire, b"event: message\ndata: {}\n\n");
        write_chunk(&mut wire, b"");
        write_chunk(&mut wire, &[b'x'; 300]);
        wire.extend_from_slice(b"1;ext=1\r\ny\r\n0\r\nTrailer: t\r\n\r\nGET / HTTP/1.1");
        let want: Vec<u8> = [&b"event: message\ndata: {}\n\n"[..], &[b'x'; 300], b"y"].concat();

        let mut whole = ChunkedDecoder::default();
        let mut out = Vec::new();
        whole.feed(&wire, &mut out).unwrap();
        assert!(whole.is_done());
        assert_eq!(out, want);

        let mut split = ChunkedDecoder::default();
        let mut out = Vec::new();
        for b in &wire {
            split.feed(std::slice::from_ref(b), &mut out).unwrap();
        }
        assert!(split.is_done());
        assert_eq!(out, want);
    }

    #[test]
    fn a_bad_chunk_size_is_an_error() {
        let mut d = ChunkedDecoder::default();
        assert!(d.feed(b"zz\r\n", &mut Vec::new()).is_err());
    }

    #[test]
    fn heads_are_bounded_and_leftovers_kept() {
        let mut buf = Vec::new();
        let mut input = &b"POST /mcp HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"[..];
        let head = read_request_head(&mut input, &mut buf).unwrap();
        assert_eq!(head.method, http::Method::POST);
        assert_eq!(head.headers["host"], "a");
        assert_eq!(buf, b"{}");

        let big = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; MAX_HEAD_BYTES]].concat();
        let mut input = big.as_slice();
        assert!(matches!(
            read_request_head(&mut input, &mut Vec::new()),
            Err(HeadError::TooLarge)
        ));
    }
}
