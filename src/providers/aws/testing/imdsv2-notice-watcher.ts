/**
 * The core change EC2's reclaim notice needs, written out and tested here (src/core/lifecycle/notice.ts is
 * not this folder's): EC2's notice is IMDSv2, a session token first (`PUT /latest/api/token` with
 * `X-aws-ec2-metadata-token-ttl-seconds`), then `GET /latest/meta-data/spot/instance-action` with
 * `X-aws-ec2-metadata-token: <token>`. Kiln launches with IMDSv2 required (HttpTokens=required), so the
 * watcher's single GET is refused (401). This is the core watcher with three arguments added after PATTERN:
 * TOKEN_URL (empty: no token, today's behaviour), TOKEN_REQUEST_HEADER and TOKEN_HEADER_NAME. Everything
 * else is unchanged. ./../imdsv2-notice.test.ts runs it against the shim's IMDSv2 emulation.
 *
 * Arguments: RUN_DIR NOTICE_FILE INTERVAL_S URL MODE PATTERN TOKEN_URL TOKEN_REQUEST_HEADER TOKEN_HEADER_NAME [-H "Name: value"]…
 */
export const IMDSV2_NOTICE_WATCHER_SCRIPT = `#!/bin/sh
run_dir=$1; out=$2; every=$3; url=$4; mode=$5; pattern=$6; token_url=$7; token_req=$8; token_name=$9
shift 9
command -v curl >/dev/null 2>&1 || { echo "kiln-notice: no curl on this machine; reclaim notices are not watched"; exit 0; }
body="$out.body"
while [ ! -f "$run_dir/exit_code" ]; do
  if [ -n "$token_url" ]; then
    # A fresh token each poll: IMDSv2 tokens expire, and one PUT per interval is far below IMDS's limits.
    tok=$(curl -s -m 3 -X PUT -H "$token_req" -- "$token_url" 2>/dev/null)
    code=$(curl -s -m 3 -o "$body" -w '%{http_code}' -H "$token_name: $tok" "$@" -- "$url" 2>/dev/null)
  else
    code=$(curl -s -m 3 -o "$body" -w '%{http_code}' "$@" -- "$url" 2>/dev/null)
  fi
  notice=
  if [ "$mode" = ok ]; then [ "$code" = 200 ] && notice=1; else [ "$code" = 200 ] && grep -Eq -- "$pattern" "$body" 2>/dev/null && notice=1; fi
  if [ -n "$notice" ]; then
    { echo "reclaim notice at $(date -u +%FT%TZ)"; head -c 1000 "$body"; } > "$out.tmp" && mv "$out.tmp" "$out"
    echo "kiln-notice: reclaim notice; SIGTERM to the run (final checkpoint)"
    pg=$(cat "$run_dir/pgid" 2>/dev/null || cat "$run_dir/pid" 2>/dev/null)
    [ -n "$pg" ] && kill -TERM -"$pg" 2>/dev/null
    exit 0
  fi
  sleep "$every"
done
`;

/** What EC2's descriptor would then say (the proposed `ReclaimNotice.token`). */
export const EC2_RECLAIM_NOTICE = {
  url: "http://169.254.169.254/latest/meta-data/spot/instance-action",
  headers: [] as string[],
  when: "ok" as const,
  seconds: 120,
  token: { url: "http://169.254.169.254/latest/api/token", headers: ["X-aws-ec2-metadata-token-ttl-seconds: 21600"], header: "X-aws-ec2-metadata-token" },
};
