/**
 * The two forms of GCE's list `filter` Kiln uses, as the emulator understands them [A: the full grammar
 * is in Google's API docs, not the discovery document, which only says "A filter expression"]:
 * `field = "value"` / `field != "value"` (exact), and `field eq REGEX` / `field ne REGEX` (RE2, the whole
 * value must match). Anything else is refused, so Kiln cannot come to depend on a form it was never tested with.
 */
export type Filter = (get: (field: string) => unknown) => boolean;

export function parseFilter(expr: string | null): Filter | { error: string } {
  if (expr === null || expr.trim() === "") return () => true;
  const exact = /^\s*\(?\s*([a-zA-Z.]+)\s*(=|!=)\s*"([^"]*)"\s*\)?\s*$/.exec(expr);
  if (exact) {
    const [, field, op, value] = exact;
    return (get) => (String(get(field!) ?? "") === value) === (op === "=");
  }
  const re = /^\s*([a-zA-Z.]+)\s+(eq|ne)\s+(\S+)\s*$/.exec(expr);
  if (re) {
    const [, field, op, pattern] = re;
    let rx: RegExp;
    try {
      rx = new RegExp(`^(?:${pattern})$`);
    } catch {
      return { error: `Invalid value for field 'filter': '${expr}'. Invalid regular expression.` };
    }
    return (get) => rx.test(String(get(field!) ?? "")) === (op === "eq");
  }
  return { error: `Invalid value for field 'filter': '${expr}'. Invalid list filter expression.` };
}
