//! An rmcp 3.11.0 server with the same `echo` tool as our example server, for the
//! loopback comparison of `run.sh`.
//!
//! ```text
//! rmcp_echo_server --port N [--stateless] [--json]
//! ```
//!
//! - `--port N`: the port on 127.0.0.1 (0 picks a free one); only the loopback address is
//!   bound.
//! - default: sessions and SSE replies; `--stateless`: no sessions, SSE replies;
//!   `--json`: no sessions, `application/json` replies.
//!
//! rmcp's `StreamableHttpService` is served as a tower `Service` on hyper's HTTP/1.1
//! connections (keep-alive on), on tokio's multi-threaded runtime, with `TCP_NODELAY` set
//! on every accepted socket, as our example server does. It prints
//! `listening on http://127.0.0.1:PORT/mcp` on stdout once bound, and nothing per
//! request. SIGTERM or SIGINT stops it.

use std::process::ExitCode;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use mcp_http_proto_compare::Mode;
use mcp_http_proto_compare::theirs;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

fn usage() -> ExitCode {
    eprintln!("usage: rmcp_echo_server --port N [--stateless] [--json]");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut port = None;
    let mut mode = Mode::StatefulSse;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => match args.next().and_then(|v| v.parse::<u16>().ok()) {
                Some(p) => port = Some(p),
                None => return usage(),
            },
            "--stateless" if mode != Mode::StatelessJson => mode = Mode::StatelessSse,
            "--stateless" => {}
            "--json" => mode = Mode::StatelessJson,
            _ => return usage(),
        }
    }
    let Some(port) = port else {
        return usage();
    };
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rmcp_echo_server: cannot bind 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let port = match listener.local_addr() {
        Ok(a) => a.port(),
        Err(e) => {
            eprintln!("rmcp_echo_server: no local address: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rmcp = theirs::service(mode);
    eprintln!("rmcp_echo_server: rmcp 3.11.0, mode {}", mode.name());
    println!("listening on http://127.0.0.1:{port}/mcp");

    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            eprintln!("rmcp_echo_server: no signal handlers");
            return ExitCode::FAILURE;
        }
    };
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = term.recv() => break,
            _ = int.recv() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("rmcp_echo_server: accept: {e}");
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("rmcp_echo_server: TCP_NODELAY: {e}");
        }
        let service = TowerToHyperService::new(rmcp.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    eprintln!("rmcp_echo_server: stopping");
    ExitCode::SUCCESS
}
