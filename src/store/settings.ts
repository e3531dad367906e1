/** Site settings changed with `site set`, as dotted keys with JSON values. The site file wins over these. */
import type { Logger } from '../app/log.js';
import type { Database } from './db.js';

export class SettingsRepository {
  constructor(private readonly db: Database, private readonly log: Logger) {}

  async all(): Promise<Map<string, unknown>> {
    const rows = await this.db.all<{ key: string; value: string }>('SELECT key, value FROM settings ORDER BY key');
    const out = new Map<string, unknown>();
    for (const row of rows) {
      try {
        out.set(row.key, JSON.parse(row.value) as unknown);
      } catch {
        this.log.warn({ key: row.key }, 'skipping a setting whose stored value is not JSON');
      }
    }
    return out;
  }

  async set(key: string, value: unknown): Promise<void> {
    await this.db.transaction(() =>
      this.db.run('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value', [key, JSON.stringify(value)]),
    );
  }

  async unset(key: string): Promise<void> {
    await this.db.transaction(() => this.db.run('DELETE FROM settings WHERE key = ?', [key]));
  }
}
