/**
 * HTML by tagged template, escaped by default: every interpolated value is text unless it is already
 * {@link Html} (built by this template or marked with {@link raw}). Job names, log lines and provider
 * states come from outside; none of them can inject markup.
 *
 * @example
 *   html`<td>${job.name}</td>`  // a name like "<script>" renders as text
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);

/** Trusted markup: SVG from the chart code, constant snippets. */
export const raw = (text: string): Html => new Html(text);

function part(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(part).join("");
  if (v === null || v === undefined || v === false) return "";
  return esc(String(v));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1]!;
  return new Html(out);
}
