/**
 * The registration marker the ssh provider keeps on the user's host, one JSON file per Kiln machine
 * in `~/.kiln/machines/kiln-<intent>.json`. The host is the user's and is never created or destroyed,
 * so "launch" and "terminate" add and remove this marker; keeping it on the host (not in memory) lets
 * another Kiln process reconcile what is registered there.
 */
import { z } from "zod";

export const MARKER_DIR = ".kiln/machines";

export const MarkerSchema = z.strictObject({
  v: z.literal(1),
  id: z.string().min(1),
  name: z.string().startsWith("kiln-"),
  intentId: z.string().min(1),
  instanceType: z.string(),
  pricePerHour: z.number().nonnegative(),
  launchedAt: z.string(),
});
export type Marker = z.infer<typeof MarkerSchema>;
