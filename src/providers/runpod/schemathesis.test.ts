// The emulator's REST v2 against RunPod's own OpenAPI document, fuzzed by Schemathesis: the spec's examples,
// boundary cases, random valid and invalid requests, and stateful sequences (create, read, act, delete), with
// every check it has. Only the operations the emulator serves (pods and the GPU catalog; the rest of REST v2 —
// clusters, serverless, templates, volumes, registries, billing — is not emulated, and Kiln's GraphQL subset
// has its own check in testing/graphql-subset.ts). Fixed seed and example count: the same run every time. A
// failure passes only when it is one of the EXCEPTIONS below, each written down against the spec.
import { describe, expect, it } from "vitest";
import { runSchemathesis, schemathesisMissing, type SpecException, unexplainedFailures } from "../emulator-kit/testing/schemathesis.js";
import { startRunpodEmulator } from "./emulator.js";

const SPEC = new URL("./openapi/runpod-rest-v2-2.0.0.json", import.meta.url).pathname;
const SEED = 20_261_204;
const MAX_EXAMPLES = 30;
const OPERATIONS = ["GET /v2/pods", "POST /v2/pods", "GET /v2/pods/{id}", "PATCH /v2/pods/{id}", "DELETE /v2/pods/{id}", "POST /v2/pods/{id}/action", "GET /v2/catalog/gpus"];

// Every one is a 400 for a request that the schema allows but a rule in the spec's prose refuses: the
// spec's own answer ("400 — the body matches the contract but was rejected", createPod), which
// Schemathesis, reading only the schema, counts as valid data rejected.
const EXCEPTIONS: readonly SpecException[] = [
  {
    code: "ST202", // schema-valid request rejected
    operations: ["GET /v2/catalog/gpus"],
    status: 400,
    answer: /"detail":"(product is required with include=AVAILABILITY|[a-zA-Z, ]+: valid only with include=AVAILABILITY|cudaVersions and minCudaVersion are mutually exclusive)"/,
    why:
      "listGpuTypes's parameters state rules their schemas cannot: product is \"Required with include=AVAILABILITY, and valid only " +
      "with it (400 either way)\"; count, cloud, countryCodes, cudaVersions and minCudaVersion are each \"Valid only with " +
      "include=AVAILABILITY\" (countryCodes, cudaVersions, minCudaVersion: \"400 otherwise\"); cudaVersions and minCudaVersion are " +
      "\"mutually exclusive (400 if both are sent)\".",
  },
  {
    code: "ST202",
    operations: ["POST /v2/pods"],
    status: 400,
    answer: /"detail":"Exactly one of gpu or cpu must be set\."/,
    why: "CreatePodRequest: \"Exactly one of `gpu` or `cpu` must be set — enforced at the handler layer\"; its schema makes both optional.",
  },
  {
    code: "ST202",
    operations: ["POST /v2/pods", "PATCH /v2/pods/{id}"],
    status: 400,
    answer: /"detail":"(At most one of mounts\.persistent and mounts\.network may be set\.|mounts\.network: \[\] would clear the mount, which is not supported\.|The mount kind is fixed at create\.)"/,
    why:
      "Mounts: \"At-most-one of `persistent` or `network` may be set today (mutually exclusive, enforced at the handler with 400 if " +
      "both are present)\"; on PATCH \"An explicit `network: []` is rejected with 400\" and \"Mount kind is fixed at create — a PATCH " +
      "that introduces a kind not present at create … is rejected with 400\".",
  },
  {
    code: "ST202",
    operations: ["POST /v2/pods"],
    status: 400,
    answer: /"detail":"(There are no longer any instances available with the requested specifications\. Please refresh and try again\.|at most \d+ GPUs of [^"]+ fit one pod on \w+ cloud)"/,
    why:
      "createPod's 400 covers \"this GPU and data center combination could not be placed\", and capacity \"carries no machine-readable " +
      "code of its own\". Generated dataCenterIds name no data centre, generated CUDA versions match no host (allowedCudaVersions: \"a " +
      "version no machine reports yields a capacity error rather than a fallback\"), and gpu.count has no maximum in the schema but " +
      "one per GPU type and cloud in the catalog (GpuType.maxCount).",
  },
];

describe("RunPod emulator conformance to REST v2 2.0.0 (Schemathesis; skipped where .venv/bin/schemathesis is missing)", () => {
  it("has no failure that is not written down against the spec", async (ctx) => {
    if (schemathesisMissing !== undefined) ctx.skip(schemathesisMissing);
    // Stock is unlimited unless a test sells a GPU out, and no rate limit: answers depend on the request alone.
    const emu = await startRunpodEmulator({ bootDelayMs: 0 });
    try {
      const run = await runSchemathesis({ spec: SPEC, url: emu.url, headers: { Authorization: `Bearer ${emu.apiKey}` }, seed: SEED, maxExamples: MAX_EXAMPLES, timeoutMs: 150_000, operations: OPERATIONS });
      expect(run.errors, run.outputTail).toEqual([]);
      expect(run.operationsTested).toBe(OPERATIONS.length);
      expect(run.casesGenerated).toBeGreaterThan(300);
      const distinct = unexplainedFailures(run.failures, EXCEPTIONS);
      expect(distinct, `${distinct.length} unexplained failure(s); seed ${SEED}`).toEqual([]);
      expect(run.exitCode === 0 || run.failures.length > 0, run.outputTail).toBe(true);
    } finally {
      await emu.close();
    }
  });
});
