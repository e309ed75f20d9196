// The output files of `fcnc bench` and `fcnc profile` go through one writer: atomic writes, a located error.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CommandError, outputWriter } from '../../compiler/cli/shared.ts';

it('writes each file, lists what it wrote, and names the file it cannot write', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fcnc-writer-'));
  const { write, written } = outputWriter();
  write(join(dir, 'a.json'), '{"a":1}\n');
  write(join(dir, 'b.bin'), new Uint8Array([1, 2, 3]));
  expect(readFileSync(join(dir, 'a.json'), 'utf8')).toBe('{"a":1}\n');
  expect([...readFileSync(join(dir, 'b.bin'))]).toEqual([1, 2, 3]);
  expect(written).toEqual([join(dir, 'a.json'), join(dir, 'b.bin')]);
  const file = join(dir, 'plain-file');
  writeFileSync(file, 'x');
  const bad = join(file, 'inside.md'); // a path below a file: no folder can be made there
  expect(() => write(bad, 'y')).toThrow(CommandError);
  expect(() => write(bad, 'y')).toThrow(`cannot write ${bad}`);
  expect(written).toHaveLength(2);
});
