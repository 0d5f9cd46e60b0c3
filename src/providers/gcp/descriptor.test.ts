// The descriptor's account handling without the network: configured from ADC (a service-account key file)
// or from an emulator's environment, `kiln check` against the emulator (and its clear refusal of a wrong
// token), hasCredentials, and that importing the descriptor loads neither the SDK nor google-auth-library.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { nullLogger } from "../../base/logger.js";
import { ProviderError } from "../provider.js";
import { gcpDescriptor } from "./descriptor.js";
import { startGcpEmulator } from "./emulator.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-gcp-desc-"));
  // google-auth-library would otherwise probe the GCE metadata server for a project.
  process.env["METADATA_SERVER_DETECTION"] = "none";
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ctx = (env: NodeJS.ProcessEnv) => ({ env: { HOME: dir, ...env }, credentialsPath: join(dir, "no-credentials.json"), logger: nullLogger });

function serviceAccountKey(o: { project?: string } = {}): string {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const path = join(dir, `key-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(path, JSON.stringify({ type: "service_account", ...(o.project && { project_id: o.project }), private_key_id: "1", private_key: privateKey.export({ type: "pkcs8", format: "pem" }), client_email: "kiln@my-project.iam.gserviceaccount.com", client_id: "1", token_uri: "https://oauth2.googleapis.com/token" }));
  return path;
}

describe("gcp descriptor", () => {
  it("claims the cloud-side cap and keeps the reclaim notice", () => {
    expect(gcpDescriptor.cap?.cloudSideStop).toBe("deadline-at-launch");
    expect(gcpDescriptor.reclaimNotice).toEqual({ url: "http://metadata.google.internal/computeMetadata/v1/instance/preempted", headers: ["Metadata-Flavor: Google"], when: { bodyMatches: "^TRUE" }, seconds: 30 });
    expect(gcpDescriptor.catalog.map((r) => `${r.instanceType} ${r.gpu}`)).toEqual(["a2-highgpu-1g A100-40GB", "a2-ultragpu-1g A100-80GB", "g2-standard-4 L4-24GB", "a3-highgpu-1g H100-80GB"]);
  });

  it("hasCredentials: an emulator URL, a key file or gcloud's ADC file; nothing else", () => {
    expect(gcpDescriptor.hasCredentials!(ctx({}))).toBe(false);
    expect(gcpDescriptor.hasCredentials!(ctx({ GOOGLE_APPLICATION_CREDENTIALS: "/x.json" }))).toBe(true);
    expect(gcpDescriptor.hasCredentials!(ctx({ KILN_GCP_API_URL: "http://127.0.0.1:1" }))).toBe(true);
  });

  it("configured from a service-account key: the project from GOOGLE_CLOUD_PROJECT (else the key's), the principal named", async () => {
    const key = serviceAccountKey({ project: "from-the-key" });
    const a = await gcpDescriptor.configured!(ctx({ GOOGLE_APPLICATION_CREDENTIALS: key, GOOGLE_CLOUD_PROJECT: "from-env" }));
    expect(a).toMatchObject({ source: "GOOGLE_APPLICATION_CREDENTIALS", emulated: false, project: "from-env", principal: "kiln@my-project.iam.gserviceaccount.com" });
    expect(a?.endBilling).toBeUndefined();
    const b = await gcpDescriptor.configured!(ctx({ GOOGLE_APPLICATION_CREDENTIALS: key }));
    expect(b).toMatchObject({ project: "from-the-key" });
  });

  it("configured with no project anywhere: an auth error saying where to set one", async () => {
    const e = await gcpDescriptor.configured!(ctx({ GOOGLE_APPLICATION_CREDENTIALS: serviceAccountKey() })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect((e as ProviderError).kind).toBe("auth");
    expect((e as ProviderError).suggestion).toContain("GOOGLE_CLOUD_PROJECT");
  });

  it("not configured at all: undefined (no SDK loaded, no error)", async () => {
    expect(await gcpDescriptor.configured!(ctx({}))).toBeUndefined();
  });

  it("an emulator's environment: a working account; kiln check names project and principal; a wrong token is refused clearly", async () => {
    const emu = await startGcpEmulator({ bootDelayMs: 20 });
    try {
      const env = { KILN_GCP_API_URL: emu.url, KILN_GCP_TOKEN: emu.token, GOOGLE_CLOUD_PROJECT: emu.project };
      const cloud = await gcpDescriptor.configured!(ctx(env));
      expect(cloud).toMatchObject({ emulated: true });
      expect(await cloud!.provider.listMachines(AbortSignal.timeout(120_000))).toEqual([]);
      const line = await gcpDescriptor.check!(ctx(env), AbortSignal.timeout(120_000));
      expect(line).toBe(`project ${emu.project} as the emulator's static token (credentials: KILN_GCP_API_URL (emulator)): 0 Kiln machine(s) now; all permissions Kiln needs are granted (launch, describe, terminate, tagging)`);
      const refused = await gcpDescriptor.check!(ctx({ ...env, KILN_GCP_TOKEN: "ya29.wrong" }), AbortSignal.timeout(120_000)).catch((x: unknown) => x);
      expect(refused).toBeInstanceOf(UserError);
      expect((refused as UserError).message).toMatch(/^GCE refused the credentials from KILN_GCP_API_URL \(emulator\) for project kiln-emulated \(authError: /);
      expect((refused as UserError).hint).toContain("gcloud auth application-default login");
      const noToken = await gcpDescriptor.configured!(ctx({ KILN_GCP_API_URL: emu.url })).catch((x: unknown) => x);
      expect((noToken as ProviderError).kind).toBe("auth");
    } finally {
      await emu.close();
    }
    // Loading the Compute SDK on first use takes seconds on a loaded machine: the deadlines only bound a hang.
  }, 180_000);

  it("kiln emulate gcp: an emulator and the environment that points Kiln at it", async () => {
    const running = await gcpDescriptor.emulate!({ host: "127.0.0.1", port: 0 });
    try {
      expect(running.env).toEqual({ KILN_GCP_API_URL: running.url, KILN_GCP_TOKEN: expect.stringMatching(/^ya29\./), GOOGLE_CLOUD_PROJECT: "kiln-emulated" });
      const cloud = await gcpDescriptor.configured!(ctx(running.env));
      expect(await cloud!.provider.listMachines(AbortSignal.timeout(10_000))).toEqual([]);
    } finally {
      expect(await running.close()).toEqual({ launched: 0, live: 0 });
    }
  });

  it("importing the descriptor loads neither @google-cloud/compute nor google-auth-library (start-up time)", () => {
    // Walk the static imports from descriptor.ts; dynamic import() is where the heavy modules belong.
    const seen = new Set<string>();
    const heavy: string[] = [];
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, "utf8");
      for (const m of src.matchAll(/^import\s+(?!type\b)[^;]*?from\s+"([^"]+)";/gms)) {
        const spec = m[1]!;
        if (spec.startsWith(".")) walk(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
        else if (spec.startsWith("@google-cloud/") || spec.startsWith("google-auth-library") || spec.startsWith("google-gax")) heavy.push(`${file}: ${spec}`);
      }
    };
    walk(resolve(import.meta.dirname, "descriptor.ts"));
    expect(heavy).toEqual([]);
  });
});
