/**
 * Browser sessions for the technician's web page: `POST /api/v1/session` with the admin password sets an
 * HttpOnly, SameSite=Strict cookie; writes made with the cookie must carry the session's CSRF token in
 * `X-CSRF-Token`. Sessions live in memory only (a restart logs everyone out), expire after 12 idle hours, are
 * bounded in number (the oldest go first) and are all dropped when the admin password changes.
 *
 * Neither the password nor a cookie value is ever logged or written anywhere.
 */
import { randomBytes } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import { checkBasic, digest, sameSecret } from './auth.js';

export const SESSION_COOKIE = 'outpost_session';
/** Idle timeout of a session, and the cookie's Max-Age. */
export const SESSION_IDLE_MS = 12 * 3600_000;
export const MAX_SESSIONS = 1000;

/** Delay before answering a wrong password: 0.25 s, doubling with each consecutive failure from the address, at most 4 s. */
export const FAILURE_DELAY_FIRST_MS = 250;
export const FAILURE_DELAY_MAX_MS = 4000;
/** An address's failures are forgotten after this long without another one. */
const FAILURE_MEMORY_MS = 15 * 60_000;
const MAX_TRACKED_ADDRESSES = 10_000;

export interface Session {
  csrf: string;
  /** When it expires unless used again (ms since the epoch). */
  expires: number;
  lastSeen: number;
  createdAt: number;
}

export interface SessionOptions {
  /** The admin password now; sessions are dropped when it returns something new. */
  password: () => string;
  now?: () => number;
  idleMs?: number;
  maxSessions?: number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly failures = new Map<string, { count: number; last: number }>();
  /** A digest of the password the sessions were opened with (not the password itself). */
  private passwordDigest: Buffer | undefined;
  private readonly now: () => number;
  private readonly idleMs: number;
  private readonly maxSessions: number;

  constructor(private readonly options: SessionOptions) {
    this.now = options.now ?? Date.now;
    this.idleMs = options.idleMs ?? SESSION_IDLE_MS;
    this.maxSessions = options.maxSessions ?? MAX_SESSIONS;
  }

  get size(): number {
    this.syncPassword();
    return this.sessions.size;
  }

  /** Whether `given` is the admin password (constant time; an empty admin password matches nothing). */
  checkPassword(given: string): boolean {
    const password = this.options.password();
    const ok = sameSecret(given, password);
    return ok && password !== '';
  }

  /** Opens a session: a random cookie token and its CSRF token. */
  create(): { token: string; session: Session } {
    this.syncPassword();
    this.sweep();
    while (this.sessions.size >= this.maxSessions) {
      // Map keeps insertion order and `touch` re-inserts: the first entry is the least recently used.
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    const now = this.now();
    const token = randomBytes(32).toString('base64url');
    const session: Session = { csrf: randomBytes(32).toString('base64url'), expires: now + this.idleMs, lastSeen: now, createdAt: now };
    this.sessions.set(token, session);
    return { token, session };
  }

  /** The live session of `token`, its idle time restarted; undefined when unknown, expired or dropped. */
  touch(token: string | undefined): Session | undefined {
    if (!token) return undefined;
    this.syncPassword();
    const session = this.sessions.get(token);
    if (!session) return undefined;
    const now = this.now();
    if (session.expires <= now) {
      this.sessions.delete(token);
      return undefined;
    }
    session.lastSeen = now;
    session.expires = now + this.idleMs;
    this.sessions.delete(token);
    this.sessions.set(token, session);
    return session;
  }

  /** Whether `token` is a live session, without restarting its idle time (an open live stream is not a use). */
  alive(token: string | undefined): boolean {
    if (!token) return false;
    this.syncPassword();
    const session = this.sessions.get(token);
    return session !== undefined && session.expires > this.now();
  }

  delete(token: string | undefined): boolean {
    return token ? this.sessions.delete(token) : false;
  }

  clear(): void {
    this.sessions.clear();
  }

  /** Records a wrong password from `ip`; returns how long to wait before answering. */
  failed(ip: string): number {
    const now = this.now();
    const previous = this.failures.get(ip);
    const count = previous && now - previous.last < FAILURE_MEMORY_MS ? previous.count + 1 : 1;
    this.failures.delete(ip);
    if (this.failures.size >= MAX_TRACKED_ADDRESSES) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    this.failures.set(ip, { count, last: now });
    return failureDelay(count);
  }

  /** A good password from `ip`: its failures are forgotten. */
  succeeded(ip: string): void {
    this.failures.delete(ip);
  }

  private syncPassword(): void {
    const current = digest(this.options.password());
    if (this.passwordDigest && !this.passwordDigest.equals(current)) this.sessions.clear();
    this.passwordDigest = current;
  }

  private sweep(): void {
    const now = this.now();
    for (const [token, s] of this.sessions) if (s.expires <= now) this.sessions.delete(token);
  }
}

/** 0.25 s, 0.5 s, 1 s, 2 s, 4 s, 4 s, ... for the 1st, 2nd, ... consecutive failure. */
export function failureDelay(consecutive: number): number {
  if (consecutive < 1) return 0;
  return Math.min(FAILURE_DELAY_FIRST_MS * 2 ** Math.min(consecutive - 1, 10), FAILURE_DELAY_MAX_MS);
}

/** The value of one cookie in a `Cookie` header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}

export function sessionCookie(token: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeSeconds}`;
}

export function sessionToken(req: Request): string | undefined {
  return readCookie(req.headers.cookie, SESSION_COOKIE);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * `POST|GET|DELETE /session`, mounted before the API's authentication: logging in needs no credentials and no
 * CSRF token.
 */
export function sessionRouter(deps: { sessions: SessionStore; password: () => string; onFailure: (req: Request) => void }): express.Router {
  const { sessions } = deps;
  const router = express.Router();
  const maxAge = () => Math.round(SESSION_IDLE_MS / 1000);

  router.post('/session', express.json({ limit: '16kb' }), async (req: Request, res: Response) => {
    res.set('Cache-Control', 'no-store');
    const body = req.body as unknown;
    const password = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>).password : undefined;
    if (typeof password !== 'string') {
      res.status(400).json({ error: 'send {"password": "..."} with Content-Type: application/json' });
      return;
    }
    const ip = req.socket.remoteAddress ?? '?';
    if (!sessions.checkPassword(password)) {
      deps.onFailure(req);
      await sleep(sessions.failed(ip));
      res.status(401).json({ error: 'wrong password' });
      return;
    }
    sessions.succeeded(ip);
    // A login replaces the session the browser had.
    sessions.delete(sessionToken(req));
    const { token, session } = sessions.create();
    res.set('Set-Cookie', sessionCookie(token, maxAge())).json({ csrf: session.csrf });
  });

  router.get('/session', (req: Request, res: Response) => {
    res.set('Cache-Control', 'no-store');
    const token = sessionToken(req);
    const session = sessions.touch(token);
    if (session && token) {
      // The cookie lives as long as the idle timeout from now, like the session.
      res.set('Set-Cookie', sessionCookie(token, maxAge())).json({ authenticated: true, csrf: session.csrf });
      return;
    }
    // HTTP Basic (a script): authenticated, and without a session there is no token to send.
    if (checkBasic(req.headers.authorization, deps.password())) {
      res.json({ authenticated: true, csrf: '' });
      return;
    }
    res.status(401).json({ authenticated: false });
  });

  router.delete('/session', (req: Request, res: Response) => {
    sessions.delete(sessionToken(req));
    res.set('Set-Cookie', sessionCookie('', 0)).set('Cache-Control', 'no-store').status(204).end();
  });

  // Other methods on /session.
  router.all('/session', (_req: Request, res: Response) => {
    res.set('Allow', 'GET, POST, DELETE').status(405).json({ error: 'use POST to log in, GET to check, DELETE to log out' });
  });

  // A body that is not JSON.
  router.use('/session', (err: unknown, _req: Request, res: Response, next: (err?: unknown) => void) => {
    const type = (err as { type?: string }).type;
    if (err instanceof SyntaxError || type === 'entity.parse.failed') res.status(400).json({ error: 'the request body is not valid JSON' });
    else if (type === 'entity.too.large') res.status(413).json({ error: 'the request body is too large' });
    else next(err);
  });
  return router;
}
