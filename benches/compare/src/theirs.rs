//! rmcp's side: an `echo` tool on rmcp 3.11.0's `ServerHandler`, served by its
//! `StreamableHttpService` (a tower `Service`), in process or on hyper.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;
use tower_service::Service;

use crate::{Answered, INIT, INITIALIZED, Mode, post};

/// The application: one `echo {text}` tool, rmcp's defaults for everything else.
#[derive(Clone, Default)]
pub struct Echo;

/// The `echo` tool's description and schema.
fn echo_tool() -> Tool {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    });
    let Value::Object(schema) = schema else {
        unreachable!("an object literal")
    };
    Tool::new("echo", "Answers its text argument.", Arc::new(schema))
}

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("rmcp-echo", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(vec![echo_tool()]))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        (name == "echo").then(echo_tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name != "echo" {
            return Err(ErrorData::invalid_params("unknown tool", None));
        }
        let text = request
            .arguments
            .as_ref()
            .and_then(|a: &JsonObject| a.get("text"))
            .and_then(Value::as_str)
            .ok_or_else(|| ErrorData::invalid_params("echo needs a string `text`", None))?;
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// rmcp's service type for [`Echo`].
pub type Rmcp = StreamableHttpService<Echo, LocalSessionManager>;

/// rmcp's configuration of `mode`: sessions (rmcp's "legacy session mode") only when
/// stateful, JSON replies in the JSON mode; its defaults otherwise (loopback hosts only).
pub fn config(mode: Mode) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .with_legacy_session_mode(mode.stateful())
        .with_json_response(mode.json())
}

/// rmcp's service for `mode`.
pub fn service(mode: Mode) -> Rmcp {
    StreamableHttpService::new(
        || Ok(Echo),
        Arc::new(LocalSessionManager::default()),
        config(mode),
    )
}

/// A request with rmcp's body type.
pub fn to_rmcp(request: Request<Bytes>) -> Request<Full<Bytes>> {
    request.map(Full::new)
}

/// Calls `svc` as a tower `Service` and drains the response body, frame by frame.
pub async fn call(svc: &mut Rmcp, request: Request<Full<Bytes>>) -> (Answered, http::HeaderMap) {
    std::future::poll_fn(|cx| Service::<Request<Full<Bytes>>>::poll_ready(svc, cx))
        .await
        .expect("rmcp's service is always ready");
    let response = svc.call(request).await.expect("infallible");
    let (parts, mut body): (_, BoxBody<Bytes, Infallible>) = response.into_parts();
    let mut a = Answered {
        status: parts.status.as_u16(),
        content_type: parts.headers.get(http::header::CONTENT_TYPE).cloned(),
        ..Answered::default()
    };
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("infallible").into_data()
            && !data.is_empty()
        {
            a.bytes += data.len();
            a.last = data;
        }
    }
    (a, parts.headers)
}

/// rmcp in one mode, with its session when stateful. Runs inside a tokio runtime.
pub struct Theirs {
    svc: Rmcp,
    session: Option<String>,
}

impl Theirs {
    /// rmcp for `mode`; in the stateful mode, one session initialized (`initialize`, then
    /// `notifications/initialized`, both through the service).
    pub async fn new(mode: Mode) -> Self {
        let mut svc = service(mode);
        let mut session = None;
        if mode.stateful() {
            let (a, headers) = call(&mut svc, to_rmcp(post(INIT, None, false))).await;
            assert_eq!(a.status, 200, "rmcp initialize");
            session = headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let id = session.as_deref().expect("rmcp minted a session");
            let (a, _) = call(&mut svc, to_rmcp(post(INITIALIZED, Some(id), true))).await;
            assert_eq!(a.status, 202, "rmcp notifications/initialized");
        }
        Self { svc, session }
    }

    /// The session id, when stateful.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// One request to its complete response.
    pub async fn call(&mut self, request: Request<Full<Bytes>>) -> Answered {
        call(&mut self.svc, request).await.0
    }
}
