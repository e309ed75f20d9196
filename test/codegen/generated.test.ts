// generated/ is compiler output only: regenerating it gives the committed bytes (run `npm run generate` after a
// change that alters it), and two compiles are byte-identical.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { compile } from '../../compiler/compile.ts';
import { emitFiles } from '../../compiler/codegen/emit.ts';
import { ROOT } from '../helpers.ts';

it('generated/enc_jpu_r50 is up to date and deterministic', async () => {
  process.chdir(ROOT);
  const g = buildGraph('specs/enc_jpu_r50.fcn').graph!;
  const opts = {
    command: 'fcnc compile specs/enc_jpu_r50.fcn -o generated/enc_jpu_r50',
    runtimeDir: '../../runtime',
    specPath: '../../specs/enc_jpu_r50.fcn',
  };
  const files = await emitFiles(g, compile(g), opts);
  const g2 = buildGraph('specs/enc_jpu_r50.fcn').graph!;
  const again = await emitFiles(g2, compile(g2), opts);
  expect([...again]).toEqual([...files]);
  const dir = join(ROOT, 'generated', 'enc_jpu_r50');
  const onDisk = [
    ...readdirSync(dir).filter((f) => f !== 'kernels'),
    ...readdirSync(join(dir, 'kernels')).map((f) => `kernels/${f}`),
  ].sort();
  expect(onDisk, 'files in generated/enc_jpu_r50 (run `npm run generate`)').toEqual([...files.keys()].sort());
  for (const [name, text] of files)
    expect(readFileSync(join(dir, name), 'utf8'), `${name} is stale: run \`npm run generate\``).toBe(text);
  expect(files.get('model.ts')).toContain('export class EncJpuR50');
  expect(files.get('README.md')).toContain('49,443,769');
});
