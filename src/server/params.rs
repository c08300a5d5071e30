//! The `x-mcp-header` annotations of the application's tools (2026-07-28, `N26-16`): which
//! `tools/call` arguments a client mirrors into `Mcp-Param-{Name}` headers, so that the
//! machine can check those headers against the body before the application sees it.

use std::collections::BTreeMap;

use http::HeaderMap;
use serde_json::Value;

use crate::wire::codec;

/// The JSON type of an annotated parameter: only primitives may be mirrored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `"type": "string"`: compared exactly, after decoding.
    String,
    /// `"type": "integer"`: compared numerically, as decimal text.
    Integer,
    /// `"type": "number"`: compared numerically.
    Number,
    /// `"type": "boolean"`: `true` or `false`.
    Boolean,
}

/// One annotated parameter of a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    /// The argument's name in `params.arguments`.
    pub param: String,
    /// The header's name after `Mcp-Param-`, as annotated.
    pub header: String,
    /// Its type.
    pub kind: ParamKind,
}

/// Why a tool's annotations cannot be used (the spec has a client drop such a tool).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamHeaderError {
    /// An `x-mcp-header` value that is not a non-empty HTTP token.
    #[error("tool {tool:?}: x-mcp-header {header:?} of {param:?} is not an HTTP token")]
    NotAToken {
        /// The tool.
        tool: String,
        /// The parameter.
        param: String,
        /// The annotation.
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
    /// An annotated parameter whose type is not string, integer, number or boolean.
    #[error("tool {tool:?}: x-mcp-header on {param:?}, which is not of a primitive type")]
    NotPrimitive {
        /// The tool.
        tool: String,
        /// The parameter.
        param: String,
    },
}

/// The annotated parameters of every tool, by tool name. Empty by default: without
/// declarations `Mcp-Param-*` headers pass unread (intermediaries forward them, `N26-16`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParamHeaders {
    tools: BTreeMap<String, Vec<ParamHeader>>,
}

impl ParamHeaders {
    /// No declarations.
    pub fn new() -> Self {
        Self::default()
    }

    /// The annotations of a `tools/list` `tools` array: each tool's
    /// `inputSchema.properties.*.x-mcp-header`. An invalid annotation is an error: a
    /// server must not list a tool that clients would drop.
    pub fn from_tools(tools: &Value) -> Result<Self, ParamHeaderError> {
        let mut out = Self::new();
        for tool in tools.as_array().into_iter().flatten() {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                continue;
            };
            let props = tool
                .pointer("/inputSchema/properties")
                .and_then(Value::as_object);
            let mut declared = Vec::new();
            for (param, schema) in props.into_iter().flatten() {
                let Some(header) = schema.get("x-mcp-header") else {
                    continue;
                };
                let header = header.as_str().unwrap_or_default();
                let kind = match schema.get("type").and_then(Value::as_str) {
                    Some("string") => ParamKind::String,
                    Some("integer") => ParamKind::Integer,
                    Some("number") => ParamKind::Number,
                    Some("boolean") => ParamKind::Boolean,
                    _ => {
                        return Err(ParamHeaderError::NotPrimitive {
                            tool: name.into(),
                            param: param.clone(),
                        });
                    }
                };
                declared.push(ParamHeader {
                    param: param.clone(),
                    header: header.into(),
                    kind,
                });
            }
            if !declared.is_empty() {
                out.declare(name, declared)?;
            }
        }
        Ok(out)
    }

    /// Declares `tool`'s annotated parameters, replacing any earlier declaration.
    pub fn declare(
        &mut self,
        tool: &str,
        params: Vec<ParamHeader>,
    ) -> Result<(), ParamHeaderError> {
        let mut seen = Vec::new();
        for p in &params {
            if p.header.is_empty() || !p.header.bytes().all(is_tchar) {
                return Err(ParamHeaderError::NotAToken {
                    tool: tool.into(),
                    param: p.param.clone(),
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
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks the `Mcp-Param-*` headers of a `tools/call` against its `arguments` for the
/// declared parameters; the text of the first disagreement (`N26-16`).
pub(super) fn check(
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
        let body = arguments
            .and_then(|a| a.get(&p.param))
            .filter(|v| !v.is_null());
        let (raw, body) = match (raw, body) {
            (None, None) => continue,
            (None, Some(_)) => {
                return Err(format!(
                    "the Mcp-Param-{} header is required for arguments.{}",
                    p.header, p.param
                ));
            }
            (Some(_), None) => {
                return Err(format!(
                    "Mcp-Param-{} is sent but arguments.{} is absent",
                    p.header, p.param
                ));
            }
            (Some(r), Some(b)) => (r, b),
        };
        let text =
            codec::decode(raw.as_bytes()).map_err(|e| format!("Mcp-Param-{}: {e}", p.header))?;
        if !agrees(&text, body) {
            return Err(format!(
                "Mcp-Param-{} header value {:?} does not match arguments.{} {body}",
                p.header, text, p.param
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
}
