//! SSE streams as logical streams that outlive their connections, and the reconnection
//! delay (`CLI-RES-4`, `CLI-PSSE-11`, `CLI-PSSE-13`, `INV-C12`, `INV-C14`, `INV-C15`).
//!
//! ```text
//!   Connected(exchange) ──connection ends / fails──▶ requests all answered? ─yes─▶ dropped (INV-C15)
//!        ▲                                                  │ no
//!        │ 200 text/event-stream                            ▼
//!   Resuming(GET + Last-Event-ID) ◀──handle_timeout── Waiting(at)   (id seen; at ≥ close + retry)
//!                                                           │ no id seen / attempts used up
//!                                                           ▼
//!                                          requests fail: OutcomeUnknown / ReconnectExhausted
//! ```

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use http::HeaderValue;

use super::config::ReconnectPolicy;
use super::response::Kind;
use super::session::{Phase, Standalone, Transport};
use super::{Client, ClientEvent, ExchangeId, RequestFailure};
use crate::entropy::Entropy;
use crate::wire::jsonrpc::RequestId;

/// One SSE stream: the answer to a request-bearing POST, or the standalone GET stream.
#[derive(Debug)]
pub(super) struct LogicalStream {
    pub standalone: bool,
    /// Requests of the POST still waiting for their response on this stream.
    pub requests: BTreeSet<RequestId>,
    /// The last event id received on *this* stream (`INV-C12`), kept only when it can be
    /// sent back as a header.
    pub cursor: Option<HeaderValue>,
    /// The last valid `retry` received on this stream (`INV-C14`).
    pub retry: Option<Duration>,
    /// Reconnections in a row that did not get the stream back.
    pub failures: u32,
    pub state: StreamState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamState {
    /// Reading from this exchange (the first connection or a resumption).
    Connected(ExchangeId),
    /// Waiting to reconnect at this instant.
    Waiting(Instant),
}

impl LogicalStream {
    pub fn new(standalone: bool, requests: BTreeSet<RequestId>, exchange: ExchangeId) -> Self {
        Self {
            standalone,
            requests,
            cursor: None,
            retry: None,
            failures: 0,
            state: StreamState::Connected(exchange),
        }
    }

    /// Whether the stream still has something to wait for. A POST stream whose responses
    /// all arrived is never resumed (`INV-C15`).
    pub fn wanted(&self) -> bool {
        self.standalone || !self.requests.is_empty()
    }
}

/// The wait before reconnection number `failures` (0 for the first after a close).
///
/// The first waits the server's `retry` exactly when there is one (`CLI-PSSE-13`; the TS
/// SDK also uses it in place of backoff, ambiguity 17); later ones wait the larger of
/// `retry` and an exponential backoff with "equal jitter" (half fixed, half random).
pub(super) fn delay(
    policy: &ReconnectPolicy,
    retry: Option<Duration>,
    failures: u32,
    entropy: &mut dyn Entropy,
) -> Duration {
    if let (Some(retry), 0) = (retry, failures) {
        return retry;
    }
    let exp = policy
        .initial_backoff
        .saturating_mul(1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX))
        .min(policy.max_backoff);
    let half = exp / 2;
    let mut bytes = [0u8; 4];
    entropy.fill(&mut bytes);
    let fraction = f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX);
    let jittered = half + (exp - half).mul_f64(fraction);
    jittered.max(retry.unwrap_or_default())
}

impl Client {
    /// The connection of an SSE exchange is gone (`CLI-RES-4`, ambiguity 16).
    pub(super) fn connection_lost(
        &mut self,
        exchange: ExchangeId,
        kind: &Kind,
        stream: Option<u64>,
        now: Instant,
    ) {
        match kind {
            Kind::Initialize => {
                if self.is_current_init(exchange) {
                    self.initialize_failed(None, None);
                }
            }
            Kind::LegacyProbe => match self.transport {
                Transport::Probing => self.initialize_failed(None, None),
                Transport::Legacy { .. } => {
                    self.events.push_back(ClientEvent::LegacyStreamClosed);
                    self.forget_session(RequestFailure::OutcomeUnknown);
                    self.phase = Phase::Uninitialized;
                }
                Transport::Streamable => {}
            },
            _ => {
                if let Some(key) = stream {
                    self.stream_lost(key, exchange, now);
                }
            }
        }
    }

    fn stream_lost(&mut self, key: u64, exchange: ExchangeId, now: Instant) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        if s.state != StreamState::Connected(exchange) {
            return;
        }
        if !s.wanted() {
            // INV-C15: every response of this POST arrived; nothing to resume.
            self.streams.remove(&key);
            return;
        }
        if s.cursor.is_none() {
            // No event id: the stream cannot be resumed; the outcome is unknown. This is
            // not a cancellation (INV-C16).
            return self.give_up(key, RequestFailure::OutcomeUnknown);
        }
        if s.failures >= self.config.reconnect.max_attempts {
            return self.give_up(key, RequestFailure::ReconnectExhausted);
        }
        // INV-C14, CLI-PSSE-13: not before the stream's last `retry`.
        let wait = delay(
            &self.config.reconnect,
            s.retry,
            s.failures,
            &mut *self.entropy,
        );
        s.failures += 1;
        s.state = StreamState::Waiting(now + wait);
    }

    pub(super) fn give_up(&mut self, key: u64, reason: RequestFailure) {
        let Some(s) = self.streams.remove(&key) else {
            return;
        };
        if s.standalone {
            self.standalone = Standalone::Closed;
            self.events.push_back(ClientEvent::StandaloneStreamEnded);
        }
        for id in s.requests {
            self.fail(&id, reason.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SeededEntropy;

    #[test]
    fn retry_is_a_floor_and_backoff_is_bounded() {
        let policy = ReconnectPolicy::default();
        let mut e = SeededEntropy::new(3);
        let ms = Duration::from_millis;
        assert_eq!(delay(&policy, Some(ms(250)), 0, &mut e), ms(250));
        for failures in 0..40 {
            let d = delay(&policy, None, failures, &mut e);
            assert!(
                d >= policy.initial_backoff / 2 && d <= policy.max_backoff,
                "{d:?}"
            );
            let d = delay(&policy, Some(ms(45_000)), failures + 1, &mut e);
            assert!(d >= ms(45_000));
        }
    }
}
