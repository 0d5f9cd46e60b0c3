/**
 * The job spec schema: one YAML file says what to train, where it may run and what it may cost.
 * Strict objects everywhere (an unknown key is an error, with a did-you-mean), so a typo never
 * silently falls back to a default that costs money. Documented in docs/job-spec.md; the JSON Schema
 * for editors (docs/job-spec.schema.json) is generated from this file.
 */
import { z } from "zod";
import { GPU_MODELS, resolveGpuAlias } from "../gpu/names.js";
// PROVIDER_NAMES is in a module of its own so `kiln offers` can check --provider without loading zod.
import { PROVIDER_NAMES } from "./provider-names.js";
import { artifactStoreSchema, onCapOfflineSchema } from "./artifact-store.js";
import { saeConfigSchema } from "./sae-config.js";

export { PROVIDER_NAMES };

export const ALERT_EVENTS = ["started", "budget", "stalled", "preempted", "failed", "done"] as const;

const positive = (what = "a number") => z.number({ error: `expected ${what} > 0` }).positive({ error: `expected ${what} > 0` });
const int = (min: number, max?: number) => {
  const what = max === undefined ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`;
  const s = z.int({ error: `expected ${what}` }).min(min, { error: `expected ${what}` });
  return max === undefined ? s : s.max(max, { error: `expected ${what}` });
};

// A GPU name the catalog cannot resolve would silently match no offer; say so while the file is open.
const gpuName = z.string().refine((g) => resolveGpuAlias(g).length > 0, {
  error: `unknown GPU; use a name like ${GPU_MODELS.slice(0, 6).map((g) => g.name).join(", ")} or an alias (A100, h100, 4090)`,
  params: { showValue: true },
});

const sshTargetSchema = z
  .strictObject({
    host: z.string().min(1).describe("Hostname or IP of a machine you own."),
    user: z.string().min(1).default("root"),
    port: int(1, 65535).default(22),
    key: z.string().min(1).optional().describe("Path to the private key; default: Kiln's own key in KILN_HOME/keys."),
    python: z
      .string()
      .min(1)
      .optional()
      .describe("An existing interpreter on the host (torch ≥ 2.4 and the workload's dependencies installed) to use instead of building a venv."),
    cleanup: z.boolean().default(false).describe("Remove the job's directory on the host once its artifacts are verified here."),
  })
  .describe("Where provider `ssh` connects.");

export const resourcesSchema = z.strictObject({
  gpu: z
    .union([z.literal("any"), z.array(gpuName).min(1, { error: "expected at least one GPU name" })], {
      error: 'expected a list of GPU names (e.g. [A100-40GB, H100]) or "any"',
    })
    .default("any"),
  count: int(1).default(1),
  min_vram_gb: z
    .union([z.literal("auto"), z.number({ error: "expected a number ≥ 1" }).min(1, { error: "expected a number ≥ 1" })], {
      error: 'expected a number ≥ 1 or "auto"',
    })
    .default("auto")
    .describe('Per-GPU memory needed; "auto" takes the planner\'s estimate.'),
  spot: z.enum(["never", "allowed", "prefer"]).default("never"),
  providers: z
    .array(z.enum(PROVIDER_NAMES))
    .min(1, { error: "expected at least one provider" })
    .refine((p) => new Set(p).size === p.length, { error: "lists a provider twice" })
    .default(["local"])
    .describe("Ordered allow-list; earlier wins ties."),
  regions: z.array(z.string().min(1)).min(1).optional(),
  max_price_per_hour: positive("a price in USD").optional(),
  max_restarts: z
    .number({ error: "expected a whole number of restarts (0 turns recovery off)" })
    .int({ error: "expected a whole number of restarts (0 turns recovery off)" })
    .min(0, { error: "expected a whole number of restarts (0 turns recovery off)" })
    .max(100, { error: "at most 100 restarts; a job preempted that often needs on-demand (`spot: never`)" })
    .default(3)
    .describe("How many times a preempted or lost machine is replaced by a new one (the job resumes from its newest verified checkpoint)."),
  ssh: sshTargetSchema.optional(),
});

export const budgetSchema = z.strictObject({
  max_usd: positive("a dollar amount").describe("Hard cap: the machine is stopped before spend passes this."),
  alert_fractions: z
    .array(z.number({ error: "expected a fraction between 0 and 1" }).gt(0, { error: "expected a fraction between 0 and 1" }).lt(1, { error: "expected a fraction between 0 and 1" }))
    .default([0.5, 0.8, 0.95]),
  max_hours: positive("a number of hours").optional(),
  on_cap_offline: onCapOfflineSchema,
});

const argvOrString = z.union([z.string().min(1), z.array(z.string()).min(1)], { error: "expected a command: a string or a list of argv strings" });

const commandWorkloadSchema = z.strictObject({
  type: z.literal("command"),
  setup: z.array(argvOrString).default([]),
  run: z.array(argvOrString).min(1, { error: "expected at least one command" }),
  workdir: z.string().min(1).optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected an environment variable name" }), z.string()).default({}),
});

const saePiiWorkloadSchema = z.strictObject({
  type: z.literal("sae-pii"),
  sae: saeConfigSchema,
  probe: z.record(z.string(), z.unknown()).default({}).describe("PII probe config; validated by kiln_sae on the machine."),
  python: z.string().min(1).optional().describe("Interpreter or venv path; default: Kiln sets up a venv."),
});

export const workloadSchema = z.discriminatedUnion("type", [saePiiWorkloadSchema, commandWorkloadSchema], {
  error: 'expected `type: sae-pii` or `type: command`',
});

const artifactsSchema = z.strictObject({
  paths: z.array(z.string().min(1)).default(["outputs/**"]),
  sync_interval: int(10).default(300).describe("Seconds between artifact syncs to the laptop."),
  store: artifactStoreSchema.optional(),
});

const bundleSchema = z.strictObject({
  allow_secrets: z
    .array(z.string().min(1))
    .default([])
    .describe("Paths (gitignore-style, relative to the spec's folder) the secret scanner lets through; everything else that looks like a credential stops the upload."),
});

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const alertsSchema = z.strictObject({
  webhook_env: z
    .string()
    .superRefine((v, ctx) => {
      // A webhook URL is a secret (anyone holding it can post to the channel): it must never sit in a
      // file that gets committed or shipped, so the spec only names the variable that holds it.
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v) || v.includes("/")) {
        ctx.addIssue({ code: "custom", message: "looks like a URL; put the webhook URL in an environment variable and give its NAME here (e.g. KILN_WEBHOOK_URL)" });
      } else if (!ENV_NAME.test(v)) {
        ctx.addIssue({ code: "custom", message: "expected an environment variable name like KILN_WEBHOOK_URL" });
      }
    })
    .optional(),
  on: z.array(z.enum(ALERT_EVENTS)).default(["budget", "failed", "done"]),
});

export const jobSpecSchema = z
  .strictObject({
    name: z
      .string({ error: "expected a name" })
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: "expected a lowercase slug (a-z, 0-9, -; at most 63 characters)" }),
    resources: resourcesSchema.default({ gpu: "any", count: 1, min_vram_gb: "auto", spot: "never", providers: ["local"], max_restarts: 3 }),
    budget: budgetSchema,
    workload: workloadSchema,
    artifacts: artifactsSchema.default({ paths: ["outputs/**"], sync_interval: 300 }),
    alerts: alertsSchema.optional(),
    bundle: bundleSchema.default({ allow_secrets: [] }),
  })
  .superRefine((s, ctx) => {
    const usesSsh = s.resources.providers.includes("ssh");
    if (usesSsh && s.resources.ssh === undefined) {
      ctx.addIssue({ code: "custom", path: ["resources", "ssh"], message: "provider `ssh` needs `resources.ssh: {host, user, port, key}`" });
    }
    if (!usesSsh && s.resources.ssh !== undefined) {
      ctx.addIssue({ code: "custom", path: ["resources", "ssh"], message: "is set but `ssh` is not in `resources.providers`" });
    }
  });

export type JobSpec = z.output<typeof jobSpecSchema>;
export type JobResources = JobSpec["resources"];
export type JobBudget = JobSpec["budget"];
export type JobWorkload = JobSpec["workload"];
export type { ArtifactStoreSpec, CapOfflineChoice } from "./artifact-store.js";
