/**
 * Parsers for nvidia-smi output. Two calls, because neither gives everything: the CSV query has
 * per-GPU memory and the driver version, and only the plain banner has the CUDA version the driver
 * supports ("CUDA Version: 12.4"), which decides whether a given torch wheel can run.
 */
import { z } from "zod";

export const QUERY_ARGV = ["nvidia-smi", "--query-gpu=index,name,memory.total,memory.free,driver_version", "--format=csv,noheader,nounits"] as const;

export interface GpuInfo {
  index: number;
  /** As nvidia-smi prints it, e.g. "NVIDIA A100-SXM4-40GB". */
  name: string;
  memoryTotalMiB: number;
  memoryFreeMiB: number;
  driverVersion: string;
}

const mib = z.coerce.number().int().min(0);
const rowSchema = z.object({
  index: z.coerce.number().int().min(0),
  name: z.string().min(1),
  memoryTotalMiB: mib,
  memoryFreeMiB: mib,
  driverVersion: z.string().regex(/^\d+(\.\d+)+$/),
});

/**
 * Parse the CSV query (noheader, nounits): one `index, name, total, free, driver` line per GPU.
 * Returns the rows, or the first line that does not parse (so the caller can quote it).
 */
export function parseGpuQuery(stdout: string): { gpus: GpuInfo[] } | { badLine: string } {
  const gpus: GpuInfo[] = [];
  for (const line of stdout.split("\n").map((l) => l.trim())) {
    if (line === "") continue;
    // GPU names never contain commas, so a plain split is exact for this query's five fields.
    const [index, name, memoryTotalMiB, memoryFreeMiB, driverVersion, ...extra] = line.split(",").map((f) => f.trim());
    const row = rowSchema.safeParse({ index, name, memoryTotalMiB, memoryFreeMiB, driverVersion });
    if (!row.success || extra.length > 0) return { badLine: line };
    gpus.push(row.data);
  }
  return { gpus };
}

/** The "CUDA Version: 12.4" from the plain banner, if present. */
export function parseCudaVersion(banner: string): string | undefined {
  return /CUDA Version:\s*(\d+\.\d+)/.exec(banner)?.[1];
}

/** Known failure texts → advice the user can act on. */
export function adviceFor(output: string): string {
  if (/couldn't communicate with the NVIDIA driver/i.test(output)) {
    return "the NVIDIA driver is not loaded: reboot after a driver install, or check `dmesg | grep -i nvidia` (Secure Boot can block the module)";
  }
  if (/Driver\/library version mismatch/i.test(output)) {
    return "the NVIDIA kernel module and user-space library versions differ (usually after a driver upgrade): reboot";
  }
  if (/No devices were found/i.test(output)) return "the driver is loaded but sees no GPU: check the card is seated/passed through to this VM";
  return "run `nvidia-smi` yourself to see the error";
}

/** nvidia-smi reports MiB; Kiln speaks decimal GB everywhere (prices and VRAM specs use it). */
export const mibToGb = (mib: number): number => (mib * 1_048_576) / 1e9;
