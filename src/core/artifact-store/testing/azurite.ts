/**
 * Azurite's Blob service on loopback, for tests: Microsoft's own Azure Storage emulator (npm `azurite`, a dev
 * dependency), in memory, on a free port, one per test file, with one container made for the tests. It
 * checks SAS signatures, permissions and expiry as Azure does, so the SAS Kiln mints is tested by an
 * implementation we did not write. The account is Azurite's well-known development account.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Readable } from "node:stream";

const REPO = resolve(import.meta.dirname, "..", "..", "..", "..");
const BIN = join(REPO, "node_modules", "azurite", "dist", "src", "blob", "main.js");
/** Azurite's published development account and key (not a secret: the same in every Azurite). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface Azurite {
  /** The origin, e.g. http://127.0.0.1:43123 (path style: ORIGIN/ACCOUNT/CONTAINER/BLOB). */
  url: string;
  account: string;
  key: string;
  container: string;
  /** An account SAS with every right, for the test's own setup and tampering. */
  adminSas: string;
  close(): Promise<void>;
}

export async function startAzurite(o: { container?: string; startTimeoutMs?: number } = {}): Promise<Azurite | { skip: string }> {
  if (!existsSync(BIN)) return { skip: `azurite is not installed (${BIN}); run npm ci` };
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, [BIN, "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  const close = async () => {
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(t);
  };
  const url = await new Promise<string | undefined>((res) => {
    let out = "";
    // A busy machine loads Azurite slowly; the deadline bounds a hang, not a measurement.
    const t = setTimeout(() => res(undefined), o.startTimeoutMs ?? 120_000);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listens on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        res(m[1]);
      }
    });
    void exited.then(() => {
      clearTimeout(t);
      res(undefined);
    });
  });
  if (!url) {
    await close();
    return { skip: `azurite did not start: ${stderr.trim().split("\n").slice(-3).join(" | ") || "no output"}` };
  }
  const container = o.container ?? "kiln-artifacts";
  const adminSas = accountSas(AZURITE_ACCOUNT, AZURITE_KEY);
  const res = await fetch(`${url}/${AZURITE_ACCOUNT}/${container}?restype=container&${adminSas}`, { method: "PUT", headers: { "x-ms-version": "2020-12-06" } });
  if (res.status !== 201) {
    await close();
    return { skip: `azurite would not create the test container: HTTP ${res.status} ${res.headers.get("x-ms-error-code") ?? ""}` };
  }
  return { url, account: AZURITE_ACCOUNT, key: AZURITE_KEY, container, adminSas, close };
}

/** An account SAS (blob service; service, container and object resources; every right) valid for an hour. */
function accountSas(account: string, key: string): string {
  const se = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const sv = "2020-12-06";
  const fields = [account, "racwdl", "b", "sco", "", se, "", "https,http", sv, "", ""];
  const sig = createHmac("sha256", Buffer.from(key, "base64")).update(fields.join("\n"), "utf8").digest("base64");
  return new URLSearchParams({ sv, ss: "b", srt: "sco", sp: "racwdl", se, spr: "https,http", sig }).toString();
}
