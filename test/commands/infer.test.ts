// `fcnc infer` end to end on the GPU (the software adapter in CI): a narrow EncNet+JPU segments the sample photo
// with the official protocol and writes the label map, the colour map and the overlay.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../compiler/cli/main.ts';
import { decodeImage } from '../../runtime/image.ts';
import { palette } from '../../runtime/datasets.ts';
import { gpuForTests } from '../gpu/harness.ts';
import { ROOT } from '../helpers.ts';

const gpu = await gpuForTests();
gpu.dev?.destroy();

describe.skipIf(!gpu.dev)('fcnc infer', () => {
  it('segments a folder and writes label, colour and overlay PNGs', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fcnc-infer-'));
    let stdout = '';
    let stderr = '';
    const code = await main(
      [
        'infer',
        join(ROOT, 'specs', 'enc_jpu_r50.fcn'),
        '--set',
        'width=4',
        '--classes',
        '5',
        '--seed',
        '3',
        join(ROOT, 'test', 'fixtures', 'images'),
        '-o',
        out,
      ],
      {
        out: (t) => (stdout += t),
        err: (t) => (stderr += t),
        color: false,
      },
    );
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/using (software adapter|GPU)/);
    expect(stderr).toContain('seeded initialisation (seed 3)');
    expect(stderr).toContain('segmenting: 2/2 forwards'); // 451×300 → 520×346: two 480 windows
    expect(readdirSync(out).sort()).toEqual(['chelsea.color.png', 'chelsea.overlay.png', 'chelsea.png']);
    expect(stdout.trim().split('\n')).toHaveLength(3);
    const labels = decodeImage(readFileSync(join(out, 'chelsea.png')));
    const colour = decodeImage(readFileSync(join(out, 'chelsea.color.png')));
    const overlay = decodeImage(readFileSync(join(out, 'chelsea.overlay.png')));
    expect([labels.width, labels.height]).toEqual([451, 300]);
    expect(overlay.width).toBeGreaterThan(451); // legend panel
    const pal = palette(5);
    for (let p = 0; p < 451 * 300; p++) {
      const k = labels.data[p * 3]!;
      expect(k).toBeLessThan(5);
      expect([colour.data[p * 3], colour.data[p * 3 + 1], colour.data[p * 3 + 2]]).toEqual(pal[k]);
    }
  });
});
