/**
 * The watchdog's end of billing on Thunder (opt-in, `--watchdog-terminate`): find the instance by uuid in the
 * listing and delete it by its map key, as provider.ts does, with the token from a 0600 header file (never on
 * argv). Python, not curl, because the listing is a JSON map to search; Kiln's workload needs python3 on the
 * machine anyway. An instance already gone or DELETING is success. Thunder tokens cannot be scoped: the
 * machine then holds a token that can launch.
 */
import type { EndBilling } from "../descriptor.js";

const SCRIPT = `#!/bin/sh
# $1: API base URL, $2: instance uuid. The token is in auth-header beside this script.
exec python3 - "$1" "$2" "$(dirname "$0")/auth-header" <<'PY'
import json, sys, urllib.request
base, uuid = sys.argv[1], sys.argv[2]
name, _, value = open(sys.argv[3]).read().strip().partition(":")
def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, method=method, data=data, headers={name.strip(): value.strip(), "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as r:
        text = r.read()
        return json.loads(text) if text else None
listing = call("GET", "/instances/list") or {}
key = next((k for k, v in listing.items() if v.get("uuid") == uuid), None)
if key is None or str(listing[key].get("status", "")).upper() == "DELETING":
    sys.exit(0)
call("POST", "/instances/%s/delete" % key, {})
PY
`;

export const thunderEndBilling =
  (apiUrl: string, token: string) =>
  (id: string): EndBilling => ({
    script: SCRIPT,
    args: [apiUrl, id],
    files: [{ name: "auth-header", content: `Authorization: Bearer ${token}\n` }],
  });
