#!/usr/bin/env node
// Reference MCP server on the official TypeScript v2 server package
// (@modelcontextprotocol/server 2.4.x), for interop checks against the 2026-07-28
// protocol revision (stateless, server/discover, Mcp-Method header, per-request _meta).
//
//   node="$(tests/interop/setup_ts_v2.sh)"
//   "$node" tests/interop/ts_v2_server.mjs --port P [--modern-only] [--json|--sse]
//
// Serves http://127.0.0.1:P/mcp (P may be 0: a free port) with the package's
// createMcpHandler, mounted on node's own `http` module through a small bridge below
// (node request -> web Request -> handler.fetch -> web Response -> node response), so no
// framework adapter package is needed.
//
// Eras: by default createMcpHandler is dual-era. Requests that carry the 2026-07-28
// `_meta` envelope are served on the modern path (one fresh server per request); requests
// without it (an `initialize` handshake, 2025-era calls) go to the package's stateless
// legacy fallback: a fresh server per POST, no Mcp-Session-Id, GET/DELETE answered 405.
// --modern-only passes `legacy: 'reject'`, which answers 2025-era requests with the
// unsupported-protocol-version error instead.
//
// Response shaping for modern requests: `auto` (JSON unless the handler sends something
// before its result, then SSE); --json forces JSON, --sse forces SSE.
//
// Tools (the same factory serves both eras):
//   echo(text)      returns `text` unchanged as one text content block;
//   progress(steps) sends `steps` notifications/progress when the request carries a
//                   progressToken (in _meta), then returns "done".
//
// Binds 127.0.0.1 only; requests whose Host is not a loopback name get 403 (the
// package's own DNS-rebinding check). Prints `listening on http://127.0.0.1:P/mcp` on stdout
// once it accepts connections. Writes one line per HTTP request to stderr:
//
//   ts_v2_server: POST /mcp rpc=server/discover mcp-method=server/discover mcp-protocol-version=2026-07-28 era=modern -> 200
//
// `era` is what the package's factory was asked to build (`-` when no server instance was
// needed, for example a 405 or a notification). SIGTERM/SIGINT close the handler and the
// listener, then exit 0.
//
// The package is loaded from $MCP_TS_V2_DIR (set by the setup_ts_v2.sh wrapper) or,
// failing that, target/interop/tsv2-*/node_modules next to this repo.

import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HOST = '127.0.0.1';
const PATH = '/mcp';
// Bodies larger than this are refused before they are buffered (the package's own default bound).
const MAX_BODY = 4 * 1024 * 1024;

function usage(msg) {
    if (msg) console.error(`ts_v2_server: ${msg}`);
    console.error('usage: ts_v2_server.mjs --port P [--modern-only] [--json|--sse]');
    process.exit(2);
}

const opts = { port: undefined, modernOnly: false, responseMode: 'auto' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') opts.port = argv[++i];
    else if (a.startsWith('--port=')) opts.port = a.slice('--port='.length);
    else if (a === '--modern-only') opts.modernOnly = true;
    else if (a === '--json') opts.responseMode = 'json';
    else if (a === '--sse') opts.responseMode = 'sse';
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument '${a}'`);
}
if (opts.port === undefined || !/^\d+$/.test(opts.port) || Number(opts.port) > 65535) usage('--port P is required');

// Where the installed packages live: the wrapper's variable, else the newest tsv2-* install.
function packagesDir() {
    if (process.env.MCP_TS_V2_DIR) return process.env.MCP_TS_V2_DIR;
    const interop = resolve(dirname(fileURLToPath(import.meta.url)), '../../target/interop');
    if (existsSync(interop)) {
        const dirs = readdirSync(interop)
            .filter((d) => d.startsWith('tsv2-'))
            .sort();
        for (const d of dirs.reverse()) {
            const nm = join(interop, d, 'node_modules');
            if (existsSync(join(nm, '@modelcontextprotocol/server/package.json'))) return nm;
        }
    }
    console.error('ts_v2_server: @modelcontextprotocol/server not found; run tests/interop/setup_ts_v2.sh and use the node it prints');
    process.exit(1);
}
const modules = packagesDir();
const load = (rel) => import(pathToFileURL(join(modules, rel)).href);

const { McpServer, createMcpHandler, hostHeaderValidationResponse, localhostAllowedHostnames } = await load(
    '@modelcontextprotocol/server/dist/index.mjs',
);
const zodModule = await load('zod/index.js');
const z = zodModule.z ?? zodModule.default ?? zodModule;
const serverVersion = JSON.parse(readFileSync(join(modules, '@modelcontextprotocol/server/package.json'), 'utf8')).version;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Per HTTP request, a slot the factory fills with the era it was asked to build for
// (the legacy leg hands the factory a copy of the request, so the slot travels with the
// async context of handler.fetch instead).
const requestSlot = new AsyncLocalStorage();

// One fresh McpServer per serving unit, for either era.
function buildServer(ctx) {
    const slot = requestSlot.getStore();
    if (slot && ctx?.era) slot.era = ctx.era;
    const server = new McpServer({ name: 'ts-v2-interop-server', version: serverVersion });
    server.registerTool(
        'echo',
        {
            description: 'Return `text` unchanged.',
            inputSchema: z.object({ text: z.string() }),
        },
        async ({ text }) => ({ content: [{ type: 'text', text }] }),
    );
    server.registerTool(
        'progress',
        {
            description: 'Send `steps` progress notifications (when asked for), then return "done".',
            inputSchema: z.object({ steps: z.number().int().min(0).max(100).default(3) }),
        },
        async ({ steps }, ctx) => {
            const token = ctx?.mcpReq?._meta?.progressToken;
            if (token !== undefined) {
                for (let i = 1; i <= steps; i++) {
                    await ctx.mcpReq.notify({
                        method: 'notifications/progress',
                        params: { progressToken: token, progress: i, total: steps, message: `step ${i}` },
                    });
                    await sleep(20);
                }
            }
            return { content: [{ type: 'text', text: 'done' }] };
        },
    );
    return server;
}

const handler = createMcpHandler(buildServer, {
    legacy: opts.modernOnly ? 'reject' : 'stateless',
    responseMode: opts.responseMode,
    onerror: (err) => console.error(`ts_v2_server: handler error: ${err?.message ?? err}`),
});
const allowedHosts = localhostAllowedHostnames();

// Read the whole node request body, refusing more than MAX_BODY bytes (resolves null then).
function readBody(req) {
    return new Promise((resolveBody, rejectBody) => {
        const chunks = [];
        let size = 0;
        let tooBig = false;
        req.on('data', (c) => {
            size += c.length;
            if (size > MAX_BODY) tooBig = true;
            else chunks.push(c);
        });
        req.on('end', () => resolveBody(tooBig ? null : Buffer.concat(chunks)));
        req.on('error', rejectBody);
    });
}

// Copy node's header object into web Headers (repeated headers become repeated entries).
function toHeaders(raw) {
    const h = new Headers();
    for (const [k, v] of Object.entries(raw)) {
        if (Array.isArray(v)) for (const item of v) h.append(k, item);
        else if (v !== undefined) h.set(k, v);
    }
    return h;
}

// The JSON-RPC method(s) in a body, for the log line only.
function rpcMethods(body) {
    if (!body || body.length === 0) return '-';
    try {
        const msg = JSON.parse(body.toString('utf8'));
        const list = Array.isArray(msg) ? msg : [msg];
        const names = list.map((m) => (m && typeof m === 'object' ? (m.method ?? (m.id !== undefined ? 'response' : '?')) : '?'));
        return names.join(',') || '-';
    } catch {
        return 'unparsable';
    }
}

// Write a web Response onto a node response, streaming the body (SSE frames go out as they come).
async function sendWebResponse(webRes, res) {
    const headers = {};
    webRes.headers.forEach((value, key) => {
        headers[key] = value;
    });
    res.writeHead(webRes.status, headers);
    if (typeof res.flushHeaders === 'function') res.flushHeaders();
    if (!webRes.body) {
        res.end();
        return;
    }
    const reader = webRes.body.getReader();
    const stop = () => reader.cancel().catch(() => {});
    res.on('close', stop);
    try {
        for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            if (!res.write(value)) await new Promise((r) => res.once('drain', r));
        }
    } catch {
        // The client went away, or the stream was cancelled: nothing more to send.
    } finally {
        res.off('close', stop);
        res.end();
    }
}

const httpServer = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', `http://${HOST}`);
    let body = null;
    let status = 0;
    let era = '-';
    try {
        if (url.pathname !== PATH) {
            status = 404;
            res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
            return;
        }
        if (req.method !== 'GET' && req.method !== 'HEAD') {
            body = await readBody(req);
            if (body === null) {
                status = 413;
                res.writeHead(413, { 'content-type': 'text/plain' }).end('request body too large\n');
                return;
            }
        }
        // Abort the web request when the client disconnects before the answer is complete.
        const abort = new AbortController();
        res.on('close', () => {
            if (!res.writableFinished) abort.abort();
        });
        const webReq = new Request(`http://${req.headers.host ?? HOST}${req.url}`, {
            method: req.method,
            headers: toHeaders(req.headers),
            body: body && body.length > 0 ? body : undefined,
            signal: abort.signal,
        });
        const slot = { era: '-' };
        const webRes =
            hostHeaderValidationResponse(webReq, allowedHosts) ?? (await requestSlot.run(slot, () => handler.fetch(webReq)));
        era = slot.era;
        status = webRes.status;
        await sendWebResponse(webRes, res);
    } catch (err) {
        console.error(`ts_v2_server: request failed: ${err?.stack ?? err}`);
        if (!res.headersSent) {
            status = 500;
            res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error\n');
        } else {
            res.destroy();
        }
    } finally {
        const pv = req.headers['mcp-protocol-version'] ?? '-';
        const mm = req.headers['mcp-method'] ?? '-';
        console.error(
            `ts_v2_server: ${req.method} ${url.pathname} rpc=${rpcMethods(body)} mcp-method=${mm} mcp-protocol-version=${pv} era=${era} -> ${status}`,
        );
    }
});

let stopping = false;
async function shutdown(signal) {
    if (stopping) return;
    stopping = true;
    console.error(`ts_v2_server: ${signal}, shutting down`);
    // Give open streams a moment, then leave regardless.
    const force = setTimeout(() => process.exit(0), 2000);
    force.unref();
    try {
        await handler.close();
    } catch (err) {
        console.error(`ts_v2_server: close failed: ${err?.message ?? err}`);
    }
    httpServer.close(() => process.exit(0));
    httpServer.closeAllConnections?.();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

httpServer.listen(Number(opts.port), HOST, () => {
    const { port } = httpServer.address();
    process.stdout.write(`listening on http://${HOST}:${port}${PATH}\n`);
});
