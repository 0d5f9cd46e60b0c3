/**
 * The on-machine watchdog, started beside the job in its own session. It holds the budget deadline *on
 * the machine*, so a laptop that sleeps or loses its network cannot overspend. At the deadline, in this
 * order (docs/lifecycle.md §7):
 *
 *   1. SIGTERM to the job's process group (the engine saves a final checkpoint), SIGKILL after the grace;
 *   2. when a durable store is configured: push the outputs there and verify them against a sha256
 *      manifest (the stdlib-only push module, store_push.py, with its own deadline);
 *   3. end billing with the provider's end-billing script (its descriptor's `endBilling`: e.g. an API
 *      terminate with a key in a 0600 file, never on argv where `ps` would show it), retried — but only
 *      when the push verified, or when the user chose `stop-billing` (WHEN_NOT_DURABLE=end-billing).
 *      With `keep-data` and a push that failed, the machine is kept and the push retried every
 *      RETRY_S until it verifies (then billing ends) or KEEP_FOR_S has passed.
 *
 * Every step appends a line to STATE_DIR/cap-events (`EPOCH<TAB>STEP<TAB>RESULT<TAB>DETAIL`), so a client
 * that comes back reads what happened (src/core/watchdog/outcome.ts). Only POSIX sh, date, sleep and
 * kill are needed here; the push needs python3, the provider's script says what it needs (e.g. curl).
 *
 * Arguments (values only ever as arguments, never pasted into this script):
 *   --run-dir D          the job's persistent-run directory (pid, pgid, exit_code; see remote/session/run.ts)
 *   --remaining S        seconds until the deadline, counted on the machine's own clock (no clock skew)
 *   --grace S            seconds between SIGTERM and SIGKILL
 *   --state-dir D        where cap-events and push-result.json go (the watchdog's own directory)
 *   --when-not-durable keep-machine|end-billing
 *   --push PY SCRIPT OUTPUTS CONFIG TIMEOUT_S RETRY_S KEEP_FOR_S   (optional) the durable-store push
 *   --end-billing SCRIPT ARGS…                                    (optional, last) the provider's end of billing
 */
export const WATCHDOG_SCRIPT = `#!/bin/sh
run_dir=; remaining=; grace=; state=; when_not_durable=end-billing; py=
while [ "$#" -gt 0 ]; do
  case "$1" in
    --run-dir) run_dir=$2; shift 2 ;;
    --remaining) remaining=$2; shift 2 ;;
    --grace) grace=$2; shift 2 ;;
    --state-dir) state=$2; shift 2 ;;
    --when-not-durable) when_not_durable=$2; shift 2 ;;
    --push) py=$2; push_script=$3; outputs=$4; push_config=$5; push_timeout=$6; retry_s=$7; keep_for=$8; shift 8 ;;
    --end-billing) shift; break ;;
    *) echo "kiln-watchdog: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$run_dir" ] && [ -n "$remaining" ] && [ -n "$grace" ] && [ -n "$state" ] || { echo "kiln-watchdog: missing arguments" >&2; exit 2; }
# "$@" is now the end-billing command, or empty.
event() { printf '%s\\t%s\\t%s\\t%s\\n' "$(date +%s)" "$1" "$2" "$3" >> "$state/cap-events"; echo "kiln-watchdog: $1 $2 $3"; }
deadline=$(( $(date +%s) + remaining ))
echo "kiln-watchdog: deadline in $remaining s"
while [ "$(date +%s)" -lt "$deadline" ]; do
  # With neither the right to end billing nor a store to push to, a finished job leaves nothing to guard.
  if [ "$#" -eq 0 ] && [ -z "$py" ] && [ -f "$run_dir/exit_code" ]; then exit 0; fi
  sleep 1
done
event deadline reached "$(date -u +%FT%TZ)"

# 1. The final checkpoint: the engine saves on SIGTERM.
if [ ! -f "$run_dir/exit_code" ] && [ -f "$run_dir/pid" ]; then
  pg=$(cat "$run_dir/pgid" 2>/dev/null || cat "$run_dir/pid")
  kill -TERM -"$pg" 2>/dev/null
  waited=0
  while kill -0 -"$pg" 2>/dev/null && [ "$waited" -lt "$grace" ]; do sleep 1; waited=$((waited + 1)); done
  if kill -0 -"$pg" 2>/dev/null; then
    kill -KILL -"$pg" 2>/dev/null
    event checkpoint killed "no exit within $grace s of SIGTERM"
  else
    event checkpoint exited "after $waited s"
  fi
  [ -f "$run_dir/exit_code" ] || echo 143 > "$run_dir/exit_code"
else
  event checkpoint not-running "the job had already ended"
fi

# 2. The durable copy.
push_once() {
  rm -f "$state/push-result.json"
  if "$py" "$push_script" --config "$push_config" --outputs "$outputs" --result "$state/push-result.json" --timeout-s "$push_timeout"; then
    event push verified "$state/push-result.json"; return 0
  fi
  event push failed "$state/push-result.json"; return 1
}
durable=no
if [ -n "$py" ]; then
  if push_once; then durable=yes; fi
else
  event push none "no durable store configured"
fi

end_billing() {
  if [ "$#" -eq 0 ]; then event billing no-means "this machine holds no way to end its billing"; return 0; fi
  n=0
  while [ "$n" -lt 20 ]; do
    if sh "$@"; then event billing ended "$1"; return 0; fi
    n=$((n + 1))
    sleep 5
  done
  event billing failed "the end-billing script failed 20 times"; return 1
}

# 3. End billing: always once the outputs are durable; otherwise only when the user chose so.
if [ "$durable" = yes ]; then end_billing "$@"; exit $?; fi
if [ "$when_not_durable" = end-billing ] && [ "$#" -gt 0 ]; then
  event outputs lost "billing ends with outputs not in a durable store (on_cap_offline: stop-billing)"
  end_billing "$@"; exit $?
fi
if [ "$#" -eq 0 ]; then
  event billing no-means "this machine holds no way to end its billing; the outputs stay on it"
else
  event billing withheld "outputs not durable; keep-data keeps the machine until a client saves them"
fi
[ -n "$py" ] || exit 0
# The store may come back (an outage, a fixed permission): retry, then end billing.
give_up=$(( $(date +%s) + keep_for ))
while [ "$(date +%s)" -lt "$give_up" ]; do
  sleep "$retry_s"
  if push_once; then
    [ "$#" -gt 0 ] || exit 0
    end_billing "$@"; exit $?
  fi
done
event push gave-up "no verified push within $keep_for s; the machine is kept"
exit 1
`;
