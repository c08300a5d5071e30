//! `subscriptions/listen` streams on the machine (2026-07-28, `N26-5`, `N26-18`).

use std::time::Instant;

use serde_json::{Value, json};

use super::Machine;
use crate::handle::StreamId;
use crate::server::UsageError;
use crate::server::listen::{self, ACKNOWLEDGED, Listen, SubscriptionFilter};

impl Machine {
    pub(in crate::server) fn listen(
        &mut self,
        stream: StreamId,
        honoured: SubscriptionFilter,
        now: Instant,
    ) -> Result<(), UsageError> {
        let s = self
            .streams
            .get(stream)
            .ok_or(UsageError::StreamClosed(stream))?;
        let pending = self.streams.unanswered(stream);
        if !s.is_modern() || !s.is_sse() || pending.len() != 1 || self.listens.contains(stream) {
            return Err(UsageError::NotAListenStream(stream));
        }
        let id = pending
            .into_iter()
            .next()
            .ok_or(UsageError::NotAListenStream(stream))?;
        // The acknowledgement comes first and names what the server honours.
        let ack = listen::tagged(
            ACKNOWLEDGED,
            Some(&json!({"notifications": honoured.to_json()})),
            &id,
        );
        self.send(stream, ack, now)?;
        self.listens.insert(
            stream,
            Listen {
                id,
                filter: honoured,
            },
        );
        Ok(())
    }

    pub(in crate::server) fn publish(
        &mut self,
        method: &str,
        params: Option<&Value>,
        now: Instant,
    ) -> usize {
        let mut sent = 0;
        for (stream, id) in self.listens.admitting(method, params) {
            let message = listen::tagged(method, params, &id);
            sent += usize::from(self.send(stream, message, now).is_ok());
        }
        sent
    }

    pub(in crate::server) fn end_listen(
        &mut self,
        stream: StreamId,
        now: Instant,
    ) -> Result<(), UsageError> {
        let id = self
            .listens
            .get(stream)
            .map(|l| l.id.clone())
            .ok_or(UsageError::NotAListenStream(stream))?;
        self.send(stream, listen::ending_result(&id), now)
    }

    pub(super) fn end_all_listens(&mut self, now: Instant) -> usize {
        let mut ended = 0;
        for stream in self.listens.streams() {
            ended += usize::from(self.end_listen(stream, now).is_ok());
        }
        ended
    }
}
