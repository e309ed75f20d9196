// The loader's worker thread: receives tasks, answers with transformed samples (buffers transferred) or the error.
import { parentPort, workerData } from 'node:worker_threads';
import { DataError } from './errors.ts';
import { runTask, type PipelineConfig, type Task } from './pipeline.ts';

const cfg = workerData as PipelineConfig;
const port = parentPort!;

port.on('message', (task: Task) => {
  try {
    const r = runTask(cfg, task);
    port.postMessage({ result: r }, [r.image.buffer as ArrayBuffer, r.label.buffer as ArrayBuffer]);
  } catch (e) {
    if (e instanceof DataError) port.postMessage({ id: task.id, dataError: e.toJSON() });
    else
      port.postMessage({ id: task.id, error: { message: (e as Error).message, stack: (e as Error).stack } });
  }
});
