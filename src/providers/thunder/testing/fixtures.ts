/** What the Thunder tests share: a public key, an intent id, and the ProviderError a call rejects with. */
import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import { ProviderError } from "../../provider.js";

/** A real ed25519 public key (no private half anywhere). */
export const TEST_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T kiln";
export const newIntent = (): string => `abcd1234-${randomBytes(5).toString("hex")}`;

/** The ProviderError `p` rejects with; fails the test when it resolves or rejects with anything else. */
export async function providerRejection(p: Promise<unknown>): Promise<ProviderError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ProviderError);
  return e as ProviderError;
}
