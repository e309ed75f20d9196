// The stable text form of a graph (`fcnc print --stage ir`): one line per param and per node, deterministic, so
// it can be diffed and golden-tested.
import { formatLocation } from '../diagnostics.ts';
import type { AttrValue, Attrs, Graph, Ref } from './types.ts';

const fmtAttr = (v: AttrValue): string =>
  Array.isArray(v) ? `[${v.join(', ')}]` : typeof v === 'string' ? JSON.stringify(v) : String(v);
const fmtShape = (dtype: string, s: readonly number[]): string => `${dtype}[${s.join(', ')}]`;
const fmtAttrs = (a: Attrs): string =>
  Object.keys(a).length
    ? ` {${Object.entries(a)
        .map(([k, v]) => `${k}=${fmtAttr(v)}`)
        .join(', ')}}`
    : '';
const fmtRef = (r: Ref): string => `${r.kind === 'in' ? 'in' : r.kind === 'param' ? 'p' : 'm'}${r.index}`;

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
    const loc = opts.locations !== false && n.span ? `  ${formatLocation(n.span)}` : '';
    if (n.op === 'param') {
      out.push(`%${n.id} = param ${fmtShape(n.dtype, n.shape)}  // ${n.name}`);
      continue;
    }
    const ins = n.inputs.map((i) => `%${i}`).join(', ');
    const ps = n.params.length ? ` @(${n.params.map((i) => `%${i}`).join(', ')})` : '';
    const attrs = fmtAttrs(n.attrs);
    const body = n.body
      ? ` [${n.body
          .map(
            (m) =>
              `${m.op}(${m.inputs.map(fmtRef).join(', ')})${m.params.length ? ` @(${m.params.map(fmtRef).join(', ')})` : ''}${fmtAttrs(m.attrs)}`,
          )
          .join('; ')}]`
      : '';
    const origins =
      n.origins && (n.origins.length !== 1 || n.origins[0]!.name !== n.name)
        ? `  (from ${n.origins.map((o) => o.name).join(', ')})`
        : '';
    out.push(
      `%${n.id} = ${n.op}(${ins})${ps}${attrs}${body} : ${fmtShape(n.dtype, n.shape)}  // ${n.name}${origins}${loc}`,
    );
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
