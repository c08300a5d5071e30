//! The conformance suite's multi-round-trip fixtures (2026-07-28, SEP-2322): tools and a
//! prompt that answer with an `InputRequiredResult` (`resultType: "input_required"`,
//! `inputRequests`, `requestState`) and complete when the client retries with
//! `inputResponses`. A server of that revision asks the client this way instead of
//! sending it requests on the stream (`N26-2`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use serde_json::{Value, json};

/// The tool names served here.
pub const TOOLS: &[&str] = &[
    "test_input_required_result_elicitation",
    "test_input_required_result_sampling",
    "test_input_required_result_list_roots",
    "test_input_required_result_request_state",
    "test_input_required_result_multiple_inputs",
    "test_input_required_result_multi_round",
    "test_input_required_result_tampered_state",
    "test_input_required_result_capabilities",
];

/// The prompt served here.
pub const PROMPT: &str = "test_input_required_result_prompt";

/// A fixture's failure: a JSON-RPC code and message.
pub type Failure = (i32, String);

const INVALID_PARAMS: i32 = -32602;

fn elicit(message: &str, field: &str, kind: &str) -> Value {
    json!({"method": "elicitation/create", "params": {
        "message": message,
        "requestedSchema": {
            "type": "object",
            "properties": {field: {"type": kind}},
            "required": [field],
        },
    }})
}

fn sample(text: &str, max_tokens: u32) -> Value {
    json!({"method": "sampling/createMessage", "params": {
        "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
        "maxTokens": max_tokens,
    }})
}

fn roots() -> Value {
    json!({"method": "roots/list", "params": {}})
}

fn incomplete(requests: Value, state: Option<String>) -> Value {
    let mut v = json!({"resultType": "input_required", "inputRequests": requests});
    if let Some(s) = state {
        v["requestState"] = json!(s);
    }
    v
}

fn text(t: &str) -> Value {
    json!({"content": [{"type": "text", "text": t}]})
}

/// A per-process key: `requestState` is `payload.tag`, the tag a keyed SipHash of the
/// payload, so a state the server did not mint is rejected. (An example fixture: a real
/// server signs with a MAC whose key it keeps across processes.)
fn tag(payload: &str) -> String {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    let mut h = KEY.get_or_init(RandomState::new).build_hasher();
    h.write(payload.as_bytes());
    format!("{:016x}", h.finish())
}

fn sign(payload: &str) -> String {
    format!("{payload}.{}", tag(payload))
}

/// The payload of a state this process minted.
fn verify(state: Option<&Value>) -> Result<String, Failure> {
    let s = state
        .and_then(Value::as_str)
        .ok_or((INVALID_PARAMS, "requestState is missing".to_owned()))?;
    let (payload, t) = s
        .rsplit_once('.')
        .ok_or((INVALID_PARAMS, "requestState is malformed".to_owned()))?;
    if tag(payload) != t {
        return Err((
            INVALID_PARAMS,
            "requestState failed its integrity check".into(),
        ));
    }
    Ok(payload.to_owned())
}

/// The accepted content of answer `key` among `responses`: `Ok(None)` when the key is
/// absent (ask again), an error when the answer is not an object.
fn answer<'a>(responses: Option<&'a Value>, key: &str) -> Result<Option<&'a Value>, Failure> {
    match responses.and_then(|r| r.get(key)) {
        None => Ok(None),
        Some(v) if v.is_object() => Ok(Some(v)),
        Some(_) => Err((
            INVALID_PARAMS,
            format!("inputResponses.{key} must be an object"),
        )),
    }
}

/// A field of an accepted elicitation answer.
fn field<'a>(a: &'a Value, name: &str) -> &'a str {
    a.pointer(&format!("/content/{name}"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The text a sampling answer carries.
fn sampled(a: &Value) -> String {
    a.pointer("/content/text")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// `tools/call` of fixture `name` with `params` (`arguments`, `inputResponses`,
/// `requestState`, `_meta`); `None` when `name` is not one of [`TOOLS`].
pub fn call_tool(name: &str, params: &Value) -> Option<Result<Value, Failure>> {
    if !TOOLS.contains(&name) {
        return None;
    }
    let responses = params.get("inputResponses");
    let state = params.get("requestState");
    let caps = params
        .pointer("/_meta/io.modelcontextprotocol~1clientCapabilities")
        .cloned()
        .unwrap_or(Value::Null);
    let r = (|| -> Result<Value, Failure> {
        Ok(match name {
            "test_input_required_result_elicitation" => {
                match answer(responses, "user_name")? {
                    Some(a) => text(&format!("Hello, {}!", field(a, "name"))),
                    // Missing or wrong keys: ask again, not an error.
                    None => incomplete(
                        json!({"user_name": elicit("What is your name?", "name", "string")}),
                        None,
                    ),
                }
            }
            "test_input_required_result_sampling" => match answer(responses, "capital_question")? {
                Some(a) => text(&format!("The model said: {}", sampled(a))),
                None => incomplete(
                    json!({"capital_question": sample("What is the capital of France?", 100)}),
                    None,
                ),
            },
            "test_input_required_result_list_roots" => match answer(responses, "client_roots")? {
                Some(a) => {
                    let uris: Vec<&str> = a["roots"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r["uri"].as_str())
                        .collect();
                    text(&format!("roots: {}", uris.join(", ")))
                }
                None => incomplete(json!({"client_roots": roots()}), None),
            },
            "test_input_required_result_request_state" => match answer(responses, "confirm")? {
                Some(_) => {
                    verify(state)?;
                    text("state-ok: the requestState came back intact")
                }
                None => incomplete(
                    json!({"confirm": elicit("Please confirm", "ok", "boolean")}),
                    Some(sign("confirm")),
                ),
            },
            "test_input_required_result_multiple_inputs" => {
                let keys = ["user_name", "greeting", "client_roots"];
                let mut all = true;
                for k in keys {
                    all &= answer(responses, k)?.is_some();
                }
                if all {
                    verify(state)?;
                    text("received every input")
                } else {
                    incomplete(
                        json!({
                            "user_name": elicit("What is your name?", "name", "string"),
                            "greeting": sample("Generate a greeting", 50),
                            "client_roots": roots(),
                        }),
                        Some(sign("multiple")),
                    )
                }
            }
            "test_input_required_result_multi_round" => {
                if let Some(a) = answer(responses, "step2")? {
                    let payload = verify(state)?;
                    let name = payload.strip_prefix("round2:").unwrap_or("");
                    text(&format!("{name} likes {}", field(a, "color")))
                } else if let Some(a) = answer(responses, "step1")? {
                    verify(state)?;
                    incomplete(
                        json!({"step2": elicit("Step 2: What is your favorite color?", "color", "string")}),
                        Some(sign(&format!("round2:{}", field(a, "name")))),
                    )
                } else {
                    incomplete(
                        json!({"step1": elicit("Step 1: What is your name?", "name", "string")}),
                        Some(sign("round1")),
                    )
                }
            }
            "test_input_required_result_tampered_state" => match answer(responses, "confirm")? {
                Some(_) => {
                    verify(state)?;
                    text("state verified")
                }
                None => incomplete(
                    json!({"confirm": elicit("Please confirm", "ok", "boolean")}),
                    Some(sign("tamper-check")),
                ),
            },
            "test_input_required_result_capabilities" => {
                // Only what the client declared it can answer.
                let mut requests = json!({});
                if caps.get("elicitation").is_some() {
                    requests["user_name"] = elicit("What is your name?", "name", "string");
                }
                if caps.get("sampling").is_some() {
                    requests["capital_question"] = sample("What is the capital of France?", 100);
                }
                if caps.get("roots").is_some() {
                    requests["client_roots"] = roots();
                }
                let asked: Vec<String> = requests
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default();
                let answered = asked
                    .iter()
                    .all(|k| responses.and_then(|r| r.get(k)).is_some());
                if asked.is_empty() || answered {
                    text("nothing more is needed")
                } else {
                    incomplete(requests, None)
                }
            }
            other => return Err((INVALID_PARAMS, format!("unknown tool: {other}"))),
        })
    })();
    Some(r)
}

/// `prompts/get` of [`PROMPT`].
pub fn get_prompt(params: &Value) -> Result<Value, Failure> {
    match answer(params.get("inputResponses"), "user_context")? {
        Some(a) => Ok(json!({
            "description": "A prompt built from the context the user gave",
            "messages": [{"role": "user", "content": {
                "type": "text",
                "text": format!("Use this context: {}", field(a, "context")),
            }}],
        })),
        None => Ok(incomplete(
            json!({"user_context": elicit("What context should the prompt use?", "context", "string")}),
            None,
        )),
    }
}

/// The tools/list entries of the fixtures.
pub fn tool_entries() -> Vec<Value> {
    TOOLS
        .iter()
        .map(|n| {
            json!({
                "name": n,
                "description": "2026-07-28 multi-round-trip fixture (SEP-2322).",
                "inputSchema": {"type": "object", "properties": {}},
            })
        })
        .collect()
}
