// Minimal, strict ZIP central-directory reader for PyTorch (>= 1.6) checkpoints.
// torch.save writes STORED (uncompressed) entries, 64-byte aligned, with zip64 records when needed; we read
// them zero-copy. DEFLATE entries (a checkpoint re-zipped by hand) are inflated with fflate. Encrypted or
// other compression methods are refused. Never throws anything but WeightsError.

import { inflateSync } from 'fflate';
import { WeightsError, describeFile } from './errors.ts';

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

export function looksLikeZip(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04
  );
}

export class ZipReader {
  readonly entries: Map<string, ZipEntry> = new Map();
  private readonly dv: DataView;
  private readonly f: string;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly fileName?: string,
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.f = describeFile(fileName);
    this.readDirectory();
  }

  private fail(what: string, code: 'E_WEIGHTS_CORRUPT' | 'E_WEIGHTS_TRUNCATED' = 'E_WEIGHTS_CORRUPT'): never {
    throw new WeightsError(
      code,
      `${this.f}: invalid zip archive (PyTorch >= 1.6 checkpoint): ${what}. The file is corrupt or truncated; ` +
        're-download it or re-save it with torch.save.',
      { file: this.fileName },
    );
  }

  private u16(off: number): number {
    if (off < 0 || off + 2 > this.bytes.length)
      this.fail(`a record at byte ${off} lies past the end of the file`, 'E_WEIGHTS_TRUNCATED');
    return this.dv.getUint16(off, true);
  }
  private u32(off: number): number {
    if (off < 0 || off + 4 > this.bytes.length)
      this.fail(`a record at byte ${off} lies past the end of the file`, 'E_WEIGHTS_TRUNCATED');
    return this.dv.getUint32(off, true);
  }
  private u64(off: number): number {
    if (off < 0 || off + 8 > this.bytes.length)
      this.fail(`a record at byte ${off} lies past the end of the file`, 'E_WEIGHTS_TRUNCATED');
    const v = this.dv.getBigUint64(off, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`a zip64 field at byte ${off} is out of range`);
    return Number(v);
  }

  private readDirectory(): void {
    const len = this.bytes.length;
    let eocd = -1;
    for (let i = len - 22; i >= Math.max(0, len - 22 - 0xffff); i--) {
      if (this.dv.getUint32(i, true) === SIG_EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0)
      this.fail('no end-of-central-directory record (the file is probably truncated)', 'E_WEIGHTS_TRUNCATED');
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || this.u32(loc) !== SIG_EOCD64_LOCATOR) this.fail('zip64 fields without a zip64 locator');
      const e64 = this.u64(loc + 8);
      if (this.u32(e64) !== SIG_EOCD64) this.fail('the zip64 end-of-central-directory record is missing');
      count = this.u64(e64 + 32);
      cdSize = this.u64(e64 + 40);
      cdOffset = this.u64(e64 + 48);
    }
    if (cdOffset + cdSize > len)
      this.fail('the central directory lies past the end of the file', 'E_WEIGHTS_TRUNCATED');
    let p = cdOffset;
    const td = new TextDecoder('utf-8');
    for (let i = 0; i < count; i++) {
      if (this.u32(p) !== SIG_CENTRAL) this.fail(`central directory entry ${i} has a bad signature`);
      const flags = this.u16(p + 8);
      const method = this.u16(p + 10);
      let compressedSize = this.u32(p + 20);
      let size = this.u32(p + 24);
      const nameLen = this.u16(p + 28);
      const extraLen = this.u16(p + 30);
      const commentLen = this.u16(p + 32);
      let localHeaderOffset = this.u32(p + 42);
      const nameStart = p + 46;
      if (nameStart + nameLen + extraLen + commentLen > len)
        this.fail(`central directory entry ${i} is truncated`, 'E_WEIGHTS_TRUNCATED');
      const name = td.decode(this.bytes.subarray(nameStart, nameStart + nameLen));
      // zip64 extended information extra field
      let x = nameStart + nameLen;
      const xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        const id = this.u16(x);
        const sz = this.u16(x + 2);
        if (id === 0x0001) {
          let q = x + 4;
          if (size === 0xffffffff) {
            size = this.u64(q);
            q += 8;
          }
          if (compressedSize === 0xffffffff) {
            compressedSize = this.u64(q);
            q += 8;
          }
          if (localHeaderOffset === 0xffffffff) {
            localHeaderOffset = this.u64(q);
            q += 8;
          }
        }
        x += 4 + sz;
      }
      this.entries.set(name, { name, method, flags, compressedSize, size, localHeaderOffset });
      p = xEnd + commentLen;
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The entry's uncompressed bytes (a zero-copy view for STORED entries). */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (e === undefined) this.fail(`entry "${name}" is missing`);
    if (e.flags & 1) this.fail(`entry "${name}" is encrypted`);
    const lh = e.localHeaderOffset;
    if (this.u32(lh) !== SIG_LOCAL) this.fail(`the local header of entry "${name}" has a bad signature`);
    const start = lh + 30 + this.u16(lh + 26) + this.u16(lh + 28);
    const end = start + e.compressedSize;
    if (end > this.bytes.length)
      this.fail(`the data of entry "${name}" lies past the end of the file`, 'E_WEIGHTS_TRUNCATED');
    const raw = this.bytes.subarray(start, end);
    if (e.method === 0) {
      if (e.size !== e.compressedSize)
        this.fail(`stored entry "${name}" has different compressed and uncompressed sizes`);
      return raw;
    }
    if (e.method === 8) {
      let out: Uint8Array;
      try {
        out = inflateSync(raw, { out: new Uint8Array(e.size) });
      } catch (err) {
        return this.fail(
          `entry "${name}" does not inflate (${err instanceof Error ? err.message : String(err)})`,
        );
      }
      if (out.length !== e.size)
        this.fail(`entry "${name}" inflates to ${out.length} bytes, expected ${e.size}`);
      return out;
    }
    return this.fail(
      `entry "${name}" uses compression method ${e.method} (only stored and deflate are supported)`,
    );
  }
}
