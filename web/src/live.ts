/**
 * The live stream (server-sent events). `change` names topics; the current page fetches again when one of its
 * topics changed, at most every 200 ms. EventSource reconnects by itself after a network error; after an answer
 * that is not a stream (401 after a logout elsewhere) it stops, and we look at the session before trying again.
 */
import { BASE } from './api.js';

export type LiveState = 'live' | 'connecting' | 'offline';

export interface Stream {
  close(): void;
}

export function openStream(handlers: {
  topics: (topics: string[]) => void;
  state: (state: LiveState) => void;
  /** Asked when the server closed the stream for good: true to try again (still logged in). */
  stillAuthenticated: () => Promise<boolean>;
}): Stream {
  let source: EventSource | undefined;
  let retry: number | undefined;
  let closed = false;
  let pending = new Set<string>();
  let debounce: number | undefined;

  const queue = (topics: string[]) => {
    for (const t of topics) pending.add(t);
    if (debounce !== undefined) return;
    debounce = window.setTimeout(() => {
      debounce = undefined;
      const batch = [...pending];
      pending = new Set();
      handlers.topics(batch);
    }, 200);
  };

  const connect = () => {
    if (closed) return;
    handlers.state('connecting');
    const es = new EventSource(`${BASE}/stream`, { withCredentials: true });
    source = es;
    es.addEventListener('open', () => handlers.state('live'));
    es.addEventListener('hello', () => handlers.state('live'));
    es.addEventListener('change', (e) => {
      try {
        const data = JSON.parse((e as MessageEvent<string>).data) as { topics?: unknown };
        if (Array.isArray(data.topics)) queue(data.topics.map(String));
      } catch {
        /* a malformed message changes nothing */
      }
    });
    es.addEventListener('outpost-event', () => queue(['events']));
    es.addEventListener('error', () => {
      if (closed) return;
      if (es.readyState === EventSource.CLOSED) {
        handlers.state('offline');
        es.close();
        source = undefined;
        retry = window.setTimeout(async () => {
          retry = undefined;
          try {
            if (await handlers.stillAuthenticated()) connect();
          } catch {
            retry = window.setTimeout(connect, 5000);
          }
        }, 3000);
      } else handlers.state('connecting');
    });
  };

  connect();
  return {
    close() {
      closed = true;
      source?.close();
      if (retry !== undefined) window.clearTimeout(retry);
      if (debounce !== undefined) window.clearTimeout(debounce);
    },
  };
}
