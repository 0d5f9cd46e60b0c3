/** Where Kiln keeps its state: `$KILN_HOME`, default `~/.kiln`. Nothing else in src/ reads these env vars. */
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export interface KilnPaths {
  home: string;
  ledger: string;
  jobs: string;
  keys: string;
  knownHosts: string;
  credentials: string;
  debugLog: string;
  sshConfig: string;
}

export function kilnPaths(env: NodeJS.ProcessEnv = process.env): KilnPaths {
  const home = resolve(env["KILN_HOME"] ?? join(homedir(), ".kiln"));
  return {
    home,
    ledger: join(home, "ledger.db"),
    jobs: join(home, "jobs"),
    keys: join(home, "keys"),
    knownHosts: join(home, "known_hosts"),
    credentials: join(home, "credentials.json"),
    debugLog: join(home, "logs", "kiln-debug.log"),
    sshConfig: join(home, "ssh_config"),
  };
}
