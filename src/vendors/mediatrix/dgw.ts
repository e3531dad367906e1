/**
 * DGW firmware: the template context of the configuration script (device-templates/mediatrix/dgw.cfg.njk).
 * Every value the template writes goes through `q`, the one quoting rule of the script grammar; names come
 * already in the units' vocabulary (TOS bytes, POSIX TZ, endpoint ids, gateway names).
 *
 * Fallback to Outpost: the DGW has no backup registrar, but it runs several SIP gateways. `default` talks to
 * the Centrex, `outpost` to Outpost; every line's user agent is on gateway `all`, so each line registers to
 * both at once, as the phones do. Outgoing calls go through the call router's auto-routing to a hunt that tries
 * the Centrex first and Outpost when the Centrex refuses, times out or is marked down by SIP OPTIONS
 * keep-alives; calls from either gateway ring the line. (MX-SIPEP-MIB Gateway, GwSpecificRegistration,
 * GwSpecificProxy, UserAgent.GatewayName, SipKeepAliveMethod; MX-CROUT-MIB AutoRouting, Hunt.)
 */
import type { ResolvedSettings } from '../../provisioning/settings.js';
import { zoneRule } from '../../provisioning/timezone.js';
import type { RenderInput } from '../types.js';
import { asciiName, hostPort, portPlan, PSTN_USER, recheckPeriod, tos } from './common.js';
import type { MediatrixModel } from './models.js';
import { UNVERIFIED } from './unverified.js';

/**
 * The one quoting rule of script values: `"..."` with the unverified escapes. Anything but a string or a number
 * throws, so a misspelt variable inside `q(...)` fails like one outside it (nunjucks passes it as undefined).
 */
export function dgwQuote(value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number') throw new Error(`q(): ${value === undefined ? 'an undefined variable' : `a ${typeof value}`}, not a string or number`);
  return `"${UNVERIFIED.dgw.escape(String(value))}"`;
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Hunt causes that send a call on to Outpost: no route, out of order, network/temporary failures, timer expiry. */
const FAILOVER_CAUSES = '3,27,31,34,38,41,42,47,102';
/** An FXO line that is busy or unavailable hands the call to the next FXO line. */
const PSTN_HUNT_CAUSES = '17,34,41,42,47,102';

/**
 * The listening ports of the unit's SIP gateways. On a unit with FXO ports the gateway that faces Outpost is
 * also the branch's PSTN gateway, so it listens where the site says Outpost sends PSTN calls (`gateway.port`);
 * `default` moves aside if that is 5060.
 */
function gatewayPorts(settings: ResolvedSettings, hasFxo: boolean) {
  const pstn = hasFxo ? settings.gateway.port : undefined;
  const base = UNVERIFIED.dgw.outpostGatewayPort;
  return { default: pstn === 5060 ? 5062 : 5060, outpost: pstn ?? base };
}

const regexLiteral = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function dgwContext(input: RenderInput) {
  const s = input.settings;
  const model = input.model as MediatrixModel;
  const plan = portPlan(model, s);
  const hasFxo = plan.fxo.length > 0;
  const ports = gatewayPorts(s, hasFxo);
  const outpost = hostPort(s.server.host, s.server.sipPort);
  const centrex = s.centrex ? { host: hostPort(s.centrex.host, s.centrex.port), transport: s.centrex.transport } : undefined;
  const link = UNVERIFIED.dgw.uplinkLink;
  const vid = s.network.voiceVlan;
  const period = recheckPeriod(s.provisioning.recheckMinutes, 60);
  const fxoEndpoints = plan.fxo.map((n) => UNVERIFIED.dgw.fxoEndpoint(model.accounts, n));
  const ntp = s.site.ntp.length ? s.site.ntp : ['pool.ntp.org'];

  return {
    q: dgwQuote,
    model: { id: model.id, fxs: model.accounts, fxo: plan.fxo.length },
    mac: input.device?.mac ?? '',
    iface: UNVERIFIED.dgw.networkInterface,
    rows: UNVERIFIED.dgw.rowKeys,
    commands: UNVERIFIED.dgw.commands,
    provisioning: {
      server: hostPort(s.server.host, s.server.httpPort),
      location: new URL(s.server.provisioningUrl).pathname.replace(/^\/+|\/+$/g, ''),
      file: '%mac%.cfg',
      period: period && { count: period.count, unit: capital(period.unit) },
    },
    // Without a Centrex (no upstream.proxy) the `default` gateway is Outpost and there is nothing to fall back to.
    gateways: {
      default: centrex
        ? { name: 'default', port: ports.default, server: centrex.host, domain: s.site.domain, transport: centrex.transport }
        : { name: 'default', port: hasFxo ? ports.outpost : ports.default, server: outpost, domain: '', transport: 'udp' },
      outpost: centrex ? { name: 'outpost', port: ports.outpost, server: outpost } : undefined,
    },
    hunt: { index: 1, name: 'outpost-fallback', causes: FAILOVER_CAUSES },
    lines: plan.fxs.map(({ port, line }) => {
      const ep = UNVERIFIED.dgw.fxsEndpoint(port);
      return {
        port,
        ep,
        line: line && { user: line.user, authName: line.authName, password: line.password, displayName: asciiName(line.displayName, line.ext) },
      };
    }),
    pstn: hasFxo
      ? {
          user: PSTN_USER,
          // The gateway that faces Outpost carries the PSTN calls too.
          gateway: centrex ? 'outpost' : 'default',
          endpoints: fxoEndpoints,
          // Calls from Outpost for a line of this unit ring the line; any other number goes out on the PSTN.
          lineRoutes: plan.fxs.flatMap(({ port, line }) =>
            line ? [{ criteria: `^${regexLiteral(line.user)}$`, destination: `fxs-${UNVERIFIED.dgw.routerInterface(UNVERIFIED.dgw.fxsEndpoint(port))}` }] : [],
          ),
          // Crout's interface names, comma-separated, as route sources and hunt destinations take them.
          sources: fxoEndpoints.map((ep) => `fxo-${UNVERIFIED.dgw.routerInterface(ep)}`).join(','),
          hunt: { index: 2, name: 'pstn-lines', causes: PSTN_HUNT_CAUSES },
          mapping: { name: 'to-outpost-pstn' },
        }
      : undefined,
    dialplan: { emergency: s.dialplan.emergency },
    qos: {
      signalling: tos(s.qos.sipDscp),
      voice: tos(s.qos.rtpDscp),
      priority: s.network.voicePriority,
      classes: UNVERIFIED.dgw.serviceClass,
    },
    vlan: vid ? { id: vid, priority: s.network.voicePriority, link, vlanLink: UNVERIFIED.dgw.vlanLink(link, vid) } : undefined,
    link,
    time: { posix: zoneRule(s.site.timezone).posix, ntp: [0, 1, 2, 3].map((i) => (ntp[i] ? hostPort(ntp[i]!, 123) : '')) },
    fax: {
      t38: s.fax.t38,
      redundancy: Math.min(5, Math.max(1, s.fax.redundancy)),
      refusedBehavior: UNVERIFIED.dgw.t38RefusedBehavior,
    },
    firmware: { url: input.images.application?.url ?? '', install: input.firmware !== undefined && input.images.application !== undefined },
  };
}
