// Dawn prints two lines on stderr whenever it enumerates Mesa's OpenGL adapter ("Warning:
// maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 90 to 16 …" and the same for storage
// buffers). They come from Dawn's C++ during requestAdapter, straight to file descriptor 2, before fcnc can ask
// for anything, and no Dawn toggle silences them. Commands that open a device therefore run in a child process
// whose stderr passes through this filter, which drops exactly those two lines and forwards everything else as it
// comes (progress bars included: the child is told that its stderr is the parent's terminal).
import { spawn } from 'node:child_process';

const DAWN_NOISE =
  /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?$/;
const PREFIX = 'Warning: maxDynamic';

/** Runs `script args` in a child Node process with Dawn's noise removed from its stderr; resolves to its exit code. */
export function runQuietly(script, args) {
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: {
      ...process.env,
      FCNC_QUIET_CHILD: '1',
      ...(process.stderr.isTTY
        ? { FCNC_STDERR_TTY: '1', FCNC_STDERR_COLUMNS: String(process.stderr.columns ?? 80) }
        : {}),
    },
  });
  let line = ''; // the start of a line held back while it may still become one of Dawn's warnings
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    let out = '';
    for (const ch of chunk) {
      line += ch;
      if (ch === '\n') {
        if (!DAWN_NOISE.test(line.slice(0, -1))) out += line;
        line = '';
      } else if (!PREFIX.startsWith(line.slice(0, PREFIX.length))) {
        out += line; // cannot be Dawn's warning: pass it on now (progress bars redraw without newlines)
        line = '';
      }
    }
    if (out) process.stderr.write(out);
  });
  // Ctrl-C reaches the child too (same process group); the parent waits for it to finish cleanly.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', (s) => child.kill(s));
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      if (line) process.stderr.write(line);
      process.off('SIGINT', ignore);
      resolve(code ?? (signal ? 128 + 2 : 1));
    });
  });
}

/** In the child: make stderr look like the parent's terminal again (colours, progress bars). */
export function adoptParentTerminal() {
  if (process.env.FCNC_STDERR_TTY !== '1') return;
  process.stderr.isTTY = true;
  process.stderr.columns = Number(process.env.FCNC_STDERR_COLUMNS) || 80;
  process.stderr.getWindowSize ??= () => [process.stderr.columns, 24];
  process.stderr.cursorTo ??= (x, y, cb) => {
    process.stderr.write(y === undefined ? `\x1b[${x + 1}G` : `\x1b[${y + 1};${x + 1}H`);
    cb?.();
    return true;
  };
  process.stderr.clearLine ??= (dir, cb) => {
    process.stderr.write(dir < 0 ? '\x1b[1K' : dir > 0 ? '\x1b[0K' : '\x1b[2K');
    cb?.();
    return true;
  };
  process.stderr.moveCursor ??= (dx, dy, cb) => {
    let s = '';
    if (dx) s += dx > 0 ? `\x1b[${dx}C` : `\x1b[${-dx}D`;
    if (dy) s += dy > 0 ? `\x1b[${dy}B` : `\x1b[${-dy}A`;
    process.stderr.write(s);
    cb?.();
    return true;
  };
}
