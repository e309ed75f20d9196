// docs/data.md keeps up with the code: every loader option and every kind of DataError is documented.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { DATA_ERROR_KINDS } from '../../runtime/data/errors.ts';
import type { LoaderOptions } from '../../runtime/data/loader.ts';
import { ROOT } from '../helpers.ts';

const doc = readFileSync(join(ROOT, 'docs', 'data.md'), 'utf8');

it('documents every loader option and every DataError kind', () => {
  // `satisfies` makes tsc fail here when an option is added without being listed (and so documented).
  const options = {
    batch: 1,
    crop: 1,
    base: 1,
    seed: 1,
    augment: 1,
    workers: 1,
    shuffle: 1,
    dropLast: 1,
    skipBad: 1,
    prefetch: 1,
  } satisfies Record<keyof LoaderOptions, 1>;
  for (const o of Object.keys(options)) expect(doc, o).toMatch(new RegExp(`\\| \`${o}\` +\\|`));
  for (const k of DATA_ERROR_KINDS) expect(doc, k).toMatch(new RegExp(`\\| \`${k}\` +\\|`));
});
