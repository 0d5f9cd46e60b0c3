/**
 * How random a string looks, and whether it is an obvious stand-in rather than a credential. The
 * generic "high-entropy assignment" rule and the look-alike filters of the specific rules use these.
 */

/** Shannon entropy in bits per character over the string's own character distribution. */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

// Words that docs, templates and tests put where a real key would go. Lower-case substring match.
const PLACEHOLDER_WORDS = [
  "xxxx",
  "your",
  "changeme",
  "change_me",
  "change-me",
  "example",
  "placeholder",
  "dummy",
  "redacted",
  "replace",
  "insert",
  "sample",
  "fake",
  "todo",
  "****",
  "...",
  "…",
];

/**
 * True for values that are clearly not secrets: template markers (`<your-key>`, `${VAR}`, `{{ x }}`,
 * `%(x)s`), references to the environment (`$HF_TOKEN`, `os.environ[...]`, `process.env.X`), documented
 * example keys (`…EXAMPLE…`) and runs of one character (`xxxxxxxx`, `00000000`).
 */
export function looksLikePlaceholder(value: string): boolean {
  const v = value.trim();
  if (v.length === 0) return true;
  const lower = v.toLowerCase();
  if (PLACEHOLDER_WORDS.some((w) => lower.includes(w))) return true;
  if (/^<.*>$/.test(v) || /\$\{[^}]*\}/.test(v) || /\{\{.*\}\}/.test(v) || /%\([^)]*\)s/.test(v)) return true;
  if (/^\$[A-Za-z_]/.test(v)) return true;
  if (/(os\.environ|os\.getenv|getenv\(|process\.env|env\(|ENV\[)/.test(v)) return true;
  // A value made of one repeated character (or almost) carries no information.
  if (new Set(v).size <= 2) return true;
  return false;
}

/** 8-4-4-4-12 hex: request ids, run ids, resource ids. Not treated as credentials on their own. */
export const isUuid = (v: string): boolean => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v);
