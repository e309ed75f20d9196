// Atomic file writes for weights and checkpoints (Node.js only): temporary file in the same directory, fsync,
// rename, directory fsync. A crash or a failed write never leaves a partial file under the final name.

import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as zlib from 'node:zlib';
import { WeightsError } from './errors.ts';

/** Node's native CRC-32 (Node ≥ 20.15) for writeTorchZip's `crc32` option, or undefined. */
export const nativeCrc32: ((bytes: Uint8Array) => number) | undefined =
  typeof zlib.crc32 === 'function' ? (b) => zlib.crc32(b) : undefined;

export interface AtomicWriteOptions {
  /** Called after each chunk is written to the temporary file (e.g. for a progress bar). May be async. */
  onProgress?: (written: number, total: number) => void | Promise<void>;
}

/**
 * Writes `chunks` to `path` atomically: a temporary file in the same directory, fsync'ed, renamed over
 * `path`, then the directory fsync'ed. Readers see the old file or the new one, never a part; on any error
 * the temporary file is removed and `path` is untouched. A killed process can leave a `.<name>.tmp-…` file
 * behind, never a partial `path`.
 */
export async function writeFileAtomic(
  path: string,
  chunks: readonly Uint8Array[],
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const total = chunks.reduce((a, c) => a + c.length, 0);
  let fh: FileHandle | undefined;
  try {
    await mkdir(dir, { recursive: true });
    fh = await open(tmp, 'wx', 0o644);
    let written = 0;
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) {
        const { bytesWritten } = await fh.write(c, off, c.length - off);
        off += bytesWritten;
      }
      written += c.length;
      await opts.onProgress?.(written, total);
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    const code = (e as { code?: unknown }).code;
    const why =
      code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST'
        ? `${path} is a directory`
        : e instanceof Error
          ? e.message
          : String(e);
    throw new WeightsError('E_WEIGHTS_IO', `${path}: cannot write the file (${why}); nothing was changed.`, {
      file: path,
      cause: e,
    });
  }
  // Make the rename itself durable. Some platforms cannot open or fsync a directory; the data is safe anyway.
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* best effort */
  }
}
