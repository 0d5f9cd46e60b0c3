/**
 * The on-machine watchdog's end of billing: `DELETE /api/v2/instances/{id}` with the token from a 0600 header
 * file (never on argv, where `ps` would show it). DELETE, not stop: a stopped TensorDock VM keeps billing its
 * disk. A 404 means the instance is already gone, which is success too. TensorDock's tokens are organization-wide
 * (no scopes are documented), so the machine then holds a token that can also create: this is opt-in
 * (`--watchdog-terminate`).
 */
import type { EndBilling } from "../descriptor.js";

const SCRIPT = `#!/bin/sh
# $1: API base (…/api/v2), $2: instance id. The token is in auth-header beside this script.
code=$(curl -sS -m 20 -o /dev/null -w '%{http_code}' -X DELETE -H @"$(dirname "$0")/auth-header" "$1/instances/$2")
case "$code" in 2*|404) exit 0 ;; esac
echo "delete answered $code"
exit 1
`;

export const tensordockEndBilling =
  (apiUrl: string, apiToken: string) =>
  (id: string): EndBilling => ({
    script: SCRIPT,
    args: [apiUrl, id],
    files: [{ name: "auth-header", content: `Authorization: Bearer ${apiToken}\n` }],
  });
