/**
 * Logging: pino, JSON lines on stderr (the journal keeps them; stdout stays for command output). Anything that
 * looks like a secret is redacted by path, so a careless `log.info({ line })` still cannot leak a password.
 */
import { pino, destination, stdTimeFunctions, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'admin.password',
];

export function createLogger(level = process.env.OUTPOST_LOG_LEVEL ?? 'info', fd = 2): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: stdTimeFunctions.isoTime,
    },
    destination({ dest: fd, sync: true }),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
