import { describe, expect, it } from "vitest";
import { downsample } from "./downsample.js";

describe("downsample", () => {
  it("keeps short series as they are", () => {
    const pts = [[0, 1], [1, 2], [2, 3]] as const;
    expect(downsample(pts, 10)).toEqual(pts);
  });

  it("bounds the output, keeps the ends, every spike and the x order", () => {
    const pts: [number, number][] = Array.from({ length: 100_000 }, (_, i) => [i, Math.sin(i / 1000)]);
    pts[54_321] = [54_321, 50]; // a loss blow-up
    pts[77_777] = [77_777, -50];
    const out = downsample(pts, 300);
    expect(out.length).toBeLessThanOrEqual(1200);
    expect(out[0]).toEqual(pts[0]);
    expect(out.at(-1)).toEqual(pts.at(-1));
    expect(out).toContainEqual([54_321, 50]);
    expect(out).toContainEqual([77_777, -50]);
    expect(out.every((p, i) => i === 0 || p[0] > out[i - 1]![0])).toBe(true);
  });
});
