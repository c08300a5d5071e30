//! The `x-mcp-header` annotations of tools (2026-07-28, `N26-16`): which `tools/call`
//! arguments travel in `Mcp-Param-{Name}` headers too, so that intermediaries can route
//! on them without reading the body.
//!
//! Both machines use them:
//! - the server checks those headers against the body before the application sees the
//!   request, for the tools whose annotations the application declared
//!   ([`ServerConfig::param_headers`](crate::server::ServerConfig::param_headers));
//! - the client learns them from each `tools/list` result, drops the tools whose
//!   annotations break the rules (the spec's "reject"), and mirrors the annotated
//!   arguments of every `tools/call` into headers ([`mirror`]).
//!
//! The rules an annotation must keep (`N26-16`):
//! - its value is a non-empty HTTP token (`1*tchar`, so no space, colon, control or
//!   non-ASCII character), case-insensitively unique within the tool;
//! - it sits on a property of type `string`, `integer` or `boolean` (never `number`);
//! - that property is statically reachable from the schema root: a chain of
//!   `properties` keys only, never through `items`, `oneOf` / `anyOf` / `allOf` /
//!   `not`, `if` / `then` / `else`, `$ref` targets (`$defs`) or any other keyword.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::wire::codec;

/// The JSON type of an annotated parameter: only these may be mirrored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamKind {
    /// `"type": "string"`: compared exactly, after decoding.
    String,
    /// `"type": "integer"`: decimal text, compared numerically.
    Integer,
    /// `"type": "boolean"`: `true` or `false`.
    Boolean,
}

/// One annotated parameter of a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    /// The argument's property path in `params.arguments`: one name for a top-level
    /// property, more for a nested object's (each step a `properties` key).
    pub path: Vec<String>,
    /// The header's name after `Mcp-Param-`, as annotated.
    pub header: String,
    /// Its type.
    pub kind: ParamKind,
}

impl ParamHeader {
    /// An annotation of the top-level argument `param`.
    pub fn new(param: &str, header: &str, kind: ParamKind) -> Self {
        Self {
            path: vec![param.to_owned()],
            header: header.to_owned(),
            kind,
        }
    }

    /// The argument's path, dotted, for messages.
    pub fn param(&self) -> String {
        self.path.join(".")
    }

    /// The value at the annotated path of `arguments`; `None` when absent or `null`
    /// (then no header is sent, and none is expected).
    pub fn value_in<'a>(&self, arguments: Option<&'a Value>) -> Option<&'a Value> {
        let mut at = arguments?;
        for step in &self.path {
            at = at.get(step)?;
        }
        Some(at).filter(|v| !v.is_null())
    }

    /// `mcp-param-{header}`, lowercase; `None` when the annotation is not a token (a
    /// validated annotation always is).
    pub fn header_name(&self) -> Option<HeaderName> {
        HeaderName::from_bytes(format!("mcp-param-{}", self.header).as_bytes()).ok()
    }
}

/// Why a tool's annotations cannot be used. A client drops such a tool from the
/// `tools/list` result (`N26-16`); a server refuses to declare it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamHeaderError {
    /// An `x-mcp-header` value that is not a non-empty HTTP token (an empty string, a
    /// space, a colon, a control or non-ASCII character, or not a string at all).
    #[error("tool {tool:?}: x-mcp-header {header:?} of {param:?} is not an HTTP token")]
    NotAToken {
        /// The tool.
        tool: String,
        /// The parameter's dotted path.
        param: String,
        /// The annotation, as JSON text when it is not a string.
        header: String,
    },
    /// Two parameters of one tool annotated with the same header (names compare
    /// case-insensitively).
    #[error("tool {tool:?}: x-mcp-header {header:?} is used twice")]
    Duplicate {
        /// The tool.
        tool: String,
        /// The annotation.
        header: String,
    },
    /// An annotated parameter whose `type` is not `string`, `integer` or `boolean`
    /// (`number`, `object`, `array`, `null`, a list of types, or none).
    #[error(
        "tool {tool:?}: x-mcp-header on {param:?}, whose type is not string, integer or boolean"
    )]
    NotPrimitive {
        /// The tool.
        tool: String,
        /// The parameter's dotted path.
        param: String,
    },
    /// An annotation on a schema not reachable from the root by `properties` keys alone
    /// (under `items`, `oneOf`, `$defs` ...), or on the root itself.
    #[error(
        "tool {tool:?}: x-mcp-header at {at:?} is not on a property reachable through `properties` alone"
    )]
    NotReachable {
        /// The tool.
        tool: String,
        /// Where, as a JSON pointer into `inputSchema`.
        at: String,
    },
}

/// The annotated parameters of every tool, by tool name. Empty by default: without
/// declarations `Mcp-Param-*` headers pass unread (intermediaries forward them, `N26-16`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParamHeaders {
    tools: BTreeMap<String, Vec<ParamHeader>>,
}

/// The most tools a [`ParamHeaders`] learned from `tools/list` results remembers: a
/// server cannot grow a client's memory without bound with endless pages. A tool past
/// the cap is still listed, but its calls carry no `Mcp-Param-*` headers.
pub const MAX_LEARNED_TOOLS: usize = 10_000;

impl ParamHeaders {
    /// No declarations.
    pub fn new() -> Self {
        Self::default()
    }

    /// The annotations of a `tools/list` `tools` array: each tool's `inputSchema`. An
    /// invalid annotation is an error: a server must not list a tool that clients would
    /// drop.
    pub fn from_tools(tools: &Value) -> Result<Self, ParamHeaderError> {
        let mut out = Self::new();
        for tool in tools.as_array().into_iter().flatten() {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                continue;
            };
            let declared = annotations(tool)?;
            if !declared.is_empty() {
                out.declare(name, declared)?;
            }
        }
        Ok(out)
    }

    /// What a client does with the `tools` of a `tools/list` result: remembers the
    /// annotations of every valid tool (replacing what it knew of that tool), forgets
    /// those it knew of an invalid one, and returns the index of each invalid tool with
    /// the reason, for the caller to drop it from the result (`N26-16`).
    pub fn learn(&mut self, tools: &[Value]) -> Vec<(usize, ParamHeaderError)> {
        let mut invalid = Vec::new();
        for (i, tool) in tools.iter().enumerate() {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                continue;
            };
            match annotations(tool).and_then(|d| check_names(name, &d).map(|()| d)) {
                Ok(d) if d.is_empty() => {
                    self.tools.remove(name);
                }
                Ok(d) => {
                    if self.tools.len() < MAX_LEARNED_TOOLS || self.tools.contains_key(name) {
                        self.tools.insert(name.to_owned(), d);
                    }
                }
                Err(e) => {
                    self.tools.remove(name);
                    invalid.push((i, e));
                }
            }
        }
        invalid
    }

    /// Declares `tool`'s annotated parameters, replacing any earlier declaration.
    pub fn declare(
        &mut self,
        tool: &str,
        params: Vec<ParamHeader>,
    ) -> Result<(), ParamHeaderError> {
        check_names(tool, &params)?;
        self.tools.insert(tool.into(), params);
        Ok(())
    }

    /// `tool`'s annotated parameters (none when undeclared).
    pub fn of(&self, tool: &str) -> &[ParamHeader] {
        self.tools.get(tool).map_or(&[], Vec::as_slice)
    }

    /// Whether nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// How many tools have annotations.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Forgets every tool.
    pub fn clear(&mut self) {
        self.tools.clear();
    }
}

/// Token syntax and case-insensitive uniqueness of `params`' header names.
fn check_names(tool: &str, params: &[ParamHeader]) -> Result<(), ParamHeaderError> {
    let mut seen: Vec<String> = Vec::new();
    for p in params {
        if p.header.is_empty() || !p.header.bytes().all(is_tchar) {
            return Err(ParamHeaderError::NotAToken {
                tool: tool.into(),
                param: p.param(),
                header: p.header.clone(),
            });
        }
        let lower = p.header.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(ParamHeaderError::Duplicate {
                tool: tool.into(),
                header: p.header.clone(),
            });
        }
        seen.push(lower);
    }
    Ok(())
}

/// The annotated parameters of one tool definition, in schema order; an error for the
/// first annotation that breaks a rule. Names are checked by [`check_names`].
fn annotations(tool: &Value) -> Result<Vec<ParamHeader>, ParamHeaderError> {
    let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
    let mut walk = Walk {
        tool: name,
        path: Vec::new(),
        pointer: Vec::new(),
        out: Vec::new(),
    };
    if let Some(schema) = tool.get("inputSchema") {
        walk.schema(schema, true)?;
    }
    Ok(walk.out)
}

/// A walk over an `inputSchema`: `path` is the chain of `properties` keys to the
/// current schema while it is statically reachable, `pointer` where it is. Recursion is
/// bounded by `serde_json`'s nesting limit (128) on parsed input.
struct Walk<'a> {
    tool: &'a str,
    path: Vec<String>,
    pointer: Vec<String>,
    out: Vec<ParamHeader>,
}

/// The keywords whose value is a map of subschemas.
const SCHEMA_MAPS: [&str; 5] = [
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
    "dependencies",
];

/// The keywords whose value is a subschema, or an array of subschemas.
const SCHEMA_KEYWORDS: [&str; 16] = [
    "items",
    "prefixItems",
    "additionalItems",
    "contains",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "additionalProperties",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
];

impl Walk<'_> {
    fn schema(&mut self, node: &Value, reachable: bool) -> Result<(), ParamHeaderError> {
        let Some(obj) = node.as_object() else {
            return Ok(());
        };
        if let Some(header) = obj.get("x-mcp-header") {
            self.annotation(obj, header, reachable)?;
        }
        for (key, value) in obj {
            self.pointer.push(key.clone());
            let done = if key == "properties" {
                self.map(value, Some(reachable))
            } else if SCHEMA_MAPS.contains(&key.as_str()) {
                self.map(value, None)
            } else if SCHEMA_KEYWORDS.contains(&key.as_str()) {
                match value {
                    Value::Array(items) => items.iter().enumerate().try_for_each(|(i, v)| {
                        self.pointer.push(i.to_string());
                        let r = self.schema(v, false);
                        self.pointer.pop();
                        r
                    }),
                    v => self.schema(v, false),
                }
            } else {
                Ok(())
            };
            self.pointer.pop();
            done?;
        }
        Ok(())
    }

    /// A map of subschemas; `Some(reachable)` for `properties`, whose keys extend the
    /// path.
    fn map(&mut self, value: &Value, properties: Option<bool>) -> Result<(), ParamHeaderError> {
        let Some(map) = value.as_object() else {
            return Ok(());
        };
        for (name, sub) in map {
            self.pointer.push(name.clone());
            let reachable = properties == Some(true);
            if reachable {
                self.path.push(name.clone());
            }
            let r = self.schema(sub, reachable);
            if reachable {
                self.path.pop();
            }
            self.pointer.pop();
            r?;
        }
        Ok(())
    }

    fn annotation(
        &mut self,
        obj: &Map<String, Value>,
        header: &Value,
        reachable: bool,
    ) -> Result<(), ParamHeaderError> {
        if !reachable || self.path.is_empty() {
            return Err(ParamHeaderError::NotReachable {
                tool: self.tool.into(),
                at: format!("/{}", self.pointer.join("/")),
            });
        }
        let param = self.path.join(".");
        let Some(header) = header.as_str() else {
            return Err(ParamHeaderError::NotAToken {
                tool: self.tool.into(),
                param,
                header: header.to_string(),
            });
        };
        let kind = match obj.get("type").and_then(Value::as_str) {
            Some("string") => ParamKind::String,
            Some("integer") => ParamKind::Integer,
            Some("boolean") => ParamKind::Boolean,
            _ => {
                return Err(ParamHeaderError::NotPrimitive {
                    tool: self.tool.into(),
                    param,
                });
            }
        };
        self.out.push(ParamHeader {
            path: self.path.clone(),
            header: header.into(),
            kind,
        });
        Ok(())
    }
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The `Mcp-Param-*` headers a client sends with a `tools/call` of a tool annotated
/// with `declared`, for its `arguments` (`N26-16`): strings as they are, integers in
/// decimal, booleans as `true` / `false`, each base64-encoded when it is not a plain
/// header-safe value (`N26-15`); nothing for an argument that is absent or `null`, or
/// not a primitive (the server then refuses the body).
pub fn mirror(
    declared: &[ParamHeader],
    arguments: Option<&Value>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    for p in declared {
        let Some(value) = p.value_in(arguments) else {
            continue;
        };
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        let encoded = codec::encode(&text);
        let (Some(name), Ok(value)) = (p.header_name(), HeaderValue::from_str(&encoded)) else {
            continue;
        };
        out.push((name, value));
    }
    out
}

/// Checks the `Mcp-Param-*` headers of a `tools/call` against its `arguments` for the
/// declared parameters; the text of the first disagreement (`N26-16`).
pub(crate) fn check(
    declared: &[ParamHeader],
    headers: &HeaderMap,
    arguments: Option<&Value>,
) -> Result<(), String> {
    for p in declared {
        let name = format!("mcp-param-{}", p.header.to_ascii_lowercase());
        let mut values = headers.get_all(name.as_str()).iter();
        let raw = values.next();
        if values.next().is_some() {
            return Err(format!("Mcp-Param-{} is repeated", p.header));
        }
        let body = p.value_in(arguments);
        let (raw, body) = match (raw, body) {
            (None, None) => continue,
            (None, Some(_)) => {
                return Err(format!(
                    "the Mcp-Param-{} header is required for arguments.{}",
                    p.header,
                    p.param()
                ));
            }
            (Some(_), None) => {
                return Err(format!(
                    "Mcp-Param-{} is sent but arguments.{} is absent",
                    p.header,
                    p.param()
                ));
            }
            (Some(r), Some(b)) => (r, b),
        };
        let text =
            codec::decode(raw.as_bytes()).map_err(|e| format!("Mcp-Param-{}: {e}", p.header))?;
        if !agrees(&text, body) {
            return Err(format!(
                "Mcp-Param-{} header value {:?} does not match arguments.{} {body}",
                p.header,
                text,
                p.param()
            ));
        }
    }
    Ok(())
}

/// Whether a decoded header value stands for `body`: strings exactly, numbers
/// numerically (`N26-7`), booleans as `true` / `false`.
fn agrees(text: &str, body: &Value) -> bool {
    match body {
        Value::String(s) => s == text,
        Value::Bool(b) => text == if *b { "true" } else { "false" },
        Value::Number(n) => {
            if let (Some(a), Ok(b)) = (n.as_i64(), text.parse::<i64>()) {
                return a == b;
            }
            if let (Some(a), Ok(b)) = (n.as_u64(), text.parse::<u64>()) {
                return a == b;
            }
            matches!((n.as_f64(), text.parse::<f64>()), (Some(a), Ok(b)) if a == b)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools() -> Value {
        json!([{
            "name": "deploy",
            "inputSchema": {"type": "object", "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "count": {"type": "integer", "x-mcp-header": "Count"},
                "dry": {"type": "boolean", "x-mcp-header": "Dry"},
                "note": {"type": "string"},
            }},
        }, {"name": "plain", "inputSchema": {"type": "object"}}])
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn annotations_are_read_and_validated() {
        let p = ParamHeaders::from_tools(&tools()).unwrap();
        assert_eq!(p.of("deploy").len(), 3);
        assert!(p.of("plain").is_empty());
        let bad = |props: Value| {
            ParamHeaders::from_tools(&json!([{"name": "t", "inputSchema": {"properties": props}}]))
        };
        assert!(matches!(
            bad(json!({"a": {"type": "string", "x-mcp-header": "A B"}})),
            Err(ParamHeaderError::NotAToken { .. })
        ));
        assert!(matches!(
            bad(
                json!({"a": {"type": "string", "x-mcp-header": "X"}, "b": {"type": "string", "x-mcp-header": "x"}})
            ),
            Err(ParamHeaderError::Duplicate { .. })
        ));
        assert!(matches!(
            bad(json!({"a": {"type": "object", "x-mcp-header": "A"}})),
            Err(ParamHeaderError::NotPrimitive { .. })
        ));
    }

    #[test]
    fn headers_are_checked_against_the_arguments() {
        let p = ParamHeaders::from_tools(&tools()).unwrap();
        let d = p.of("deploy");
        let args = json!({"region": "eu-west 1", "count": 3, "dry": false});
        let ok = headers(&[
            ("mcp-param-region", "eu-west 1"),
            ("Mcp-Param-Count", "3"),
            ("mcp-param-dry", "false"),
        ]);
        assert_eq!(check(d, &ok, Some(&args)), Ok(()));
        // Encoded values are decoded; integers compare numerically.
        let enc = headers(&[
            ("mcp-param-region", "=?base64?ZXUtd2VzdCAx?="),
            ("mcp-param-count", "03"),
            ("mcp-param-dry", "false"),
        ]);
        assert_eq!(check(d, &enc, Some(&args)), Ok(()));
        for bad in [
            headers(&[("mcp-param-count", "3"), ("mcp-param-dry", "false")]),
            headers(&[
                ("mcp-param-region", "eu"),
                ("mcp-param-count", "3"),
                ("mcp-param-dry", "false"),
            ]),
            headers(&[
                ("mcp-param-region", "eu-west 1"),
                ("mcp-param-count", "4"),
                ("mcp-param-dry", "false"),
            ]),
            headers(&[
                ("mcp-param-region", "eu-west 1"),
                ("mcp-param-count", "3"),
                ("mcp-param-dry", "False"),
            ]),
            headers(&[
                ("mcp-param-region", "=?base64?!!?="),
                ("mcp-param-count", "3"),
                ("mcp-param-dry", "false"),
            ]),
        ] {
            assert!(check(d, &bad, Some(&args)).is_err(), "{bad:?}");
        }
        // Absent or null arguments want no header; a header for one is a mismatch.
        let none = json!({"region": null});
        assert_eq!(check(d, &HeaderMap::new(), Some(&none)), Ok(()));
        assert!(check(d, &headers(&[("mcp-param-count", "1")]), Some(&none)).is_err());
    }

    /// `N26-16`: `number` is not a type an annotation may sit on, nor may an annotation
    /// sit off the `properties` chain; a nested property on it is fine.
    #[test]
    fn n26_16_types_and_reachability() {
        let one = |schema: Value| annotations(&json!({"name": "t", "inputSchema": schema}));
        assert!(matches!(
            one(json!({"properties": {"s": {"type": "number", "x-mcp-header": "S"}}})),
            Err(ParamHeaderError::NotPrimitive { .. })
        ));
        for off in [
            json!({"properties": {"a": {"type": "array", "items": {"type": "string", "x-mcp-header": "I"}}}}),
            json!({"properties": {"a": {"oneOf": [{"type": "string", "x-mcp-header": "O"}]}}}),
            json!({"$defs": {"d": {"type": "string", "x-mcp-header": "D"}}, "properties": {"a": {"$ref": "#/$defs/d"}}}),
            json!({"type": "object", "x-mcp-header": "Root"}),
            json!({"if": {"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}}),
        ] {
            assert!(
                matches!(one(off.clone()), Err(ParamHeaderError::NotReachable { .. })),
                "{off}"
            );
        }
        let nested = one(
            json!({"properties": {"options": {"type": "object", "properties": {
            "limit": {"type": "integer", "x-mcp-header": "Limit"}}}}}),
        )
        .unwrap();
        assert_eq!(nested[0].path, ["options", "limit"]);
        // A property merely *named* x-mcp-header is no annotation.
        let named = one(json!({"properties": {"x-mcp-header": {"type": "object"}}})).unwrap();
        assert!(named.is_empty());
    }

    /// `N26-16`: a client keeps the valid tools and names each invalid one.
    #[test]
    fn n26_16_learn_drops_invalid_tools_only() {
        let tools = json!([
            {"name": "ok", "inputSchema": {"properties": {"r": {"type": "string", "x-mcp-header": "Region"}}}},
            {"name": "empty", "inputSchema": {"properties": {"v": {"type": "string", "x-mcp-header": ""}}}},
            {"name": "dup", "inputSchema": {"properties": {
                "a": {"type": "string", "x-mcp-header": "MyField"},
                "b": {"type": "string", "x-mcp-header": "myfield"}}}},
            {"name": "colon", "inputSchema": {"properties": {"v": {"type": "string", "x-mcp-header": "Region:Primary"}}}},
            {"name": "accent", "inputSchema": {"properties": {"v": {"type": "string", "x-mcp-header": "Région"}}}},
            {"name": "tab", "inputSchema": {"properties": {"v": {"type": "string", "x-mcp-header": "Region\t1"}}}},
            {"name": "plain", "inputSchema": {"type": "object"}},
        ]);
        let mut p = ParamHeaders::new();
        let invalid = p.learn(tools.as_array().unwrap());
        let dropped: Vec<usize> = invalid.iter().map(|(i, _)| *i).collect();
        assert_eq!(dropped, [1, 2, 3, 4, 5]);
        assert_eq!(p.of("ok").len(), 1);
        assert!(p.of("dup").is_empty() && p.of("plain").is_empty());
        // A later listing without the annotation forgets it.
        p.learn(&[json!({"name": "ok", "inputSchema": {"type": "object"}})]);
        assert!(p.is_empty());
    }

    /// `N26-15`, `N26-16`: what a client mirrors, and how.
    #[test]
    fn n26_16_mirror_encodes_and_omits() {
        let declared = annotations(&json!({"name": "t", "inputSchema": {"properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "greeting": {"type": "string", "x-mcp-header": "Greeting"},
            "n": {"type": "integer", "x-mcp-header": "N"},
            "flag": {"type": "boolean", "x-mcp-header": "Flag"},
            "gone": {"type": "string", "x-mcp-header": "Gone"},
            "o": {"type": "object", "properties": {"deep": {"type": "string", "x-mcp-header": "Deep"}}},
        }}}))
        .unwrap();
        let args = json!({"region": "us-west1", "greeting": "Hello, 世界", "n": -7,
            "flag": true, "gone": null, "o": {"deep": " padded "}});
        let headers: HeaderMap = mirror(&declared, Some(&args)).into_iter().collect();
        assert_eq!(headers["mcp-param-region"], "us-west1");
        assert_eq!(
            headers["mcp-param-greeting"],
            "=?base64?SGVsbG8sIOS4lueVjA==?="
        );
        assert_eq!(headers["mcp-param-n"], "-7");
        assert_eq!(headers["mcp-param-flag"], "true");
        assert_eq!(headers["mcp-param-deep"], "=?base64?IHBhZGRlZCA=?=");
        assert!(!headers.contains_key("mcp-param-gone"));
        // What the client mirrors, the server accepts.
        assert_eq!(check(&declared, &headers, Some(&args)), Ok(()));
    }
}
