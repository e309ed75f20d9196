// Dataset readers: ADE20K (SceneParsing ADEChallengeData2016), PASCAL Context as label PNGs, and a plain folder.
// A reader lists the (image, label) pairs of a split; `loadSample` decodes one pair and maps its labels to train
// ids (−1 = ignore). Layouts and label conventions: docs/data.md; reference §6.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { decodeImage, ImageError, type RgbImage } from '../image.ts';
import { PCONTEXT_CLASSES } from '../datasets.ts';
import { ADE20K_CLASSES } from './ade20k-classes.ts';
import { DataError } from './errors.ts';
import { decodeLabelPng, type RawLabel } from './labels.ts';

export type DataFormat = 'ade20k' | 'pcontext' | 'folder';
export const DATA_FORMATS: readonly DataFormat[] = ['ade20k', 'pcontext', 'folder'];

/** `trainval` is train followed by val (ADE20K's fine-tuning set for the test server). */
export type Split = 'train' | 'val' | 'trainval';
export const SPLITS: readonly Split[] = ['train', 'val', 'trainval'];

/** How a stored label value becomes a train id: `ignore` → −1, any other v → v − offset (must be in 0..K−1). */
export interface LabelMapping {
  readonly ignore: number;
  readonly offset: number;
}

export interface SampleFiles {
  readonly image: string;
  readonly label: string;
}

export interface Dataset {
  readonly format: DataFormat;
  /** The root as given. */
  readonly root: string;
  readonly split: Split;
  readonly classes: string[];
  /** Matched pairs, sorted by file name. */
  readonly samples: SampleFiles[];
  readonly mapping: LabelMapping;
  /** Files that are not samples: images without a label (skipped), labels without an image. */
  readonly unmatched: DataError[];
}

/** A decoded sample: 8-bit RGB image and its label map in train ids (−1 = ignore), same size. */
export interface LoadedSample {
  readonly image: RgbImage;
  readonly label: Int16Array;
}

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png']);
const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
const stem = (f: string) => basename(f, extname(f));

/** Where each format keeps a split: image folder, label folder, and whether images outnumber labels by design. */
interface Layout {
  readonly base: string;
  readonly images: (split: 'train' | 'val') => string;
  readonly labels: (split: 'train' | 'val') => string;
  /** PASCAL Context: JPEGImages holds every VOC image, so images without a label are not problems. */
  readonly sharedImages: boolean;
  readonly classesFile?: string;
}

function adeBase(root: string): string | undefined {
  if (isDir(join(root, 'ADEChallengeData2016', 'images'))) return join(root, 'ADEChallengeData2016');
  if (isDir(join(root, 'images', 'training')) || isDir(join(root, 'images', 'validation'))) return root;
  return undefined;
}

function vocBase(root: string): string | undefined {
  for (const b of [join(root, 'VOCdevkit', 'VOC2010'), join(root, 'VOC2010'), root])
    if (isDir(join(b, 'SegmentationClassContext'))) return b;
  return undefined;
}

function folderBase(root: string): string | undefined {
  return isDir(join(root, 'train', 'images')) || isDir(join(root, 'val', 'images')) ? root : undefined;
}

const EXPECTED = [
  'ade20k:   ROOT/ADEChallengeData2016/images/{training,validation}/*.jpg + annotations/{…}/*.png',
  'pcontext: ROOT/VOCdevkit/VOC2010/JPEGImages/*.jpg + SegmentationClassContext/{train,val}/*.png',
  'folder:   ROOT/{train,val}/images/*.{png,jpg} + ROOT/{train,val}/labels/*.png + ROOT/classes.txt',
].join('\n  ');

/** Recognises the format from the root's contents. Throws DataError('layout'). */
export function detectFormat(root: string): DataFormat {
  if (!isDir(root)) throw new DataError(`${root}: no such folder`, root, 'layout');
  if (adeBase(root)) return 'ade20k';
  if (vocBase(root)) return 'pcontext';
  if (folderBase(root)) return 'folder';
  throw new DataError(
    `${root}: cannot tell the dataset format; expected one of\n  ${EXPECTED}\n(or pass --format)`,
    root,
    'layout',
  );
}

function layoutOf(root: string, format: DataFormat): Layout {
  const missing = (what: string): never => {
    throw new DataError(
      `${root}: not a ${format} dataset (${what}); expected\n  ${EXPECTED.split('\n  ').find((l) => l.startsWith(format))}`,
      root,
      'layout',
    );
  };
  if (!isDir(root)) throw new DataError(`${root}: no such folder`, root, 'layout');
  switch (format) {
    case 'ade20k': {
      const base = adeBase(root) ?? missing('no ADEChallengeData2016/images folder');
      const dir = (s: 'train' | 'val') => (s === 'train' ? 'training' : 'validation');
      return {
        base,
        images: (s) => join(base, 'images', dir(s)),
        labels: (s) => join(base, 'annotations', dir(s)),
        sharedImages: false,
        classesFile: join(base, 'classes.txt'),
      };
    }
    case 'pcontext': {
      const base = vocBase(root) ?? missing('no VOCdevkit/VOC2010/SegmentationClassContext folder');
      return {
        base,
        images: () => join(base, 'JPEGImages'),
        labels: (s) => join(base, 'SegmentationClassContext', s),
        sharedImages: true,
      };
    }
    case 'folder': {
      const base = folderBase(root) ?? missing('no train/images or val/images folder');
      return {
        base,
        images: (s) => join(base, s, 'images'),
        labels: (s) => join(base, s, 'labels'),
        sharedImages: false,
        classesFile: join(base, 'classes.txt'),
      };
    }
  }
}

/** Reads a classes.txt: one name per line, blank lines ignored. */
export function readClassesFile(file: string): string[] {
  const names = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (names.length === 0) throw new DataError(`${file}: no class names (one name per line)`, file, 'layout');
  return names;
}

function classesOf(format: DataFormat, layout: Layout): string[] {
  const f = layout.classesFile;
  if (format === 'pcontext') return [...PCONTEXT_CLASSES];
  if (f && existsSync(f)) return readClassesFile(f);
  if (format === 'ade20k') return [...ADE20K_CLASSES];
  throw new DataError(
    `${f}: missing; a folder dataset needs classes.txt at its root (one class name per line, class k on line k+1)`,
    f ?? layout.base,
    'layout',
  );
}

export function mappingOf(format: DataFormat): LabelMapping {
  return format === 'folder' ? { ignore: 255, offset: 0 } : { ignore: 0, offset: 1 };
}

/** The splits whose folders exist (train, val). */
export function availableSplits(root: string, format: DataFormat = detectFormat(root)): ('train' | 'val')[] {
  const layout = layoutOf(root, format);
  return (['train', 'val'] as const).filter((s) => isDir(layout.labels(s)) || isDir(layout.images(s)));
}

function listFiles(dir: string, exts: Set<string>): Map<string, string> {
  const out = new Map<string, string>();
  const names = readdirSync(dir).sort();
  for (const name of names) {
    if (!exts.has(extname(name).toLowerCase())) continue;
    const key = stem(name);
    if (!out.has(key)) out.set(key, join(dir, name));
  }
  return out;
}

function listSplit(
  root: string,
  format: DataFormat,
  layout: Layout,
  split: 'train' | 'val',
): { samples: SampleFiles[]; unmatched: DataError[] } {
  const imgDir = layout.images(split);
  const labDir = layout.labels(split);
  for (const d of [imgDir, labDir])
    if (!isDir(d))
      throw new DataError(
        `${d}: missing; the ${split} split of a ${format} dataset at ${root} needs this folder (see docs/data.md)`,
        d,
        'layout',
      );
  const images = listFiles(imgDir, IMAGE_EXT);
  const labels = listFiles(labDir, new Set(['.png']));
  const samples: SampleFiles[] = [];
  const unmatched: DataError[] = [];
  const keys = layout.sharedImages ? [...labels.keys()] : [...new Set([...images.keys(), ...labels.keys()])];
  keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const k of keys) {
    const image = images.get(k);
    const label = labels.get(k);
    if (image && label) samples.push({ image, label });
    else if (image)
      unmatched.push(
        new DataError(
          `${image}: no label ${join(labDir, k + '.png')}; the image is skipped (add its label or remove it)`,
          image,
          'missing-label',
        ),
      );
    else if (label)
      unmatched.push(
        new DataError(
          `${label}: no image ${join(imgDir, k + '.jpg')} for this label (add the image or remove the label)`,
          label,
          'missing-image',
        ),
      );
  }
  return { samples, unmatched };
}

export interface OpenOptions {
  /** Default: detected from the root's contents. */
  readonly format?: DataFormat;
  /** Default 'train'. */
  readonly split?: Split;
  /** Allow a split with no samples (default false: DataError('empty-split')). */
  readonly allowEmpty?: boolean;
}

/**
 * Lists a split of a dataset. Throws DataError: an unrecognised layout or a missing folder ('layout'), a split
 * without samples ('empty-split'). Images without a label are skipped and listed in `unmatched`.
 */
export function openDataset(root: string, opts: OpenOptions = {}): Dataset {
  const format = opts.format ?? detectFormat(root);
  const split = opts.split ?? 'train';
  const layout = layoutOf(root, format);
  const classes = classesOf(format, layout);
  const parts = split === 'trainval' ? (['train', 'val'] as const) : ([split] as const);
  const samples: SampleFiles[] = [];
  const unmatched: DataError[] = [];
  for (const s of parts) {
    const r = listSplit(root, format, layout, s);
    samples.push(...r.samples);
    unmatched.push(...r.unmatched);
  }
  if (samples.length === 0 && !opts.allowEmpty) {
    const dir = layout.labels(parts[0]);
    throw new DataError(
      `${dir}: the ${split} split of ${root} has no samples (no image with a matching label)`,
      dir,
      'empty-split',
    );
  }
  return { format, root, split, classes, samples, mapping: mappingOf(format), unmatched };
}

function readBytes(file: string, what: string, kind: 'missing-image' | 'missing-label'): Uint8Array {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(
      code === 'ENOENT'
        ? `${file}: the ${what} is gone (listed, then removed?); restore it or remove its pair`
        : `${file}: cannot read the ${what} (${(e as Error).message})`,
      file,
      code === 'ENOENT' ? kind : 'unreadable',
    );
  }
}

/** Decodes an image file (PNG/JPEG by content) or throws DataError('unreadable'). */
export function loadImage(file: string): RgbImage {
  const bytes = readBytes(file, 'image', 'missing-image');
  try {
    return decodeImage(bytes, file);
  } catch (e) {
    if (e instanceof ImageError)
      throw new DataError(
        `${e.message.startsWith(file) ? e.message : `${file}: ${e.message}`} (re-download or remove it)`,
        file,
        'unreadable',
      );
    throw e;
  }
}

/** Decodes a label PNG to its raw values or throws DataError('unreadable'). */
export function loadRawLabel(file: string): RawLabel {
  return decodeLabelPng(readBytes(file, 'label', 'missing-label'), file);
}

/**
 * Stored label values → train ids: `ignore` → −1, v → v − offset. Values outside 0..classes−1 after the shift
 * throw DataError('label-range') listing them.
 */
export function mapLabel(raw: RawLabel, mapping: LabelMapping, classes: number, file: string): Int16Array {
  const out = new Int16Array(raw.values.length);
  const lut = new Int16Array(65536).fill(-2);
  lut[mapping.ignore] = -1;
  for (let k = 0; k < classes; k++) if (k + mapping.offset !== mapping.ignore) lut[k + mapping.offset] = k;
  let bad: Map<number, number> | undefined;
  for (let i = 0; i < out.length; i++) {
    const v = lut[raw.values[i]!]!;
    if (v === -2) (bad ??= new Map()).set(raw.values[i]!, (bad.get(raw.values[i]!) ?? 0) + 1);
    out[i] = v;
  }
  if (bad) throw labelRangeError(file, bad, mapping, classes);
  return out;
}

export function labelRangeError(
  file: string,
  bad: Map<number, number>,
  mapping: LabelMapping,
  classes: number,
): DataError {
  const list = [...bad.entries()]
    .sort((a, b) => a[0] - b[0])
    .slice(0, 8)
    .map(([v, n]) => `${v} (${n} px)`)
    .join(', ');
  const valid = `${mapping.offset}..${mapping.offset + classes - 1} for the ${classes} classes, ${mapping.ignore} = ignore`;
  return new DataError(
    `${file}: label values outside the classes: ${list}${bad.size > 8 ? ', …' : ''}; valid: ${valid} ` +
      `(wrong classes.txt, or labels in another convention?)`,
    file,
    'label-range',
  );
}

/** Reads, decodes and checks one sample. Throws DataError naming the file. */
export function loadSample(
  ds: { readonly classes: readonly string[]; readonly mapping: LabelMapping },
  files: SampleFiles,
): LoadedSample {
  const image = loadImage(files.image);
  const raw = loadRawLabel(files.label);
  if (raw.width !== image.width || raw.height !== image.height)
    throw new DataError(
      `${files.label}: label is ${raw.width}×${raw.height} but its image ${files.image} is ` +
        `${image.width}×${image.height} (W×H); they must match pixel for pixel`,
      files.label,
      'size-mismatch',
    );
  return { image, label: mapLabel(raw, ds.mapping, ds.classes.length, files.label) };
}
