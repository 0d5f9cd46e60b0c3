/** The command table. Each command lives in its own file in this folder; add it here. */
import type { Command } from "../command.js";
import { keysCommand } from "./keys.js";
import { pullCommand } from "./pull.js";
import { sshCommand } from "./ssh.js";
import { checkCommand } from "./check.js";
import { emulateCommand } from "./emulate.js";
import { costCommand } from "./cost.js";
import { logsCommand } from "./logs.js";
import { reportCommand } from "./report.js";
import { runCommand } from "./run.js";
import { statusCommand } from "./status.js";
import { stopCommand } from "./stop.js";
import { offersCommand } from "./offers.js";
import { planCommand } from "./plan.js";
import { preflightCommand } from "./preflight.js";
import { schemaCommand } from "./schema.js";
import { verifyCommand } from "./verify.js";
import { downCommand } from "./down.js";
import { gcCommand } from "./gc.js";
import { dashboardCommand } from "./dashboard.js";

export const commands: Command[] = [offersCommand, runCommand, logsCommand, stopCommand, statusCommand, costCommand, reportCommand, planCommand, preflightCommand, checkCommand, emulateCommand, keysCommand, sshCommand, pullCommand, schemaCommand, verifyCommand, downCommand, gcCommand, dashboardCommand];
