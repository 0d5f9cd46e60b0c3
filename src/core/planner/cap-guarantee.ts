/**
 * What holds when the budget cap is reached and no client answers, for the chosen offer's provider
 * (docs/lifecycle.md §7): the line `kiln plan` prints, a warning where data or money is at risk, and a
 * refusal where the spec must choose and has not. `kiln run` refuses on the refusal
 * ({@link assertCapDecided}); there is no silent default between losing data and overrunning the cap.
 *
 * The four ways it can hold:
 * - a durable store: checkpoint, push + sha256 verify, then billing ends (by the cloud's own means or the
 *   watchdog's terminate credential); a failed push keeps the machine unless the spec says stop-billing;
 * - a cloud-side stop without a store: billing ends at the cap even if the watchdog dies; outputs not
 *   yet pulled are lost;
 * - neither, `on_cap_offline: keep-data`: the run stops at the cap, the machine keeps billing until a client saves the outputs;
 * - neither, `on_cap_offline: stop-billing`: billing ends at the cap through the watchdog's credential; unsaved outputs are lost.
 */
import { UserError } from "../../base/errors.js";
import type { CapCapabilities, ProviderDescriptor } from "../../providers/descriptor.js";
import type { JobSpec } from "../spec/job-spec.js";
import { storeKindOf } from "../spec/artifact-store.js";

export interface CapGuarantee {
  /** Which guarantee holds, for tests and `--json`. */
  holds: "not-billed" | "durable-store" | "cloud-stop" | "keep-data" | "stop-billing" | "undecided";
  /** One line for the plan: what happens at the cap with no client. */
  text: string;
  /** Data or money at risk, or a credential on the machine that can do more than end billing. */
  warnings: string[];
  /** Set when `kiln run` must refuse until the spec decides (or a choice cannot hold here). */
  refusal?: string;
}

const CLOUD_STOP: Record<NonNullable<CapCapabilities["cloudSideStop"]>, string> = {
  "shutdown-terminates": "the cloud terminates the machine on shutdown",
  "deadline-at-launch": "a deadline set at launch makes the cloud delete the machine, even if the watchdog dies",
};

function endMeans(caps: CapCapabilities): string | undefined {
  if (caps.cloudSideStop) return CLOUD_STOP[caps.cloudSideStop];
  if (caps.apiTerminate === "machine-identity") return "the VM deletes itself through its own managed identity, which may delete that VM and nothing else (no key on the machine; granting it needs your right to assign roles, checked before launch; the resource group's public IP, about $0.005/h, stays until a client deletes the group)";
  if (caps.apiTerminate) return "the watchdog terminates the machine through the provider's API";
  return undefined;
}

function keyRisk(caps: CapCapabilities, title: string): string[] {
  if (caps.cloudSideStop || caps.apiTerminate !== "full-account") return [];
  return [`the machine holds your ${title} API key to end its own billing; ${title} keys cannot be limited to that, so anyone with root on the machine could also launch machines on your account`];
}

/**
 * A store on a cloud whose only cloud-side stop is a deadline set at launch (GCE maxRunDuration). The deadline
 * deletes the machine whether or not the push worked, so it cannot wait for a retry: with keep-data no deadline
 * is set (src/core/lifecycle/attempt-steps.ts cloudDeadlineS) and the machine bills after the push until a
 * client ends it; otherwise the cloud deletes it at the cap and a failed push loses what was not pulled.
 */
function deadlineWithStore(title: string, url: string, scope: string, choice: JobSpec["budget"]["on_cap_offline"], warnings: string[]): CapGuarantee {
  const push = `at the cap with no client: checkpoint, push the outputs to ${url} (sha256-verified) ${scope}`;
  if (choice === "keep-data") {
    warnings.push(`on_cap_offline: keep-data rules out ${title}'s only cloud-side stop, a deadline set at launch that deletes the machine whether or not the push worked: after the push the machine bills until a client ends it (stop-billing lets ${title} delete it at the cap)`);
    return { holds: "durable-store", text: `${push}; no deadline is set at launch, so billing continues until a client ends it (on_cap_offline: keep-data)`, warnings };
  }
  return { holds: "durable-store", text: `${push}, then ${CLOUD_STOP["deadline-at-launch"]}; if the push fails, the outputs not yet pulled are lost with the machine (the deadline cannot wait for a retry)`, warnings };
}

/**
 * The machine's grants on GCS (upload sessions, src/core/artifact-store/gcs-sessions.ts) and on an Azure store
 * Kiln mints for (a SAS per blob, src/core/artifact-store/credentials.ts) last a week (less an hour's margin),
 * renewed only while a client is online.
 */
const GRANT_DAYS = 7;

/** Warn only when the cap can be further away than the grants last: no max_hours, or more than a week's. */
function grantRisk(spec: JobSpec, what: string): string[] {
  const hours = spec.budget.max_hours;
  if (hours !== undefined && hours <= GRANT_DAYS * 24 - 1) return [];
  const then = spec.budget.on_cap_offline === "stop-billing" ? "billing ends and the outputs not yet pulled are lost" : "the machine is kept, billing past the cap, until a client returns";
  return [`${what} last ${GRANT_DAYS} days and only an online client renews them: if no client has been online in the ${GRANT_DAYS} days before the cap, they have expired by then, the push fails and ${then} (set budget.max_hours under ${GRANT_DAYS * 24 - 1} to rule this out)`];
}

const GCS_SCOPE = `through two upload sessions opened with your Google credentials (which stay on this computer), one for each of the job's two objects (outputs.tar, manifest.json): the machine holds no token and can write those two and nothing else (no read, no list), for ${GRANT_DAYS} days, renewed while a client is online`;

/**
 * What the machine's SAS reaches on an Azure Blob store. Kiln mints a service SAS for each of the job's two
 * blobs (sr=b; src/core/artifact-store/blob-sas.ts): the archive layout names them at launch, so no prefix
 * SAS is needed (one exists only as a directory SAS on accounts with a hierarchical namespace). A SAS the
 * user gives reaches whatever it was made for.
 */
function blobSasScope(store: NonNullable<JobSpec["artifacts"]["store"]>): string {
  if (store.sas_token_env !== undefined) {
    return "with the SAS named in artifacts.store, as given: it reaches whatever it was made for, which Kiln cannot narrow (make it for the job's container alone: read, create, write; or, on an account with a hierarchical namespace, a directory SAS, sr=d, for the prefix; or give account_key_env and Kiln mints one per object)";
  }
  return `with a SAS minted from the account key (which never leaves this computer) for each of the job's two blobs (outputs.tar, manifest.json): the machine can write and read back those two and nothing else (no other blob, no list, no delete), until an hour past the cap (${GRANT_DAYS} days at most, renewed while a client is online)`;
}

/**
 * The guarantee for a job on a provider.
 *
 * @example
 *   const g = capGuarantee(spec, providerNamed(plan.choice.offer.provider));
 *   lines.push(`Cap: ${g.text}`, ...g.warnings.map((w) => `Warning: ${w}`));
 */
export function capGuarantee(spec: JobSpec, provider: Pick<ProviderDescriptor, "kind" | "title" | "cap">): CapGuarantee {
  if (provider.kind !== "cloud") return { holds: "not-billed", text: "nothing is billed by the hour here; the run stops at max_hours when one is set", warnings: [] };
  const caps = provider.cap ?? {};
  const store = spec.artifacts.store;
  const choice = spec.budget.on_cap_offline;
  const means = endMeans(caps);
  const volume = caps.volumeStore ? ` (or ${caps.persistentVolume ?? "the provider's volumes"}, which survive termination: artifacts.store.url ${caps.volumeStore}://FILESYSTEM/PREFIX)` : caps.persistentVolume ? ` (${caps.persistentVolume} would survive termination, but Kiln does not attach one yet)` : "";
  if (store && storeKindOf(store.url) === "lambda-fs" && caps.volumeStore !== "lambda-fs") {
    const refusal = `artifacts.store.url: ${store.url} is a Lambda file system, which only Lambda machines can attach; ${provider.title} cannot write to it`;
    return { holds: "undecided", text: "at the cap with no client: no durable store this provider can reach (see the warning)", warnings: [refusal], refusal };
  }
  if (store) {
    const scope = storeKindOf(store.url) === "lambda-fs"
      ? "on the file system attached at launch, which survives termination (nothing secret shipped; reading them back needs a Lambda machine in its region, which Kiln launches for minutes and charges to the job: the watchdog keeps 10 minutes of the cap for it)"
      : storeKindOf(store.url) === "gcs"
      ? GCS_SCOPE
      : storeKindOf(store.url) === "azure-blob"
      ? blobSasScope(store)
      : store.role_arn
        ? "with temporary credentials limited to the job's prefix"
        : "with the key named in artifacts.store, as given (limit it to the prefix: an IAM policy, an R2 bucket token, a MinIO user policy)";
    const warnings = keyRisk(caps, provider.title);
    if (storeKindOf(store.url) === "gcs") warnings.push(...grantRisk(spec, "the machine's GCS upload sessions"));
    if (storeKindOf(store.url) === "azure-blob" && store.sas_token_env === undefined) warnings.push(...grantRisk(spec, "the machine's Azure SASes"));
    if (!means) {
      const refusal = choice === "stop-billing" ? `budget.on_cap_offline: stop-billing cannot hold on ${provider.title}: nothing on the machine can end its billing` : undefined;
      warnings.push(`${provider.title} has no way for the machine to end its own billing: after the push it bills until a client ends it`);
      return { holds: "durable-store", text: `at the cap with no client: checkpoint, then push the outputs to ${store.url} (sha256-verified) ${scope}; billing continues until a client ends it`, warnings, ...(refusal && { refusal }) };
    }
    if (caps.cloudSideStop === "deadline-at-launch") return deadlineWithStore(provider.title, store.url, scope, choice, warnings);
    const onFail = choice === "stop-billing" ? "if the push fails, billing ends anyway and the unsaved outputs are lost (on_cap_offline: stop-billing)" : "if the push fails, the machine is kept (spend may pass the cap) and the push retried until a client returns";
    return { holds: "durable-store", text: `at the cap with no client: checkpoint, push the outputs to ${store.url} (sha256-verified) ${scope}, then ${means}; ${onFail}`, warnings };
  }
  if (caps.cloudSideStop) {
    const refusal = choice === "keep-data" && caps.cloudSideStop === "deadline-at-launch" ? `budget.on_cap_offline: keep-data cannot hold on ${provider.title}: ${CLOUD_STOP[caps.cloudSideStop]}` : undefined;
    return {
      holds: "cloud-stop",
      text: `at the cap with no client: checkpoint, then ${CLOUD_STOP[caps.cloudSideStop]}; outputs not yet pulled are lost`,
      warnings: [`no durable store: set artifacts.store (s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://ACCOUNT/CONTAINER/PREFIX) to keep the outputs when the cap is reached offline${volume}`],
      ...(refusal && { refusal }),
    };
  }
  if (choice === "keep-data") {
    return {
      holds: "keep-data",
      text: `at the cap with no client: checkpoint and stop the run; the machine keeps billing until a client saves the outputs and ends it (on_cap_offline: keep-data)`,
      warnings: [`spend can pass budget.max_usd while no client answers: add artifacts.store to end billing at the cap without losing the outputs${volume}`],
    };
  }
  if (choice === "stop-billing") {
    if (!means) return { holds: "stop-billing", text: "at the cap with no client: checkpoint and stop the run", warnings: [], refusal: `budget.on_cap_offline: stop-billing cannot hold on ${provider.title}: nothing on the machine can end its billing` };
    return {
      holds: "stop-billing",
      text: `at the cap with no client: checkpoint, then ${means}; outputs not yet pulled are lost (on_cap_offline: stop-billing)`,
      warnings: [...keyRisk(caps, provider.title), `outputs not pulled by the cap are lost: add artifacts.store to keep them${volume}`],
    };
  }
  const refusal = `${provider.title} has no cloud-side stop and this job has no durable artifact store: choose what happens at the cap with no client`;
  return {
    holds: "undecided",
    text: "at the cap with no client: undecided (the spec must choose; see the warning)",
    warnings: [`${refusal}: budget.on_cap_offline: keep-data (the machine keeps billing past the cap until a client saves the outputs) or stop-billing (billing ends at the cap; unsaved outputs are lost), or add artifacts.store${volume}`],
    refusal,
  };
}

/**
 * For `kiln run`, after planning and before launching: throws the refusal as a UserError (exit code 2)
 * naming the field and the fix.
 *
 * @example
 *   // src/core/lifecycle/submit.ts, once the offer is chosen:
 *   assertCapDecided(spec, providerNamed(plan.choice.offer.provider));
 */
export function assertCapDecided(spec: JobSpec, provider: Pick<ProviderDescriptor, "kind" | "title" | "cap">): CapGuarantee {
  const g = capGuarantee(spec, provider);
  if (g.refusal) {
    // The fix is the other choice than the one refused (or a store): never the value the spec already has.
    const chosen = spec.budget.on_cap_offline;
    const other = chosen === "keep-data" ? "stop-billing" : chosen === "stop-billing" ? "keep-data" : "keep-data or stop-billing";
    throw new UserError(g.refusal, {
      exitCode: 2,
      hint: `set budget.on_cap_offline: ${other} in the job spec, or add artifacts.store (s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or az://ACCOUNT/CONTAINER/PREFIX), or run on another provider; \`kiln plan\` shows what each guarantees`,
    });
  }
  return g;
}
