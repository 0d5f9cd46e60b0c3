// The provider registry is the only place the core and CLI learn cloud names: no file outside a cloud's
// own folder (src/providers/<name>/) and the registry names one in code. Comments may (they explain
// quirks), tests may (they drive providers by name); code that dispatches on a name may not. The two
// providers that are not clouds, `local` (this computer) and `ssh` (the user's host), are kinds the planner
// and the spec know as such; they are dispatched on by kind in the lifecycle.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nullLogger } from "../src/base/logger.js";
import { captureIo } from "../src/cli/io.js";
import { main } from "../src/cli/main.js";
import { launchWithFailover } from "../src/core/lifecycle/launch.js";
import { providers, registerProvider } from "../src/providers/registry.js";
import { toyDescriptor } from "../src/providers/testing/toy-cloud.js";
import { Ledger } from "../src/store/index.js";

const SRC = join(import.meta.dirname, "..", "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") && !p.endsWith(".test.ts") ? [p] : [];
  });
}

/** An identifier's words, lower case: configuredLambda → [configured, lambda]; LAMBDA_API_URL → [lambda, api, url]. */
const words = (id: string): string[] =>
  id
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .split(/[\s_$]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());

/** The code of a TypeScript file without its comments (strings kept; a `//` inside a string is rare here and only loses text). */
const code = (text: string): string => text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");

describe("the provider registry", () => {
  const names = providers().map((d) => d.name);
  const clouds = providers()
    .filter((d) => d.kind === "cloud")
    .map((d) => d.name);
  // Secret scanning and log redaction know cloud key formats (an AWS key leaks whether or not Kiln rents
  // on AWS): they name clouds as kinds of secret, not as providers.
  const KEY_FORMATS = ["base/logger.ts", "remote/secrets/rules.ts"];
  const own = (f: string) => {
    const rel = relative(SRC, f).split("/");
    return rel[0] === "providers" && (names.includes(rel[1] ?? "") || rel[1] === "registry.ts");
  };
  // Testing harnesses (emulators driven by tests, crash helpers) are test code kept beside what they test.
  const checked = files(SRC).filter((f) => !own(f) && !f.includes("/testing/") && !KEY_FORMATS.includes(relative(SRC, f)));

  it("lists the providers, each with a descriptor in its own folder", () => {
    expect(names).toEqual(expect.arrayContaining(["local", "ssh", "lambda", "runpod", "thunder", "tensordock", "aws", "gcp", "azure"]));
    for (const n of names) expect(statSync(join(SRC, "providers", n, "descriptor.ts")).isFile()).toBe(true);
  });

  it("no file outside a provider's folder and the registry names a provider in its code", () => {
    const bad: string[] = [];
    for (const f of checked) {
      const text = code(readFileSync(f, "utf8"));
      for (const n of clouds) {
        if (new RegExp(`["'\`]${n}["'\`]`).test(text)) bad.push(`${relative(SRC, f)}: "${n}"`);
        // Identifiers built on a cloud's name (configuredLambda, LAMBDA_API_URL, …), outside strings: the name
        // must be a whole word of the identifier (camelCase or snake_case), so inflateRawSync is not "aws".
        const ids = text.replace(/(["'`])(?:\\.|(?!\1).)*\1/g, '""').match(/[A-Za-z_$][\w$]*/g) ?? [];
        const hit = ids.find((id) => words(id).includes(n));
        if (hit) bad.push(`${relative(SRC, f)}: identifier ${hit}`);
      }
      // Imports that reach into any provider's folder (the registry and the shared contract files are the door).
      for (const m of text.matchAll(/from\s+"(\.{1,2}\/[^"]+)"/g)) {
        const target = relative(SRC, join(f, "..", m[1]!)).split("/");
        if (target[0] === "providers" && names.includes(target[1] ?? "") && target.length > 2) bad.push(`${relative(SRC, f)}: imports ${m[1]}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

describe("a provider added with its folder and one registry line (the test-only toy cloud)", () => {
  let home: string;
  let toy: ReturnType<typeof toyDescriptor>;
  let unregister: () => void;
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), "kiln-toy-"));
    toy = toyDescriptor();
    unregister = registerProvider(toy); // the one line
  });
  afterAll(() => {
    unregister();
    rmSync(home, { recursive: true, force: true });
  });
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...process.env, KILN_HOME: home, KILN_LOG: "silent", TOY_TOKEN: "t", KILN_LISTING_LAG_MS: "1", ...extra });
  async function kiln(argv: string[], extra: NodeJS.ProcessEnv = {}) {
    const io = captureIo();
    const code = await main(argv, io, { env: env(extra), cwd: home });
    return { code, out: io.stdout, err: io.stderr };
  }

  it("is priced by `kiln offers` (catalog without credentials, live with them) and checked by `kiln check`", async () => {
    const catalog = await kiln(["offers", "--provider", "toy", "--json"], { TOY_TOKEN: "" });
    expect((JSON.parse(catalog.out) as { offers: { instanceType: string; priceSource: string }[] }).offers.map((o) => [o.instanceType, o.priceSource])).toEqual([
      ["toy.small", "catalog"],
      ["toy.a100", "catalog"],
    ]);
    const live = await kiln(["offers", "--provider", "toy", "--json"]);
    expect((JSON.parse(live.out) as { offers: { priceSource: string }[] }).offers.every((o) => o.priceSource === "live")).toBe(true);
    const check = await kiln(["check"]);
    expect(check.out).toContain("toy  ok: token from TOY_TOKEN works");
    expect((await kiln(["check"], { TOY_TOKEN: "" })).out).toContain(`toy  not configured: set TOY_TOKEN, or put {"toy": {"token": "…"}} in ${home}/credentials.json`);
  });

  it("launches through the core's failover, and reconciliation and gc find, keep apart and tear down its machines", async () => {
    const ledger = Ledger.open(join(home, "ledger.db"));
    try {
      ledger.createJob({ id: "toyjob", name: "toy", kind: "sae-pii", specYaml: "", jobDir: join(home, "jobs", "toyjob") });
      const attempt = ledger.startAttempt("toyjob", "toy");
      ledger.transitionJob("toyjob", "running", "driving on toy");
      const offers = await toy.cloud.listOffers({ gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: "never" });
      // The cheapest type is sold out: the core fails over to the next offer; the listing lags behind the launch.
      toy.cloud.soldOut.add("toy.a100");
      toy.cloud.listingLagMs = 300;
      const more = [...offers, { ...offers[0]!, instanceType: "toy.small", pricePerHour: 0.1 }];
      const launched = await launchWithFailover({ providerFor: async () => toy.cloud, blockedProviders: new Set(), listingLagMs: () => 1_000, ledger, jobId: "toyjob", attemptId: attempt.id, offers: more, maxOffers: 5, sshKeyName: "k", sshPublicKey: "ssh-ed25519 AAAA k", signal: new AbortController().signal, logger: nullLogger });
      expect(launched.failures.map((f) => f.kind)).toEqual(["capacity"]);
      expect(launched.machine.name).toBe(`kiln-${ledger.installationId()}-${launched.row.intent_id.split("-")[1]}`);
    } finally {
      ledger.close();
    }
    const theirs = toy.cloud.foreign("kiln-0badcafe-0011223344");
    const users = toy.cloud.foreign("my-own-box");
    await new Promise((r) => setTimeout(r, 350));
    // The job's driver never existed (no pid): its machine belongs to a dead job.
    const look = await kiln(["status"]);
    expect(look.err).toMatch(/`kiln status --refresh` would terminate toy-\d+ \(up\): its job's driver is gone/);
    expect(toy.cloud.machines.size).toBe(3);
    const refresh = await kiln(["status", "--refresh"]);
    expect(refresh.code).toBe(0);
    expect(refresh.err).toMatch(/reconciled: terminated toy-\d+/);
    const gc = await kiln(["gc"]);
    expect(gc.out).toMatch(/1 Kiln machine\(s\) of other installations sharing this account left alone/);
    expect([...toy.cloud.machines.keys()].sort()).toEqual([theirs, users].sort());
  });
});
