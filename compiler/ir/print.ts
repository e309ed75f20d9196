// The stable text form of a graph (`fcnc print --stage ir`): one line per param and per node, deterministic, so
// it can be diffed and golden-tested.
import { formatLocation } from '../diagnostics.ts';
import type { AttrValue, Graph } from './types.ts';

const fmtAttr = (v: AttrValue): string =>
  Array.isArray(v) ? `[${v.join(', ')}]` : typeof v === 'string' ? JSON.stringify(v) : String(v);
const fmtShape = (dtype: string, s: readonly number[]): string => `${dtype}[${s.join(', ')}]`;

export function printGraph(g: Graph, opts: { locations?: boolean } = {}): string {
  const out: string[] = [];
  out.push(`graph ${g.model}  // ${g.file}`);
  out.push(
    `settings ${Object.entries(g.settings)
      .map(([k, v]) => `${k}=${fmtAttr(v)}`)
      .join(' ')}`,
  );
  for (const p of g.params) {
    const flags = [p.trainable ? '' : 'buffer', p.used ? '' : 'unused'].filter(Boolean).join(' ');
    const init = Object.entries(p.init)
      .map(([k, v]) => (k === 'kind' ? v : `${k}=${v}`))
      .join(' ');
    out.push(`param ${p.name} : ${fmtShape(p.dtype, p.shape)} init(${init})${flags ? ' ' + flags : ''}`);
  }
  for (const n of g.nodes) {
    const ins = n.inputs.map((i) => `%${i}`).join(', ');
    const ps = n.params.length
      ? ` @[${n.params.map((i) => g.params[i]!.name.slice(n.name.length + 1)).join(', ')}]`
      : '';
    const attrs = Object.keys(n.attrs).length
      ? ` {${Object.entries(n.attrs)
          .map(([k, v]) => `${k}=${fmtAttr(v)}`)
          .join(', ')}}`
      : '';
    const loc = opts.locations !== false && n.span ? `  ${formatLocation(n.span)}` : '';
    out.push(`%${n.id} = ${n.op}(${ins})${ps}${attrs} : ${fmtShape(n.dtype, n.shape)}  // ${n.name}${loc}`);
  }
  for (const i of g.inputs) out.push(`input ${i.name} = %${i.node} stride ${i.stride}`);
  for (const o of g.outputs) out.push(`output ${o.name} = %${o.node}`);
  for (const l of g.losses)
    out.push(
      `loss ${l.weight} * ${l.kind}(${l.output} = %${l.node})${
        Object.keys(l.attrs).length
          ? ` {${Object.entries(l.attrs)
              .map(([k, v]) => `${k}=${fmtAttr(v)}`)
              .join(', ')}}`
          : ''
      }`,
    );
  return out.join('\n') + '\n';
}
