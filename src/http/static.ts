/**
 * The technician's web page: `GET /` is dist/web/index.html, `GET /assets/...` the files under dist/web/assets
 * (built from web/ by `npm run build`). No directory listings, no dot files, nothing outside the folder; every
 * answer revalidates (`no-cache`) and carries a strict Content-Security-Policy. Without a built page `/` keeps
 * its plain-text answer.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** The project root (the folder with package.json), found from this module: src/http/ under tsx, dist/http/ when built. */
export function projectRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return join(from, '..', '..');
    dir = parent;
  }
}

export function defaultWebRoot(): string {
  return join(projectRoot(), 'dist', 'web');
}

const PLAIN_ROOT = 'Outpost is running. The API is at /api/v1 (HTTP Basic, user admin); provisioning at /prov/.\n';

function pageHeaders(res: Response): void {
  res.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.set('Cache-Control', 'no-cache');
  res.set('Referrer-Policy', 'no-referrer');
  res.set('X-Frame-Options', 'DENY');
}

/** `/` and `/assets/*`. `webRoot` is looked at on every request, so a page built after the start is served. */
export function webRouter(webRoot: string = defaultWebRoot()): express.Router {
  const router = express.Router();
  const assets = express.static(join(webRoot, 'assets'), {
    index: false,
    redirect: false,
    dotfiles: 'ignore',
    fallthrough: true,
    cacheControl: false,
    lastModified: true,
    etag: true,
    setHeaders: (res) => pageHeaders(res as unknown as Response),
  });

  router.get('/', (_req, res) => {
    const index = join(webRoot, 'index.html');
    if (!existsSync(index)) {
      res.type('text/plain').send(PLAIN_ROOT);
      return;
    }
    pageHeaders(res);
    res.sendFile(index, { cacheControl: false, dotfiles: 'allow' });
  });

  router.use('/assets', (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.set('Allow', 'GET, HEAD').status(405).type('text/plain').send('method not allowed\n');
      return;
    }
    // `..` (also encoded), NUL and backslashes are refused before any file is looked at.
    let path: string;
    try {
      path = decodeURIComponent(req.path);
    } catch {
      res.status(400).type('text/plain').send('malformed request path\n');
      return;
    }
    if (path.includes('\0') || path.includes('\\') || path.split('/').some((part) => part === '..')) {
      res.status(400).type('text/plain').send('path outside the page\'s assets\n');
      return;
    }
    assets(req, res, next);
  });
  router.use('/assets', (_req: Request, res: Response) => {
    res.status(404).type('text/plain').set('Cache-Control', 'no-cache').send('not found\n');
  });
  return router;
}
