/** The store: one sqlite database, one repository per aggregate. */
import { join } from 'node:path';
import type { Logger } from '../app/log.js';
import { Database } from './db.js';
import { DeviceRepository } from './devices.js';
import { EventRepository } from './events.js';
import { LineRepository } from './lines.js';
import { LeaseRepository } from './leases.js';
import { SettingsRepository } from './settings.js';
import { BindingRepository } from './bindings.js';
import { CallRepository } from './calls.js';

export class Store {
  readonly lines: LineRepository;
  readonly devices: DeviceRepository;
  readonly events: EventRepository;
  readonly settings: SettingsRepository;
  readonly leases: LeaseRepository;
  readonly bindings: BindingRepository;
  readonly calls: CallRepository;

  private constructor(readonly db: Database, log: Logger) {
    this.lines = new LineRepository(db, log);
    this.devices = new DeviceRepository(db, log);
    this.events = new EventRepository(db, log);
    this.settings = new SettingsRepository(db, log);
    this.leases = new LeaseRepository(db, log);
    this.bindings = new BindingRepository(db, log);
    this.calls = new CallRepository(db);
  }

  static async open(dataDir: string, log: Logger): Promise<Store> {
    const db = await Database.open(join(dataDir, 'outpost.db'), log);
    return new Store(db, log);
  }

  async close(): Promise<void> {
    await this.devices.flush();
    await this.db.close();
  }
}
