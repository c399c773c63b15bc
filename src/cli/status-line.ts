// A command's output on a terminal: one live progress line on stderr, cleared before any other line is
// written under it, and the log lines themselves (stdout, or stderr under --json, whose stdout carries
// the JSON alone). Off a terminal the live line is never written: logs and CI see the log lines only.
export interface StatusLine {
  /** Replaces the live line; nothing off a terminal. */
  show(text: string): void;
  /** Clears the live line, if one is shown. */
  clear(): void;
  /** A log line, under the live line's place. */
  say(line: string): void;
}

export function statusLine(json: boolean): StatusLine {
  const tty = process.stderr.isTTY === true;
  let shown = false;
  const clear = () => {
    if (shown) process.stderr.write('\r\x1b[K');
    shown = false;
  };
  return {
    show(text) {
      if (!tty) return;
      process.stderr.write(`\r${text}\x1b[K`);
      shown = true;
    },
    clear,
    say(line) {
      clear();
      if (json) console.error(line);
      else console.log(line);
    },
  };
}
