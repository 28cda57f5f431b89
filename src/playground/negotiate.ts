/**
 * Content negotiation for GET /: a browser gets the playground, everything else the JSON
 * links it always got. Only an Accept header that ranks text/html strictly above JSON picks
 * the page, so no header, `*\/*` (curl, fetch, most SDKs) and `application/json` keep the API
 * answer byte for byte.
 */

interface MediaRange {
  type: string;
  subtype: string;
  q: number;
}

function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [range, ...params] = part.split(';').map((s) => s.trim());
    const m = /^([\w!#$%&'*+.^`|~-]+)\/([\w!#$%&'*+.^`|~-]+)$/.exec(range ?? '');
    if (!m) continue;
    let q = 1;
    for (const p of params) {
      const qm = /^q\s*=\s*([01](?:\.\d{0,3})?)$/i.exec(p);
      if (qm) q = Math.min(1, Number(qm[1]));
    }
    ranges.push({ type: m[1].toLowerCase(), subtype: m[2].toLowerCase(), q });
  }
  return ranges;
}

/** The q the header gives `type/subtype`: that of the most specific range matching it (RFC 9110 12.5.1), 0 if none. */
function qualityOf(ranges: MediaRange[], mediaType: string): number {
  const [type, subtype] = mediaType.split('/');
  let best = -1;
  let q = 0;
  for (const r of ranges) {
    const specificity = r.type === type && r.subtype === subtype ? 2 : r.type === type && r.subtype === '*' ? 1 : r.type === '*' && r.subtype === '*' ? 0 : -1;
    if (specificity > best) {
      best = specificity;
      q = r.q;
    }
  }
  return q;
}

/** True when the Accept header prefers HTML over JSON (a browser navigating to the page). */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const ranges = parseAccept(accept);
  const html = qualityOf(ranges, 'text/html');
  return html > 0 && html > qualityOf(ranges, 'application/json');
}
