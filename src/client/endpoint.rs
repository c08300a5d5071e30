//! Finding the MCP endpoint when the application gave only the server's origin
//! (`http://host:port` or `http://host:port/`): the path a 404's JSON-RPC error names
//! (`data.endpoint`, or "the MCP endpoint is /path" in its message), then the configured
//! well-known paths, each tried once, before any legacy fallback. Pure functions.

use http::Uri;
use serde_json::Value;

/// The most endpoints one connection tries.
pub(super) const MAX_TRIED: usize = 8;

/// Whether `uri` names only an origin: its path is empty or `/`, with no query.
pub(super) fn is_bare(uri: &Uri) -> bool {
    uri.path() == "/" && uri.query().is_none()
}

/// The path a 404 body names as the endpoint, when it is an absolute path.
fn named(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let error = v.get("error")?;
    let from_data = error.pointer("/data/endpoint").and_then(Value::as_str);
    let from_message = || {
        let m = error.get("message")?.as_str()?;
        let at = m.find("endpoint is ")? + "endpoint is ".len();
        m[at..].split_whitespace().next()
    };
    let path = from_data.or_else(from_message)?;
    let path = path.trim_end_matches(['.', ',', ';']);
    let ok = path.starts_with('/') && !path.starts_with("//") && path.len() <= 256;
    ok.then(|| path.to_owned())
}

/// The next endpoint to try after a 404 with `body` to the first request sent to
/// `original` (bare), given the endpoints `tried` so far.
pub(super) fn next(
    original: &Uri,
    body: &[u8],
    well_known: &[String],
    tried: &[Uri],
) -> Option<Uri> {
    if !is_bare(original) || tried.len() >= MAX_TRIED {
        return None;
    }
    let scheme = original.scheme_str()?;
    let authority = original.authority()?.as_str();
    named(body)
        .into_iter()
        .chain(well_known.iter().cloned())
        .filter_map(|p| format!("{scheme}://{authority}{p}").parse::<Uri>().ok())
        .find(|u| !tried.contains(u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_then_well_known_then_nothing() {
        let root: Uri = "http://127.0.0.1:9/".parse().unwrap();
        let wk = vec!["/mcp".to_owned()];
        let ours = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"not found: the MCP endpoint is /api/mcp","data":{"endpoint":"/api/mcp"}}}"#;
        let first = next(&root, ours, &wk, std::slice::from_ref(&root)).unwrap();
        assert_eq!(first.to_string(), "http://127.0.0.1:9/api/mcp");
        let tried = [root.clone(), first.clone()];
        let second = next(&root, ours, &wk, &tried).unwrap();
        assert_eq!(second.to_string(), "http://127.0.0.1:9/mcp");
        assert_eq!(
            next(&root, b"Not Found", &wk, &[root.clone(), first, second]),
            None
        );
        // From the message alone, and never another origin.
        let msg = br#"{"error":{"code":-32000,"message":"the MCP endpoint is /x."}}"#;
        assert_eq!(next(&root, msg, &[], &[]).unwrap().path(), "/x");
        let evil = br#"{"error":{"code":1,"message":"m","data":{"endpoint":"//evil.example/x"}}}"#;
        assert_eq!(next(&root, evil, &[], &[]), None);
        // A URL with a path is the endpoint the user meant: nothing else is tried.
        let given: Uri = "http://127.0.0.1:9/mcp".parse().unwrap();
        assert_eq!(next(&given, ours, &wk, &[]), None);
    }
}
