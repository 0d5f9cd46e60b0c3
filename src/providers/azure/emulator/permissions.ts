/**
 * Azure RBAC action matching, as `Microsoft.Authorization/permissions` answers it: a list of
 * `{actions, notActions}` blocks whose entries may hold `*` wildcards ("Microsoft.Compute/*",
 * "*\/read"). An action is allowed when some block's actions match it and none of that block's
 * notActions do. The emulator enforces it per route; `kiln check` uses it on the real answer.
 */
export interface PermissionBlock {
  actions: readonly string[];
  notActions: readonly string[];
}

const toRegExp = (pattern: string): RegExp => new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, "\\$&")).join(".*")}$`, "i");

export function allows(blocks: readonly PermissionBlock[], action: string): boolean {
  return blocks.some((b) => b.actions.some((a) => toRegExp(a).test(action)) && !b.notActions.some((n) => toRegExp(n).test(action)));
}
