/**
 * SIP v5.0 firmware: the configuration file as Unit Manager Network writes it, one element per MIB object
 * (`<objName ValueType="..." Value="..."/>`), table objects with their instance (ifIndex of the FXS port, then
 * the row). Built with xmlbuilder2, which escapes every attribute value. Object names: MX-SIP-MIB,
 * MX-DATAIF-MIB, MX-VOICEIF-MIB, MX-QOS-MIB, MX-SNTP-MIB, MX-CONFIG-FILE-FETCHING-MIB, MX-IF-ADMIN-MIB.
 *
 * v5 has one registrar and one home-domain proxy and no gateway tables: its lines register to the Centrex
 * only. Its failover is DNS (several records behind one name, the penalty box skipping a dead address), which
 * Outpost does not serve; see the plugin README.
 */
import { create } from 'xmlbuilder2';
import { zoneRule } from '../../provisioning/timezone.js';
import type { RenderInput } from '../types.js';
import { asciiName, portPlan, recheckPeriod, tos } from './common.js';
import type { MediatrixModel } from './models.js';
import { UNVERIFIED } from './unverified.js';

type Kind = keyof typeof UNVERIFIED.v5.valueTypes;

export interface V5Object {
  name: string;
  value: string | number;
  kind: Kind;
  /** The table instance: ifIndex, or ifIndex.row. */
  instance?: string;
}

const ENABLE = 1;
const DISABLE = 0;
const STATIC = 0;
const HTTP = 1;
const UNLOCKED = 1;
const LOCKED = 2;
const TIME_UNIT = { hours: 0, days: 1, minutes: 20 } as const;
const PCMU = 1;
const PCMA = 2;

/** µ-law where the site's zone is in the Americas or Japan, A-law elsewhere: the G.711 the analog side expects. */
function g711Law(timezone: string): number {
  return /^(America|US|Canada|Asia\/Tokyo|Japan)/.test(timezone) ? PCMU : PCMA;
}

export function v5Objects(input: RenderInput): V5Object[] {
  const s = input.settings;
  const model = input.model as MediatrixModel;
  const out: V5Object[] = [];
  const str = (name: string, value: string, instance?: string) => out.push({ name, value, kind: 'string', ...(instance ? { instance } : {}) });
  const int = (name: string, value: number, instance?: string) => out.push({ name, value, kind: 'integer', ...(instance ? { instance } : {}) });
  const uns = (name: string, value: number, instance?: string) => out.push({ name, value, kind: 'unsigned', ...(instance ? { instance } : {}) });

  // Configuration file: fetched again from Outpost over HTTP at restart and every recheckMinutes.
  int('configFileFetchingSelectConfigSource', STATIC);
  str('configFileFetchingStaticHost', s.server.host);
  uns('configFileFetchingStaticPort', s.server.httpPort);
  int('configFileTransferProtocol', HTTP);
  str('configFileFetchingFileLocation', new URL(s.server.provisioningUrl).pathname.replace(/^\/+|\/+$/g, ''));
  str('configFileFetchingFileName', '');
  str('configFileFetchingSpecificFileName', '%mac%.cfg');
  int('configFileAutoUpdateOnRestartEnable', ENABLE);
  const period = recheckPeriod(s.provisioning.recheckMinutes, 48);
  int('configFileAutoUpdatePeriodicEnable', period ? ENABLE : DISABLE);
  if (period) {
    int('configFileAutoUpdateTimeUnit', TIME_UNIT[period.unit]);
    uns('configFileAutoUpdatePeriod', period.count);
  }

  // SIP servers: the Centrex (Outpost when the site names none).
  const server = s.centrex ?? { host: s.server.host, port: s.server.sipPort };
  int('sipServerSelectConfigSource', STATIC);
  str('sipRegistrarStaticHost', server.host);
  uns('sipRegistrarStaticPort', server.port);
  str('sipHomeDomainProxyStaticHost', server.host);
  uns('sipHomeDomainProxyStaticPort', server.port);
  int('sipPenaltyBoxEnable', ENABLE);

  const law = g711Law(s.site.timezone);
  for (const { port, line } of portPlan(model, s).fxs) {
    const ifIndex = String(UNVERIFIED.v5.ifIndex(port));
    const auth = `${ifIndex}.1`;
    if (line) {
      str('sipUAMainUsername', line.user, ifIndex);
      str('sipUADisplayName', asciiName(line.displayName, line.ext), ifIndex);
      str('sipUAAuthRealm', '', auth);
      str('sipUAAuthUsername', line.authName, auth);
      str('sipUAAuthPassword', line.password, auth);
      int('ifAdminInitialAdminState', UNLOCKED, ifIndex);
    } else {
      // The username may not be empty: a placeholder, no credentials, and the port locked.
      str('sipUAMainUsername', UNVERIFIED.v5.unusedUsername(port), ifIndex);
      str('sipUADisplayName', '', ifIndex);
      str('sipUAAuthUsername', '', auth);
      str('sipUAAuthPassword', '', auth);
      int('ifAdminInitialAdminState', LOCKED, ifIndex);
    }
    // Fax: T.38 per the site, G.711 (clear channel) when T.38 is refused or off.
    int('dataIfCodecT38Enable', s.fax.t38 ? ENABLE : DISABLE, ifIndex);
    uns('dataIfCodecT38ProtectionLevel', Math.min(5, Math.max(1, s.fax.redundancy)), ifIndex);
    int('dataIfClearChannelCodecPreferred', law, ifIndex);
    int('voiceIfEchoCancellationEnable', ENABLE, ifIndex);
    if (!s.fax.t38) {
      // Fax travels in G.711 through the voice jitter buffer: deeper, as the DGW's FaxModem preset (max 135 ms).
      int('voiceIfAdaptativeJitterBufferEnable', ENABLE, ifIndex);
      uns('voiceIfTargetJitterBufferLength', 60, ifIndex);
      uns('voiceIfMaxJitterBufferLength', 135, ifIndex);
    }
  }

  // QoS: TOS bytes (DSCP << 2); 802.1Q.
  uns('qosSignalingDiffServ', tos(s.qos.sipDscp));
  uns('qosVoiceDiffServ', tos(s.qos.rtpDscp));
  uns('qosT38FaxDiffServ', tos(s.qos.rtpDscp));
  uns('qosVbdDiffServ', tos(s.qos.rtpDscp));
  int('qosVlanIeee8021qTaggingEnable', s.network.voiceVlan ? ENABLE : DISABLE);
  if (s.network.voiceVlan) {
    uns('qosVlanIeee8021qVirtualLanID', s.network.voiceVlan);
    uns('qosVlanIeee8021qDefaultUserPriority', s.network.voicePriority);
    for (const traffic of ['Signaling', 'Voice', 'T38Fax', 'Vbd']) {
      int(`qos${traffic}Ieee8021qEnable`, ENABLE);
      uns(`qos${traffic}Ieee8021qUserPriority`, s.network.voicePriority);
    }
  }

  // Time.
  int('sntpEnable', ENABLE);
  int('sntpSelectConfigSource', STATIC);
  str('sntpStaticHost', s.site.ntp[0] ?? 'pool.ntp.org');
  uns('sntpStaticPort', 123);
  str('sntpTimeZoneString', zoneRule(s.site.timezone).posix);
  return out;
}

export function v5Xml(input: RenderInput): string {
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  doc.com(` Outpost: Mediatrix ${input.model.id} ${(input.device?.mac ?? '').toUpperCase()}. Generated; edit the site, not this file. `);
  const root = doc.ele(UNVERIFIED.v5.root);
  for (const o of v5Objects(input)) {
    const attrs: Record<string, string> = {};
    if (o.instance) attrs[UNVERIFIED.v5.instanceAttribute] = o.instance;
    attrs.ValueType = UNVERIFIED.v5.valueTypes[o.kind];
    attrs.Value = String(o.value);
    root.ele(o.name, attrs);
  }
  return doc.end({ prettyPrint: true, indent: '  ' }) + '\n';
}
