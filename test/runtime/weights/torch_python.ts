// Finding a Python with PyTorch for the interop checks, and running test/fixtures/pth_write/torch_check.py.
// Tests that need it are skipped when no interpreter imports torch (`python3 -c "import torch"` fails).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TORCH_CHECK = fileURLToPath(new URL('../../fixtures/pth_write/torch_check.py', import.meta.url));

let found: string | null | undefined;

/** An interpreter that can `import torch` (FCNC_PYTHON, python3, /usr/bin/python3), or null. */
export function torchPython(): string | null {
  if (found !== undefined) return found;
  const candidates = [process.env.FCNC_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  found = null;
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) {
      found = c;
      break;
    }
  }
  return found;
}

export interface TorchTask {
  op: 'load' | 'state_dict' | 'sgd' | 'make_official';
  id: string;
  [k: string]: unknown;
}

export type TorchResult = { ok: boolean; error?: string; trace?: string } & Record<string, unknown>;

/** Runs the tasks in one Python process; returns the results by task id (plus `torch`: its version). */
export function runTorchCheck(python: string, dir: string, tasks: TorchTask[]): Record<string, TorchResult> {
  const plan = join(dir, 'plan.json');
  const results = join(dir, 'results.json');
  writeFileSync(plan, JSON.stringify({ tasks }));
  const r = spawnSync(python, [TORCH_CHECK, plan, results], { encoding: 'utf8', timeout: 170_000 });
  if (r.status !== 0) throw new Error(`torch_check.py failed (${r.status}): ${r.stderr}`);
  return JSON.parse(readFileSync(results, 'utf8')) as Record<string, TorchResult>;
}

/** A described Python value (see describe() in torch_check.py). */
export type PyDesc =
  | { t: 'None' }
  | { t: 'bool'; v: boolean }
  | { t: 'int' | 'float' | 'str' | 'bytes'; v: string }
  | { t: 'list' | 'tuple'; items: PyDesc[] }
  | { t: 'dict' | 'OrderedDict'; items: [PyDesc, PyDesc][] }
  | {
      t: 'tensor';
      dtype: string;
      shape: number[];
      stride: number[];
      requires_grad: boolean;
      hex: string;
    }
  | { t: 'other'; v: string };

/** Parses Python's float.hex() output. */
export function parseHexFloat(s: string): number {
  if (s === 'nan') return NaN;
  if (s === 'inf') return Infinity;
  if (s === '-inf') return -Infinity;
  const m = /^(-)?0x([01])\.([0-9a-f]+)p([+-]\d+)$/.exec(s);
  if (!m) throw new Error(`bad float.hex ${s}`);
  const mant = BigInt(`0x${m[2]}${m[3]}`);
  const v = Number(mant) * 2 ** (Number(m[4]) - 4 * m[3].length);
  return m[1] ? -v : v;
}
