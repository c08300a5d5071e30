//! One HTTP/1.1 exchange on a `TcpStream` of its own (with `TCP_NODELAY`; head and body
//! in one write), read by the calling thread: the response head (`httparse`, bounded),
//! then the body (`Content-Length`, chunked, or until the server closes), each piece
//! reported over a channel as it arrives.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc::Sender;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderValue, Method, Request, StatusCode};
use mcp_http_proto::client::ExchangeId;
use mcp_http_proto_driver::exchange as core;

use crate::http1::{self as h1, ChunkedDecoder};

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What an exchange thread reports about its response.
pub(crate) type Input = core::Input<TcpStream>;

/// One request on a fresh connection; reports the head and the chunks on `tx`. The
/// caller reports the end or the error.
pub(crate) fn run_exchange<M: From<(ExchangeId, Input)>>(
    ex: ExchangeId,
    request: Request<Bytes>,
    tx: &Sender<M>,
) -> Result<(), String> {
    let (mut parts, body) = request.into_parts();
    let uri = parts.uri.clone();
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{uri}: no authority"))?
        .clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolve {authority}: {e}"))?
        .collect();
    let mut tcp = addrs
        .iter()
        .find_map(|a| TcpStream::connect_timeout(a, CONNECT_TIMEOUT).ok())
        .ok_or_else(|| format!("connect {authority}: no address answered"))?;
    tcp.set_nodelay(true)
        .map_err(|e| format!("set TCP_NODELAY: {e}"))?;
    if let Ok(clone) = tcp.try_clone() {
        if tx.send(M::from((ex, Input::Connected(clone)))).is_err() {
            return Ok(());
        }
    }

    // Host and framing: the only headers the driver adds.
    if !parts.headers.contains_key(HOST) {
        let host = authority.as_str().rsplit('@').next().unwrap_or_default();
        let value = HeaderValue::from_str(host).map_err(|e| format!("Host {host:?}: {e}"))?;
        parts.headers.insert(HOST, value);
    }
    if !body.is_empty() || parts.method == Method::POST {
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut out = Vec::with_capacity(512 + body.len());
    h1::write_request_head(&mut out, &parts.method, target, &parts.headers);
    out.extend_from_slice(&body);
    tcp.write_all(&out).map_err(|e| format!("write: {e}"))?;

    let mut buf = Vec::new();
    let head = h1::read_response_head(&mut tcp, &mut buf).map_err(|e| format!("response: {e}"))?;
    let status = head.status;
    let chunked = head
        .headers
        .get(TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = head
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if tx.send(M::from((ex, Input::Head(head)))).is_err() {
        return Ok(());
    }
    let no_body = parts.method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if no_body {
        return Ok(());
    }
    let mut framing = if chunked {
        Framing::Chunked(ChunkedDecoder::default())
    } else {
        match length {
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    // What came with the head, then the socket.
    let mut pending = std::mem::take(&mut buf);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if !pending.is_empty() {
            let data = framing.decode(&pending)?;
            pending.clear();
            if !data.is_empty()
                && tx
                    .send(M::from((ex, Input::Chunk(Bytes::from(data)))))
                    .is_err()
            {
                return Ok(());
            }
        }
        if framing.is_done() {
            return Ok(());
        }
        match tcp.read(&mut chunk) {
            Ok(0) if matches!(framing, Framing::UntilClose) => return Ok(()),
            Ok(0) => return Err("the server closed the connection mid-body".into()),
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("response body: {e}")),
        }
    }
}

/// How a response body ends.
enum Framing {
    /// This many bytes left.
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

impl Framing {
    fn decode(&mut self, input: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Self::Length(left) => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                *left -= n as u64;
                Ok(input[..n].to_vec())
            }
            Self::Chunked(d) => {
                let mut out = Vec::with_capacity(input.len());
                d.feed(input, &mut out)?;
                Ok(out)
            }
            Self::UntilClose => Ok(input.to_vec()),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Self::Length(left) => *left == 0,
            Self::Chunked(d) => d.is_done(),
            Self::UntilClose => false,
        }
    }
}
