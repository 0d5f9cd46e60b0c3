/**
 * Just enough of EC2's XML for the shim in front of moto (./front.ts) to read and patch moto's answers:
 * the direct `<item>` children of a set, a tag's text, and the EC2 error envelope. Not a general XML
 * parser: EC2's responses are machine-written, with no CDATA or comments, and items nest only as items.
 */

/** [start, end) of each direct `<item>` child of the first `<setTag>` element. */
export function itemsOf(xml: string, setTag: string): [number, number][] {
  const open = xml.indexOf(`<${setTag}>`);
  if (open < 0) return [];
  const close = xml.indexOf(`</${setTag}>`, open);
  const out: [number, number][] = [];
  const re = /<(\/?)item>/g;
  re.lastIndex = open;
  let depth = 0;
  let start = -1;
  for (let m = re.exec(xml); m && (close < 0 || m.index < close || depth > 0); m = re.exec(xml)) {
    if (m[1] === "") {
      if (depth === 0) start = m.index;
      depth++;
    } else {
      depth--;
      if (depth === 0 && start >= 0) out.push([start, m.index + m[0].length]);
    }
    if (depth === 0 && close >= 0 && m.index > close) break;
  }
  return out;
}

/** The text of the first `<tag>` in `xml`. */
export const textOf = (xml: string, tag: string): string | undefined => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];

/** Every `<instanceId>` in `xml`. */
export const instanceIdsIn = (xml: string): string[] => [...xml.matchAll(/<instanceId>(i-[0-9a-f]+)<\/instanceId>/g)].map((m) => m[1]!);

export const escapeXml = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** EC2's error envelope (the Query protocol's `Response/Errors/Error`). */
export const ec2ErrorXml = (code: string, message: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${crypto.randomUUID()}</RequestID></Response>`;

/** Replace the ranges (sorted, non-overlapping) of `xml` with what `f` returns for each. */
export function patchRanges(xml: string, ranges: readonly [number, number][], f: (item: string) => string): string {
  let out = "";
  let at = 0;
  for (const [s, e] of ranges) {
    out += xml.slice(at, s) + f(xml.slice(s, e));
    at = e;
  }
  return out + xml.slice(at);
}
