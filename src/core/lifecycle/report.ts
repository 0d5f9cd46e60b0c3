/**
 * The report of a job run on a remote machine: the same report.md/report.html as a local run, from
 * the ledger and the metrics files pulled into the job dir. The report reads a RunFile; this builds
 * one whose steps point at the pulled copies of the machine's metrics files.
 */
import type { Ledger } from "../../store/index.js";
import type { RunFile, Step } from "../job/run-file.js";
import { type WrittenReport, writeJobReport } from "../report/index.js";
import type { CloudFile } from "./cloud-file.js";

export function writeRemoteReport(ledger: Ledger, o: { cloud: CloudFile; jobDir: string; steps: readonly Step[]; remoteJobDir: string; machine: CloudFile["offers"][number]; planReason: string }): WrittenReport {
  // The machine's job/ dir mirrors the local job dir (job/outputs ↔ outputs), so each path maps by prefix.
  const local = (p: string) => (p.startsWith(`${o.remoteJobDir}/`) ? `${o.jobDir}/${p.slice(o.remoteJobDir.length + 1)}` : p);
  const run = {
    version: 1,
    jobId: o.cloud.jobId,
    jobName: o.cloud.jobName,
    kind: "sae-pii",
    ledgerPath: "",
    jobDir: o.jobDir,
    provider: o.cloud.provider,
    pricePerHour: o.machine.pricePerHour,
    machine: { gpu: o.machine.gpu, gpuCount: o.machine.gpuCount, vramGb: o.machine.vramGb },
    planReason: o.planReason,
    steps: o.steps.map((s) => ({ ...s, ...(s.metrics !== undefined && { metrics: local(s.metrics) }), ...(s.outputDir !== undefined && { outputDir: local(s.outputDir) }) })),
    budget: { maxUsd: o.cloud.budget.maxUsd, ...(o.cloud.budget.maxHours !== undefined && { maxHours: o.cloud.budget.maxHours }), alertFractions: o.cloud.budget.alertFractions },
    alerts: { on: [] },
    monitor: { tickMs: o.cloud.pollMs, stallMs: 600_000, plateauWindow: 20, plateauMinImprovement: 0.001 },
    stopGraceMs: o.cloud.stopGraceMs,
  } satisfies RunFile;
  return writeJobReport(ledger, o.cloud.jobId, run);
}
