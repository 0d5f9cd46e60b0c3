// The dashboard's doors and its Prometheus endpoint, over real HTTP against a seeded ledger (no browser):
// off loopback every request needs the one-time token; on loopback the Host header must be loopback (DNS
// rebinding); job ids cannot traverse paths; an action POST needs its own confirm token; and /metrics is
// valid Prometheus text (a strict parser below: the format's grammar, not a regex that accepts anything),
// named by the conventions, with the ledger's numbers.
import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { totalCost } from "../../src/core/cost/index.js";
import { kilnPaths } from "../../src/core/home.js";
import { type RunningDashboard, startDashboard } from "../../src/dashboard/index.js";
import { type SeededHistory, seedHistory } from "../../src/dashboard/testing/fixture.js";
import { Ledger } from "../../src/store/index.js";
import { pollUntil } from "../../src/base/deadline.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";

let home: string;
let ids: SeededHistory;
let local: RunningDashboard;
let open: RunningDashboard;
const paths = () => kilnPaths({ KILN_HOME: home });

/** A raw request: fetch() would normalise "/jobs/../x" before sending it, hiding what the server does with it. */
function raw(port: number, path: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: o.method ?? "GET", headers: o.headers, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer to ${path} within 10 s`)));
    req.on("error", reject);
    req.end(o.body);
  });
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "kiln-dash-sec-"));
  ids = seedHistory(paths());
  local = await startDashboard({ paths: paths(), env: { KILN_HOME: home } });
  // Bound to every interface: the token is required (and the only thing standing between the LAN and the ledger).
  open = await startDashboard({ paths: paths(), env: { KILN_HOME: home }, host: "0.0.0.0" });
});
afterAll(async () => {
  await local?.close();
  await open?.close();
  rmSync(home, { recursive: true, force: true });
});

describe("access", () => {
  it("off loopback: 401 without the token, in by bearer, by ?token (traded for a cookie) and by that cookie", async () => {
    expect(open.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(open.url).toContain(`?token=${open.token}`);
    for (const path of ["/", "/metrics", `/jobs/${ids.finished}`, "/machines", "/assets/app.js"]) expect((await raw(open.port, path)).status).toBe(401);
    expect((await raw(open.port, "/", { headers: { authorization: "Bearer wrong-token-wrong-token-wrong-tok" } })).status).toBe(401);
    expect((await raw(open.port, "/?token=nope")).status).toBe(401);
    expect((await raw(open.port, "/metrics", { headers: { authorization: `Bearer ${open.token}` } })).status).toBe(200);
    const traded = await raw(open.port, `/machines?token=${open.token}`);
    expect(traded.status).toBe(303);
    expect(traded.headers.location).toBe("/machines");
    const cookie = String(traded.headers["set-cookie"]).split(";")[0]!;
    expect(String(traded.headers["set-cookie"])).toContain("HttpOnly");
    expect((await raw(open.port, "/machines", { headers: { cookie } })).status).toBe(200);
  });

  it("on loopback: no token, but only to a loopback Host header (a rebinding page's name gets 403)", async () => {
    expect(local.token).toBeUndefined();
    expect((await raw(local.port, "/")).status).toBe(200);
    expect((await raw(local.port, "/", { headers: { host: `localhost:${local.port}` } })).status).toBe(200);
    expect((await raw(local.port, "/", { headers: { host: `evil.example:${local.port}` } })).status).toBe(403);
  });

  it("refuses path traversal in job ids, raw or encoded, and never serves the file", async () => {
    for (const path of ["/jobs/../../etc/passwd", "/jobs/..%2f..%2fetc%2fpasswd", "/jobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/jobs/..", "/jobs/x%5c..%5cy", "/jobs/%2E%2E/live"]) {
      const r = await raw(local.port, path);
      expect(r.status, path).toBe(400);
      expect(r.body).not.toContain("root:");
    }
    expect((await raw(local.port, "/jobs/no-such-job")).status).toBe(404);
    // A prefix of a real id is not an id: the dashboard never guesses which job was meant.
    expect((await raw(local.port, `/jobs/${ids.finished.slice(0, 8)}`)).status).toBe(404);
  });

  it("refuses an action POST without its confirm token, with another job's or another action's, or from another origin", async () => {
    const form = (confirm?: string) => ({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: confirm === undefined ? "" : `confirm=${encodeURIComponent(confirm)}` });
    const page = await raw(local.port, `/jobs/${ids.orphaned}/confirm/resume`);
    const token = /name="confirm" value="([^"]+)"/.exec(page.body)![1]!;
    const otherJob = /name="confirm" value="([^"]+)"/.exec((await raw(local.port, `/jobs/${ids.failed}/confirm/resume`)).body)![1]!;
    const otherAction = /name="confirm" value="([^"]+)"/.exec((await raw(local.port, `/jobs/${ids.orphaned}/confirm/down`)).body)![1]!;
    const eventsBefore = ledgerEvents(ids.orphaned);
    expect((await raw(local.port, `/jobs/${ids.orphaned}/actions/resume`, form())).status).toBe(403);
    expect((await raw(local.port, `/jobs/${ids.orphaned}/actions/resume`, form("123.abc"))).status).toBe(403);
    expect((await raw(local.port, `/jobs/${ids.orphaned}/actions/resume`, form(otherJob))).status).toBe(403);
    expect((await raw(local.port, `/jobs/${ids.orphaned}/actions/resume`, form(otherAction))).status).toBe(403);
    const cross = form(token);
    expect((await raw(local.port, `/jobs/${ids.orphaned}/actions/resume`, { ...cross, headers: { ...cross.headers, origin: "https://evil.example" } })).status).toBe(403);
    expect((await raw(local.port, `/jobs/${ids.orphaned}/actions/resume`, { method: "GET" })).status).toBe(405);
    // Nothing was done: the ledger has no new event for the job.
    expect(ledgerEvents(ids.orphaned)).toEqual(eventsBefore);
  });
});

describe("actions do what the CLI command does", () => {
  it("down on a cloud job whose provider is not configured fails from the page exactly as `kiln down` does", async () => {
    const io = captureIo();
    expect(await main(["down", ids.orphaned], io, { env: { KILN_HOME: home } })).not.toBe(0);
    const cliError = /^error(?: \[[^\]]+\])?: (.+)$/m.exec(io.stderr)?.[1];
    expect(cliError).toBeDefined();
    const token = /name="confirm" value="([^"]+)"/.exec((await raw(local.port, `/jobs/${ids.orphaned}/confirm/down`)).body)![1]!;
    const posted = await raw(local.port, `/jobs/${ids.orphaned}/actions/down`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `confirm=${encodeURIComponent(token)}` });
    expect(posted.status).toBe(303);
    const notice = await pollUntil(
      async () => {
        const page = (await raw(local.port, String(posted.headers.location).split("#")[0]!)).body;
        return /data-action="down" data-action-state="failed">(.*?)<\/p>/.exec(page)?.[1];
      },
      { what: "the down action to end", timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(notice).toContain(cliError!.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;"));
  });
});

function ledgerEvents(jobId: string): number {
  const l = Ledger.open(paths().ledger);
  try {
    return l.listEvents(jobId).length;
  } finally {
    l.close();
  }
}

// ---- a strict parser of the Prometheus text format (0.0.4) ----

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(s: string): number {
  if (s === "NaN") return Number.NaN;
  if (s === "+Inf") return Number.POSITIVE_INFINITY;
  if (s === "-Inf") return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value "${s}"`);
  return Number(s);
}

/** Parse `{a="x",b="y\"z"}` from position i; returns the labels and the position after '}'. */
function parseLabels(line: string, i: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++;
  while (line[i] !== "}") {
    const eq = line.indexOf("=", i);
    const name = line.slice(i, eq);
    if (!LABEL.test(name) || name.startsWith("__")) throw new Error(`bad label name "${name}" in: ${line}`);
    if (name in labels) throw new Error(`label ${name} twice in: ${line}`);
    if (line[eq + 1] !== '"') throw new Error(`label value not quoted in: ${line}`);
    let j = eq + 2;
    let v = "";
    for (;;) {
      const c = line[j];
      if (c === undefined) throw new Error(`unterminated label value in: ${line}`);
      if (c === "\\") {
        const n = line[j + 1];
        if (n === "n") v += "\n";
        else if (n === "\\" || n === '"') v += n;
        else throw new Error(`bad escape \\${n} in: ${line}`);
        j += 2;
        continue;
      }
      if (c === '"') break;
      v += c;
      j++;
    }
    labels[name] = v;
    i = j + 1;
    if (line[i] === ",") i++;
    else if (line[i] !== "}") throw new Error(`expected , or } in: ${line}`);
  }
  return [labels, i + 1];
}

function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a newline");
  const families = new Map<string, Family>();
  let current: Family | undefined;
  for (const line of text.slice(0, -1).split("\n")) {
    if (line === "") throw new Error("empty line");
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
      let f = families.get(name);
      if (!f) {
        f = { name, type: "untyped", help: "", samples: [] };
        families.set(name, f);
      } else if (current !== f) throw new Error(`${name}'s lines are not together`);
      if (kind === "TYPE") {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest)) throw new Error(`bad type ${rest}`);
        if (f.samples.length > 0) throw new Error(`TYPE after samples for ${name}`);
        f.type = rest;
      } else f.help = rest;
      current = f;
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const name = m[1]!;
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === "{") [labels, i] = parseLabels(line, i);
    if (line[i] !== " ") throw new Error(`expected a space before the value: ${line}`);
    const [value, ts, ...extra] = line.slice(i + 1).split(" ");
    if (extra.length > 0 || (ts !== undefined && !/^-?\d+$/.test(ts))) throw new Error(`bad value/timestamp: ${line}`);
    const f = families.get(name);
    if (!f || f !== current) throw new Error(`sample ${name} outside its family (no TYPE before it, or interleaved)`);
    const key = JSON.stringify(Object.entries(labels).sort());
    if (f.samples.some((s) => JSON.stringify(Object.entries(s.labels).sort()) === key)) throw new Error(`duplicate series ${name}${key}`);
    f.samples.push({ name, labels, value: parseValue(value!) });
  }
  return families;
}

describe("/metrics", () => {
  it("the parser is strict: it rejects what Prometheus rejects", () => {
    // Stricter in one way on purpose: every family must be typed (Kiln declares all of its own).
    expect(() => parsePrometheus("x 1\n")).toThrow(/no TYPE/);
    for (const bad of ["# TYPE x gauge\nx{a=\"1\"} one\n", "# TYPE x gauge\nx{a=1} 1\n", '# TYPE x gauge\nx{a="1",a="2"} 1\n', "# TYPE x gauge\nx 1\nx 2\n", "# TYPE 1x gauge\n", '# TYPE x gauge\nx{a="\\q"} 1\n']) {
      expect(() => parsePrometheus(bad.endsWith("\n") ? bad : `${bad}\n`), bad).toThrow();
    }
    expect(parsePrometheus('# HELP x h\n# TYPE x gauge\nx{a="q\\"uote\\nline"} 1.5e3\n').get("x")!.samples[0]).toEqual({ name: "x", labels: { a: 'q"uote\nline' }, value: 1500 });
  });

  it("parses, follows the naming conventions and carries the ledger's numbers", async () => {
    const r = await raw(local.port, "/metrics");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    const fams = parsePrometheus(r.body);
    for (const f of fams.values()) {
      expect(f.name).toMatch(/^kiln_[a-z0-9_]+$/);
      expect(f.help).not.toBe("");
      // Counters and only counters end in _total.
      expect(f.name.endsWith("_total"), f.name).toBe(f.type === "counter");
    }
    const names = [...fams.keys()];
    for (const n of ["kiln_job_state", "kiln_job_tokens_per_second", "kiln_job_loss", "kiln_job_l0_latents", "kiln_job_explained_variance_ratio", "kiln_job_spend_dollars", "kiln_job_budget_cap_dollars", "kiln_machine_state", "kiln_machine_price_dollars_per_hour", "kiln_machine_launches_total", "kiln_failovers_total", "kiln_preemptions_total", "kiln_orphans_reaped_total"]) {
      expect(names).toContain(n);
    }
    const one = (name: string, labels: Record<string, string>) => fams.get(name)!.samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    const l = Ledger.open(paths().ledger);
    try {
      for (const job of l.listJobs()) {
        const state = one("kiln_job_state", { job: job.id });
        expect(state.filter((s) => s.value === 1).map((s) => s.labels["state"])).toEqual([job.state]);
      }
      // An ended job's spend is fixed: exactly the ledger's.
      expect(one("kiln_job_spend_dollars", { job: ids.finished })[0]!.value).toBe(totalCost(l.listMachines(ids.finished), Date.now()));
      expect(one("kiln_job_budget_cap_dollars", { job: ids.finished })[0]!.value).toBe(10);
      expect(one("kiln_machine_state", { machine: "lam-0003" }).map((s) => s.labels["state"])).toEqual(["active"]);
      expect(one("kiln_machine_price_dollars_per_hour", { machine: "lam-0003" })[0]!.value).toBe(1.29);
      expect(one("kiln_machine_launches_total", { provider: "lambda" })[0]!.value).toBe(l.listMachines().filter((m) => m.provider === "lambda" && m.launched_at).length);
      expect(one("kiln_preemptions_total", {})[0]!.value).toBe(1);
      expect(one("kiln_failovers_total", {})[0]!.value).toBe(1);
      expect(one("kiln_orphans_reaped_total", {})[0]!.value).toBe(1);
    } finally {
      l.close();
    }
    // The finished job's last train line (step 400 of the fixture).
    expect(one("kiln_job_loss", { job: ids.finished })[0]!.value).toBeCloseTo(0.05 + 1 / (1 + 400 / 50), 12);
    // The GPU job's utilisation (gpu_util 90 + 400 % 10 = 90 %) as a ratio, and its memory in bytes.
    expect(one("kiln_job_gpu_utilization_ratio", { job: ids.finished })[0]!.value).toBeCloseTo(0.9, 12);
    expect(one("kiln_job_gpu_memory_bytes", { job: ids.finished })[0]!.value).toBe(21.5e9);
  });
});
