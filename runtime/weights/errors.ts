// WeightsError: the one error type thrown by the weights layer (runtime/weights/*).
// Every message names the file, says what is wrong and what to do about it; `code` is stable for tests
// and for the CLI to map to exit codes.

export type WeightsErrorCode =
  | 'E_WEIGHTS_NOT_FOUND' // the file does not exist / cannot be read
  | 'E_WEIGHTS_IO' // other I/O failure
  | 'E_WEIGHTS_UNRECOGNIZED' // content is neither safetensors nor a PyTorch checkpoint
  | 'E_WEIGHTS_TRUNCATED' // the file ends before a structure it announces
  | 'E_WEIGHTS_CORRUPT' // structurally invalid (bad header, bad offsets, bad zip, inconsistent pickle)
  | 'E_WEIGHTS_DTYPE' // unknown or unsupported element type
  | 'E_WEIGHTS_NOT_STATE_DICT' // a valid file whose content is not a state dict
  | 'E_WEIGHTS_MISMATCH' // a state dict whose keys/shapes do not match the model
  | 'E_PICKLE_FORBIDDEN' // the pickle references a global outside the allow-list
  | 'E_PICKLE_OPCODE' // the pickle uses an opcode this unpickler does not implement
  | 'E_PICKLE_CORRUPT'; // malformed pickle stream (stack underflow, bad memo reference, ...)

export class WeightsError extends Error {
  readonly code: WeightsErrorCode;
  /** The file the error is about, when known. */
  readonly file: string | undefined;

  constructor(code: WeightsErrorCode, message: string, options?: { file?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WeightsError';
    this.code = code;
    this.file = options?.file;
  }
}

/** Human-readable name for a file in messages. */
export function describeFile(fileName: string | undefined): string {
  return fileName === undefined || fileName === '' ? '<weights bytes>' : fileName;
}

/**
 * Runs `fn`; any exception that is not already a WeightsError (e.g. a RangeError from a typed-array
 * constructor on a corrupt file) is wrapped into a WeightsError so callers only ever see one type.
 */
export function wrapUnexpected<T>(fileName: string | undefined, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof WeightsError) throw e;
    const detail = e instanceof Error ? e.message : String(e);
    throw new WeightsError(
      'E_WEIGHTS_CORRUPT',
      `${describeFile(fileName)}: could not read ${what}: ${detail}. The file is probably corrupt or truncated; ` +
        're-download or re-export it.',
      { file: fileName, cause: e },
    );
  }
}
