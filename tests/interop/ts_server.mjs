#!/usr/bin/env node
// Reference MCP server on the official TypeScript SDK (@modelcontextprotocol/sdk), for
// client interop checks.
//
//   node="$(tests/interop/setup_ts.sh)"
//   "$node" tests/interop/ts_server.mjs --port P [--stateless] [--json] [--resumable]
//   "$node" tests/interop/ts_server.mjs --port P --legacy-sse
//
// Serves Streamable HTTP at http://127.0.0.1:P/mcp (P may be 0: a free port) with the
// SDK's StreamableHTTPServerTransport on node's own `http` module (no express) and the
// SDK's low-level `Server`, with two tools:
//
//   echo(text)      returns `text` unchanged;
//   progress(steps) sends `steps` notifications/progress (when the request carries a
//                   progressToken), then returns "done";
//   ping_client()   sends a `ping` request to the client on the call's own stream, waits
//                   for the client's answer (a POST), then returns "pong" (SSE replies only:
//                   with --json there is no stream to send it on).
//
// Modes (combinable):
//   (default)    stateful: the initialize response carries Mcp-Session-Id; other requests
//                must carry it (unknown id: 404, none: 400); DELETE ends the session.
//   --stateless  sessionIdGenerator undefined, a fresh server + transport per POST; GET and
//                DELETE get 405 (as in the SDK's simpleStatelessStreamableHttp example).
//   --json       enableJsonResponse: POST requests are answered with application/json.
//   --resumable  an in-memory EventStore (OrderedEventStore below) with
//                retryInterval 100 ms: SSE events carry ids, each POST stream starts with a
//                priming event (clients at >= 2025-11-25), and GET with Last-Event-ID
//                replays. The `progress` tool then also closes its POST stream after the
//                first notification (SEP-1699 polling), so the client has to reconnect
//                with GET + Last-Event-ID to get the rest and the result.
//   --legacy-sse the deprecated 2024-11-05 HTTP+SSE transport only (the SDK's
//                SSEServerTransport): GET /mcp opens the SSE stream whose first event is
//                `endpoint` (/messages?sessionId=...), messages are POSTed there (202) and
//                answered on the stream; POST and DELETE /mcp get 405, which is what makes a
//                Streamable HTTP client fall back to this transport.
//
// Binds 127.0.0.1 only, with DNS-rebinding protection on (Host must be 127.0.0.1:P or
// localhost:P). Prints `listening on http://127.0.0.1:P/mcp` once it accepts connections.
// The SDK is loaded from $MCP_TS_SDK_DIR (set by the setup_ts.sh wrapper) or, failing
// that, target/interop/ts-*/node_modules next to this repo.

import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HOST = '127.0.0.1';
const PATH = '/mcp';

function usage(msg) {
    if (msg) console.error(`ts_server: ${msg}`);
    console.error('usage: ts_server.mjs --port P [--stateless] [--json] [--resumable] | --legacy-sse');
    process.exit(2);
}

const opts = { port: undefined, stateless: false, json: false, resumable: false, legacySse: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') opts.port = argv[++i];
    else if (a.startsWith('--port=')) opts.port = a.slice('--port='.length);
    else if (a === '--stateless') opts.stateless = true;
    else if (a === '--json') opts.json = true;
    else if (a === '--resumable') opts.resumable = true;
    else if (a === '--legacy-sse') opts.legacySse = true;
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument '${a}'`);
}
if (opts.port === undefined || !/^\d+$/.test(opts.port) || Number(opts.port) > 65535) usage('--port P is required');
if (opts.legacySse && (opts.stateless || opts.json || opts.resumable)) usage('--legacy-sse goes alone');

function sdkDir() {
    if (process.env.MCP_TS_SDK_DIR) return process.env.MCP_TS_SDK_DIR;
    const interop = resolve(dirname(fileURLToPath(import.meta.url)), '../../target/interop');
    if (existsSync(interop)) {
        const dirs = readdirSync(interop).filter((d) => d.startsWith('ts-')).sort();
        for (const d of dirs.reverse()) {
            const nm = join(interop, d, 'node_modules');
            if (existsSync(join(nm, '@modelcontextprotocol/sdk/package.json'))) return nm;
        }
    }
    console.error('ts_server: SDK not found; run tests/interop/setup_ts.sh and use the node it prints');
    process.exit(1);
}
const esm = join(sdkDir(), '@modelcontextprotocol/sdk/dist/esm');
const load = (rel) => import(pathToFileURL(join(esm, rel)).href);

const { Server } = await load('server/index.js');
const { StreamableHTTPServerTransport } = await load('server/streamableHttp.js');
const { SSEServerTransport } = await load('server/sse.js');
const { CallToolRequestSchema, EmptyResultSchema, ListToolsRequestSchema, isInitializeRequest } = await load(
    'types.js',
);

const TOOLS = [
    {
        name: 'echo',
        description: 'Return `text` unchanged.',
        inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    },
    {
        name: 'progress',
        description: 'Report `steps` progress notifications, then return "done".',
        inputSchema: { type: 'object', properties: { steps: { type: 'integer', default: 3 } } },
    },
    {
        name: 'ping_client',
        description: 'Send a ping request to the client, wait for its answer, return "pong".',
        inputSchema: { type: 'object', properties: {} },
    },
];

/**
 * In-memory EventStore (the SDK's EventStore interface), replaying in the order events were
 * stored. The SDK's example InMemoryEventStore (examples/shared/inMemoryEventStore.js, 1.32.2)
 * sorts by `${streamId}_${Date.now()}_${random}` ids, so two events stored in the same
 * millisecond replay in random order; this one keeps a global sequence number instead.
 */
class OrderedEventStore {
    constructor() {
        this.events = []; // { eventId, streamId, message }
        this.seq = 0;
    }
    async storeEvent(streamId, message) {
        const eventId = `${streamId}_${++this.seq}`;
        this.events.push({ eventId, streamId, message });
        return eventId;
    }
    async getStreamIdForEventId(eventId) {
        return this.events.find((e) => e.eventId === eventId)?.streamId;
    }
    async replayEventsAfter(lastEventId, { send }) {
        const index = this.events.findIndex((e) => e.eventId === lastEventId);
        if (index < 0) return '';
        const { streamId } = this.events[index];
        for (const e of this.events.slice(index + 1)) {
            // A priming event stores `{}`: nothing to resend.
            if (e.streamId === streamId && e.message && Object.keys(e.message).length > 0) {
                await send(e.eventId, e.message);
            }
        }
        return streamId;
    }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function buildServer() {
    const server = new Server({ name: 'interop-reference-ts', version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
        const { name, arguments: args = {} } = request.params;
        if (name === 'echo') {
            if (typeof args.text !== 'string') {
                return { isError: true, content: [{ type: 'text', text: 'echo: `text` must be a string' }] };
            }
            return { content: [{ type: 'text', text: args.text }] };
        }
        if (name === 'progress') {
            const steps = Number.isInteger(Number(args.steps)) ? Number(args.steps) : 3;
            const token = request.params._meta?.progressToken;
            for (let i = 1; i <= steps; i++) {
                if (token !== undefined) {
                    await extra.sendNotification({
                        method: 'notifications/progress',
                        params: { progressToken: token, progress: i, total: steps, message: `step ${i}/${steps}` },
                    });
                }
                if (i === 1 && opts.resumable && extra.closeSSEStream) {
                    // Polling: the client must come back with GET + Last-Event-ID.
                    extra.closeSSEStream();
                    await sleep(50);
                }
            }
            return { content: [{ type: 'text', text: 'done' }] };
        }
        if (name === 'ping_client') {
            await extra.sendRequest({ method: 'ping' }, EmptyResultSchema, { timeout: 10000 });
            return { content: [{ type: 'text', text: 'pong' }] };
        }
        return { isError: true, content: [{ type: 'text', text: `unknown tool '${name}'` }] };
    });
    return server;
}

function jsonError(res, status, code, message) {
    if (res.headersSent) return;
    const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
}

async function readBody(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    return Buffer.concat(chunks).toString('utf8');
}

let listenPort = Number(opts.port);
const eventStore = opts.resumable ? new OrderedEventStore() : undefined;
const sessions = new Map(); // session id -> transport (stateful mode)

function transportOptions(stateful) {
    return {
        sessionIdGenerator: stateful ? () => randomUUID() : undefined,
        enableJsonResponse: opts.json,
        eventStore,
        retryInterval: opts.resumable ? 100 : undefined,
        enableDnsRebindingProtection: true,
        allowedHosts: [`${HOST}:${listenPort}`, `localhost:${listenPort}`],
    };
}

async function handleStateless(req, res, parsed) {
    if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        jsonError(res, 405, -32000, 'Method not allowed.');
        return;
    }
    const server = buildServer();
    const transport = new StreamableHTTPServerTransport(transportOptions(false));
    res.on('close', () => {
        transport.close().catch(() => {});
        server.close().catch(() => {});
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, parsed);
}

async function handleStateful(req, res, parsed) {
    const sid = req.headers['mcp-session-id'];
    if (sid !== undefined) {
        const transport = sessions.get(sid);
        if (!transport) {
            jsonError(res, 404, -32001, 'Session not found');
            return;
        }
        await transport.handleRequest(req, res, parsed);
        return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(parsed)) {
        jsonError(res, 400, -32000, 'Bad Request: No valid session ID provided');
        return;
    }
    const transport = new StreamableHTTPServerTransport({
        ...transportOptions(true),
        onsessioninitialized: (id) => sessions.set(id, transport),
        onsessionclosed: (id) => sessions.delete(id),
    });
    transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    const server = buildServer();
    await server.connect(transport);
    await transport.handleRequest(req, res, parsed);
}

const LEGACY_MESSAGES = '/messages';
const legacySessions = new Map(); // session id -> SSEServerTransport (--legacy-sse)

async function handleLegacy(req, res, url, parsed) {
    const dns = {
        enableDnsRebindingProtection: true,
        allowedHosts: [`${HOST}:${listenPort}`, `localhost:${listenPort}`],
    };
    if (url.pathname === PATH && req.method === 'GET') {
        const transport = new SSEServerTransport(LEGACY_MESSAGES, res, dns);
        legacySessions.set(transport.sessionId, transport);
        res.on('close', () => legacySessions.delete(transport.sessionId));
        const server = buildServer();
        transport.onclose = () => {
            legacySessions.delete(transport.sessionId);
            server.close().catch(() => {});
        };
        await server.connect(transport); // start(): the SSE head and the `endpoint` event
        return;
    }
    if (url.pathname === PATH) {
        res.setHeader('allow', 'GET');
        jsonError(res, 405, -32000, 'Method not allowed: this server speaks the HTTP+SSE transport (GET)');
        return;
    }
    if (url.pathname === LEGACY_MESSAGES && req.method === 'POST') {
        const transport = legacySessions.get(url.searchParams.get('sessionId') ?? '');
        if (!transport) {
            jsonError(res, 404, -32001, 'Session not found');
            return;
        }
        await transport.handlePostMessage(req, res, parsed);
        return;
    }
    jsonError(res, 404, -32600, 'Not found');
}

const httpServer = createServer(async (req, res) => {
    try {
        const url = new URL(req.url ?? '/', `http://${HOST}`);
        if (opts.legacySse) {
            let parsed;
            if (req.method === 'POST' && url.pathname === LEGACY_MESSAGES) {
                try {
                    parsed = JSON.parse(await readBody(req));
                } catch {
                    jsonError(res, 400, -32700, 'Parse error');
                    return;
                }
            }
            await handleLegacy(req, res, url, parsed);
            return;
        }
        if (url.pathname !== PATH) {
            jsonError(res, 404, -32600, 'Not found');
            return;
        }
        let parsed;
        if (req.method === 'POST') {
            const text = await readBody(req);
            try {
                parsed = JSON.parse(text);
            } catch {
                jsonError(res, 400, -32700, 'Parse error');
                return;
            }
        }
        if (opts.stateless) await handleStateless(req, res, parsed);
        else await handleStateful(req, res, parsed);
    } catch (err) {
        console.error('ts_server: error handling request:', err);
        jsonError(res, 500, -32603, 'Internal server error');
    }
});

httpServer.listen(Number(opts.port), HOST, () => {
    listenPort = httpServer.address().port;
    const mode = [opts.legacySse ? 'legacy-sse' : opts.stateless ? 'stateless' : 'stateful', opts.json && 'json', opts.resumable && 'resumable']
        .filter(Boolean)
        .join('+');
    console.error(`ts_server: mode ${mode}`);
    console.log(`listening on http://${HOST}:${listenPort}${PATH}`);
});

function shutdown() {
    for (const t of sessions.values()) t.close().catch(() => {});
    for (const t of legacySessions.values()) t.close().catch(() => {});
    httpServer.close();
    httpServer.closeAllConnections?.();
    setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
