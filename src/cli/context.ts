/** What every command shares: the global options and opening Outpost for the length of one command. */
import { UserError } from '../app/errors.js';
import { createLogger } from '../app/log.js';
import { Outpost, type OutpostOptions } from '../app/outpost.js';

export interface GlobalOptions {
  data: string;
  firmware: string;
  config?: string;
}

export function outpostOptions(opts: GlobalOptions): OutpostOptions {
  return { dataDir: opts.data, firmwareDir: opts.firmware, configFile: opts.config, log: createLogger(process.env.OUTPOST_LOG_LEVEL ?? 'warn') };
}

/** Opens Outpost for one command and closes it afterwards, whatever happens. */
export async function withOutpost<T>(opts: GlobalOptions, fn: (outpost: Outpost) => Promise<T>): Promise<T> {
  const outpost = await Outpost.open(outpostOptions(opts));
  try {
    return await fn(outpost);
  } finally {
    await outpost.close();
  }
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}


/** A commander parser for a port option: whole numbers from `min` (0 = any free port) to 65535. */
export function portOption(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > 65535) throw new UserError(`--${name} must be a port number ${min}-65535, not "${v}"`);
    return n;
  };
}
