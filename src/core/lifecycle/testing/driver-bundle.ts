/**
 * The cloud driver as one ESM file for plain `node` (tests start it as a real detached process). Same
 * bundling as the supervisor's: ssh2 loads from node_modules like every other package, now that Kiln
 * takes ssh2's exports from its CommonJS default export.
 */
import { bundleForNode } from "../../../store/testing/bundle.js";

export function bundleDriver(entry = "src/core/lifecycle/driver-main.ts"): Promise<string> {
  return bundleForNode(entry);
}
