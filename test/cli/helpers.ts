/**
 * Helpers for the command-line tests: they run the REAL binary (`node bin/outpost`, which loads dist/cli/main.js)
 * as a child process, each with a bounded run time, and never import the product code.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'outpost');
export const FIXTURES = join(ROOT, 'test', 'fixtures', 'cli');

/** Per spawned command: nothing in these tests should take anywhere near this long. */
export const COMMAND_TIMEOUT_MS = 20_000;

/** Builds once, and only when the compiled CLI is missing (`npm test` builds before mocha). */
export function ensureBuilt(): void {
  if (existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) return;
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit', timeout: 180_000 });
}

export function tempDir(prefix = 'outpost-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** The environment for a child: none of the OUTPOST_* variables of whoever runs the tests, no tsx loader. */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('OUTPOST_')) delete env[key];
  delete env.NODE_OPTIONS;
  return { ...env, ...extra };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout exactly as written, for byte comparisons. */
  stdoutBytes: Buffer;
}

export interface RunOptions {
  /** `--config FILE`, put with the global options. */
  config?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** The global options every test passes: its own data folder and an (empty) firmware folder inside it. */
export function globalArgs(data: string, config?: string): string[] {
  return ['--data', data, '--firmware', join(data, 'firmware'), ...(config ? ['--config', config] : [])];
}

export function spawnOutpost(data: string, args: readonly string[], options: RunOptions = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...globalArgs(data, options.config), ...args], {
    cwd: ROOT,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs `outpost --data DATA ARGS...` to completion; rejects (with the output so far) if it runs too long. */
export function outpost(data: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? COMMAND_TIMEOUT_MS;
  const child = spawnOutpost(data, args, options);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  return new Promise<RunResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `outpost ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${Buffer.concat(out).toString('utf8')}\nstderr: ${Buffer.concat(err).toString('utf8')}`,
        ),
      );
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes });
    });
  });
}

/** A human-readable account of a run, for assertion messages. */
export function describeRun(r: RunResult): string {
  return `exit ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

/** Runs a command that must succeed and parses its stdout as JSON. */
export async function outpostJson<T>(data: string, args: readonly string[], options: RunOptions = {}): Promise<T> {
  const r = await outpost(data, args, options);
  if (r.code !== 0) throw new Error(`outpost ${args.join(' ')} failed:\n${describeRun(r)}`);
  return JSON.parse(r.stdout) as T;
}

/** A TCP port nobody listens on right now (on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A running `outpost serve`. */
export class ServeProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (s: string) => (this.stdout += s));
    child.stderr!.on('data', (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  static start(data: string, args: readonly string[], options: RunOptions = {}): ServeProcess {
    return new ServeProcess(spawnOutpost(data, ['serve', ...args], options));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits (bounded) for the `ready http` line; rejects if the process exits first or takes too long. */
  async waitForReady(timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = /^ready http .*$/m.exec(this.stdout)?.[0];
      if (line) return line;
      if (!this.running) throw new Error(`serve exited before ready (exit ${this.child.exitCode}, signal ${this.child.signalCode})\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`serve printed no ready http line within ${timeoutMs} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      await sleep(50);
    }
  }

  /** Waits (bounded) for the process to exit; undefined when it is still running after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** For after hooks: makes sure the child is gone. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.waitForExit(5_000);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Every key anywhere in a JSON value, lowercased (to check that no `password` key leaks). */
export function allKeys(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) for (const v of value) allKeys(v, into);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      into.add(k.toLowerCase());
      allKeys(v, into);
    }
  }
  return into;
}
