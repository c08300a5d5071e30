#!/usr/bin/env node
// Interop check: drive an MCP server with the official TypeScript SDK client
// (@modelcontextprotocol/sdk, StreamableHTTPClientTransport).
//
//   node="$(tests/interop/setup_ts.sh)"
//   "$node" tests/interop/ts_client.mjs URL [--timeout S] [--progress] [--reconnection] [--trace] [--add]
//
// It connects (initialize, then notifications/initialized; the SDK also opens the
// standalone GET stream and accepts a 405), lists the tools (`echo` must be there), calls
// `echo` with {"text": "hello interop"} and checks that the result text is exactly that,
// then ends the session (DELETE when there is a session id) and closes.
//
//   --progress      also call `progress {steps: 3}` with a progress handler, and require at
//                   least one notifications/progress (SSE replies only)
//   --reconnection  also call `test_reconnection`, whose server cuts the call's stream after
//                   the priming event: the SDK must resume with GET + Last-Event-ID
//   --timeout S     overall deadline in seconds (default 30); the process exits 1 at the
//                   deadline whatever it is waiting for
//   --trace         print every HTTP exchange (method, MCP headers, status) on stderr
//
// Prints `ts-client: OK ...` and exits 0, or `ts-client: FAIL <reason>` and exits 1 (2 for
// bad usage). The SDK is loaded from $MCP_TS_SDK_DIR (set by the setup_ts.sh wrapper) or,
// failing that, target/interop/ts-*/node_modules next to this repo.

import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const EXPECTED_TEXT = 'hello interop';

function usage(msg) {
    if (msg) console.error(`ts_client: ${msg}`);
    console.error('usage: ts_client.mjs URL [--timeout S] [--progress] [--reconnection] [--trace] [--add]');
    process.exit(2);
}

const opts = { url: undefined, timeout: 30, progress: false, reconnection: false, trace: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--timeout') opts.timeout = Number(argv[++i]);
    else if (a === '--progress') opts.progress = true;
    else if (a === '--reconnection') opts.reconnection = true;
    else if (a === '--trace') opts.trace = true;
    else if (a === '--add') opts.add = true;
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option '${a}'`);
    else if (opts.url === undefined) opts.url = a;
    else usage(`unexpected argument '${a}'`);
}
if (!opts.url) usage('no URL given');
if (!(opts.timeout > 0)) usage('bad --timeout');

let done = false;
function finish(ok, text) {
    if (done) return;
    done = true;
    console.log(`ts-client: ${ok ? 'OK' : 'FAIL'} ${text}`);
    process.exit(ok ? 0 : 1);
}

// The whole run is bounded: a hung stream must not hang the check.
const deadline = setTimeout(() => finish(false, `timed out after ${opts.timeout}s; wire=${wire.join(',')}`), opts.timeout * 1000);
deadline.unref?.();

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
    finish(false, 'SDK not found; run tests/interop/setup_ts.sh and use the node it prints');
}

// A summary of the wire, `METHOD:rpc->status`, kept by a fetch wrapper.
const wire = [];
async function tracingFetch(input, init = {}) {
    const method = init.method ?? 'GET';
    let rpc = '';
    if (typeof init.body === 'string') {
        try {
            const body = JSON.parse(init.body);
            rpc = Array.isArray(body) ? 'batch' : (body.method ?? 'response');
        } catch {
            rpc = '?';
        }
    }
    const headers = new Headers(init.headers ?? {});
    let res;
    try {
        res = await fetch(input, init);
    } catch (e) {
        wire.push(`${method}${rpc ? ':' + rpc : ''}->error`);
        throw e;
    }
    wire.push(`${method}${rpc ? ':' + rpc : ''}->${res.status}`);
    if (opts.trace) {
        const h = ['mcp-session-id', 'mcp-protocol-version', 'last-event-id']
            .filter((n) => headers.has(n))
            .map((n) => `${n}=${headers.get(n)}`)
            .join(' ');
        console.error(`ts-client: ${method} ${rpc} ${h} -> ${res.status} ${res.headers.get('content-type') ?? ''}`);
    }
    return res;
}

function textOf(result) {
    return (result?.content ?? [])
        .filter((c) => c.type === 'text')
        .map((c) => c.text)
        .join('\n');
}

async function main() {
    const esm = join(sdkDir(), '@modelcontextprotocol/sdk/dist/esm');
    const load = (rel) => import(pathToFileURL(join(esm, rel)).href);
    const { Client } = await load('client/index.js');
    const { StreamableHTTPClientTransport } = await load('client/streamableHttp.js');

    const transport = new StreamableHTTPClientTransport(new URL(opts.url), {
        fetch: tracingFetch,
        reconnectionOptions: {
            initialReconnectionDelay: 100,
            maxReconnectionDelay: 2000,
            reconnectionDelayGrowFactor: 1.5,
            maxRetries: 5,
        },
    });
    const client = new Client({ name: 'mcp-http-proto-ts-interop', version: '1.0.0' }, { capabilities: {} });
    client.onerror = (e) => {
        if (opts.trace) console.error(`ts-client: onerror ${e}`);
    };
    await client.connect(transport);
    const version = transport.protocolVersion ?? client.getServerVersion?.() ?? '?';
    const session = transport.sessionId ? 'yes' : 'no';

    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    const [tool, args, expected] = opts.add
        ? ['add', { a: 2, b: 3 }, '5']
        : ['echo', { text: EXPECTED_TEXT }, EXPECTED_TEXT];
    if (!names.includes(tool)) throw new Error(`tools/list has no ${tool}: ${names.join(',')}`);

    const echo = await client.callTool({ name: tool, arguments: args });
    if (echo.isError) throw new Error(`${tool} returned isError: ${textOf(echo)}`);
    if (textOf(echo) !== expected) throw new Error(`${tool} returned ${JSON.stringify(textOf(echo))}`);

    let extra = '';
    if (opts.progress) {
        let seen = 0;
        const r = await client.callTool({ name: 'progress', arguments: { steps: 3 } }, undefined, {
            onprogress: () => {
                seen += 1;
            },
        });
        if (r.isError) throw new Error(`progress returned isError: ${textOf(r)}`);
        if (seen === 0) throw new Error('no notifications/progress for the progress call');
        extra += ` progress=${seen}`;
    }
    if (opts.reconnection) {
        const r = await client.callTool({ name: 'test_reconnection', arguments: {} });
        if (r.isError) throw new Error(`test_reconnection returned isError: ${textOf(r)}`);
        const resumed = wire.filter((w) => w.startsWith('GET')).length;
        extra += ` reconnection=${JSON.stringify(textOf(r))} gets=${resumed}`;
    }

    if (transport.sessionId) await transport.terminateSession();
    await client.close();
    return `version=${version} session=${session} tools=${names.join(',')}${extra} wire=${wire.join(',')}`;
}

main().then(
    (summary) => finish(true, summary),
    (e) => finish(false, `${e?.message ?? e}; wire=${wire.join(',')}`),
);
