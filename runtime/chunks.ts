// Running a batch through a program compiled for a smaller batch (see compiler/codegen/batch.ts): the input is cut
// into chunks along the batch (the last one zero-padded), each chunk runs, and the outputs are joined again.
import type { Session } from './execute.ts';
import type { Program } from './program.ts';

export async function runInChunks(
  session: Session,
  program: Program,
  inputName: string,
  input: Float32Array,
  batch: number,
): Promise<Map<string, Float32Array>> {
  const forward = program.entries.forward;
  const spec = forward.inputs.find((i) => i.name === inputName)!;
  const chunk = spec.shape[0]!;
  if (chunk >= batch) return session.run(new Map([[inputName, input]]));
  const per = input.length / batch;
  const outputs = new Map<string, Float32Array>();
  for (const o of forward.outputs)
    outputs.set(o.name, new Float32Array((o.shape.reduce((a, b) => a * b, 1) / chunk) * batch));
  for (let start = 0; start < batch; start += chunk) {
    const n = Math.min(chunk, batch - start);
    const part = new Float32Array(per * chunk);
    part.set(input.subarray(start * per, (start + n) * per));
    const out = await session.run(new Map([[inputName, part]]));
    for (const o of forward.outputs) {
      const sample = o.shape.reduce((a, b) => a * b, 1) / chunk;
      outputs.get(o.name)!.set(out.get(o.name)!.subarray(0, n * sample), start * sample);
    }
  }
  return outputs;
}
