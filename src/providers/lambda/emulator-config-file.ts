/** `kiln emulate lambda --config FILE`: the emulator's settings from a JSON or YAML file, checked field by field. */
import { readFile } from "node:fs/promises";
import { UserError, errorMessage } from "../../base/errors.js";
import type { LambdaEmulatorOptions } from "./emulator.js";

export async function readEmulatorConfig(path: string): Promise<LambdaEmulatorOptions> {
  const { parse: parseYaml } = await import("yaml");
  const { emulatorConfigSchema } = await import("./emulator.js");
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(path, "utf8")) as unknown; // YAML is a superset of JSON
  } catch (e) {
    throw new UserError(`cannot read emulator config ${path}: ${errorMessage(e)}`, { exitCode: 2, cause: e });
  }
  const r = emulatorConfigSchema.safeParse(raw ?? {});
  if (!r.success) {
    const problems = r.error.issues.map((i) => `  ${i.path.join(".") || "(top)"}: ${i.message}`).join("\n");
    throw new UserError(`emulator config ${path} is invalid:\n${problems}`, { exitCode: 2, hint: "see `kiln emulate --help` for the fields" });
  }
  return r.data;
}
