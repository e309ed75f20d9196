// The first-run progress of `fcnc` commands (compiler/cli/options.ts firstRunProgress): silent when the kernels
// compile quickly, plain lines per 10 % and a closing line when they take longer than five seconds.
import { describe, expect, it } from 'vitest';
import { firstRunProgress, type Io } from '../../compiler/cli/options.ts';

function capture(): { io: Io; text: () => string } {
  let err = '';
  return { io: { out: () => {}, err: (t) => void (err += t), color: false }, text: () => err };
}

describe('first-run progress', () => {
  it('prints nothing when the kernels compile within five seconds', () => {
    const { io, text } = capture();
    let t = 0;
    const hook = firstRunProgress(io, { tty: false, now: () => t });
    hook(0, 3, { node: 'a' });
    for (const [d, node] of [
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ] as const) {
      t += 1000;
      hook(d, 3, { node });
    }
    expect(text()).toBe('');
  });

  it('says what it is doing once the kernels take longer, per 10 %, and how long they took', () => {
    const { io, text } = capture();
    let t = 0;
    const hook = firstRunProgress(io, { tty: false, now: () => t });
    hook(0, 20, { node: 'pretrained.conv1.0' });
    for (let d = 1; d <= 20; d++) {
      t += 2000;
      hook(d, 20, { node: `step${d}` });
    }
    const lines = text().trim().split('\n');
    expect(lines[0]).toMatch(
      /^first run: compiling kernels \(a software adapter compiles each at its first dispatch/,
    );
    // From 6 s on (kernel 3), one line per 10 % of the 20 kernels: 3, 4, 6, 8, … 18; then the closing line.
    expect(lines.slice(1, -1)).toEqual(
      [3, 4, 6, 8, 10, 12, 14, 16, 18].map(
        (d) => `first run: ${d}/20 kernels compiled (step${d}), ${2 * d} s`,
      ),
    );
    expect(lines.at(-1)).toBe('first run: 20 kernels compiled in 40 s');
    // A later first run (another entry) starts over, and a quick one stays silent.
    const before = text();
    hook(0, 2, { node: 'x' });
    t += 100;
    hook(1, 2, { node: 'x' });
    t += 100;
    hook(2, 2, { node: 'y' });
    expect(text()).toBe(before);
  });
});
