/**
 * Every Thomson choice the reference marks unsure ([?] in shared/reference/device-formats.md), in one place.
 * Each is listed in this plugin's README with what to capture on a real phone to settle it.
 */
export const UNVERIFIED = {
  /** `DSCPflag=1` makes the phone use the DSCP1/DSCP2 values (0 would use the TOS byte). */
  dscpFlag: 1,
  /** DSCP1 = media (EF), DSCP2 = signalling; DSCP3 ("other") keeps the phone's default and is not written. */
  dscpKeys: { media: 'DSCP1', signalling: 'DSCP2' },
  /** `VLANTagdata` is the 802.1p priority of the PC port's traffic. */
  pcPortPriorityKey: 'VLANTagdata',
  /** The dial plan: the phones' own default (any digits, sent after the inter-digit timeout or #). */
  voipDialPlan: 'x.T',
  /** Seconds after the last digit before the number is sent. */
  dialTimeout: 4,
  /** `config_sn` is the phone's change detector; it only needs 12 digits that differ from file to file. */
  configSnDigits: 12,
  /** The inf names only the images the catalogue holds; whether a phone tolerates a missing fwurl/dspurl/booturl. */
  infOmitsMissingImages: true,
  /** Registration period (s) towards Outpost (BK): short, so Outpost learns a phone's address soon. */
  backupExpires: 600,
  /** `AutoprovisionTimeDays`: days between configuration re-checks (0 = none); minutes are rounded up to days. */
  recheckDaysKey: 'AutoprovisionTimeDays',
} as const;
