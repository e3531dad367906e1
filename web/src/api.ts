/**
 * The API client: every request carries `X-Requested-With: outpost-web`, every non-GET the CSRF token of the
 * session; a 401 sends the page back to the login form.
 */

export const BASE = '/api/v1';

export type DeviceState = 'discovered' | 'assigned' | 'provisioned' | 'registered';
export const DEVICE_STATES: DeviceState[] = ['discovered', 'assigned', 'provisioned', 'registered'];

export interface Device {
  mac: string;
  macDisplay?: string;
  vendor?: string;
  model?: string;
  firmware?: string;
  ip?: string;
  userAgent?: string;
  state: DeviceState;
  origin: string;
  location?: string;
  address?: string;
  overrides: Record<string, unknown>;
  lines: string[];
  firstSeen?: string;
  lastSeen?: string;
  provisionedAt?: string;
  files?: string[];
}

export interface Line {
  ext: string;
  number?: string;
  name: string;
  user: string;
  forward?: string;
  forwardOnBusy?: boolean;
}

export interface Model {
  model: string;
  vendor: string;
  accounts: number;
  label: string;
}

export interface Status {
  upstream: 'up' | 'down' | 'unknown';
  mode: 'normal' | 'survival';
  modeSince?: string;
  modeReason?: string;
  upstreamRtt?: number;
  modeChanges: Array<{ at: string; mode: string; reason: string }>;
  registrations: number;
  services: Record<string, { state: 'up'; address: string } | { state: 'off'; reason: string }>;
  devices: Record<string, number>;
  lines: number;
  site: string;
  startedAt?: string;
}

export interface OutpostEvent {
  id: number;
  at: string;
  type: string;
  level: 'info' | 'warn' | 'error';
  mac?: string;
  message: string;
  data?: Record<string, unknown>;
}

export interface Registration {
  line: string;
  user: string;
  contact: string;
  expiresAt: string;
  expiresIn: number;
  source: string;
  userAgent?: string;
  mac?: string;
}

export interface Call {
  id: number;
  callId: string;
  caller: string;
  callee: string;
  route: string;
  startedAt: string;
  answeredAt?: string;
  endedAt?: string;
  result: string;
}

export interface Lease {
  address: string;
  client: string;
  mac?: string;
  state: string;
  expiresAt: string;
  updatedAt: string;
  hostname?: string;
  vendorClass?: string;
}

export interface SiteField {
  key: string;
  section: string;
  type: string;
  value: unknown;
  explanation: string;
  /** Where the value comes from, when the server says (default, file, database). */
  source?: string;
}

export interface DoctorCheck {
  id: string;
  group: 'site' | 'box' | 'network';
  status: 'pass' | 'warn' | 'fail';
  title: string;
  detail: string;
  fix: string;
}

export interface DoctorReport {
  checks: DoctorCheck[];
  summary: { pass: number; warn: number; fail: number };
}

export interface ImportRow {
  row: number;
  ok: boolean;
  message?: string;
  mac?: string;
}

export interface ImportAnswer {
  imported: number;
  failed: number;
  rows: ImportRow[];
}

export interface ResyncAnswer {
  mac: string;
  answered: boolean;
  status?: number;
  reason?: string;
  target?: string;
  message?: string;
}

/** The whole effective site as GET /site returns it (only the parts the page reads are typed). */
export interface Site {
  site: { name: string; domain?: string; timezone: string; ntp: string[] };
  advertise?: string;
  network: { voiceVlan: number; voicePriority: number; dataVlan: number; dataPriority: number };
  qos: { sipDscp: number; rtpDscp: number };
  upstream: { proxy?: string; transport?: string };
  gateway: { host?: string; port?: number };
  dialplan: { outsidePrefix: string; emergency: string[] };
  dhcp?: { enabled?: boolean; subnet?: string; range?: string[]; router?: string };
  [key: string]: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
  }

  /** The message and its details as one text, as the CLI prints them. */
  full(): string {
    return [this.message, ...this.details].join(' ');
  }
}

let csrf = '';
let onUnauthorized: () => void = () => {};

export function setCsrf(token: string): void {
  csrf = token;
}

export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

function headers(method: string, extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { 'X-Requested-With': 'outpost-web', Accept: 'application/json', ...extra };
  if (method !== 'GET' && method !== 'HEAD' && csrf) out['X-CSRF-Token'] = csrf;
  return out;
}

function errorFrom(status: number, text: string): ApiError {
  try {
    const parsed = JSON.parse(text) as { error?: unknown; details?: unknown; message?: unknown };
    if (typeof parsed.error === 'string') {
      const details = Array.isArray(parsed.details) ? parsed.details.map(String) : [];
      return new ApiError(status, parsed.error, details);
    }
    // A resync the device did not answer (504) says so in `message`.
    if (typeof parsed.message === 'string') return new ApiError(status, parsed.message);
  } catch {
    /* not JSON: use the text */
  }
  return new ApiError(status, text.trim() || `the server answered ${status}`);
}

export interface RequestOptions {
  /** Do not leave for the login form on a 401 (the login form itself). */
  noRedirect?: boolean;
  contentType?: string;
}

export async function request(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<Response> {
  const extra: Record<string, string> = {};
  let payload: string | undefined;
  if (body !== undefined) {
    extra['Content-Type'] = options.contentType ?? 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(`${BASE}${path}`, { method, headers: headers(method, extra), body: payload, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'Outpost does not answer: check the network cable and that the service runs');
  }
  if (res.status === 401 && !options.noRedirect) {
    onUnauthorized();
    throw new ApiError(401, 'please log in again');
  }
  if (!res.ok) throw errorFrom(res.status, await res.text());
  return res;
}

export async function getJson<T>(path: string, options?: RequestOptions): Promise<T> {
  return (await (await request('GET', path, undefined, options)).json()) as T;
}

export async function getText(path: string): Promise<string> {
  return (await request('GET', path)).text();
}

export async function send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, options?: RequestOptions): Promise<T | undefined> {
  const res = await request(method, path, body, options);
  if (res.status === 204) return undefined;
  const text = await res.text();
  return text ? (JSON.parse(text) as T) : undefined;
}

export const enc = encodeURIComponent;

// --- sessions ------------------------------------------------------------------------------------------------

export async function currentSession(): Promise<boolean> {
  try {
    const s = await getJson<{ authenticated?: boolean; csrf?: string }>('/session', { noRedirect: true });
    if (s.csrf) setCsrf(s.csrf);
    return s.authenticated !== false;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return false;
    throw err;
  }
}

export async function login(password: string): Promise<void> {
  const answer = await send<{ csrf?: string }>('POST', '/session', { password }, { noRedirect: true });
  setCsrf(answer?.csrf ?? '');
}

export async function logout(): Promise<void> {
  try {
    await send('DELETE', '/session', undefined, { noRedirect: true });
  } finally {
    setCsrf('');
  }
}

/**
 * The CSV upload: XMLHttpRequest rather than fetch, because only it reports upload progress.
 */
export function uploadCsv(text: Blob, onProgress: (loaded: number, total: number) => void): Promise<ImportAnswer> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${BASE}/devices/import`);
    for (const [k, v] of Object.entries(headers('POST', { 'Content-Type': 'text/csv' }))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : text.size);
    xhr.onload = () => {
      if (xhr.status === 401) {
        onUnauthorized();
        reject(new ApiError(401, 'please log in again'));
      } else if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as ImportAnswer);
        } catch {
          reject(new ApiError(xhr.status, 'the server answered something that is not JSON'));
        }
      } else reject(errorFrom(xhr.status, xhr.responseText));
    };
    xhr.onerror = () => reject(new ApiError(0, 'the upload failed: Outpost does not answer'));
    xhr.send(text);
  });
}

/** The message of any error, for the technician. */
export function message(err: unknown): string {
  if (err instanceof ApiError) return err.full();
  if (err instanceof Error) return err.message;
  return String(err);
}
