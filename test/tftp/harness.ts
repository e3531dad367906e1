/**
 * The TFTP suite's harness: serve() in-process on 127.0.0.x with free ports and temp folders, real clients
 * run as child processes (each bounded and killed at the end), and the process's own UDP sockets as the
 * kernel lists them (/proc/net/udp).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { silentLogger } from '../../src/app/log.js';
import { serve, type RunningOutpost } from '../../src/app/serve.js';

export const UA_T22P = 'Yealink SIP-T22P 7.73.0.50 00:15:65:aa:bb:01';
export const MAC = '001565aabb01';
export const PASSWORD = 'tftp-secret';

/** A site naming line 111 and the T22P 00:15:65:aa:bb:01 that has it. */
export function site(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    lines: [{ ext: '111', number: '234567111', name: 'Jan Novak', user: '420234567111', password: PASSWORD }],
    devices: [{ mac: '00:15:65:aa:bb:01', model: 'SIP-T22P', lines: ['111'] }],
    ...extra,
  };
}

export interface Harness {
  running: RunningOutpost;
  httpPort: number;
  tftpPort: number;
  /** The address the server is bound to. */
  host: string;
  base: string;
  dir: string;
  dataDir: string;
  firmwareDir: string;
  /** A scratch folder for client downloads. */
  work: string;
  lines: string[];
  close(): Promise<void>;
}

export async function startServer(options: { site?: unknown; bind?: string } = {}): Promise<Harness> {
  const host = options.bind ?? '127.0.0.1';
  const dir = mkdtempSync(join(tmpdir(), 'outpost-tftp-'));
  try {
    const dataDir = join(dir, 'data');
    const firmwareDir = join(dir, 'firmware');
    const work = join(dir, 'work');
    for (const d of [dataDir, firmwareDir, work]) mkdirSync(d);
    let configFile: string | undefined;
    if (options.site !== undefined) {
      configFile = join(dir, 'site.json');
      writeFileSync(configFile, JSON.stringify(options.site, null, 2));
    }
    const lines: string[] = [];
    const running = await serve({
      dataDir,
      firmwareDir,
      configFile,
      log: silentLogger,
      bind: host,
      advertise: host,
      httpPort: 0,
      tftpPort: 0,
      sipPort: 0,
      dhcpPort: 0,
      tftp: true,
      sip: false,
      dhcp: false,
      mdns: false,
      out: (line) => lines.push(line),
    });
    // serve() does not expose the TFTP port: the `ready tftp` line names it.
    const ready = lines.map((l) => /^ready tftp tftp:\/\/[^:/]+:(\d+)\/ \(bound to ([^:]+):(\d+)\)/.exec(l)).find((m) => m);
    if (!ready) {
      await running.stop();
      throw new Error(`no "ready tftp" line: ${JSON.stringify(lines)}`);
    }
    const tftpPort = Number(ready[1]);
    if (!(tftpPort > 0) || ready[2] !== host || Number(ready[3]) !== tftpPort) {
      await running.stop();
      throw new Error(`the ready tftp line names no bound port: ${ready[0]}`);
    }
    return {
      running,
      httpPort: running.httpPort,
      tftpPort,
      host,
      base: `http://${host}:${running.httpPort}`,
      dir,
      dataDir,
      firmwareDir,
      work,
      lines,
      async close() {
        try {
          await running.stop();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes

const children = new Set<ChildProcess>();

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a client, never for longer than `timeoutMs`; resolves (never rejects) with what it did. */
export function run(file: string, args: string[], options: { input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const timeout = options.timeoutMs ?? 30_000;
    const child = execFile(file, args, { timeout, killSignal: 'SIGKILL', cwd: options.cwd, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      children.delete(child);
      const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals; killed?: boolean }) | null;
      resolve({
        code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        signal: e?.signal ?? null,
        stdout: String(stdout),
        stderr: String(stderr),
        timedOut: Boolean(e?.killed) && Date.now() - started >= timeout - 50,
      });
    });
    children.add(child);
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Kills every client still running (after hooks). */
export function killChildren(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

export function runningChildren(): number {
  return [...children].filter((c) => c.exitCode === null && c.signalCode === null).length;
}

// ---------------------------------------------------------------------------------------------------------------
// The kernel's view of this process's UDP sockets

export interface UdpSocketEntry {
  address: string;
  port: number;
  inode: number;
}

function hexToIPv4(hex: string): string {
  // /proc/net/udp lists the address as a little-endian 32-bit hex number.
  const n = parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

/** Every IPv4 UDP socket of this process (matched by the socket inodes in /proc/self/fd). */
export function ownUdpSockets(): UdpSocketEntry[] {
  const inodes = new Set<number>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(Number(m[1]));
    } catch {
      /* closed meanwhile */
    }
  }
  const out: UdpSocketEntry[] = [];
  const lines = readFileSync('/proc/net/udp', 'utf8').trim().split('\n').slice(1);
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    const [addr, port] = (f[1] ?? '').split(':');
    const inode = Number(f[9]);
    if (!addr || !port || !inodes.has(inode)) continue;
    out.push({ address: hexToIPv4(addr), port: parseInt(port, 16), inode });
  }
  return out;
}

export async function waitFor(what: string, ms: number, check: () => boolean | Promise<boolean>, step = 50): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, step));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every file under `dir` with its size and mtime, for "nothing was written" checks. */
export function snapshotTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out.push(`${relative(dir, p)} ${st.size}`);
    }
  };
  walk(dir);
  return out.sort();
}
