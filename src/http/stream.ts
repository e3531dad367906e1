/**
 * `GET /api/v1/stream`: live updates for the web page as server-sent events.
 *
 *   event: hello          data: {"lastEventId": N}          first, at once
 *   event: outpost-event  data: <an event row, as GET /api/v1/events gives it>, id: the event's id
 *   event: change         data: {"topics": ["devices", ...]} what to fetch again
 *   : keepalive                                              every 15 s
 *
 * One poller serves every client: it runs every second while at least one is connected and stops with the last.
 * It reads the event table and cheap fingerprints (store/fingerprints.ts), never in-process emitters, because a
 * CLI process writes to the same database. A reconnecting client sends `Last-Event-ID` and gets what it missed.
 */
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Logger } from '../app/log.js';
import type { OutpostEvent } from '../store/events.js';

export const TOPICS = ['devices', 'lines', 'leases', 'registrations', 'calls', 'status', 'site'] as const;
export type Topic = (typeof TOPICS)[number];

export interface StreamSources {
  /** Event rows with id > sinceId, newest first (EventRepository.list). */
  events(filter: { sinceId?: number; limit?: number }): Promise<OutpostEvent[]>;
  /** A string per topic that changes when what the topic shows changes. */
  fingerprints(): Promise<Partial<Record<Topic, string>>>;
  log: Logger;
}

export interface StreamOptions {
  pollMs?: number;
  keepaliveMs?: number;
  /** Events sent at most per poll (and as catch-up after a reconnect); the page can page through GET /events. */
  batch?: number;
  /** A client that does not read and lets this much pile up is dropped (it reconnects with Last-Event-ID). */
  maxBufferedBytes?: number;
}

interface Client {
  res: Response;
  /** The id of the last event it has been sent (or that it said it had). */
  cursor: number;
  /** Events broadcast while its catch-up query runs; undefined once it is live. */
  pending: OutpostEvent[] | undefined;
  /** Whether its credentials still hold (a logout or a new admin password ends the stream). */
  authorized: (() => boolean) | undefined;
}

export class StreamHub {
  private readonly clients = new Set<Client>();
  private readonly pollMs: number;
  private readonly keepaliveMs: number;
  private readonly batch: number;
  private readonly maxBuffered: number;
  private pollTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  /** One object per start of the poller, so a poll still in flight after a stop changes nothing. */
  private run: { lastId: number | undefined; previous: Partial<Record<Topic, string>> | undefined; busy: boolean } | undefined;
  private closed = false;

  constructor(private readonly sources: StreamSources, options: StreamOptions = {}) {
    this.pollMs = options.pollMs ?? 1000;
    this.keepaliveMs = options.keepaliveMs ?? 15_000;
    this.batch = options.batch ?? 1000;
    this.maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  get polling(): boolean {
    return this.pollTimer !== undefined;
  }

  /** The express handler, for a stream whose authorization never lapses. */
  handle = (req: Request, res: Response): Promise<void> => this.open(req, res);

  /** Opens a stream; `authorized` is asked at every poll, and the stream ends when it says no. */
  async open(req: Request, res: Response, authorized?: () => boolean): Promise<void> {
    if (this.closed) {
      res.status(503).json({ error: 'Outpost is stopping' });
      return;
    }
    const asked = lastEventId(req);
    const newest = (await this.sources.events({ limit: 1 }))[0]?.id ?? 0;
    if (this.closed || req.socket.destroyed) {
      if (!res.headersSent) res.status(503).end();
      return;
    }
    const cursor = asked === undefined ? newest : Math.min(asked, newest);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
      'X-Content-Type-Options': 'nosniff',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.flushHeaders();
    req.socket.setNoDelay(true);
    const client: Client = { res, cursor, pending: [], authorized };
    this.clients.add(client);
    res.on('close', () => this.drop(client));
    this.send(client, `id: ${cursor}\nevent: hello\ndata: ${JSON.stringify({ lastEventId: cursor })}\n\n`);
    this.start();
    // Catch-up: what it missed (after a reconnect) or what was written since `newest` was read.
    try {
      const missed = (await this.sources.events({ sinceId: cursor, limit: this.batch })).reverse();
      const buffered = client.pending ?? [];
      client.pending = undefined;
      this.deliver(client, missed);
      this.deliver(client, buffered);
    } catch (err) {
      this.sources.log.warn({ err: (err as Error).message }, 'live stream: cannot read the events a client missed');
      const buffered = client.pending ?? [];
      client.pending = undefined;
      this.deliver(client, buffered);
    }
  }

  /** Ends every stream and refuses new ones: the HTTP server is closing. */
  close(): void {
    this.closed = true;
    for (const client of [...this.clients]) this.end(client);
    this.stop();
  }

  /** Ends one stream and its connection (not reused: the server is going away, or the client must log in again). */
  private end(client: Client): void {
    const socket = client.res.socket;
    client.res.end();
    socket?.end();
    this.drop(client);
  }

  private drop(client: Client): void {
    if (!this.clients.delete(client)) return;
    if (this.clients.size === 0) this.stop();
  }

  private start(): void {
    if (this.pollTimer || this.closed) return;
    const run = { lastId: undefined as number | undefined, previous: undefined as Partial<Record<Topic, string>> | undefined, busy: false };
    this.run = run;
    this.pollTimer = setInterval(() => void this.poll(run), this.pollMs);
    this.pollTimer.unref();
    this.keepaliveTimer = setInterval(() => {
      for (const client of this.clients) this.send(client, ': keepalive\n\n');
    }, this.keepaliveMs);
    this.keepaliveTimer.unref();
    // The baseline: events after the newest now, and the fingerprints to compare the next poll with.
    void this.poll(run);
  }

  private stop(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    this.pollTimer = undefined;
    this.keepaliveTimer = undefined;
    this.run = undefined;
  }

  private async poll(run: NonNullable<StreamHub['run']>): Promise<void> {
    if (run.busy || this.run !== run) return;
    run.busy = true;
    try {
      for (const client of [...this.clients]) {
        if (client.authorized && !client.authorized()) this.end(client);
      }
      if (this.run !== run) return;
      if (run.lastId === undefined) {
        run.lastId = (await this.sources.events({ limit: 1 }))[0]?.id ?? 0;
      } else {
        const events = (await this.sources.events({ sinceId: run.lastId, limit: this.batch })).reverse();
        if (this.run !== run) return;
        if (events.length) {
          run.lastId = events[events.length - 1]!.id;
          for (const client of this.clients) {
            if (client.pending) client.pending.push(...events);
            else this.deliver(client, events);
          }
        }
      }
      const now = await this.sources.fingerprints();
      if (this.run !== run) return;
      if (run.previous) {
        const topics = TOPICS.filter((t) => now[t] !== run.previous![t]);
        if (topics.length) {
          const message = `event: change\ndata: ${JSON.stringify({ topics })}\n\n`;
          for (const client of this.clients) this.send(client, message);
        }
      }
      run.previous = now;
    } catch (err) {
      this.sources.log.warn({ err: (err as Error).message }, 'live stream: poll failed');
    } finally {
      run.busy = false;
    }
  }

  /** Sends the events after the client's cursor, in id order. */
  private deliver(client: Client, events: readonly OutpostEvent[]): void {
    for (const event of events) {
      if (event.id <= client.cursor) continue;
      client.cursor = event.id;
      this.send(client, `id: ${event.id}\nevent: outpost-event\ndata: ${JSON.stringify(event)}\n\n`);
    }
  }

  private send(client: Client, text: string): void {
    const { res } = client;
    if (res.writableEnded || res.destroyed) return this.drop(client);
    if (res.writableLength > this.maxBuffered) {
      this.sources.log.warn({ ip: res.req.socket.remoteAddress }, 'live stream: a client that does not read was dropped');
      res.destroy();
      return this.drop(client);
    }
    res.write(text);
  }
}

/** `Last-Event-ID` (EventSource sends it on reconnect), or `?lastEventId=` (for clients that cannot set headers). */
function lastEventId(req: Request): number | undefined {
  const raw = req.headers['last-event-id'] ?? (typeof req.query.lastEventId === 'string' ? req.query.lastEventId : undefined);
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw.trim())) return undefined;
  return Number(raw.trim());
}

/** A short stable digest of any JSON value, for fingerprints built outside the store. */
export function fingerprintOf(value: unknown): string {
  return createHash('sha1').update(JSON.stringify(value) ?? '').digest('base64url');
}
