/**
 * The on-machine watchdog's end of billing: `DELETE /v2/pods/{id}` with the key from a 0600 header file (never
 * on argv, where `ps` would show it). DELETE, not the stop action: a stopped pod keeps billing its disk. A 404
 * means the pod is already gone, which is success too. RunPod's keys cannot be limited to deleting pods (a
 * restricted key scopes Serverless endpoints, the rest is all, read/write or read-only), so the pod then holds a
 * key that can also launch: this is opt-in (`--watchdog-terminate`).
 */
import type { EndBilling } from "../descriptor.js";

const SCRIPT = `#!/bin/sh
# $1: API origin, $2: pod id. The key is in auth-header beside this script.
code=$(curl -sS -m 20 -o /dev/null -w '%{http_code}' -X DELETE -H @"$(dirname "$0")/auth-header" "$1/v2/pods/$2")
case "$code" in 2*|404) exit 0 ;; esac
echo "delete answered $code"
exit 1
`;

export const runpodEndBilling =
  (apiUrl: string, apiKey: string) =>
  (id: string): EndBilling => ({
    script: SCRIPT,
    args: [apiUrl, id],
    files: [{ name: "auth-header", content: `Authorization: Bearer ${apiKey}\n` }],
  });
