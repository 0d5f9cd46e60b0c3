/**
 * For a process's entry. Node exits (code 0) as soon as nothing is left that could wake it, even while the
 * entry's main promise is pending, and the timers behind `AbortSignal.timeout` do not count: a driver whose
 * only pending work is an SSH request nothing answers, bounded by such a deadline, would end mid-job as if it
 * had succeeded instead of seeing the deadline pass. {@link whileRunning} keeps the process alive until its
 * work settles, so every deadline fires as written.
 *
 * @example
 *   const code = await whileRunning(() => main(argv, io, { signal }));
 */
export async function whileRunning<T>(work: () => Promise<T>): Promise<T> {
  // An interval longer than any job, cleared when the work settles: it only holds the event loop open.
  const alive = setInterval(() => undefined, 2 ** 31 - 1);
  try {
    return await work();
  } finally {
    clearInterval(alive);
  }
}
