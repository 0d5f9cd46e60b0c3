/** The emulated account's project id (here so the descriptor and configured.ts need not load the emulator). */
export const EMULATOR_PROJECT = "kiln-emulated";
