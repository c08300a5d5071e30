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

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use http::HeaderValue;

use super::config::ReconnectPolicy;
use super::event::RequestFailure;
use crate::entropy::Entropy;
use crate::handle::ExchangeId;

/// A logical SSE stream, by a key never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct StreamKey(u64);

/// The standalone GET stream of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standalone {
    Closed,
    /// Asked for, or open.
    Open,
    /// The server answered 405: no standalone stream for this session (`INV-C17`).
    Unavailable,
}

/// One SSE stream: the answer to a request-bearing POST, or the standalone GET stream.
/// The requests a POST stream waits for are the awaited requests that name it.
#[derive(Debug)]
struct LogicalStream {
    standalone: bool,
    /// The last event id received on *this* stream (`INV-C12`), kept only when it can be
    /// sent back as a header.
    cursor: Option<HeaderValue>,
    /// The last valid `retry` received on this stream (`INV-C14`).
    retry: Option<Duration>,
    /// Reconnections in a row that did not get the stream back.
    failures: u32,
    state: StreamState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamState {
    /// Reading from this exchange (the first connection or a resumption).
    Connected(ExchangeId),
    /// Waiting to reconnect at this instant.
    Waiting(Instant),
}

/// What became of a stream whose connection was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Lost {
    /// Nothing to do: not this stream's connection, nothing left to wait for, or a
    /// reconnection is now scheduled.
    Kept,
    /// The stream cannot be resumed: give it up with this reason.
    GiveUp(RequestFailure),
}

/// The logical SSE streams of the session, their reconnection timers, and the state of
/// the standalone GET stream.
#[derive(Debug)]
pub(super) struct Streams {
    next: u64,
    table: BTreeMap<StreamKey, LogicalStream>,
    standalone: Standalone,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            next: 0,
            table: BTreeMap::new(),
            standalone: Standalone::Closed,
        }
    }
}

impl Streams {
    /// The state of the standalone GET stream.
    pub fn standalone(&self) -> Standalone {
        self.standalone
    }

    /// Records what the server (or the application) did with the standalone GET stream.
    pub fn set_standalone(&mut self, state: Standalone) {
        self.standalone = state;
    }

    /// A new logical stream read from `exchange`.
    pub fn open(&mut self, standalone: bool, exchange: ExchangeId) -> StreamKey {
        let key = StreamKey(self.next);
        self.next += 1;
        let stream = LogicalStream {
            standalone,
            cursor: None,
            retry: None,
            failures: 0,
            state: StreamState::Connected(exchange),
        };
        self.table.insert(key, stream);
        key
    }

    /// INV-C12, INV-C13, INV-C14: the stream's cursor and retry follow every block,
    /// dispatched or not (a priming event's id counts).
    pub fn observe(
        &mut self,
        key: StreamKey,
        cursor: Option<HeaderValue>,
        retry: Option<Duration>,
    ) {
        if let Some(s) = self.table.get_mut(&key) {
            if cursor.is_some() {
                s.cursor = cursor;
            }
            if retry.is_some() {
                s.retry = retry;
            }
        }
    }

    /// A reconnection got the stream back: the failure count starts again.
    pub fn resumed(&mut self, key: StreamKey) {
        if let Some(s) = self.table.get_mut(&key) {
            s.failures = 0;
        }
    }

    /// The connection `exchange` of stream `key` is gone (`CLI-RES-4`, ambiguity 16).
    /// `waiting` says whether a request still waits on the stream.
    pub fn lost(
        &mut self,
        key: StreamKey,
        exchange: ExchangeId,
        waiting: bool,
        now: Instant,
        policy: &ReconnectPolicy,
        entropy: &mut dyn Entropy,
    ) -> Lost {
        let Some(s) = self.table.get_mut(&key) else {
            return Lost::Kept;
        };
        if s.state != StreamState::Connected(exchange) {
            return Lost::Kept;
        }
        if !s.standalone && !waiting {
            // INV-C15: every response of this POST arrived; nothing to resume.
            self.table.remove(&key);
            return Lost::Kept;
        }
        if s.cursor.is_none() {
            // No event id: the stream cannot be resumed; the outcome is unknown. This is
            // not a cancellation (INV-C16).
            return Lost::GiveUp(RequestFailure::OutcomeUnknown);
        }
        if s.failures >= policy.max_attempts {
            return Lost::GiveUp(RequestFailure::ReconnectExhausted);
        }
        // INV-C14, CLI-PSSE-13: not before the stream's last `retry`.
        let wait = delay(policy, s.retry, s.failures, entropy);
        s.failures += 1;
        s.state = StreamState::Waiting(now + wait);
        Lost::Kept
    }

    /// Drops stream `key`; `Some(true)` when it was the standalone stream, which is then
    /// closed.
    pub fn give_up(&mut self, key: StreamKey) -> Option<bool> {
        let s = self.table.remove(&key)?;
        if s.standalone {
            self.standalone = Standalone::Closed;
        }
        Some(s.standalone)
    }

    /// Drops every stream; the standalone stream is closed.
    pub fn clear(&mut self) {
        self.table.clear();
        self.standalone = Standalone::Closed;
    }

    /// When the next reconnection is due.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.table
            .values()
            .filter_map(|s| match s.state {
                StreamState::Waiting(at) => Some(at),
                StreamState::Connected(_) => None,
            })
            .min()
    }

    /// The streams due to reconnect at `now`, with their cursors.
    pub fn due(&self, now: Instant) -> Vec<(StreamKey, Option<HeaderValue>)> {
        self.table
            .iter()
            .filter(|(_, s)| matches!(s.state, StreamState::Waiting(at) if at <= now))
            .map(|(k, s)| (*k, s.cursor.clone()))
            .collect()
    }

    /// Stream `key` is read from `exchange` again.
    pub fn reconnecting(&mut self, key: StreamKey, exchange: ExchangeId) {
        if let Some(s) = self.table.get_mut(&key) {
            s.state = StreamState::Connected(exchange);
        }
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
