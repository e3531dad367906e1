/**
 * Every Mediatrix fact this plugin relies on that no primary source settled ([?] in
 * /work/shared/reference/device-formats.md §3 and §6 item 5, or not found in the 2019 DGW / 2006-2010 v5 MIBs
 * of DotZero24/pysnmp-mibs). One place to correct each once a real unit has been captured; the plugin's
 * README lists them with what to capture. Parameter NAMES used elsewhere in the plugin and its templates were
 * checked against the MIBs; these are the values, keys and syntax around them.
 */
export const UNVERIFIED = {
  dgw: {
    /**
     * Endpoint id of FXS port n (1-based) in SipEp.UserAgent[EpId=...], SipEp.Authentication.EpId,
     * Crout.AutoRouting[EpId=...]. `Port01`/`Phone-Fxs1`/`Slot2/FXS1` are all seen in the wild; the MIBs only
     * say "String that identifies an endpoint". Capture: `SipEp.UserAgent` rows of an exported script.
     */
    fxsEndpoint: (port: number): string => `Port${String(port).padStart(2, '0')}`,
    /** Endpoint id of FXO port n; assumed numbered after the FXS ports, as on the unit's label. Capture as above. */
    fxoEndpoint: (fxsPorts: number, port: number): string => `Port${String(fxsPorts + port).padStart(2, '0')}`,
    /** The call router's interface name for an endpoint (`fxs-<name>`, `fxo-<name>` in Crout): assumed the EpId. */
    routerInterface: (epId: string): string => epId,
    /** The IP interface the unit uses towards the LAN (Bni.NetworkInterfaces InterfaceName; the SIP gateways' NetworkInterface). */
    networkInterface: 'Uplink',
    /** The Ethernet link of the uplink port (Eth.Vlan LinkName; 4102S port `wan`, others `ETH1` per the DGW guide). */
    uplinkLink: 'eth1',
    /** The name of the VLAN link the unit creates for Eth.Vlan row (link, vid). */
    vlanLink: (link: string, vid: number): string => `${link}.${vid}`,
    /** LQos.ServiceClasses rows (Id) for SIP signalling, RTP voice and T.38; the MIB has no names for the ids. */
    serviceClass: { signalling: 1, voice: 2, t38: 3 },
    /**
     * Script string escapes. The grammar's "Supported Characters" section was not available: a `"` or `\` in a
     * value is written as `\"` / `\\`. Capture: export a script from a unit whose password contains both.
     */
    escape: (value: string): string => value.replace(/[\\"]/g, (c) => `\\${c}`),
    /**
     * Rows of tables indexed by a number (Crout.Hunt, Crout.Route, Crout.MappingType, Crout.MappingExpression,
     * Eth.Vlan) and of SipEp.Gateway are assumed to be created by assigning their cells; the key column written
     * in brackets is the one the reference shows (`[Name=...]`, `[Index=n]`). Capture: an exported script
     * with a second SIP gateway, a hunt and a route.
     */
    rowKeys: { hunt: 'Index', route: 'Index', mappingType: 'Index', mappingExpression: 'Index', vlan: 'Idx' },
    /** Commands: apply the call router (named "ApplyConfig" in MX-CROUT-MIB), restart what needs it, install firmware. */
    commands: { applyRouting: 'Crout.ApplyConfig', restartServices: 'Scm.RestartRequiredServices', installFirmware: 'Fpu.Install' },
    /**
     * What the unit does when the far end refuses the T.38 re-INVITE (SipEp.BehaviorOnT38InviteNotAccepted, rows
     * 406/415/488/606): the MIB's default, a re-INVITE with the "clear channel" codecs only, is taken to mean
     * the G.711 data codecs the script enables; `ReEstablishAudio` is the alternative if a capture shows the
     * re-INVITE offering nothing usable.
     */
    t38RefusedBehavior: 'ReInviteForClearChannelOnly',
    /** The second SIP gateway's listening port (two gateways on one interface need two ports). */
    outpostGatewayPort: 5070,
  },
  v5: {
    /** Root element and attribute names of the Unit Manager Network XML; only `<obj ValueType=.. Value=../>` is documented. */
    root: 'MediatrixConfiguration',
    /** How a table row is addressed: the instance index as an attribute (ifIndex of the FXS port, then the row). */
    instanceAttribute: 'Instance',
    /** ValueType attribute per SNMP type; only OCTET_STRING is documented (4100 reference manual p. 29). */
    valueTypes: { string: 'OCTET_STRING', integer: 'INTEGER', unsigned: 'UNSIGNED32' },
    /** ifIndex of FXS port n. */
    ifIndex: (port: number): number => port,
    /** A username for an unused port (sipUAMainUsername may not be empty); the port itself is locked. */
    unusedUsername: (port: number): string => `unused${port}`,
    /** Option 43 sub-option 201 with an IPv4 server: 4 address bytes then the port, network byte order. */
    portByteOrder: 'big-endian' as const,
  },
  models: {
    /** C711: 2 FXS + 1 FXO (Media5 naming: a trailing 1 marks the PSTN/FXO port). Capture: the unit's label or `Pots.Line` rows. */
    C711: { fxs: 2, fxo: 1 },
  },
} as const;
