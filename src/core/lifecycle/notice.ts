/**
 * The on-machine reclaim-notice watcher (docs/lifecycle.md §5). Clouds that warn a spot machine before
 * taking it (GCP ~30 s, Azure ≥ 30 s; the descriptor's `reclaimNotice`) say so on a metadata URL only the
 * machine can reach. This watcher polls it every few seconds beside the run; on a notice it records it
 * and sends SIGTERM to the run's process group, so the engine writes a final checkpoint and exits. The
 * client's monitor then finds the run exited *with* a notice: a preemption, not a failure; it pulls that
 * checkpoint while the machine still answers, and the recovery attempt resumes with (almost) no work lost.
 *
 * POSIX sh and curl only; URL and headers reach curl as argv, never pasted into the script. Without curl
 * the watcher says so and exits: the monitor's provider polling still notices the reclaim, later.
 *
 * Arguments: RUN_DIR NOTICE_FILE INTERVAL_S URL MODE PATTERN TOKEN_URL TOKEN_REQUEST_HEADER TOKEN_HEADER [-H "Name: value"]…
 *   MODE ok: a notice is an HTTP 200;  MODE body: a notice is a body matching PATTERN (grep -E)
 *   TOKEN_*: empty, or EC2's IMDSv2: PUT TOKEN_URL with TOKEN_REQUEST_HEADER, send the answer as TOKEN_HEADER.
 */
import type { MachineAccess } from "../../remote/access.js";
import { runChecked } from "../../remote/ssh/run-checked.js";
import { type RunHandle, startRun } from "../../remote/session/run.js";
import type { ReclaimNotice } from "../../providers/descriptor.js";

export const NOTICE_WATCHER_SCRIPT = `#!/bin/sh
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

export interface NoticeWatcherSpec {
  /** The watcher's own run directory. */
  dir: string;
  name: string;
  /** The job's run directory, whose process group gets the SIGTERM. */
  runDir: string;
  /** Where a notice is recorded (the monitor reads it). */
  noticeFile: string;
  notice: ReclaimNotice;
  everyS?: number;
}

export async function startNoticeWatcher(access: MachineAccess, w: NoticeWatcherSpec): Promise<RunHandle> {
  await runChecked(access, ["mkdir", "-p", "--", w.dir], { what: "create the notice watcher's directory" });
  const script = `${w.dir}/kiln-notice.sh`;
  await runChecked(access, ["sh", "-c", 'cat > "$1" && chmod 700 "$1"', "sh", script], { stdin: NOTICE_WATCHER_SCRIPT, what: "write the notice watcher" });
  const when = w.notice.when;
  const argv = ["sh", script, w.runDir, w.noticeFile, String(w.everyS ?? 5), w.notice.url, when === "ok" ? "ok" : "body", when === "ok" ? "" : when.bodyMatches, w.notice.token?.url ?? "", w.notice.token?.headers[0] ?? "", w.notice.token?.header ?? "", ...w.notice.headers.flatMap((h) => ["-H", h])];
  return startRun(access, { name: w.name, dir: w.dir, argv, method: "setsid" });
}

/** The notice the watcher recorded, if any (its first line says when). */
export async function readNotice(access: MachineAccess, noticeFile: string, signal?: AbortSignal): Promise<string | undefined> {
  const r = await access.run(["sh", "-c", 'test -f "$1" && head -n 1 -- "$1"', "sh", noticeFile], { timeoutMs: 30_000, ...(signal && { signal }) });
  return r.code === 0 ? r.stdout.trim() || "reclaim notice" : undefined;
}
