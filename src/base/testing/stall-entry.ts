// An entry whose work waits on nothing but an AbortSignal.timeout deadline (whose timer does not keep Node's
// event loop alive), run with `whileRunning` (`guarded`) or without (`bare`): ../stall.test.ts runs it as a
// process and reads what it printed.
import { whileRunning } from "../stall.js";

const work = () =>
  new Promise<string>((resolve) => {
    AbortSignal.timeout(200).addEventListener("abort", () => resolve("the deadline fired"), { once: true });
  });
const outcome = process.argv[2] === "guarded" ? await whileRunning(work) : await work();
process.stdout.write(`${outcome}\n`);
