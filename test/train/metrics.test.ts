// The official metrics (reference §5.4): pixAcc over labelled pixels, IoU per class counted on labelled pixels
// only, mIoU over every class (an absent class counts 0), accumulated over a split rather than averaged per image.
import { describe, expect, it } from 'vitest';
import { argmaxChannels, SegmentationMetric } from '../../runtime/train/metrics.ts';
import { polyLr } from '../../runtime/train/trainer.ts';

describe('SegmentationMetric', () => {
  it('a hand-computed case: ignored pixels, a class never predicted', () => {
    const m = new SegmentationMetric(3);
    m.update([0, 1, 1, 1, 0, 2], [0, 0, 1, 1, 2, -1]);
    const r = m.get();
    expect(r.pixAcc).toBeCloseTo(3 / 5, 12);
    // inter (1, 2, 0); union: predicted on labelled pixels (2, 3, 0) + labelled (2, 2, 1) − inter = (3, 3, 1)
    expect(r.iou[0]).toBeCloseTo(1 / 3, 12);
    expect(r.iou[1]).toBeCloseTo(2 / 3, 12);
    expect(r.iou[2]).toBe(0);
    expect(r.mIoU).toBeCloseTo(1 / 3, 12);
  });

  it('accumulates over images (not the mean of per-image scores)', () => {
    const m = new SegmentationMetric(2);
    m.update([0, 0, 0, 0], [0, 0, 0, 0]); // image 1: perfect, class 1 absent
    m.update([0, 1], [1, 1]); // image 2
    const r = m.get();
    expect(r.pixAcc).toBeCloseTo(5 / 6, 12);
    expect(r.iou[0]).toBeCloseTo(4 / 5, 12); // inter 4, union 5 + 4 − 4
    expect(r.iou[1]).toBeCloseTo(1 / 2, 12);
    expect(r.mIoU).toBeCloseTo(0.65, 12);
    m.reset();
    expect(m.get().pixAcc).toBe(0);
  });

  it('refuses labels outside the classes', () => {
    expect(() => new SegmentationMetric(2).update([0], [2])).toThrow(/label 2 at pixel 0/);
  });

  it('argmax over channels takes the first maximum, as torch.max', () => {
    // [1, 3, 1, 2]: pixel 0 → class 2, pixel 1 → a tie of 0 and 1 → 0
    const logits = new Float32Array([0, 5, 1, 5, 3, 0]);
    expect([...argmaxChannels(logits, [1, 3, 1, 2])]).toEqual([2, 0]);
  });
});

describe('the poly schedule', () => {
  it('lr = base · (1 − T/N)^0.9, from base to 0', () => {
    expect(polyLr(0.01, 0, 100)).toBe(0.01);
    expect(polyLr(0.01, 50, 100)).toBeCloseTo(0.01 * 0.5 ** 0.9, 15);
    expect(polyLr(0.01, 100, 100)).toBe(0);
  });
});
