// Child process for checkpoint.test.ts: starts writing a checkpoint to argv[2] and, after its first chunk
// reached the temporary file, tells the parent ('paused') and waits to be killed mid-write.
import { writeCheckpoint, type TrainingCheckpoint } from '../../../runtime/weights/checkpoint.ts';

const path = process.argv[2];
const w = { dtype: 'f32' as const, shape: [1024], data: new Float32Array(1024).fill(3) };
const ckpt: TrainingCheckpoint = {
  epoch: 99,
  iteration: 99,
  stateDict: new Map([['w', w]]),
  momentum: new Map([['w', w]]),
  paramGroups: [{ lr: 0.5, params: ['w'] }],
  bestPred: 0.99,
  extra: {},
};
setInterval(() => undefined, 1000); // stay alive until killed
await writeCheckpoint(path, ckpt, {
  onProgress: async () => {
    process.send?.('paused');
    await new Promise(() => undefined);
  },
});
