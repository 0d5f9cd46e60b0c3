/**
 * The real-sshd test harness. It lives in src/remote/ssh/testing/sshd.ts so that tests under src/ and
 * the provider emulators (one loopback SSH endpoint per emulated instance) can import it within the
 * tsconfig rootDir; tests under test/ import it from here.
 */
export * from "../../src/remote/ssh/loopback-sshd.js";
