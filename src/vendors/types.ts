/**
 * The vendor-plugin interface. A vendor module declares its models, how to recognise its devices and which
 * files it serves; the provisioning core does the rest (identification, settings, rendering, access rules).
 */
import type { Mac } from '../net/mac.js';
import type { ResolvedSettings } from '../provisioning/settings.js';

export type DeviceKind = 'phone' | 'gateway';

export interface ModelSpec {
  /** Canonical id as on the label, without the vendor word: `T22P`, `VP530`, `ST2030`, `4102S`. */
  readonly id: string;
  readonly vendor: string;
  /** Other spellings seen on labels or in User-Agents (`SIP-T22P`, `VP530P`). Matched case-insensitively. */
  readonly aliases?: readonly string[];
  readonly kind: DeviceKind;
  /** SIP accounts (phones) or FXS ports (gateways). */
  readonly accounts: number;
  /** Vendor-specific model code, e.g. Yealink's `05` in `y000000000005.cfg`. */
  readonly code?: string;
  /** Firmware version prefix that identifies the model, e.g. Yealink T22P `7.`. */
  readonly firmwarePrefix?: string;
  /** FXO ports (analog lines to the PSTN) of a gateway; they carry no line of their own. */
  readonly fxo?: number;
  /**
   * The images this model takes from the firmware catalogue, by role; the first is the one offered as an
   * upgrade. Default `['application']`. Thomson phones also take `dsp`, `boot` and the vendor's `telephony`
   * script.
   */
  readonly firmwareRoles?: readonly string[];
  /**
   * Whether images keep the vendor's file name in the catalogue (Thomson phones read the version from the
   * names the .inf gives them); otherwise they are stored as `<model>-<version>.<ext>`.
   */
  readonly firmwareKeepsName?: boolean;
}

/** What one request (HTTP or TFTP) tells about the device that made it. */
export interface DeviceHint {
  vendor?: string;
  model?: string;
  firmware?: string;
  mac?: Mac;
}

/** A file a vendor serves. `secret` files carry SIP passwords and go only to entitled clients. */
export interface FileMatch {
  /** `common`: one per model, no secrets; `device`: per MAC. */
  scope: 'common' | 'device';
  model?: ModelSpec;
  mac?: Mac;
  secret: boolean;
}

export interface RenderInput {
  file: string;
  match: FileMatch;
  model: ModelSpec;
  settings: ResolvedSettings;
  /** The device's own record, when the file is per device. */
  device?: { mac: Mac; firmware?: string | undefined };
  /** Set when the firmware catalogue holds a different version for this model than the device reports. */
  firmware?: { version: string; url: string } | undefined;
  /**
   * Every image the catalogue holds for this model, by role (`application`, `dsp`, ...), whether or not the
   * device runs it already: for vendors whose devices compare versions themselves (Thomson's .inf).
   */
  images: Readonly<Record<string, CatalogueImage>>;
}

/** A firmware-catalogue image as a template sees it. */
export interface CatalogueImage {
  version: string;
  /** The file name in the catalogue. */
  file: string;
  /** Absolute HTTP URL, `http://host:port/prov/firmware/<file>`. */
  url: string;
}

export interface RenderedFile {
  body: Buffer;
  contentType: string;
}

/** Where this box serves provisioning files, for the DHCP options that point devices at it. */
export interface ProvisioningLocation {
  host: string;
  httpPort: number;
  tftpPort: number;
  /** `http://host:port/prov/` */
  httpUrl: string;
}

/** How a vendor's devices show themselves in DHCP, and what they are told there. */
export interface DhcpIdentity {
  /** Option 60 (vendor class) values of this vendor's devices. */
  vendorClass: readonly RegExp[];
  /** Option 77 (user class) values. */
  userClass: readonly RegExp[];
  /** The model a vendor or user class names, when it names one. */
  modelFromClass?(text: string): string | undefined;
  /**
   * The class a device of `model` sends, as a router can match it exactly (Thomson: user class
   * `Thomson ST2030S`; Mediatrix v5: vendor class `Mediatrix 4102`). Needed when the options differ by model.
   */
  classOf?(model: string): { vendorClass?: string; userClass?: string };
  /** The options (43, 66, 67, ...) that tell these devices where their files are; `model` when known. */
  provisioningOptions(where: ProvisioningLocation, model?: string): Array<[number, Buffer]>;
}

export interface VendorPlugin {
  readonly id: string;
  readonly name: string;
  readonly models: readonly ModelSpec[];
  /** OUIs (6 lowercase hex digits) this vendor's devices are known to use. */
  readonly macPrefixes: readonly string[];
  /** What the User-Agent says, or undefined when it is not this vendor's. */
  identifyUserAgent(userAgent: string): DeviceHint | undefined;
  /** Whether this vendor serves `file` (already normalised, no leading slash), and what it tells. */
  matchFile(file: string): FileMatch | undefined;
  /** Every file name a device of this model with this MAC is served. */
  files(model: ModelSpec, mac: Mac): string[];
  render(input: RenderInput): RenderedFile;
  dhcp: DhcpIdentity;
}
