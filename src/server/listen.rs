//! `subscriptions/listen` (2026-07-28, `N26-5`, `N26-18`): the long-lived POST streams that
//! carry change notifications, each with the filter the server honours, and the
//! subscription id (the listen request's id) every message on it is tagged with.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::handle::StreamId;
use crate::wire::jsonrpc::RequestId;

/// The `_meta` key tagging a listen stream's messages.
pub const SUBSCRIPTION_ID_META: &str = "io.modelcontextprotocol/subscriptionId";

/// The method of the acknowledgement, the first message of a listen stream.
pub const ACKNOWLEDGED: &str = "notifications/subscriptions/acknowledged";

/// Which notifications a listen stream carries (the schema's `SubscriptionFilter`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionFilter {
    /// `notifications/tools/list_changed`.
    pub tools_list_changed: bool,
    /// `notifications/prompts/list_changed`.
    pub prompts_list_changed: bool,
    /// `notifications/resources/list_changed`.
    pub resources_list_changed: bool,
    /// `notifications/resources/updated` for these URIs.
    pub resource_subscriptions: Vec<String>,
}

impl SubscriptionFilter {
    /// The filter a `subscriptions/listen` request's `params.notifications` asks for;
    /// unknown or mistyped fields count as not asked for.
    pub fn from_params(params: &Value) -> Self {
        let n = &params["notifications"];
        let flag = |k: &str| n.get(k).and_then(Value::as_bool).unwrap_or(false);
        Self {
            tools_list_changed: flag("toolsListChanged"),
            prompts_list_changed: flag("promptsListChanged"),
            resources_list_changed: flag("resourcesListChanged"),
            resource_subscriptions: n
                .get("resourceSubscriptions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// What both `self` and `other` allow: the requested filter cut down to what a
    /// server supports.
    #[must_use]
    pub fn intersect(&self, other: &Self) -> Self {
        Self {
            tools_list_changed: self.tools_list_changed && other.tools_list_changed,
            prompts_list_changed: self.prompts_list_changed && other.prompts_list_changed,
            resources_list_changed: self.resources_list_changed && other.resources_list_changed,
            resource_subscriptions: self
                .resource_subscriptions
                .iter()
                .filter(|u| other.resource_subscriptions.contains(u))
                .cloned()
                .collect(),
        }
    }

    /// The wire form, with only the notification types it holds.
    pub fn to_json(&self) -> Value {
        let mut v = json!({});
        for (key, on) in [
            ("toolsListChanged", self.tools_list_changed),
            ("promptsListChanged", self.prompts_list_changed),
            ("resourcesListChanged", self.resources_list_changed),
        ] {
            if on {
                v[key] = json!(true);
            }
        }
        if !self.resource_subscriptions.is_empty() {
            v["resourceSubscriptions"] = json!(self.resource_subscriptions);
        }
        v
    }

    /// Whether a notification of `method` (with `params`) passes the filter.
    pub fn admits(&self, method: &str, params: Option<&Value>) -> bool {
        match method {
            "notifications/tools/list_changed" => self.tools_list_changed,
            "notifications/prompts/list_changed" => self.prompts_list_changed,
            "notifications/resources/list_changed" => self.resources_list_changed,
            "notifications/resources/updated" => params
                .and_then(|p| p.get("uri"))
                .and_then(Value::as_str)
                .is_some_and(|u| self.resource_subscriptions.iter().any(|s| s == u)),
            _ => false,
        }
    }
}

/// One listen stream.
#[derive(Debug)]
pub(super) struct Listen {
    pub id: RequestId,
    pub filter: SubscriptionFilter,
}

/// The open listen streams.
#[derive(Debug, Default)]
pub(super) struct Listens {
    open: BTreeMap<StreamId, Listen>,
}

impl Listens {
    pub fn insert(&mut self, stream: StreamId, listen: Listen) {
        self.open.insert(stream, listen);
    }

    pub fn remove(&mut self, stream: StreamId) -> Option<Listen> {
        self.open.remove(&stream)
    }

    pub fn contains(&self, stream: StreamId) -> bool {
        self.open.contains_key(&stream)
    }

    pub fn get(&self, stream: StreamId) -> Option<&Listen> {
        self.open.get(&stream)
    }

    /// The streams whose filter admits the notification, with their subscription ids.
    pub fn admitting(&self, method: &str, params: Option<&Value>) -> Vec<(StreamId, RequestId)> {
        self.open
            .iter()
            .filter(|(_, l)| l.filter.admits(method, params))
            .map(|(s, l)| (*s, l.id.clone()))
            .collect()
    }

    pub fn streams(&self) -> Vec<StreamId> {
        self.open.keys().copied().collect()
    }
}

/// A notification of `method` tagged with subscription `id`.
pub(super) fn tagged(method: &str, params: Option<&Value>, id: &RequestId) -> Vec<u8> {
    let mut params = params.cloned().unwrap_or_else(|| json!({}));
    if !params.is_object() {
        params = json!({});
    }
    let meta = params
        .as_object_mut()
        .map(|o| o.entry("_meta").or_insert_with(|| json!({})));
    if let Some(m) = meta.and_then(Value::as_object_mut) {
        m.insert(SUBSCRIPTION_ID_META.into(), id_json(id));
    }
    serde_json::to_vec(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
        .unwrap_or_default()
}

/// The result that ends a listen stream from the server side (`N26-18`).
pub(super) fn ending_result(id: &RequestId) -> Vec<u8> {
    let idv = id_json(id);
    serde_json::to_vec(&json!({
        "jsonrpc": "2.0",
        "id": idv,
        "result": {"resultType": "complete", "_meta": {SUBSCRIPTION_ID_META: idv}},
    }))
    .unwrap_or_default()
}

fn id_json(id: &RequestId) -> Value {
    serde_json::to_value(id).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_cut_and_admit() {
        let asked = SubscriptionFilter::from_params(&json!({"notifications": {
            "toolsListChanged": true, "promptsListChanged": true,
            "resourceSubscriptions": ["file:///a", "file:///b"],
        }}));
        let supported = SubscriptionFilter {
            tools_list_changed: true,
            resource_subscriptions: vec!["file:///a".into()],
            ..SubscriptionFilter::default()
        };
        let honoured = asked.intersect(&supported);
        assert_eq!(
            honoured.to_json(),
            json!({"toolsListChanged": true, "resourceSubscriptions": ["file:///a"]})
        );
        assert!(honoured.admits("notifications/tools/list_changed", None));
        assert!(!honoured.admits("notifications/prompts/list_changed", None));
        assert!(honoured.admits(
            "notifications/resources/updated",
            Some(&json!({"uri": "file:///a"}))
        ));
        assert!(!honoured.admits(
            "notifications/resources/updated",
            Some(&json!({"uri": "file:///b"}))
        ));
        assert!(!honoured.admits("notifications/message", None));
    }
}
