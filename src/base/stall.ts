/**
 * For a process's entry: Node exits with code 0 when nothing is left that could wake it, even while the
 * entry's main promise is still pending (an await on a promise nothing will settle). For Kiln that would
 * read as success with a job half-driven, so the entry calls {@link whileRunning} around its work: if the
 * event loop runs dry first, `onStall` runs (to log or print it) and the exit code becomes 70 (EX_SOFTWARE).
 */
export const STALL_EXIT_CODE = 70;

export async function whileRunning<T>(work: () => Promise<T>, onStall: () => void): Promise<T> {
  const stalled = () => {
    onStall();
    process.exitCode = STALL_EXIT_CODE;
  };
  process.once("beforeExit", stalled);
  try {
    return await work();
  } finally {
    process.off("beforeExit", stalled);
  }
}
