/**
 * Which addresses a webhook may be sent to. A webhook URL comes from any client, so
 * without a policy the server could be made to POST into its own network (SSRF):
 * loopback, private, link-local and every other range that the IANA special-purpose
 * registries mark as not globally reachable (documentation, benchmarking, Teredo, ...)
 * are refused unless the operator allows them (ZIMAGE_WEBHOOK_ALLOW_PRIVATE). Checked on the literal URL at submit and
 * on every resolved address at delivery time; the request then connects to exactly the
 * vetted addresses, so a DNS answer that changes between check and connect (rebinding)
 * cannot redirect it.
 */
import dns from 'node:dns';
import net from 'node:net';

export interface TargetAddress {
  address: string;
  family: 4 | 6;
}

/** The target resolves to an address the policy refuses. Retrying will not help. */
export class WebhookTargetRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookTargetRefusedError';
  }
}

/**
 * The IANA IPv4 special-purpose registry's ranges that are not globally reachable (and
 * multicast, which is no unicast target), most specific first: the first match names the reason.
 */
const V4_BLOCKED: Array<[string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation (TEST-NET-1)'],
  ['192.88.99.0', 24, 'deprecated 6to4 relay anycast'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation (TEST-NET-2)'],
  ['203.0.113.0', 24, 'documentation (TEST-NET-3)'],
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'limited broadcast'],
  ['240.0.0.0', 4, 'reserved'],
];

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

function v4Reason(ip: string): string | null {
  const value = v4ToInt(ip);
  for (const [base, bits, reason] of V4_BLOCKED) {
    const size = 2 ** (32 - bits);
    if (Math.floor(value / size) === Math.floor(v4ToInt(base) / size)) return reason;
  }
  return null;
}

/** 16 bytes of an IPv6 address (zone id dropped, embedded dotted IPv4 tail allowed), or null. */
function v6Bytes(ip: string): number[] | null {
  let text = ip.replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    // "::ffff:127.0.0.1" → "::ffff:7f00:1"
    if (!net.isIPv4(dotted[1])) return null;
    const v = v4ToInt(dotted[1]);
    text = `${text.slice(0, -dotted[1].length)}${Math.floor(v / 65536).toString(16)}:${(v % 65536).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const groups = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...rest];
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return null;
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

const embeddedV4 = (b: number[], at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
const zeros = (b: number[], from: number, to: number) => b.slice(from, to).every((x) => x === 0);

/** IPv6 ranges of the IANA special-purpose registry inside 2000::/3 that are not globally reachable. */
const V6_BLOCKED: Array<[number[], number, string]> = [
  [[0x20, 0x01, 0x00, 0x00], 32, 'Teredo'],
  [[0x20, 0x01, 0x00, 0x02, 0x00, 0x00], 48, 'benchmarking'],
  [[0x20, 0x01, 0x0d, 0xb8], 32, 'documentation'],
  [[0x20, 0x01, 0x00], 23, 'IETF protocol assignments'],
  [[0x3f, 0xff, 0x00], 20, 'documentation'],
];

function inPrefix(b: number[], prefix: number[], bits: number): boolean {
  for (let i = 0; i * 8 < bits; i++) {
    const take = Math.min(8, bits - i * 8);
    const mask = (0xff << (8 - take)) & 0xff;
    if ((b[i] & mask) !== ((prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

function v6Reason(ip: string): string | null {
  const b = v6Bytes(ip);
  if (!b) return 'unparseable address';
  if (zeros(b, 0, 15) && b[15] === 1) return 'loopback';
  if (zeros(b, 0, 16)) return 'unspecified';
  if (b[0] === 0xff) return 'multicast';
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0x80) return 'link-local';
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0xc0) return 'site-local';
  if ((b[0] & 0xfe) === 0xfc) return 'unique-local';
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b[4] === 0x00 && b[5] === 0x01) return 'local-use NAT64';
  // Forms that carry an IPv4 address are named by that address when it is not public.
  // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (translated) and ::a.b.c.d (compatible, deprecated)
  // are not globally reachable whatever they carry: a webhook receiver has an IPv4 address for that.
  const mapped = zeros(b, 0, 10) && b[10] === 0xff && b[11] === 0xff;
  const translated = zeros(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && zeros(b, 10, 12);
  const compatible = zeros(b, 0, 12);
  if (mapped || translated || compatible) {
    const inner = v4Reason(embeddedV4(b, 12));
    if (inner) return `IPv4-embedded ${inner}`;
    return mapped ? 'IPv4-mapped' : translated ? 'IPv4-translated' : 'IPv4-compatible (deprecated)';
  }
  // 64:ff9b::a.b.c.d (well-known NAT64) and 6to4 (2002:AABB:CCDD::/48 tunnels to A.B.C.D) reach
  // the IPv4 address they carry, so they are as public as it is.
  const nat64 = b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(b, 4, 12);
  if (nat64) {
    const inner = v4Reason(embeddedV4(b, 12));
    return inner ? `IPv4-embedded ${inner}` : null;
  }
  if (b[0] === 0x20 && b[1] === 0x02) {
    const inner = v4Reason(embeddedV4(b, 2));
    return inner ? `6to4 ${inner}` : null;
  }
  // Only 2000::/3 is global unicast; the rest (100::/64 discard, 5f00::/16 SRv6, ...) is reserved.
  if ((b[0] & 0xe0) !== 0x20) return 'not global unicast (reserved by IANA)';
  for (const [prefix, bits, reason] of V6_BLOCKED) if (inPrefix(b, prefix, bits)) return reason;
  return null;
}

/** Why this IP address is not a public one (e.g. "loopback"), or null for a public address. */
export function nonPublicReason(ip: string): string | null {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (net.isIPv4(bare)) return v4Reason(bare);
  if (net.isIPv6(bare) || bare.includes(':')) return v6Reason(bare);
  return 'not an IP address';
}

/** The URL's host as an IP address when it is a literal one ("[::1]" → "::1"), else null. */
export function literalIp(url: URL): string | null {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return net.isIP(host) ? host : null;
}

const ALLOW_HINT = 'The server only calls public addresses; its operator can allow private ones with ZIMAGE_WEBHOOK_ALLOW_PRIVATE=true.';

/** Submit-time check: a literal private IP in the URL, described, or null when acceptable. */
export function refusedLiteral(url: URL, allowPrivate: boolean): string | null {
  const ip = literalIp(url);
  if (allowPrivate || !ip) return null;
  const reason = nonPublicReason(ip);
  return reason ? `"webhook_url" points to ${ip}, which is not a public address (${reason}). ${ALLOW_HINT}` : null;
}

export type LookupAll = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

const systemLookup: LookupAll = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/**
 * Delivery-time check: resolves the host (every address) and refuses the target if any
 * address is not public, unless private targets are allowed. Returns the addresses to connect to.
 * DNS failures are thrown as they are (retryable); a refusal is a WebhookTargetRefusedError.
 */
export async function resolveTarget(url: URL, allowPrivate: boolean, lookup: LookupAll = systemLookup): Promise<TargetAddress[]> {
  const ip = literalIp(url);
  const found = ip ? [{ address: ip, family: net.isIPv6(ip) ? 6 : 4 }] : await lookup(url.hostname);
  if (found.length === 0) throw new Error(`no address found for ${url.hostname}`);
  const addresses = found.map((a) => ({ address: a.address, family: (a.family === 6 ? 6 : 4) as 4 | 6 }));
  if (!allowPrivate) {
    for (const a of addresses) {
      const reason = nonPublicReason(a.address);
      if (reason) {
        throw new WebhookTargetRefusedError(
          `refused: ${url.hostname} resolves to ${a.address}, which is not a public address (${reason}). ${ALLOW_HINT}`);
      }
    }
  }
  return addresses;
}
