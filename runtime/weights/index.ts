// Public entry point of the weights layer.
export { WeightsError, type WeightsErrorCode } from './errors.ts';
export {
  DTYPE_SIZE,
  f16ToF32,
  numel,
  toFloat32,
  type DType,
  type DTypeData,
  type HostTensor,
  type StateDict,
  type TensorData,
} from './tensor.ts';
export { readSafetensors, writeSafetensors, type SafetensorsFile } from './safetensors.ts';
export { TensorValue, readPth, readPthValue, stripModulePrefix, type PthFile } from './pth.ts';
export {
  OrderedDict,
  PyFloat,
  pyFloat,
  pyTuple,
  stateDictToPy,
  writeTorchZip,
  writeTorchZipChunks,
  type PyKey,
  type PyValue as PyWriteValue,
  type TorchZipOptions,
} from './pth_write.ts';
export {
  checkStateDict,
  loadWeightsFile,
  readWeights,
  sniffWeightsFormat,
  type CheckOptions,
  type ExpectedTensor,
  type LoadedWeights,
  type WeightsFormat,
} from './state_dict.ts';
export { initTensor, makeRng, seedFor, type ParamInit, type Rng } from './init.ts';
