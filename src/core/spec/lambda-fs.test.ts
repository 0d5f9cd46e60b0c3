// `artifacts.store.url: lambda-fs://FILESYSTEM/PREFIX`: what a user may write, the errors that name the field,
// where the job's copy goes on the file system, and what `kiln plan` says holds at the cap.
import { describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { storeCredentialsForJob, storeLocation, storePushConfigJson } from "../artifact-store/index.js";
import { capGuarantee } from "../planner/cap-guarantee.js";
import { providerNamed } from "../../providers/registry.js";
import { parseJobSpec } from "./load.js";

const text = (store: string) => `
name: demo
resources: {providers: [lambda], gpu: [A100-40GB]}
budget: {max_usd: 20}
workload: {type: command, run: ["true"]}
artifacts: {store: ${store}}
`;

function problems(t: string): string[] {
  try {
    parseJobSpec(t, "job.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as UserError).message.split("\n").slice(1).map((l) => l.replace(/^ {2}- /, ""));
  }
  throw new Error("spec unexpectedly valid");
}

describe("artifacts.store: lambda-fs://", () => {
  it("takes a Lambda file system and a prefix, and create: true", () => {
    const s = parseJobSpec(text("{url: lambda-fs://kiln-outputs/runs/sae, create: true, region: us-west-1}"), "job.yaml");
    expect(s.artifacts.store).toMatchObject({ url: "lambda-fs://kiln-outputs/runs/sae", create: true, region: "us-west-1" });
  });

  it("refuses a bad file system name, a missing prefix and an escaping one, naming the field", () => {
    expect(problems(text("{url: lambda-fs://9lives/runs}"))).toEqual([expect.stringMatching(/^artifacts\.store\.url: "9lives" is not a Lambda file system name/)]);
    expect(problems(text("{url: lambda-fs://kiln-outputs}"))).toEqual([expect.stringMatching(/^artifacts\.store\.url: expected a prefix \(lambda-fs:\/\/FILESYSTEM\/PREFIX\)/)]);
    expect(problems(text("{url: lambda-fs://kiln-outputs/../x}"))).toEqual([expect.stringMatching(/^artifacts\.store\.url: the prefix segment "\.\." is not allowed/)]);
  });

  it("refuses other stores' credentials on a file system, and create on an object store", () => {
    expect(problems(text("{url: lambda-fs://kiln-outputs/runs, role_arn: 'arn:aws:iam::123456789012:role/k'}"))).toEqual([
      expect.stringMatching(/^artifacts\.store\.role_arn: role_arn is for object stores; a Lambda file system \(lambda-fs:\/\/\) needs no credentials/),
    ]);
    expect(problems(text("{url: s3://bkt/runs, create: true}"))).toEqual([expect.stringMatching(/^artifacts\.store\.create: create is for Lambda file systems/)]);
  });

  it("puts the job's copy under /lambda/nfs/NAME/PREFIX/<job id>, and ships no credential to the machine", async () => {
    const s = parseJobSpec(text("{url: lambda-fs://kiln-outputs/runs}"), "job.yaml");
    const location = storeLocation(s.artifacts.store!, "j-42");
    expect(location).toEqual({ kind: "lambda-fs", volume: "kiln-outputs", mountPoint: "/lambda/nfs/kiln-outputs", keyPrefix: "runs/j-42", url: "lambda-fs://kiln-outputs/runs/j-42" });
    const credentials = await storeCredentialsForJob({ store: s.artifacts.store!, location, env: {}, validForS: 3600, sessionName: "kiln-j-42" });
    expect(credentials).toEqual({ kind: "volume-mount" });
    expect(JSON.parse(storePushConfigJson({ location, credentials }))).toEqual({ kind: "dir", root: "/lambda/nfs/kiln-outputs", key_prefix: "runs/j-42" });
  });
});

describe("the cap with a lambda-fs store", () => {
  const s = parseJobSpec(text("{url: lambda-fs://kiln-outputs/runs}"), "job.yaml");

  it("on Lambda: the outputs are durable on the file system, then the watchdog terminates the machine through Lambda's API", () => {
    const g = capGuarantee(s, providerNamed("lambda"));
    expect(g.holds).toBe("durable-store");
    expect(g.refusal).toBeUndefined();
    expect(g.text).toBe(
      "at the cap with no client: checkpoint, push the outputs to lambda-fs://kiln-outputs/runs (sha256-verified) on the file system attached at launch, which survives termination (nothing secret shipped; reading them back needs a Lambda machine in its region, which Kiln launches for minutes and charges to the job: the watchdog keeps 10 minutes of the cap for it), then the watchdog terminates the machine through the provider's API; if the push fails, the machine is kept (spend may pass the cap) and the push retried until a client returns",
    );
    expect(g.warnings).toEqual([expect.stringMatching(/holds your Lambda API key to end its own billing/)]);
  });

  it("on any other cloud: refused, naming the field", () => {
    const g = capGuarantee(s, providerNamed("aws"));
    expect(g.refusal).toBe("artifacts.store.url: lambda-fs://kiln-outputs/runs is a Lambda file system, which only Lambda machines can attach; AWS EC2 cannot write to it");
  });
});
