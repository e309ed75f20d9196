// Kernel choices per adapter (KernelOptions.tuning), from measurements with bench/conv.bench.ts. Pass the result
// to lowerToProgram(graph, limits, { tuning }). Adapters not listed get the emitters' defaults (8×8 conv tiles).
import type { OpenedDevice } from './device.ts';

interface Entry {
  /** Matched against the adapter's vendor, architecture, device and description. */
  readonly adapter: RegExp;
  readonly tuning: Readonly<Record<string, number>>;
  /** Where the numbers come from. */
  readonly source: string;
}

const TABLE: readonly Entry[] = [
  {
    adapter: /llvmpipe/i,
    tuning: { 'conv2d.tm': 16, 'conv2d.tn': 8 },
    source: 'bench/results/conv-software.md (16×8 fastest on 6 of 10 FastFCN conv shapes, 8×8 close behind)',
  },
];

export function tuningFor(dev: Pick<OpenedDevice, 'adapterInfo'>): Readonly<Record<string, number>> {
  const i = dev.adapterInfo;
  const text = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ');
  return TABLE.find((e) => e.adapter.test(text))?.tuning ?? {};
}
