/**
 * The on-machine watchdog, shipped with the bundle and started beside the job in its own session. It
 * holds the budget deadline *on the machine*, so a laptop that sleeps or loses its network cannot
 * overspend: at the deadline it sends SIGTERM to the job's process group (the engine saves a final
 * checkpoint), SIGKILL after the grace, and — only where the user opted in — terminates the instance
 * itself through the provider API with a key written to a 0600 header file (never on argv, where `ps`
 * would show it). Only POSIX sh, date, sleep, kill and curl are needed.
 *
 * Arguments: RUN_DIR REMAINING_S GRACE_S [API_URL HEADER_FILE INSTANCE_ID]
 *   RUN_DIR      the job's persistent-run directory (pid, pgid, exit_code; see remote/session/run.ts)
 *   REMAINING_S  seconds until the deadline, counted on the machine's own clock (no clock skew)
 */
export const WATCHDOG_SCRIPT = `#!/bin/sh
run_dir=$1; remaining=$2; grace=$3; api=$4; header=$5; instance=$6
deadline=$(( $(date +%s) + remaining ))
echo "kiln-watchdog: deadline in $remaining s"
while [ "$(date +%s)" -lt "$deadline" ]; do
  # Without the right to terminate, a finished job leaves the watchdog nothing to guard.
  if [ -z "$api" ] && [ -f "$run_dir/exit_code" ]; then exit 0; fi
  sleep 1
done
echo "kiln-watchdog: budget deadline reached at $(date -u +%FT%TZ)"
if [ ! -f "$run_dir/exit_code" ] && [ -f "$run_dir/pid" ]; then
  pg=$(cat "$run_dir/pgid" 2>/dev/null || cat "$run_dir/pid")
  echo "kiln-watchdog: SIGTERM to process group $pg (final checkpoint)"
  kill -TERM -"$pg" 2>/dev/null
  waited=0
  while kill -0 -"$pg" 2>/dev/null && [ "$waited" -lt "$grace" ]; do sleep 1; waited=$((waited + 1)); done
  kill -KILL -"$pg" 2>/dev/null
  [ -f "$run_dir/exit_code" ] || echo 143 > "$run_dir/exit_code"
fi
[ -n "$api" ] || exit 0
n=0
while [ "$n" -lt 20 ]; do
  code=$(curl -sS -m 20 -o /dev/null -w '%{http_code}' -X POST -H @"$header" -H 'Content-Type: application/json' \\
    --data "{\\"instance_ids\\":[\\"$instance\\"]}" "$api/instance-operations/terminate")
  case "$code" in
    2*) echo "kiln-watchdog: asked the provider to terminate $instance"; exit 0 ;;
  esac
  echo "kiln-watchdog: terminate answered $code; retrying"
  n=$((n + 1))
  sleep 5
done
exit 1
`;
