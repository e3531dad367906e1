/**
 * Numbered schema migrations. Append only: a migration that has shipped is never edited; a new number fixes it.
 * `PRAGMA user_version` records the last one applied.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'lines, devices, events, settings',
    sql: `
      CREATE TABLE lines (
        ext        TEXT PRIMARY KEY,
        number     TEXT UNIQUE,
        name       TEXT NOT NULL DEFAULT '',
        user       TEXT NOT NULL UNIQUE,
        password   TEXT NOT NULL,
        forward    TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE devices (
        mac            TEXT PRIMARY KEY,
        vendor         TEXT,
        model          TEXT,
        firmware       TEXT,
        ip             TEXT,
        user_agent     TEXT,
        state          TEXT NOT NULL,
        origin         TEXT NOT NULL,
        location       TEXT,
        overrides      TEXT NOT NULL DEFAULT '{}',
        first_seen     TEXT,
        last_seen      TEXT,
        provisioned_at TEXT,
        created_at     TEXT NOT NULL,
        updated_at     TEXT NOT NULL
      );
      CREATE TABLE device_lines (
        mac      TEXT NOT NULL REFERENCES devices(mac) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        ext      TEXT NOT NULL REFERENCES lines(ext),
        PRIMARY KEY (mac, position)
      );
      CREATE INDEX device_lines_ext ON device_lines(ext);
      CREATE TABLE events (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        at      TEXT NOT NULL,
        type    TEXT NOT NULL,
        level   TEXT NOT NULL DEFAULT 'info',
        mac     TEXT,
        message TEXT NOT NULL,
        data    TEXT
      );
      CREATE INDEX events_type_at ON events(type, at);
      CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'DHCP leases',
    sql: `
      CREATE TABLE leases (
        address    TEXT PRIMARY KEY,
        client     TEXT NOT NULL,
        mac        TEXT,
        state      TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        hostname   TEXT,
        vendor_class TEXT
      );
      CREATE INDEX leases_client ON leases(client);
    `,
  },
  {
    version: 3,
    name: 'reserved DHCP address per device',
    sql: `ALTER TABLE devices ADD COLUMN address TEXT;`,
  },
  {
    version: 4,
    name: 'SIP registrations',
    sql: `
      CREATE TABLE bindings (
        aor        TEXT NOT NULL,
        contact    TEXT NOT NULL,
        call_id    TEXT NOT NULL,
        cseq       INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        q          REAL,
        source     TEXT NOT NULL,
        user_agent TEXT,
        mac        TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (aor, contact)
      );
      CREATE INDEX bindings_expires ON bindings(expires_at);
    `,
  },
  {
    version: 5,
    name: 'calls handled in survival mode; forward on busy',
    sql: `
      CREATE TABLE calls (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id     TEXT NOT NULL,
        caller      TEXT NOT NULL,
        callee      TEXT NOT NULL,
        route       TEXT NOT NULL,
        started_at  INTEGER NOT NULL,
        answered_at INTEGER,
        ended_at    INTEGER,
        result      TEXT NOT NULL DEFAULT 'ringing'
      );
      CREATE INDEX calls_started ON calls(started_at);
      CREATE INDEX calls_call_id ON calls(call_id);
      ALTER TABLE lines ADD COLUMN forward_on_busy INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 6,
    // A refresh rewrote three pages per binding: the row (found through the primary key's own index) and two of
    // the expiry index, which nothing reads (bindings are loaded whole at start and expired in memory). Stored in
    // its primary key now, it is one page: at 3,000 registrations/s that is a third of the write-ahead log.
    name: 'bindings stored by their primary key, without the expiry index',
    sql: `
      CREATE TABLE bindings_by_key (
        aor        TEXT NOT NULL,
        contact    TEXT NOT NULL,
        call_id    TEXT NOT NULL,
        cseq       INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        q          REAL,
        source     TEXT NOT NULL,
        user_agent TEXT,
        mac        TEXT,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (aor, contact)
      ) WITHOUT ROWID;
      INSERT INTO bindings_by_key SELECT aor, contact, call_id, cseq, expires_at, q, source, user_agent, mac, updated_at FROM bindings;
      DROP TABLE bindings;
      ALTER TABLE bindings_by_key RENAME TO bindings;
    `,
  },
];
