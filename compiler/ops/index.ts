// The op registry and the builtin layers of the DSL: the one table every stage reads.
import { ShapeError, type OpDef, type LayerDef } from './op.ts';
import type { Attrs } from '../ir/types.ts';
import { conv2d, convLayer } from './conv.ts';
import { conv2dGradBias, conv2dGradInput, conv2dGradWeight } from './conv_grad.ts';
import { linear, linearLayer } from './linear.ts';
import { batchnorm, batchnormLayer, bnScale, bnShift, groupnorm, groupnormLayer, scaleRows } from './norm.ts';
import {
  add,
  addLayer,
  affine,
  copy,
  mul,
  mulLayer,
  relu,
  reluGrad,
  reluLayer,
  sigmoid,
  sigmoidGrad,
  sigmoidLayer,
} from './elementwise.ts';
import {
  adaptiveAvgpool2d,
  adaptiveAvgpoolLayer,
  avgpool2d,
  avgpoolLayer,
  globalAvgpoolLayer,
  maxpool2d,
  maxpoolLayer,
} from './pool.ts';
import { resizeBilinear, resizeLayer } from './resize.ts';
import { concat, concatLayer, dropout, dropoutLayer, mean, meanLayer } from './shape.ts';
import { encoding, encodingLayer } from './encoding.ts';
import { adaptiveAvgpool2dGrad, avgpool2dGrad, maxpool2dGrad } from './pool_grad.ts';
import { resizeBilinearGrad } from './resize_grad.ts';
import { linearGradBias, linearGradInput, linearGradWeight } from './linear_grad.ts';
import { meanGrad, mulGradFactor, slice } from './shape_grad.ts';
import { encodingGradCodewords, encodingGradInput, encodingGradScale } from './encoding_grad.ts';
import { groupnormGradBias, groupnormGradInput, groupnormGradWeight } from './norm_grad.ts';
import {
  bnGradMean,
  bnGradVar,
  bnNorm,
  bnNormGradSums,
  bnNormGradX,
  channelBroadcast,
  channelMean,
  channelVar,
  runningStat,
  takeRow,
  varGrad,
} from './norm_train.ts';
import {
  bceGrad,
  bceLoss,
  ceGrad,
  ceLoss,
  classPresence,
  constant,
  dropoutTrain,
  gradAccumulate,
  gradMean,
  sgdMomentum,
  sgdUpdate,
  weightedSum,
} from './train.ts';

/** The graph's data inputs are nodes of this op. */
export const input: OpDef = {
  name: 'input',
  doc: 'a data input of the model (the image)',
  arity: 0,
  structural: true,
  inferShape: (_, a) => a.shape as readonly number[],
};

/**
 * A state-dict entry as a value: `attrs.entry` indexes Graph.params. Checkpoints load into these; passes may
 * compute derived parameters from them (run once at load).
 */
export const param: OpDef = {
  name: 'param',
  doc: 'a parameter or buffer of the state dict (attrs.entry indexes Graph.params)',
  arity: 0,
  structural: true,
  inferShape: (_, a) => a.shape as readonly number[],
};

/** Optimizer state that is not in the state dict (a momentum buffer): `attrs.slot` indexes Graph.state. */
export const state: OpDef = {
  name: 'state',
  doc: 'an optimizer state slot (attrs.slot indexes Graph.state)',
  arity: 0,
  structural: true,
  inferShape: (_, a) => a.shape as readonly number[],
};

/**
 * Several nodes computed by one kernel (Node.body): an anchor op and the pointwise ops applied to its result
 * before it is stored. Its shape is its last member's; the verifier checks every member.
 */
export const fused: OpDef = {
  name: 'fused',
  doc: 'an anchor op with its fused epilogue (Node.body)',
  arity: 'variadic',
  structural: true,
  inferShape: () => {
    throw new ShapeError('a fused node takes its shape from its body');
  },
};

const opList = [
  input,
  param,
  state,
  fused,
  conv2d,
  conv2dGradInput,
  conv2dGradWeight,
  conv2dGradBias,
  linear,
  batchnorm,
  groupnorm,
  relu,
  sigmoid,
  add,
  mul,
  maxpool2d,
  avgpool2d,
  adaptiveAvgpool2d,
  resizeBilinear,
  concat,
  mean,
  dropout,
  encoding,
  affine,
  copy,
  bnScale,
  bnShift,
  scaleRows,
  reluGrad,
  sigmoidGrad,
  channelMean,
  channelVar,
  channelBroadcast,
  varGrad,
  bnNorm,
  bnNormGradSums,
  takeRow,
  bnNormGradX,
  bnGradMean,
  bnGradVar,
  runningStat,
  encodingGradInput,
  encodingGradCodewords,
  encodingGradScale,
  groupnormGradInput,
  groupnormGradWeight,
  groupnormGradBias,
  maxpool2dGrad,
  avgpool2dGrad,
  adaptiveAvgpool2dGrad,
  resizeBilinearGrad,
  linearGradInput,
  linearGradWeight,
  linearGradBias,
  meanGrad,
  slice,
  mulGradFactor,
  dropoutTrain,
  ceLoss,
  ceGrad,
  classPresence,
  bceLoss,
  bceGrad,
  constant,
  weightedSum,
  sgdMomentum,
  sgdUpdate,
  gradAccumulate,
  gradMean,
] as OpDef<any>[];

export const OPS: ReadonlyMap<string, OpDef<Attrs>> = new Map(opList.map((o) => [o.name, o as OpDef<Attrs>]));

export function getOp(name: string): OpDef<Attrs> {
  const op = OPS.get(name);
  if (!op) throw new Error(`internal: unknown op '${name}'`);
  return op;
}

const layerList: LayerDef[] = [
  convLayer,
  linearLayer,
  batchnormLayer,
  groupnormLayer,
  reluLayer,
  sigmoidLayer,
  addLayer,
  mulLayer,
  maxpoolLayer,
  avgpoolLayer,
  adaptiveAvgpoolLayer,
  globalAvgpoolLayer,
  resizeLayer,
  concatLayer,
  meanLayer,
  dropoutLayer,
  encodingLayer,
];

export const LAYERS: ReadonlyMap<string, LayerDef> = new Map(layerList.map((l) => [l.name, l]));

/** Builtin functions on plain values (not layers): len(list), min(a, b), max(a, b). */
export const FUNCTIONS = new Set(['len', 'min', 'max']);

/** Loss functions allowed in `loss` statements. */
export const LOSSES = new Set(['ce', 'se_bce']);
