/**
 * The JSON Schema of the job spec, generated from the zod schema so the two cannot drift
 * (test/… asserts docs/job-spec.schema.json equals this output). Input-side: keys with defaults are
 * optional, as a user writes them.
 */
import { z } from "zod";
import { jobSpecSchema } from "./job-spec.js";

export function jobSpecJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(jobSpecSchema, { io: "input", target: "draft-2020-12", unrepresentable: "any" });
  return { ...schema, $id: "https://kiln.dev/schemas/job-spec.schema.json", title: "Kiln job spec" };
}
