// The dashboard in real headless Chromium, over a ledger with a finished cloud job (preempted once, failed
// over once), a failed local job, an interrupted job with an orphaned machine, and a live local job (the
// fake workload writing metrics through the real supervisor). Asserted through the DOM: the numbers shown
// are the ledger's; a curve gains points while the job runs, without a reload; the log follows; stop works
// from the page, by keyboard, and the ledger records it; text contrast holds in the light and dark scheme.
// Screenshots of every page go to $KILN_TEST_ARTIFACTS/dashboard (default: the OS temp dir); with
// KILN_DOCS_SCREENSHOT=1 the live job page is also saved as docs/dashboard.png for the README.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../src/base/deadline.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { totalCost } from "../../src/core/cost/index.js";
import { kilnPaths } from "../../src/core/home.js";
import { isJobProcess, signalGroup } from "../../src/core/supervisor/process.js";
import { killJobProcesses } from "../../src/core/supervisor/testing/cleanup.js";
import { type RunningDashboard, startDashboard } from "../../src/dashboard/index.js";
import { usd } from "../../src/dashboard/format.js";
import { type SeededHistory, seedHistory } from "../../src/dashboard/testing/fixture.js";
import { Ledger } from "../../src/store/index.js";
import { bundleForNode } from "../../src/store/testing/bundle.js";

// The browser globals the in-page callbacks use (the project compiles without the DOM lib); module-scoped.
interface DomElement {
  textContent: string | null;
  getAttribute(name: string): string | null;
}
declare const document: { activeElement: DomElement | null; body: DomElement; querySelector(selector: string): DomElement | null };
declare const window: Record<string, unknown>;
declare function getComputedStyle(e: DomElement): { color: string; backgroundColor: string };

const CHROMIUM = "/usr/bin/chromium";
const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
const SHOTS = join(process.env["KILN_TEST_ARTIFACTS"] ?? join(tmpdir(), "kiln-test-artifacts"), "dashboard");
const DOCS_SHOT = resolve(import.meta.dirname, "..", "..", "docs", "dashboard.png");

let home: string;
let env: NodeJS.ProcessEnv;
let ids: SeededHistory;
let live: string;
let dash: RunningDashboard;
let browser: Browser;
/** Every supervisor the live job had, so none outlives the test. */
const supervisors = new Set<number>();

const ledger = () => Ledger.open(join(home, "kiln", "ledger.db"));
function withLedger<T>(fn: (l: Ledger) => T): T {
  const l = ledger();
  try {
    return fn(l);
  } finally {
    l.close();
  }
}
async function withLedgerAsync(fn: (l: Ledger) => Promise<void>): Promise<void> {
  const l = ledger();
  try {
    await fn(l);
  } finally {
    l.close();
  }
}
const trainLines = (id: string) => {
  const f = join(home, "kiln", "jobs", id, "outputs", "sae", "metrics.jsonl");
  return existsSync(f) ? (readFileSync(f, "utf8").match(/"kind": "train"/g) ?? []).length : 0;
};

async function newPage(colorScheme: "light" | "dark" = "light"): Promise<Page> {
  const p = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme });
  // Fail on any script error: the page's one script must run clean.
  p.on("pageerror", (e) => {
    throw e;
  });
  return p;
}

async function shot(p: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const skip = !existsSync(CHROMIUM);

/** What a person sees in an element: its rendered text (hidden rows and markup left out), as Playwright reads it. */
// biome-ignore lint/performance/useDomNodeTextContent: Locator.innerText is Playwright's rendered text, what these tests assert; the rule is about the DOM property.
const seen = (l: Locator): Promise<string> => l.innerText();

beforeAll(async () => {
  if (skip) return;
  home = mkdtempSync(join(tmpdir(), "kiln-dash-e2e-"));
  env = {
    ...process.env,
    KILN_HOME: join(home, "kiln"),
    KILN_SUPERVISOR_ENTRY: await bundleForNode("src/core/supervisor/main.ts"),
    KILN_LOCAL_PRICE_PER_HOUR: "0.9",
    PATH: `/nonexistent:${process.env["PATH"]}`,
    // The live job: 50 ms a step for up to 4,000 steps, stopped from the page long before it ends.
    FAKE_STEPS: "4000",
    FAKE_STEP_MS: "50",
  };
  const paths = kilnPaths(env);
  ids = seedHistory(paths);
  writeFileSync(join(home, "data.jsonl"), '{"text": "hi"}\n');
  const spec = join(home, "demo.yaml");
  writeFileSync(spec, `name: demo\nbudget: { max_usd: 5, alert_fractions: [0.5, 0.8] }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
  const io = captureIo();
  expect(await main(["run", "--detach", spec], io, { env, cwd: home })).toBe(0);
  live = /started demo \((\S+)\)/.exec(io.stdout)![1]!;
  supervisors.add(withLedger((l) => l.getJob(live)!.supervisor_pid!));
  await pollUntil(async () => (trainLines(live) >= 5 ? true : undefined), { what: "the live job's first train lines", timeoutMs: 60_000, intervalMs: 100 });
  dash = await startDashboard({ paths, env, liveIntervalMs: 250 });
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
});

afterAll(async () => {
  if (skip) return;
  // First, whatever else fails: no detached job may outlive the test on a shared machine.
  killJobProcesses(join(home, "kiln", "ledger.db"));
  // A stopped job's supervisor has been seen to outlive its job (its pid is no longer in the ledger after the resume).
  for (const pid of supervisors) if (isJobProcess(pid, live)) signalGroup(pid, "SIGKILL");
  await browser?.close();
  await dash?.close();
  rmSync(home, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

describe.skipIf(skip)("dashboard in Chromium (skipped where /usr/bin/chromium is missing)", () => {
  it("jobs page: every job with the ledger's state, provider, attempt and spend against the cap", async () => {
    const p = await newPage();
    await p.goto(dash.url);
    const cell = (job: string, field: string) => seen(p.locator(`tr[data-job="${job}"] [data-field="${field}"]`));
    await withLedgerAsync(async (l) => {
      for (const id of [ids.finished, ids.failed, ids.orphaned, live]) expect((await cell(id, "state")).split(" ")[0]).toBe(l.getJob(id)!.state);
      expect(await cell(ids.finished, "spend")).toBe(`${usd(totalCost(l.listMachines(ids.finished), Date.now()))} of $10.00`);
      expect(await cell(ids.failed, "spend")).toBe(`${usd(totalCost(l.listMachines(ids.failed), Date.now()))} of $2.00`);
      // An ended job's projection is what it spent.
      expect(await cell(ids.finished, "projected")).toBe(usd(totalCost(l.listMachines(ids.finished), Date.now())));
      expect(await cell(ids.finished, "provider")).toBe("lambda");
      expect(await cell(ids.finished, "gpu")).toBe("A100-40GB");
      expect(await cell(ids.finished, "attempt")).toBe(`2 of 2 · ${l.listAttempts(ids.finished)[1]!.step}`);
      expect(await cell(live, "provider")).toBe("local");
      expect(await seen(p.locator('[data-field="failed"]'))).toBe(String(l.listJobs().filter((j) => j.state === "failed").length));
    });
    expect(await cell(ids.orphaned, "state")).toContain("interrupted");
    expect(await seen(p.locator('[data-field="orphans"]'))).toBe("1");
    // Live jobs come first.
    expect(await p.locator("tbody tr").first().getAttribute("data-job")).toBe(live);
    await shot(p, "jobs");
    await p.emulateMedia({ colorScheme: "dark" });
    await shot(p, "jobs-dark");
    await p.close();
  });

  it("finished cloud job: step timeline, attempts and why they ended, cost, artifacts: as the ledger has them", async () => {
    const p = await newPage();
    await p.goto(`${dash.url}jobs/${ids.finished}`);
    await withLedgerAsync(async (l) => {
      const attempts = l.listAttempts(ids.finished);
      const stepsOf = (n: number) => l.listEvents(ids.finished, { kind: "step" }).filter((e) => e.attempt_id === attempts[n - 1]!.id).map((e) => e.to_state);
      const shown = (n: number) => p.locator(`[aria-label="Steps of attempt ${n}"] > li`).evaluateAll((els) => els.map((e) => e.getAttribute("data-step")));
      expect(await shown(1)).toEqual(["plan", ...stepsOf(1)]);
      expect(await shown(2)).toEqual(stepsOf(2));
      // The preemption is shown against the step it happened in, with the ledger's reason.
      expect(await seen(p.locator('[aria-label="Steps of attempt 1"] > li[data-step="monitor"] .errors'))).toContain(attempts[0]!.reason!);
      expect(await seen(p.locator('tr[data-attempt="1"]'))).toContain(attempts[0]!.reason!);
      const machines = l.listMachines(ids.finished);
      for (const a of attempts) expect(await seen(p.locator(`tr[data-attempt="${a.n}"] [data-field="cost"]`))).toBe(usd(totalCost(machines.filter((m) => m.attempt_id === a.id), Date.now())));
      expect(await p.locator('[data-field="sha256"]').allInnerTexts()).toEqual(l.listArtifacts(ids.finished).map((a) => a.sha256));
      expect(await seen(p.locator('[data-live="cost"] [data-field="spent"]'))).toBe(usd(totalCost(machines, Date.now())));
    });
    // The burn-down has its budget lines, the curves their axes with units.
    expect(await p.locator('svg[data-chart="cost"] .rule-label').allTextContents()).toEqual(["alert at 50% spent", "alert at 80% spent", "alert at 95% spent", "cap reached"]);
    expect(await p.locator('svg[data-chart="gpu-mem"]').textContent()).toContain("GPU memory (GB)");
    expect(Number(await p.locator('svg[data-chart="loss"]').getAttribute("data-points"))).toBe(400);
    expect(await p.locator("text=Resume…").count()).toBe(0);
    await shot(p, "job-finished");
    await p.goto(`${dash.url}jobs/${ids.failed}`);
    expect(await seen(p.locator('[data-live="charts"] .notice.failed'))).toContain("CUDA out of memory");
    expect(await seen(p.locator('[data-step="sae"] .errors'))).toContain("exited with code 1");
    expect(await seen(p.locator("pre.log"))).toContain("torch.OutOfMemoryError");
    await shot(p, "job-failed");
    await p.close();
  });

  it("live job: curves gain points and the log follows without a reload", async () => {
    const p = await newPage();
    await p.goto(`${dash.url}jobs/${live}`);
    const points = async () => Number(await p.locator('svg[data-chart="loss"]').getAttribute("data-points"));
    const before = await points();
    const logText = () => seen(p.locator('[data-live="log"]'));
    const logBefore = await logText();
    await p.evaluate(() => {
      window["kilnMarker"] = 1;
    });
    await p.waitForFunction((n) => Number(document.querySelector('svg[data-chart="loss"]')?.getAttribute("data-points")) > n + 10, before, { timeout: 60_000 });
    expect(await points()).toBeGreaterThan(before);
    expect(await logText()).not.toBe(logBefore);
    // Same document: the page updated in place, it was not reloaded.
    expect(await p.evaluate(() => window["kilnMarker"])).toBe(1);
    expect(Number(await p.locator("main").getAttribute("data-live-updates"))).toBeGreaterThan(0);
    expect((await seen(p.locator('[data-field="state"]'))).trim()).toBe("running");
    expect(await p.locator('[aria-label="Steps of attempt 1"] > li').evaluateAll((els) => els.map((e) => e.getAttribute("data-step")))).toEqual(["plan", "train"]);
    await shot(p, "job-live");
    if (process.env["KILN_DOCS_SCREENSHOT"]) await p.screenshot({ path: DOCS_SHOT, fullPage: false });
    await p.emulateMedia({ colorScheme: "dark" });
    await shot(p, "job-live-dark");
    await p.close();
  });

  it("machines and offers pages: provider states, prices, the orphan flagged; offers filtered by form and by typing", async () => {
    const p = await newPage();
    await p.goto(`${dash.url}machines`);
    const orphans = await p.locator('tr[data-orphan="true"] td.mono').allInnerTexts();
    expect(orphans).toEqual(["lam-0003"]);
    await withLedgerAsync(async (l) => {
      for (const m of l.listMachines()) {
        const row = p.locator(`tr[data-machine="${m.id}"]`);
        expect(await seen(row.locator('[data-field="state"]'))).toBe(m.state);
        expect(await seen(row.locator('[data-field="price"]'))).toBe(`${usd(m.price_per_hour)}/h`);
      }
    });
    await shot(p, "machines");
    await p.goto(`${dash.url}offers?gpu=H100`);
    const gpus = await p.locator("tbody tr td:nth-child(3)").allInnerTexts();
    expect(gpus.length).toBeGreaterThan(0);
    expect(gpus.every((g) => g.includes("H100"))).toBe(true);
    const providers = await p.locator("tbody tr").evaluateAll((rows) => [...new Set(rows.map((r) => r.getAttribute("data-provider")))]);
    const pick = providers[0]!;
    await p.locator("#row-filter").fill(pick);
    const visible = await p.locator("tbody tr:not([hidden])").evaluateAll((rows) => rows.map((r) => r.textContent ?? ""));
    expect(visible.length).toBeGreaterThan(0);
    expect(visible.every((t) => t.toLowerCase().includes(pick))).toBe(true);
    expect(await p.locator("thead th").allInnerTexts()).toEqual(expect.arrayContaining(["price source", "price age"]));
    await shot(p, "offers");
    await p.goto(`${dash.url}offers?gpu=nonsense-gpu`);
    expect(await seen(p.locator('[role="alert"]'))).toContain("unknown GPU");
    await p.close();
  });

  it("readable contrast in both schemes: body text ≥ 7:1, muted text ≥ 4.5:1", async () => {
    for (const scheme of ["light", "dark"] as const) {
      const p = await newPage(scheme);
      await p.goto(`${dash.url}jobs/${ids.finished}`);
      const ratios = await p.evaluate(() => {
        const rgb = (s: string) => (s.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map(Number);
        const lum = (c: number[]) => {
          const [r, g, b] = c.map((v) => {
            const x = v / 255;
            return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
          }) as [number, number, number];
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const ratio = (a: string, b: string) => {
          const [x, y] = [lum(rgb(a)), lum(rgb(b))].sort((m, n) => n - m) as [number, number];
          return (x + 0.05) / (y + 0.05);
        };
        const bg = getComputedStyle(document.body).backgroundColor;
        return { body: ratio(getComputedStyle(document.body).color, bg), muted: ratio(getComputedStyle(document.querySelector(".muted")!).color, bg) };
      });
      expect(ratios.body, scheme).toBeGreaterThanOrEqual(7);
      expect(ratios.muted, scheme).toBeGreaterThanOrEqual(4.5);
      await p.close();
    }
  });

  it("stop from the page, by keyboard, behind a confirm: the job stops and the ledger records it", async () => {
    const p = await newPage();
    await p.goto(`${dash.url}jobs/${live}`);
    // The first Tab reaches the skip link: the keyboard path starts where it should.
    await p.keyboard.press("Tab");
    expect(await p.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    let found = false;
    for (let i = 0; i < 40 && !found; i++) {
      await p.keyboard.press("Tab");
      found = (await p.evaluate(() => document.activeElement?.textContent)) === "Stop…";
    }
    expect(found).toBe(true);
    await Promise.all([p.waitForURL(/\/confirm\/stop$/), p.keyboard.press("Enter")]);
    await shot(p, "confirm-stop");
    // The confirm button has the focus: Enter confirms.
    expect(await p.evaluate(() => document.activeElement?.textContent)).toBe("Stop demo");
    await Promise.all([p.waitForURL(new RegExp(`/jobs/${live}\\?action=`)), p.keyboard.press("Enter")]);
    await pollUntil(async () => (withLedger((l) => l.getJob(live)!.state) === "stopped" ? true : undefined), { what: "the live job to stop", timeoutMs: 90_000, intervalMs: 200 });
    const states = withLedger((l) => l.listEvents(live, { kind: "job_state" }).map((e) => [e.to_state, e.reason]));
    expect(states).toContainEqual(["stopping", "kiln stop (from the dashboard)"]);
    expect(states.at(-1)?.[0]).toBe("stopped");
    // The page hears the outcome through its live stream.
    await p.waitForSelector('[data-action="stop"][data-action-state="done"]', { timeout: 30_000 });
    expect((await seen(p.locator('[data-field="state"]'))).trim()).toBe("stopped");
    expect(readFileSync(join(home, "kiln", "jobs", live, "outputs", "sae", "metrics.jsonl"), "utf8")).toContain('"reason": "sigterm"');
    await shot(p, "job-stopped");
    await p.close();
  });

  it("resume from the page, by mouse: a new attempt continues from the checkpoint, as `kiln run --resume` does", async () => {
    const p = await newPage();
    await p.goto(`${dash.url}jobs/${live}`);
    await Promise.all([p.waitForURL(/\/confirm\/resume$/), p.getByRole("link", { name: "Resume…" }).click()]);
    await Promise.all([p.waitForURL(new RegExp(`/jobs/${live}\\?action=`)), p.getByRole("button", { name: "Resume demo" }).click()]);
    await pollUntil(async () => (withLedger((l) => l.listAttempts(live).length) === 2 && trainLines(live) > 0 ? true : undefined), { what: "a second attempt", timeoutMs: 60_000, intervalMs: 200 });
    supervisors.add(withLedger((l) => l.getJob(live)!.supervisor_pid!));
    // The workload restarted from its checkpoint: its new start line says so.
    await pollUntil(async () => (readFileSync(join(home, "kiln", "jobs", live, "outputs", "sae", "metrics.jsonl"), "utf8").includes('"resumed": true') ? true : undefined), { what: "the resumed start line", timeoutMs: 60_000, intervalMs: 200 });
    expect(withLedger((l) => l.listEvents(live, { kind: "job_state" }).map((e) => e.reason)).some((r) => r?.startsWith("kiln run --resume (was stopped)"))).toBe(true);
    await p.waitForSelector('[data-action="resume"][data-action-state="done"]', { timeout: 30_000 });
    await p.close();
  });
});
