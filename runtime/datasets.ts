// Dataset conventions the runtime needs for inference: normalisation and class names (reference §5.3, §6).

/** ImageNet normalisation used by every FastFCN model (RGB, after ÷255). */
export const MEAN = [0.485, 0.456, 0.406] as const;
export const STD = [0.229, 0.224, 0.225] as const;

/** PASCAL Context, 59 classes (train ids 0..58; background is ignored). Reference §6.1. */
export const PCONTEXT_CLASSES = [
  'aeroplane',
  'bag',
  'bed',
  'bedclothes',
  'bench',
  'bicycle',
  'bird',
  'boat',
  'book',
  'bottle',
  'building',
  'bus',
  'cabinet',
  'car',
  'cat',
  'ceiling',
  'chair',
  'cloth',
  'computer',
  'cow',
  'cup',
  'curtain',
  'dog',
  'door',
  'fence',
  'floor',
  'flower',
  'food',
  'grass',
  'ground',
  'horse',
  'keyboard',
  'light',
  'motorbike',
  'mountain',
  'mouse',
  'person',
  'plate',
  'platform',
  'pottedplant',
  'road',
  'rock',
  'sheep',
  'shelves',
  'sidewalk',
  'sign',
  'sky',
  'snow',
  'sofa',
  'table',
  'track',
  'train',
  'tree',
  'truck',
  'tvmonitor',
  'wall',
  'water',
  'window',
  'wood',
] as const;

/** Names for `classes` classes: PASCAL Context's when there are 59, else `class k`. */
export function classNames(classes: number): string[] {
  if (classes === PCONTEXT_CLASSES.length) return [...PCONTEXT_CLASSES];
  return Array.from({ length: classes }, (_, k) => `class ${k}`);
}

/** The PASCAL VOC colour map (bit-interleaved), the usual palette for segmentation label maps. */
export function palette(n: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let i = 0; i < n; i++) {
    let c = i + 1; // colour 0 (black) is left for "nothing"
    let r = 0;
    let g = 0;
    let b = 0;
    for (let j = 0; j < 8; j++) {
      r |= ((c >> 0) & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    out.push([r, g, b]);
  }
  return out;
}
