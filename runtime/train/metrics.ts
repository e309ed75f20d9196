// Segmentation metrics exactly as the official evaluation (reference §5.4, PyTorch-Encoding's
// `batch_pix_accuracy` / `batch_intersection_union`), accumulated over a whole split, not averaged per image:
//   pixAcc = Σ correct / Σ labelled            (labelled: label ≠ −1)
//   IoU_c  = inter_c / (2.2e-16 + union_c)     (inter, prediction and label areas counted on labelled pixels only)
//   mIoU   = the mean of IoU_c over all classes (a class with an empty union counts as 0).

/** The official epsilon of the IoU denominator (np.spacing(1)). */
const EPS = 2.220446049250313e-16;

export class SegmentationMetric {
  private correct = 0;
  private labelled = 0;
  readonly inter: Float64Array;
  readonly union: Float64Array;

  constructor(readonly classes: number) {
    this.inter = new Float64Array(classes);
    this.union = new Float64Array(classes);
  }

  /**
   * Adds one image (or a batch: any number of pixels): `predicted` class indices, `labels` class indices with −1
   * for ignored pixels. Labels outside [−1, classes) are an error (the data check should have caught them).
   */
  update(predicted: ArrayLike<number>, labels: ArrayLike<number>): void {
    if (predicted.length !== labels.length)
      throw new Error(`${predicted.length} predictions for ${labels.length} labels`);
    const k = this.classes;
    const areaPred = new Float64Array(k);
    const areaLab = new Float64Array(k);
    const areaInter = new Float64Array(k);
    for (let i = 0; i < labels.length; i++) {
      const t = labels[i]!;
      if (t === -1) continue;
      if (!(t >= 0 && t < k && Number.isInteger(t)))
        throw new Error(`label ${t} at pixel ${i} is not in −1..${k - 1}`);
      const p = predicted[i]!;
      this.labelled++;
      areaLab[t]!++;
      if (p >= 0 && p < k) areaPred[p]!++;
      if (p === t) {
        this.correct++;
        areaInter[t]!++;
      }
    }
    for (let c = 0; c < k; c++) {
      this.inter[c]! += areaInter[c]!;
      this.union[c]! += areaPred[c]! + areaLab[c]! - areaInter[c]!;
    }
  }

  /** pixAcc, mIoU and the per-class IoU so far. */
  get(): { pixAcc: number; mIoU: number; iou: number[] } {
    const iou = Array.from(this.inter, (x, c) => x / (EPS + this.union[c]!));
    return {
      pixAcc: this.correct / (EPS + this.labelled),
      mIoU: iou.reduce((a, b) => a + b, 0) / this.classes,
      iou,
    };
  }

  reset(): void {
    this.correct = 0;
    this.labelled = 0;
    this.inter.fill(0);
    this.union.fill(0);
  }
}

/** Argmax over the channels of NCHW logits: [N, H, W] class indices (the first maximum wins, as torch.max). */
export function argmaxChannels(logits: Float32Array, shape: readonly number[]): Int32Array {
  const [n, c, h, w] = shape as [number, number, number, number];
  const hw = h * w;
  const out = new Int32Array(n * hw);
  for (let s = 0; s < n; s++)
    for (let p = 0; p < hw; p++) {
      let best = 0;
      let bestV = logits[s * c * hw + p]!;
      for (let k = 1; k < c; k++) {
        const v = logits[(s * c + k) * hw + p]!;
        if (v > bestV) {
          bestV = v;
          best = k;
        }
      }
      out[s * hw + p] = best;
    }
  return out;
}
