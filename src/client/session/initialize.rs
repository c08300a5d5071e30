//! The saved `initialize` request: the one the application gave, with the version the
//! client asks for written in (`LIFE-2`), kept to re-initialize after a 404
//! (`CLI-SESS-8`) and to retry once with an older version (`CLI-BC-26`).

use bytes::Bytes;
use http::StatusCode;

use super::InitializeError;
use crate::client::error::UsageError;
use crate::client::legacy;
use crate::client::modern::Identity;
use crate::handle::ExchangeId;
use crate::version::ProtocolVersion;
use crate::wire::jsonrpc::{Body, RequestId, classify};

/// The `initialize` request, kept to re-initialize after a 404 (`CLI-SESS-8`).
#[derive(Debug, Clone)]
pub(super) struct SavedInitialize {
    pub(super) json: Bytes,
    pub(super) id: RequestId,
    pub(super) requested: ProtocolVersion,
    /// This initialization follows a 404 (`INV-C4`).
    pub(super) reinit: bool,
    /// `initialize` was already re-sent once after a `-32022` (`CLI-BC-26`).
    pub(super) version_retried: bool,
    /// The exchange carrying it now (or the `server/discover` standing for it).
    pub(super) exchange: Option<ExchangeId>,
    /// Its capabilities and client info, for the `_meta` of modern requests.
    pub(super) identity: Identity,
}

impl SavedInitialize {
    pub(super) fn new(json: Bytes, version: ProtocolVersion) -> Result<Self, UsageError> {
        let id = match classify(&json).map_err(UsageError::InvalidMessage)? {
            Body::Single(env) if env.is_initialize() => env.id.clone().expect("a request"),
            _ => return Err(UsageError::NotInitialize),
        };
        let mut saved = Self {
            json: json.clone(),
            id,
            requested: version,
            reinit: false,
            version_retried: false,
            exchange: None,
            identity: Identity::from_initialize(&json),
        };
        saved.set_version(version)?;
        Ok(saved)
    }

    /// Writes `version` into `params.protocolVersion` (`LIFE-2`).
    pub(super) fn set_version(&mut self, version: ProtocolVersion) -> Result<(), UsageError> {
        let mut value: serde_json::Value =
            serde_json::from_slice(&self.json).map_err(|_| UsageError::NotInitialize)?;
        let params = value
            .as_object_mut()
            .ok_or(UsageError::NotInitialize)?
            .entry("params")
            .or_insert_with(|| serde_json::json!({}));
        let params = params.as_object_mut().ok_or(UsageError::NotInitialize)?;
        params.insert("protocolVersion".into(), version.as_str().into());
        self.json = serde_json::to_vec(&value)
            .expect("a Value serializes")
            .into();
        self.requested = version;
        Ok(())
    }

    /// What to do after an error status with `body` answered this `initialize` (sent as
    /// a Streamable HTTP `initialize` when `streamable`).
    pub(super) fn after_error(
        &mut self,
        status: StatusCode,
        body: &[u8],
        streamable: bool,
        legacy_fallback: bool,
    ) -> InitializeError {
        let supported = legacy::supported_versions(body);
        // CLI-BC-26: a -32022 body comes from a modern server; re-send initialize with
        // the newest version it lists that we speak, once.
        if status == StatusCode::BAD_REQUEST && !self.version_retried {
            if let Some(v) = supported
                .as_deref()
                .and_then(|s| legacy::retry_version(s, self.requested))
            {
                self.version_retried = true;
                if self.set_version(v).is_ok() {
                    return InitializeError::Retry(v);
                }
            }
        }
        // CLI-BC-3, INV-C19: the legacy fallback, only for the first initialize of a
        // Streamable HTTP attempt, on a status the revision allows (never 401).
        let fallback = streamable
            && legacy_fallback
            && !self.reinit
            && supported.is_none()
            && status != StatusCode::UNAUTHORIZED
            && self.requested.legacy_fallback_on(status);
        if fallback {
            InitializeError::Fallback
        } else {
            InitializeError::Failed
        }
    }
}
