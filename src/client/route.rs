//! Messages from the server: SSE events and JSON bodies, routed to the request they
//! answer (once, `INV-C11`) or to the application (`INV-C13`, ambiguity 19, `LEG-2`).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;

use super::legacy;
use super::response::{BodyReader, Kind};
use super::session::{Phase, Transport};
use super::{Client, ClientEvent, ExchangeId, ProtocolErrorKind, RequestFailure};
use crate::wire::jsonrpc::{Message, classify};
use crate::wire::sse::DecodedEvent;

impl Client {
    pub(super) fn drain_sse(&mut self, exchange: ExchangeId, now: Instant) {
        loop {
            let Some(ex) = self.exchanges.get_mut(&exchange) else {
                return;
            };
            let BodyReader::Sse(decoder) = &mut ex.body else {
                return;
            };
            let next = decoder.next_event();
            // INV-C12, INV-C13, INV-C14: the stream's cursor and retry follow every block,
            // dispatched or not (a priming event's id counts).
            let cursor = decoder
                .last_event_id()
                .and_then(|id| HeaderValue::from_str(&id).ok());
            let retry = decoder.retry().map(Duration::from_millis);
            if let Some(s) = ex.stream.and_then(|k| self.streams.get_mut(&k)) {
                if cursor.is_some() {
                    s.cursor = cursor;
                }
                if retry.is_some() {
                    s.retry = retry;
                }
            }
            match next {
                Ok(Some(event)) => self.on_event(exchange, event, now),
                Ok(None) => return,
                Err(_) => {
                    self.protocol_error(exchange, ProtocolErrorKind::TooLarge);
                    let ex = self.exchanges.remove(&exchange).expect("present");
                    match ex.stream {
                        Some(k) => self.give_up(k, RequestFailure::Protocol),
                        None => self.connection_lost(exchange, &ex.kind, None, now),
                    }
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, exchange: ExchangeId, event: DecodedEvent, now: Instant) {
        // INV-C13: an event with empty data (the priming event) is no message.
        if event.data_bytes().is_empty() {
            return;
        }
        let kind = self.exchanges[&exchange].kind.clone();
        if kind == Kind::LegacyProbe && event.event_type() == "endpoint" {
            if self.transport != Transport::Probing {
                return;
            }
            match legacy::resolve_endpoint(&self.config.endpoint, &event.data()) {
                Some(post) => {
                    // CLI-BC-4, INV-C19: committed only now.
                    self.transport = Transport::Legacy { post: post.clone() };
                    self.events
                        .push_back(ClientEvent::LegacyFallback { endpoint: post });
                    self.send_initialize();
                }
                None => {
                    self.protocol_error(exchange, ProtocolErrorKind::InvalidLegacyEndpoint);
                    self.exchanges.remove(&exchange);
                    self.initialize_failed(None, None);
                }
            }
            return;
        }
        // Ambiguity 19: events with no type or type `message` carry messages.
        if !event.is_message() || self.transport == Transport::Probing {
            return;
        }
        self.on_body(exchange, event.into_data(), now);
    }

    /// A JSON body or SSE event data: one message or a batch (`BOTH-POST-6`).
    pub(super) fn on_body(&mut self, exchange: ExchangeId, body: Bytes, now: Instant) {
        let messages: Vec<Message> = match classify(&body) {
            Ok(parsed) => parsed
                .messages()
                .iter()
                .map(|e| Message::from_envelope(&body, e))
                .collect(),
            Err(e) => return self.protocol_error(exchange, ProtocolErrorKind::InvalidMessage(e)),
        };
        for msg in messages {
            self.route(exchange, msg, now);
        }
    }

    fn route(&mut self, exchange: ExchangeId, msg: Message, now: Instant) {
        if !msg.kind().is_response() {
            return self.events.push_back(ClientEvent::Message(msg));
        }
        let Some(id) = msg.id().cloned() else {
            return self.events.push_back(ClientEvent::Message(msg));
        };
        let from_init = self.init.as_ref().is_some_and(|i| {
            i.id == id
                && (i.exchange == Some(exchange)
                    || self
                        .exchanges
                        .get(&exchange)
                        .is_some_and(|e| e.kind == Kind::LegacyProbe))
        });
        if from_init && self.phase == Phase::Initializing {
            return self.on_initialize_response(exchange, msg, now);
        }
        // INV-C11: each awaited id resolves once; a replayed or unknown one is dropped.
        if self.pending.remove(&id).is_some() {
            for s in self.streams.values_mut() {
                s.requests.remove(&id);
            }
            self.events
                .push_back(ClientEvent::Response { id, message: msg });
        }
    }
}
