//! An async driver for the [`Server`](mcp_http_proto::Server) machine on hyper 1 + tokio.
//!
//! It carries bytes and time; every protocol decision is the machine's, reached through
//! the runtime-free [`Engine`] it shares with the blocking driver:
//!
//! - a request is refused from its head when it can be ([`Engine::check_head`]: a 413 goes
//!   out without reading the body), else its body is read up to the machine's limit + 1
//!   bytes and handed to [`Engine::handle`];
//! - every request message of a POST goes to the [`App`] in its own task, with a
//!   [`Replier`] for its stream; notifications (alone or batched with requests) and
//!   unpaired answers go to [`App::notified`];
//! - a stream's response body pulls its connection's output from the machine
//!   ([`Engine::poll_connection`]) when hyper asks for more, and hyper's dropping it
//!   before its end is [`Engine::disconnect`] of that connection;
//! - a timer task runs [`Engine::tick`].
//!
//! It listens where it is told; the examples bind 127.0.0.1 only.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use mcp_http_proto::server::{ConnectionId, ServerConfig, StreamEvent};
use mcp_http_proto::wire::SessionId;
use mcp_http_proto::wire::jsonrpc::Message;
use tokio::net::TcpListener;

pub use mcp_http_proto_driver::engine::{
    AppRequest, ENDPOINT, REQUEST_TIMEOUT, Replier, RequestError,
};
use mcp_http_proto_driver::engine::{Engine, Reply, driver_error, now};
use mcp_http_proto_driver::log::LogLine;

/// The application on top of the driver.
///
/// Every request message of a POST is handed to [`handle`](App::handle) in a task of its
/// own; the requests of a batch run concurrently. The handler answers its request once,
/// with [`Replier::respond_ok`], [`Replier::respond_err`] or [`Replier::send`], after any
/// related notifications ([`Replier::notify`]). A handler that returns (or panics) without
/// answering gets a JSON-RPC internal error from the machine, so that the stream ends.
pub trait App: Send + Sync + 'static {
    /// Handles one request message. Implementations may be `async fn`.
    fn handle(&self, request: AppRequest, replier: Replier) -> impl Future<Output = ()> + Send;

    /// Notifications (alone, or batched with requests), and the client's answers that no
    /// waiting [`Replier::request`] took, in body order.
    fn notified(&self, messages: &[Message], session: Option<&SessionId>) {
        let _ = (messages, session);
    }

    /// A GET opened the session's standalone SSE stream. The replier may send
    /// notifications and requests on it (never responses) for as long as it stays open.
    fn standalone_opened(&self, session: &SessionId, replier: Replier) {
        let _ = (session, replier);
    }
}

/// Awaits a server-to-client request's answer, for at most [`REQUEST_TIMEOUT`].
pub async fn ask(
    replier: &Replier,
    method: &str,
    params: serde_json::Value,
) -> Result<Message, RequestError> {
    let pending = replier.request(method, params);
    match tokio::time::timeout(REQUEST_TIMEOUT, pending).await {
        Ok(answer) => answer,
        Err(_) => Err(RequestError::Timeout), // the dropped wait forgets the request
    }
}

// ----- serving -----

/// Serves `app` on `listener` until Ctrl-C.
pub async fn serve<A: App>(listener: TcpListener, config: ServerConfig, app: A) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handling here: serve until the process is killed.
            std::future::pending::<()>().await;
        }
    };
    serve_with_shutdown(listener, config, app, ctrl_c).await;
}

/// Serves `app` on `listener` until `shutdown` completes. Then it stops accepting and
/// returns; connections still open are dropped with the runtime.
pub async fn serve_with_shutdown<A: App>(
    listener: TcpListener,
    config: ServerConfig,
    app: A,
    shutdown: impl Future<Output = ()>,
) {
    let engine = Engine::new(config);
    let app = Arc::new(app);
    let timers = tokio::spawn(run_timers(engine.clone()));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, _peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off a little.
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(e) = tcp.set_nodelay(true) {
            eprintln!("set TCP_NODELAY: {e}");
        }
        let engine = engine.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let engine = engine.clone();
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(req, engine, app).await) }
            });
            // Errors here are the peer's doing (reset, garbage, gone mid-body).
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
    timers.abort();
    eprintln!("shutting down");
}

async fn run_timers(engine: Arc<Engine>) {
    loop {
        let wake = engine.tick();
        tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
    }
}

/// One HTTP request: its log line is written when the response is complete (for a
/// stream, at its end), or when the client goes away first.
async fn handle<A: App>(
    req: Request<Incoming>,
    engine: Arc<Engine>,
    app: Arc<A>,
) -> Response<ResBody> {
    let (parts, body) = req.into_parts();
    let mut log = LogLine::new(&parts, now());
    if parts.uri.path() != ENDPOINT {
        let r = driver_error(
            StatusCode::NOT_FOUND,
            &format!("not found: the MCP endpoint is {ENDPOINT}"),
        );
        log.saw(&r);
        return full(r);
    }
    // Refuse from the head when the machine can (413, 403, 405 ...): the body is not read.
    let limit = match engine.check_head(&parts) {
        Ok(limit) => limit,
        Err((response, why)) => {
            log.refusal = Some(why);
            log.saw(&response);
            return full(response);
        }
    };
    let body = if parts.method == Method::POST || body.size_hint().upper() != Some(0) {
        match read_body(body, limit).await {
            Ok(b) => b,
            Err(_) => {
                let r = driver_error(StatusCode::BAD_REQUEST, "could not read the request body");
                log.saw(&r);
                return full(r);
            }
        }
    } else {
        Bytes::new()
    };

    let handled = engine.handle(Request::from_parts(parts, body));
    log.refusal = handled.refusal;
    if let Some((replayed, missed)) = handled.resumed {
        eprintln!("stream resumed: {replayed} events replayed, {missed} missed");
    }
    if !handled.messages.is_empty() {
        app.notified(&handled.messages, handled.session.as_ref());
    }
    for (request, replier) in handled.requests {
        tokio::spawn(run_handler(app.clone(), request, replier));
    }
    if let (Some(replier), Some(session)) = (handled.standalone, &handled.session) {
        app.standalone_opened(session, replier);
    }
    match handled.reply {
        Reply::Full(r) => {
            log.saw(&r);
            full(r)
        }
        Reply::Stream(connection) => {
            let body = ConnectionBody {
                connection,
                engine,
                finished: false,
                peeked: None,
                log: Some(log),
            };
            body.into_response().await
        }
    }
}

/// Runs the application on one request; when it is done (or panics, or is cancelled at
/// shutdown) the machine answers a request it left unanswered.
async fn run_handler<A: App>(app: Arc<A>, request: AppRequest, replier: Replier) {
    let _finish = request
        .message
        .id()
        .cloned()
        .map(|id| replier.finish_on_drop(id));
    app.handle(request, replier).await;
}

async fn read_body(mut body: Incoming, limit: usize) -> Result<Bytes, hyper::Error> {
    let hint = usize::try_from(body.size_hint().lower()).unwrap_or(limit);
    let mut buf = Vec::with_capacity(hint.min(limit).min(64 * 1024));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            let room = limit - buf.len();
            buf.extend_from_slice(&data[..data.len().min(room)]);
            if buf.len() >= limit {
                // Over the limit: the machine refuses it with 413; the rest is not read.
                break;
            }
        }
    }
    Ok(Bytes::from(buf))
}

// ----- responses -----

/// The body of every response: a complete body, or a connection's output.
pub enum ResBody {
    /// A complete body (taken when written).
    Full(Option<Bytes>),
    /// A connection's `Data` chunks until its `End`.
    Stream(Box<ConnectionBody>),
}

fn full(response: Response<Bytes>) -> Response<ResBody> {
    response.map(|b| ResBody::Full(Some(b).filter(|b| !b.is_empty())))
}

impl Body for ResBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream(c) => c.poll_data(cx).map(|d| d.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(b) => b.is_none(),
            Self::Stream(c) => c.finished,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Stream(_) => SizeHint::default(),
        }
    }
}

/// The response body of one connection: it pulls the connection's output from the
/// machine, and tells the machine when the client goes away before the end.
pub struct ConnectionBody {
    connection: ConnectionId,
    engine: Arc<Engine>,
    finished: bool,
    /// An output read ahead of its turn (see `poll_data`).
    peeked: Option<StreamEvent>,
    /// The request's log line, written when the body ends.
    log: Option<LogLine>,
}

impl ConnectionBody {
    /// Waits for the connection's head, then answers with it and a body that writes the
    /// rest.
    async fn into_response(mut self) -> Response<ResBody> {
        let first =
            std::future::poll_fn(|cx| self.engine.poll_connection(self.connection, cx.waker()))
                .await;
        match first {
            StreamEvent::Head(head) => {
                if let Some(log) = &mut self.log {
                    log.saw(&head);
                }
                head.map(|()| ResBody::Stream(Box::new(self)))
            }
            // The machine always queues a head first.
            other => unreachable!("a connection's first output is its head, not {other:?}"),
        }
    }

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            let event = match self.peeked.take() {
                Some(event) => event,
                None => match self.engine.poll_connection(self.connection, cx.waker()) {
                    Poll::Ready(event) => event,
                    Poll::Pending => return Poll::Pending,
                },
            };
            match event {
                StreamEvent::Data(b) => {
                    // Look ahead for the end, so that the body reports its end with its
                    // last chunk: hyper stops polling a body once `Content-Length` bytes
                    // are written, and would otherwise drop it as if the client had gone.
                    match self.engine.poll_connection(self.connection, cx.waker()) {
                        Poll::Ready(StreamEvent::End) => self.finished = true,
                        Poll::Ready(next) => self.peeked = Some(next),
                        Poll::Pending => {}
                    }
                    return Poll::Ready(Some(b));
                }
                StreamEvent::Head(_) => {} // never twice
                StreamEvent::End => self.finished = true,
            }
        }
    }
}

impl Drop for ConnectionBody {
    fn drop(&mut self) {
        if !self.finished {
            // The client went away before the connection's end.
            if let Some(log) = &mut self.log {
                log.gone = true;
            }
            self.engine.disconnect(self.connection);
        }
    }
}
