/** What every command may do besides throwing a CliFailure: print, and set the exit code. */
export interface CliIo {
  out(text: string): void;
  setExit(code: number): void;
}
