//! The machine's events one by one, on `std::net` and threads: [`BlockingClient`], for
//! tests and tools that want to see every [`ClientEvent`] (an application uses
//! [`McpClient`](super::McpClient)).
//!
//! - the [`BlockingClient`] owns the machine; nothing else touches it, so there is no lock;
//! - every [`Transmit`] becomes one exchange on a thread of its own (see
//!   [`exchange`](super::exchange)), whose inputs the driver feeds to the machine;
//! - after every input it drains [`Client::poll_transmit`];
//!   [`BlockingClient::next_event`] hands out [`Client::poll_event`] one at a time;
//! - [`Client::poll_timeout`] is honoured as str0m's run loop honours it, by bounding the
//!   blocking read: the driver waits on the channel for at most `deadline - now`, then calls
//!   [`Client::handle_timeout`] (SSE reconnections);
//! - [`BlockingClient::close`] ends the session and shuts down the sockets of every earlier
//!   exchange (the machine ignores their inputs from then on).

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::Instant;

use mcp_http_proto::client::UsageError;
use mcp_http_proto::client::{Client, ClientConfig, ClientEvent, ExchangeId, Transmit};

use super::exchange::{Input, run_exchange};
use super::now;
use mcp_http_proto_driver::exchange::{self as client_exchange, ClientDriver};

/// [`BlockingClient::next_event`]'s deadline passed first.
#[derive(Debug)]
pub struct Elapsed;

/// The machine and the threads of its exchanges in flight.
pub struct BlockingClient {
    client: Client,
    tx: Sender<(ExchangeId, Input)>,
    rx: Receiver<(ExchangeId, Input)>,
    /// The exchanges in flight, with their socket once connected.
    exchanges: HashMap<ExchangeId, Option<TcpStream>>,
    /// Log every exchange on stderr.
    pub verbose: bool,
    /// Also log every body chunk on stderr.
    pub trace_bodies: bool,
}

impl Drop for BlockingClient {
    fn drop(&mut self) {
        for (_, tcp) in self.exchanges.drain() {
            if let Some(tcp) = tcp {
                let _ = tcp.shutdown(Shutdown::Both);
            }
        }
    }
}

impl BlockingClient {
    /// A driver for a new machine.
    pub fn new(config: ClientConfig) -> Result<Self, String> {
        let client = client_exchange::new_machine(config)?;
        let (tx, rx) = mpsc::channel();
        Ok(Self {
            client,
            tx,
            rx,
            exchanges: HashMap::new(),
            verbose: true,
            trace_bodies: false,
        })
    }

    /// [`Client::close`]: the DELETE (when there is a session) goes out, and the sockets
    /// of every earlier exchange are shut down.
    pub fn close(&mut self) -> Result<(), UsageError> {
        self.client.close()?;
        for (_, tcp) in self.exchanges.drain() {
            if let Some(tcp) = tcp {
                let _ = tcp.shutdown(Shutdown::Both);
            }
        }
        self.flush();
        Ok(())
    }

    /// What to log.
    fn log(&self) -> client_exchange::Log {
        client_exchange::Log {
            verbose: self.verbose,
            trace_bodies: self.trace_bodies,
        }
    }

    /// How many exchanges are in flight.
    pub fn in_flight(&self) -> usize {
        self.exchanges.len()
    }

    /// Drives the I/O until the machine has an event, or `until` passes (`Err`). `Ok(None)`
    /// when none can come: no exchange in flight and no timer armed.
    pub fn next_event(&mut self, until: Instant) -> Result<Option<ClientEvent>, Elapsed> {
        loop {
            self.flush();
            if let Some(event) = self.client.poll_event() {
                return Ok(Some(event));
            }
            let timeout = self.client.poll_timeout();
            if self.exchanges.is_empty() && timeout.is_none() {
                return Ok(None);
            }
            let now = now();
            if let Some(t) = timeout.filter(|t| t.at <= now) {
                if self.verbose {
                    eprintln!("client: timer: {:?}", t.reason);
                }
                self.client.handle_timeout(now);
                continue;
            }
            if now >= until {
                return Err(Elapsed);
            }
            let wake = timeout.map_or(until, |t| t.at.min(until));
            match self.rx.recv_timeout(wake - now) {
                Ok((ex, input)) => self.feed(ex, input),
                // The deadline (the machine's or the caller's) is looked at above.
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => unreachable!("the driver holds a sender"),
            }
        }
    }

    /// Starts a thread for every request the machine wants sent.
    fn flush(&mut self) {
        while let Some(Transmit { exchange, request }) = self.client.poll_transmit() {
            client_exchange::log_request(self.log(), exchange, &request);
            let tx = self.tx.clone();
            let spawned = thread::Builder::new()
                .name("mcp-exchange".into())
                .spawn(move || {
                    let input = match run_exchange(exchange, request, &tx) {
                        Ok(()) => Input::End,
                        Err(e) => Input::Error(e),
                    };
                    let _ = tx.send((exchange, input));
                });
            self.exchanges.insert(exchange, None);
            if let Err(e) = spawned {
                let _ = self
                    .tx
                    .send((exchange, Input::Error(format!("spawn a thread: {e}"))));
            }
        }
    }

    /// Hands one input to the machine.
    fn feed(&mut self, ex: ExchangeId, input: Input) {
        if !self.exchanges.contains_key(&ex) {
            // An exchange dropped by `close`: its socket was shut down, this is a leftover.
            if let Input::Connected(tcp) = input {
                let _ = tcp.shutdown(Shutdown::Both);
            }
            return;
        }
        let log = self.log();
        if input.ends() {
            self.exchanges.remove(&ex);
        }
        if let Some(tcp) = client_exchange::feed(&mut self.client, ex, input, log, now()) {
            self.exchanges.insert(ex, Some(tcp));
        }
    }
}

impl ClientDriver for BlockingClient {
    fn client(&self) -> &Client {
        &self.client
    }

    fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    fn flush(&mut self) {
        BlockingClient::flush(self);
    }
}
