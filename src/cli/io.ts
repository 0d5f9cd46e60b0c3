/**
 * The CLI's only door to the terminal. Commands write through an {@link Io}; tests pass a capturing Io
 * (see {@link captureIo}) and call `main(argv, io)` in-process.
 */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Whether stdout is an interactive terminal (enables live progress lines and colour). */
  readonly isTty: boolean;
}

export const processIo: Io = {
  out: (t) => {
    process.stdout.write(t);
  },
  err: (t) => {
    process.stderr.write(t);
  },
  isTty: Boolean(process.stdout.isTTY),
};

export interface CapturedIo extends Io {
  readonly stdout: string;
  readonly stderr: string;
}

export function captureIo(isTty = false): CapturedIo {
  let stdout = "";
  let stderr = "";
  return {
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
    isTty,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}
