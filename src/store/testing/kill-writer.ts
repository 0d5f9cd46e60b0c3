/**
 * Child process for the ledger's kill-loop test: writes jobs through their whole lifecycle as fast as
 * it can and prints `ok <job> <op>` *after* each write commits. The parent SIGKILLs it at random
 * moments and checks that everything reported is in the database.
 */
import { Ledger } from "../ledger.js";

const [dbPath, prefix] = process.argv.slice(2);
if (!dbPath || !prefix) throw new Error("usage: kill-writer DB PREFIX");
const ledger = Ledger.open(dbPath);
const say = (job: string, op: number) => process.stdout.write(`ok ${job} ${op}\n`);

for (let j = 0; j < 100_000; j++) {
  const id = `${prefix}-${j}`;
  ledger.createJob({ id, name: id, kind: "command", specYaml: `name: ${id}\n`, jobDir: `/tmp/${id}` });
  say(id, 1);
  const attempt = ledger.startAttempt(id, "local");
  say(id, 2);
  const m = ledger.recordMachineIntent({ intentId: `i-${id}`, jobId: id, attemptId: attempt.id, provider: "local", offer: { gpu: "none" }, pricePerHour: 1.5 });
  say(id, 3);
  ledger.markMachineLaunched(m.id, `local-${id}`, "running");
  say(id, 4);
  ledger.transitionJob(id, "running", "started");
  say(id, 5);
  ledger.addEvent({ jobId: id, kind: "metric", reason: "step 10" });
  say(id, 6);
  ledger.recordArtifact({ jobId: id, path: "sae.safetensors", size: 10, sha256: "ab".repeat(32), verified: true });
  say(id, 7);
  ledger.endAttempt(attempt.id, "succeeded", "done");
  say(id, 8);
  ledger.markMachineTerminated(m.id, "done");
  say(id, 9);
  ledger.transitionJob(id, "succeeded", "done");
  say(id, 10);
}
