/** `kiln schema`: the job spec's JSON Schema, for editor completion and validation. */
import { defineCommand } from "../command.js";

export const schemaCommand = defineCommand({
  name: "schema",
  summary: "Print the job spec's JSON Schema (for editor completion of JOB.yaml)",
  details:
    "Save it and point your editor at it, e.g. for the YAML language server put this first in the job file:\n  # yaml-language-server: $schema=./job-spec.schema.json\nThe same schema is committed as docs/job-spec.schema.json.",
  async handler(ctx) {
    const { jobSpecJsonSchema } = await import("../../core/spec/json-schema.js");
    ctx.io.out(`${JSON.stringify(jobSpecJsonSchema(), null, 2)}\n`);
    return 0;
  },
});
