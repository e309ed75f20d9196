// Errors of code generation that the user can act on (a tensor or a grid too large for the device or for 32-bit
// indices): the commands report them as `fcnc: message` with exit 1, and `compile` retries smaller batches.
export class LoweringError extends Error {}
