/**
 * (Lives in a testing/ folder under src so tests can import it; the build skips testing/ folders.)
 *
 * Runs Schemathesis (the project's Python test environment: `.venv/bin/schemathesis`, pinned in
 * workload/constraints.txt through the `dev` extra) against a running emulator, and reads back every
 * failed check from its NDJSON event stream, with the request and response that failed it, so that each
 * emulator's Schemathesis test (lambda/conformance.test.ts, {runpod,thunder,tensordock,azure}/schemathesis.test.ts)
 * can hold every failure against a written list of {@link SpecException}s ({@link unexplainedFailures}).
 *
 * Which emulators run it: those Kiln wrote whose provider publishes an OpenAPI or Swagger document —
 * Lambda, RunPod, Thunder, TensorDock (a third-party document) and Azure (Swagger 2.0, its virtualMachines
 * operations only), each restricted to the operations its emulator serves. Not GCP: its emulator follows
 * Google's Discovery document for Compute v1, which is not OpenAPI, and Schemathesis reads only OpenAPI
 * (2.0 to 3.2) and GraphQL; gcp/testing/discovery.ts validates that emulator's traffic against the Discovery
 * document instead. Not AWS: Kiln's EC2 code is tested against moto, which Kiln did not write
 * (aws/testing/moto.ts).
 *
 * @example
 *   const run = await runSchemathesis({ spec: SPEC, url: emu.url, headers: { Authorization: `Bearer ${key}` }, seed: 1, maxExamples: 20, timeoutMs: 120_000, operations: ["GET /v2/pods"] });
 *   expect(run.errors).toEqual([]);
 *   expect(unexplainedFailures(run.failures, EXCEPTIONS)).toEqual([]);
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const REPO = join(import.meta.dirname, "..", "..", "..", "..");
export const SCHEMATHESIS_BIN = join(REPO, ".venv", "bin", "schemathesis");
/** Why the conformance test skips, or undefined when it can run. */
export const schemathesisMissing: string | undefined = existsSync(SCHEMATHESIS_BIN)
  ? undefined
  : `${SCHEMATHESIS_BIN} is missing: run \`bash scripts/ensure-python.sh\` (schemathesis is in workload/pyproject.toml's dev extra)`;

/** One failed check on one request. */
export interface CheckFailure {
  /** Schemathesis's failure code, e.g. "ST103" (`schemathesis explain ST103`). */
  code: string;
  title: string;
  /** "POST /api/v1/instance-operations/terminate", as the spec names the operation. */
  operation: string;
  message: string;
  phase: string;
  /** What Schemathesis made of the request: "positive" (valid by the spec) or "negative". */
  mode: string | undefined;
  /** Per part of the request ("body", "query", "path", "header"): "positive" or "negative". */
  parts: Record<string, string>;
  method: string;
  url: string;
  requestBody: string | undefined;
  status: number | undefined;
  responseBody: string;
}

export interface SchemathesisRun {
  exitCode: number | null;
  failures: CheckFailure[];
  /** Errors that are not check failures (a crash, a network error, an unloadable schema). */
  errors: string[];
  operationsTested: number;
  casesGenerated: number;
  runningTimeS: number;
  /** The tail of Schemathesis's own output, for failure messages. */
  outputTail: string;
}

export interface SchemathesisOptions {
  /** The spec file (its relative `$ref`s resolve from where it lies), or a document, written out as JSON. */
  spec: string | Record<string, unknown>;
  /** The API base: the spec's paths (`/api/v1/...`, `/instances/list`) are appended to it as they stand. */
  url: string;
  /** Sent with every request (the emulator's credentials). */
  headers: Record<string, string>;
  seed: number;
  /** Cases per operation and phase. */
  maxExamples: number;
  timeoutMs: number;
  /**
   * Only these operations, named as Schemathesis labels them ("GET /v2/pods", the spec's own path
   * template); absent: every operation in the spec. For emulators that serve part of a provider's API.
   */
  operations?: readonly string[];
  /**
   * Fixed values of parameters, keyed `name` or `location.name` ("path.subscriptionId", "query.api-version"):
   * Schemathesis's `[parameters]` table. For values the spec leaves free but the emulator cannot (its own
   * subscription id), so that cases reach the operation instead of one early 404.
   */
  parameters?: Record<string, string | number | boolean>;
}

/**
 * A failure the spec itself leaves open, written down: which check, on which operations, with which answer,
 * and why that answer is right by the spec. A failure passes only when one of these matches all of it.
 */
export interface SpecException {
  /** Schemathesis's failure code (`schemathesis explain CODE`). */
  code: string;
  operations: readonly string[];
  status: number;
  /** The emulator's answer, matched against the response body. */
  answer: RegExp;
  /** Only for requests whose body Schemathesis broke on purpose. */
  negativeBody?: true;
  /** Only when the query string has this parameter. */
  query?: string;
  /** Why, citing the spec. */
  why: string;
}

/** The exception that explains a failure, or undefined. */
export function explanation(f: CheckFailure, exceptions: readonly SpecException[]): SpecException | undefined {
  return exceptions.find(
    (e) =>
      e.code === f.code &&
      e.operations.includes(f.operation) &&
      e.status === f.status &&
      e.answer.test(f.responseBody) &&
      (!e.negativeBody || f.parts["body"] === "negative") &&
      (e.query === undefined || new URL(f.url).searchParams.has(e.query)),
  );
}

export const describeFailure = (f: CheckFailure): string =>
  `${f.code} ${f.title} — ${f.operation} (${f.phase}, ${f.mode ?? "?"}): ${f.message.replace(/\s+/g, " ").slice(0, 200)}\n` +
  `    ${f.method} ${f.url}${f.requestBody === undefined ? "" : ` body=${f.requestBody.slice(0, 300)}`}\n    → ${f.status} ${f.responseBody.slice(0, 300)}`;

/** The failures no exception explains, one line per distinct problem (the same check on the same operation with the same answer). */
export function unexplainedFailures(failures: readonly CheckFailure[], exceptions: readonly SpecException[]): string[] {
  const unexplained = failures.filter((f) => explanation(f, exceptions) === undefined);
  return [...new Map(unexplained.map((f) => [`${f.code} ${f.operation} ${f.status} ${f.responseBody}`, describeFailure(f)])).values()];
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const decode = (v: unknown): string | undefined => {
  const b64 = obj(v)["$base64"];
  return typeof b64 === "string" ? Buffer.from(b64, "base64").toString("utf8") : undefined;
};

export async function runSchemathesis(o: SchemathesisOptions): Promise<SchemathesisRun> {
  // Its own working directory: Schemathesis and Hypothesis leave caches and reports where they run.
  const dir = mkdtempSync(join(tmpdir(), "kiln-schemathesis-"));
  try {
    const spec = typeof o.spec === "string" ? o.spec : join(dir, "spec.json");
    if (typeof o.spec !== "string") writeFileSync(spec, JSON.stringify(o.spec));
    const config = join(dir, "schemathesis.toml");
    // TOML basic strings take JSON's escapes; numbers and booleans are written alike.
    const toml = (v: string | number | boolean) => JSON.stringify(v);
    writeFileSync(config, o.parameters ? `[parameters]\n${Object.entries(o.parameters).map(([k, v]) => `${toml(k)} = ${toml(v)}`).join("\n")}\n` : "");
    const args = [
      "--config-file",
      config,
      "run",
      spec,
      "--url",
      o.url,
      ...Object.entries(o.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
      ...(o.operations ?? []).flatMap((label) => ["--include-name", label]),
      "--seed",
      String(o.seed),
      "--max-examples",
      String(o.maxExamples),
      "--workers",
      "1",
      "--checks",
      "all",
      // Every failing case, not only the first per operation: an explained failure must not hide another.
      "--continue-on-failure",
      // No example database: a run replays nothing from an earlier one, so the seed alone decides it.
      "--generation-database",
      "none",
      // Hypothesis's health checks time data generation; a busy machine must not turn them into errors.
      "--suppress-health-check",
      "all",
      "--request-timeout",
      "10",
      "--no-color",
      "--output-sanitize",
      "false",
      "--report",
      "ndjson,json",
      "--report-ndjson-path",
      join(dir, "events.ndjson"),
      "--report-json-path",
      join(dir, "report.json"),
    ];
    let output = "";
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(SCHEMATHESIS_BIN, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
      const keep = (d: Buffer) => {
        output = (output + d.toString("utf8")).slice(-20_000);
      };
      child.stdout.on("data", keep);
      child.stderr.on("data", keep);
      const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs);
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    const run: SchemathesisRun = { exitCode, failures: [], errors: [], operationsTested: 0, casesGenerated: 0, runningTimeS: 0, outputTail: output.slice(-4_000) };
    const eventsPath = join(dir, "events.ndjson");
    if (!existsSync(eventsPath)) {
      run.errors.push(`no event stream (exit ${exitCode}):\n${run.outputTail}`);
      return run;
    }
    for (const line of readFileSync(eventsPath, "utf8").split("\n")) {
      if (line.trim() === "") continue;
      const event = obj(JSON.parse(line));
      const [kind] = Object.keys(event);
      const body = obj(event[kind ?? ""]);
      if (kind === "NonFatalError" || kind === "FatalError") run.errors.push(`${kind}: ${JSON.stringify(body).slice(0, 2_000)}`);
      if (kind === "ScenarioFinished") run.failures.push(...scenarioFailures(body));
    }
    const reportPath = join(dir, "report.json");
    if (existsSync(reportPath)) {
      const report = obj(JSON.parse(readFileSync(reportPath, "utf8")));
      run.operationsTested = Number(obj(report["operations"])["tested"] ?? 0);
      run.casesGenerated = Number(obj(report["test_cases"])["generated"] ?? 0);
      run.runningTimeS = Number(report["running_time"] ?? 0);
      for (const e of (report["errors"] as unknown[] | undefined) ?? []) run.errors.push(`error: ${JSON.stringify(e).slice(0, 2_000)}`);
    } else run.errors.push(`no JSON report (exit ${exitCode})`);
    return run;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function scenarioFailures(scenario: Json): CheckFailure[] {
  const recorder = obj(scenario["recorder"]);
  const cases = obj(recorder["cases"]);
  const interactions = obj(recorder["interactions"]);
  const out: CheckFailure[] = [];
  for (const [caseId, checks] of Object.entries(obj(recorder["checks"]))) {
    for (const check of (checks as unknown[]) ?? []) {
      if (obj(check)["status"] !== "failure") continue;
      const failure = obj(obj(obj(check)["failure_info"])["failure"]);
      const value = obj(obj(cases[caseId])["value"]);
      const meta = obj(value["meta"]);
      const interaction = obj(interactions[caseId]);
      const request = obj(interaction["request"]);
      const response = obj(interaction["response"]);
      const parts = Object.fromEntries(Object.entries(obj(meta["components"])).map(([k, v]) => [k, String(obj(v)["mode"])]));
      out.push({
        code: String(failure["code"] ?? "?"),
        title: String(failure["title"] ?? ""),
        operation: String(failure["operation"] ?? recorder["label"] ?? "?"),
        message: String(failure["message"] ?? ""),
        phase: String(obj(meta["phase"])["name"] ?? "?"),
        mode: obj(meta["generation"])["mode"] as string | undefined,
        parts,
        method: String(request["method"] ?? value["method"] ?? "?"),
        url: String(request["uri"] ?? value["path"] ?? "?"),
        requestBody: decode(request["body"]),
        status: typeof response["status_code"] === "number" ? response["status_code"] : undefined,
        responseBody: decode(response["content"]) ?? "",
      });
    }
  }
  return out;
}
