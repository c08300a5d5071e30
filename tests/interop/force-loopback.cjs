// Node preload: force every TCP net.Server.listen() onto 127.0.0.1.
//
//   NODE_OPTIONS="--require /path/to/tests/interop/force-loopback.cjs" node ...
//
// The MCP conformance suite's mock servers (express `app.listen(port)`,
// `http.createServer().listen(0)`, ...) otherwise listen on all interfaces
// (0.0.0.0 / ::). This rewrites any TCP listen call -- listen(), listen(port),
// listen(port, host, backlog, cb), listen({port, host, ...}, cb) -- into
// listen({port, host: "127.0.0.1", backlog}, cb). IPC listens (pipe path,
// {path}), fd/handle listens are left untouched. http/https servers inherit
// from net.Server, so they are covered too.
//
// The bind stays synchronous, as it is for listen(port) without a host: the
// suite reads server.address().port right after app.listen(0). Node resolves
// an explicit host with dns.lookup() (asynchronously, even for an IP literal),
// so during our listen() call dns.lookup answers our literal synchronously.
//
// FORCE_LOOPBACK_HOST overrides the address (must be a loopback IP literal);
// FORCE_LOOPBACK_DEBUG=1 logs each rewrite to stderr.
"use strict";

const net = require("node:net");
const dns = require("node:dns");

const host = process.env.FORCE_LOOPBACK_HOST || "127.0.0.1";
const family = net.isIP(host);
if (!(family === 4 && host.startsWith("127.")) && host !== "::1") {
  throw new Error(`force-loopback: FORCE_LOOPBACK_HOST=${host} is not a loopback IP literal`);
}
const debug = !!process.env.FORCE_LOOPBACK_DEBUG;
const originalListen = net.Server.prototype.listen;

// Same rule as Node's internal isPipeName(): a string that is not a port number.
function isPipeName(s) {
  return typeof s === "string" && !/^\s*\d+\s*$/.test(s);
}

function isHandleLike(o) {
  return (
    o instanceof net.Server ||
    o instanceof net.Socket ||
    o._handle !== undefined ||
    o.handle !== undefined ||
    o.fd !== undefined ||
    o.path !== undefined
  );
}

net.Server.prototype.listen = function forceLoopbackListen(...args) {
  const cb = typeof args[args.length - 1] === "function" ? args.pop() : undefined;
  const first = args[0];
  let options;

  if (first !== null && typeof first === "object") {
    if (isHandleLike(first)) return originalListen.apply(this, cb ? [...args, cb] : args);
    options = { ...first, host };
  } else if (isPipeName(first)) {
    return originalListen.apply(this, cb ? [...args, cb] : args);
  } else {
    // listen([port[, host[, backlog]]]) -- port may be a number, a numeric
    // string, or absent (0 = ephemeral port).
    options = { port: first === undefined ? 0 : Number(first), host };
    const backlog = typeof args[1] === "string" ? args[2] : args[1];
    if (typeof backlog === "number") options.backlog = backlog;
  }
  if (debug) {
    process.stderr.write(`force-loopback: listen(${JSON.stringify(args)}) -> listen(${JSON.stringify(options)})\n`);
  }
  const savedLookup = dns.lookup;
  dns.lookup = function syncLoopbackLookup(hostname, opts, callback) {
    if (typeof opts === "function") callback = opts;
    if (hostname === host && typeof callback === "function") {
      // Node 22 asks with {all: true}; older releases without it.
      if (opts && typeof opts === "object" && opts.all) callback(null, [{ address: host, family }]);
      else callback(null, host, family);
      return {};
    }
    return savedLookup.apply(this, arguments);
  };
  try {
    return cb ? originalListen.call(this, options, cb) : originalListen.call(this, options);
  } finally {
    dns.lookup = savedLookup;
  }
};
