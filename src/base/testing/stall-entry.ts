// An entry whose work never settles and leaves nothing in the event loop (`never`), or settles (`settles`):
// ../stall.test.ts runs it as a process and reads its exit code and stderr.
import { whileRunning } from "../stall.js";

const mode = process.argv[2];
const work = mode === "never" ? () => new Promise<number>(() => undefined) : () => new Promise<number>((resolve) => setTimeout(() => resolve(3), 20));
const code = await whileRunning(work, () => process.stderr.write("stalled\n"));
process.stdout.write(`done ${code}\n`);
