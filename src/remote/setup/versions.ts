/**
 * Just enough version arithmetic for "is this torch/Python/CUDA new enough": numeric dotted release
 * segments, with local tags (`+cu121`) and pre-release suffixes (`2.5.0a0`, `2.6.0.dev2024`) ignored.
 */

/** The numeric release segments of a version: "2.5.1+cu121" → [2, 5, 1]. */
export function releaseOf(version: string): number[] {
  const core = version.trim().split("+")[0] ?? "";
  const parts: number[] = [];
  for (const seg of core.split(".")) {
    const m = /^(\d+)/.exec(seg);
    if (!m) break;
    parts.push(Number(m[1]));
    if (m[1]!.length !== seg.length) break;
  }
  return parts;
}

export function compareVersions(a: string, b: string): number {
  const x = releaseOf(a);
  const y = releaseOf(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

export const versionAtLeast = (have: string, need: string): boolean => compareVersions(have, need) >= 0;

/** PyTorch's CUDA wheel indexes, oldest first (download.pytorch.org/whl/cuXYZ). */
export const TORCH_CUDA_WHEELS = ["11.8", "12.1", "12.4", "12.6", "12.8", "13.0"] as const;

/**
 * The newest PyTorch CUDA wheel a driver can run (a wheel built for CUDA X needs a driver supporting
 * ≥ X), or undefined when the driver is older than every wheel.
 *
 * @example torchWheelFor("12.2") // "12.1"
 */
export function torchWheelFor(driverCuda: string): string | undefined {
  return [...TORCH_CUDA_WHEELS].reverse().find((w) => versionAtLeast(driverCuda, w));
}

export const wheelIndexUrl = (cuda: string): string => `https://download.pytorch.org/whl/cu${cuda.replace(".", "")}`;

/** The exact command that installs a torch the driver can run. */
export function torchReinstallCommand(python: string, minTorch: string, driverCuda: string | undefined): string {
  const wheel = driverCuda ? torchWheelFor(driverCuda) : undefined;
  const index = wheel ? ` --index-url ${wheelIndexUrl(wheel)}` : "";
  return `${python} -m pip install --upgrade --force-reinstall 'torch>=${minTorch}'${index}`;
}
