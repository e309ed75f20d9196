// The one error type of the data side: every problem names the file it is about and says what to do.

/** What went wrong with a file of a dataset. */
export type DataErrorKind =
  | 'missing-label' // an image without its label (annotation) file
  | 'missing-image' // a label without its image
  | 'size-mismatch' // image and label of different sizes
  | 'label-range' // label values outside the classes (other than the ignore value)
  | 'unreadable' // a file that cannot be read or decoded (truncated, corrupt, wrong type)
  | 'empty-split' // a split with no samples
  | 'layout'; // a root whose format cannot be recognised, a missing folder

export const DATA_ERROR_KINDS: readonly DataErrorKind[] = [
  'missing-label',
  'missing-image',
  'size-mismatch',
  'label-range',
  'unreadable',
  'empty-split',
  'layout',
];

export class DataError extends Error {
  constructor(
    message: string,
    /** The file (or folder) the problem is about. */
    readonly file: string,
    readonly kind: DataErrorKind,
  ) {
    super(message);
    this.name = 'DataError';
  }

  /** A plain object that crosses a worker boundary. */
  toJSON(): { message: string; file: string; kind: DataErrorKind } {
    return { message: this.message, file: this.file, kind: this.kind };
  }

  static fromJSON(j: { message: string; file: string; kind: DataErrorKind }): DataError {
    return new DataError(j.message, j.file, j.kind);
  }
}
