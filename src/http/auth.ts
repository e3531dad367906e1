/**
 * Authentication for the API: HTTP Basic `admin:<password>` (scripts, the CLI's tests) or the web page's session
 * cookie (session.ts). Secrets are compared in constant time, through fixed-length digests.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { sessionToken, type SessionStore } from './session.js';

export function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Whether two secrets are equal, in time that does not depend on where they differ. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export function checkBasic(header: string | undefined, password: string): boolean {
  if (!header?.startsWith('Basic ') || !password) return false;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const userOk = sameSecret(decoded.slice(0, colon), 'admin');
  const passOk = sameSecret(decoded.slice(colon + 1), password);
  return userOk && passOk;
}

/** The web page sends this; its 401s come without `WWW-Authenticate`, so the browser shows no login box of its own. */
export const WEB_CLIENT_HEADER = 'x-requested-with';
export const WEB_CLIENT_VALUE = 'outpost-web';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether a 401 to this request may carry `WWW-Authenticate: Basic` (which makes a browser ask for a password). */
function wantsBasicChallenge(req: Request): boolean {
  if (String(req.headers[WEB_CLIENT_HEADER] ?? '').toLowerCase() === WEB_CLIENT_VALUE) return false;
  // EventSource cannot set headers; it always asks for text/event-stream.
  if (/\btext\/event-stream\b/i.test(String(req.headers.accept ?? ''))) return false;
  return true;
}

/**
 * The API's gate: HTTP Basic (no CSRF token needed: a browser never sends it on its own), else the session
 * cookie, with `X-CSRF-Token` on every method but GET/HEAD/OPTIONS. 401 without credentials, 403 for a session
 * write without the right token.
 */
export function apiAuth(deps: { password: () => string; sessions?: SessionStore | undefined; onFailure: (req: Request) => void }) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (checkBasic(req.headers.authorization, deps.password())) return next();
    const session = deps.sessions?.touch(sessionToken(req));
    if (session) {
      if (SAFE_METHODS.has(req.method)) return next();
      const token = req.headers[CSRF_HEADER];
      if (typeof token === 'string' && token !== '' && sameSecret(token, session.csrf)) return next();
      res.status(403).json({ error: 'missing or wrong X-CSRF-Token header' });
      return;
    }
    deps.onFailure(req);
    if (wantsBasicChallenge(req)) res.set('WWW-Authenticate', 'Basic realm="Outpost", charset="UTF-8"');
    res.status(401).json({ error: 'authentication required: HTTP Basic admin:<admin password>, or log in with POST /api/v1/session' });
  };
}

/** HTTP Basic only (kept for callers that do not use sessions). */
export function basicAuth(password: () => string, onFailure: (req: Request) => void) {
  return apiAuth({ password, onFailure });
}
