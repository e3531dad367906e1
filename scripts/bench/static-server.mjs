// The baseline for scripts/bench/http-provisioning.ts: a static file server for the same bytes Outpost renders.
// Plain JavaScript run with `node` as it is (no loader), like `node bin/outpost`.
//
//   node scripts/bench/static-server.mjs <root> <mode>      mode: node-http | express-static
//
// node-http:      node:http; per request it reads `<root>/<name>` from disk with fs.readFile (no cache) and answers
//                 with Content-Type and Content-Length: the least a static file server does.
// express-static: express 5 with express.static(root) (serve-static/send: stat, stream, ETag, Last-Modified,
//                 ranges) behind the same app settings Outpost uses: a full-featured static server on the same
//                 framework.
// Listens on 127.0.0.1 on a free port and prints `ready <port>`. Exits when its stdin closes, so it cannot
// outlive the benchmark that started it.
import { createServer } from 'node:http';
import { readFile } from 'node:fs';
import { join } from 'node:path';
import express from 'express';

const [root, mode] = process.argv.slice(2);
if (!root || (mode !== 'node-http' && mode !== 'express-static')) {
  process.stderr.write('usage: node static-server.mjs <root> node-http|express-static\n');
  process.exit(2);
}

const SAFE = /^\/prov\/([A-Za-z0-9][A-Za-z0-9._-]*)$/;

function plainHandler(req, res) {
  const m = SAFE.exec(req.url ?? '');
  if (req.method !== 'GET' || !m) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  readFile(join(root, m[1]), (err, body) => {
    if (err) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
    res.end(body);
  });
}

function expressApp() {
  const app = express();
  app.disable('x-powered-by');
  app.use('/prov', express.static(root, { dotfiles: 'deny', index: false, redirect: false, fallthrough: false, setHeaders: (res) => res.set('Content-Type', 'text/plain; charset=utf-8') }));
  return app;
}

// The same server options Outpost's listen() uses.
const server = createServer({ keepAliveTimeout: 5000, headersTimeout: 10_000, requestTimeout: 30_000 }, mode === 'node-http' ? plainHandler : expressApp());
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});

const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
