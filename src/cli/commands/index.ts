/** The command table. Each command lives in its own file in this folder; add it here. */
import type { Command } from "../command.js";
import { checkCommand } from "./check.js";
import { emulateCommand } from "./emulate.js";
import { offersCommand } from "./offers.js";

export const commands: Command[] = [offersCommand, checkCommand, emulateCommand];
