/**
 * The on-machine watchdog, shipped with the bundle and started beside the job in its own session. It
 * holds the budget deadline *on the machine*, so a laptop that sleeps or loses its network cannot
 * overspend: at the deadline it sends SIGTERM to the job's process group (the engine saves a final
 * checkpoint), SIGKILL after the grace, and — only where the user opted in — ends billing itself with the
 * provider's own end-billing script (its descriptor's `endBilling`: e.g. an API terminate with a key in a
 * 0600 file beside it, never on argv where `ps` would show it), retried until it succeeds. Only POSIX sh,
 * date, sleep and kill are needed here (the provider's script says what it needs, e.g. curl).
 *
 * Arguments: RUN_DIR REMAINING_S GRACE_S [END_BILLING_SCRIPT [ARGS…]]
 *   RUN_DIR      the job's persistent-run directory (pid, pgid, exit_code; see remote/session/run.ts)
 *   REMAINING_S  seconds until the deadline, counted on the machine's own clock (no clock skew)
 */
export const WATCHDOG_SCRIPT = `#!/bin/sh
run_dir=$1; remaining=$2; grace=$3
shift 3
deadline=$(( $(date +%s) + remaining ))
echo "kiln-watchdog: deadline in $remaining s"
while [ "$(date +%s)" -lt "$deadline" ]; do
  # Without the right to end billing, a finished job leaves the watchdog nothing to guard.
  if [ "$#" -eq 0 ] && [ -f "$run_dir/exit_code" ]; then exit 0; fi
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
[ "$#" -gt 0 ] || exit 0
n=0
while [ "$n" -lt 20 ]; do
  if sh "$@"; then echo "kiln-watchdog: asked the provider to end billing"; exit 0; fi
  echo "kiln-watchdog: ending billing failed; retrying"
  n=$((n + 1))
  sleep 5
done
exit 1
`;
