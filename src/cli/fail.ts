/** Ends the process with one line on stderr, `client: <message>`, and an exit status. */
export function fail(message: string, code = 1): never {
  process.stderr.write(`client: ${message}\n`);
  process.exit(code);
}
