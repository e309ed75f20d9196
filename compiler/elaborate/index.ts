// Elaboration: runs a checked model with concrete parameter values and input size, and builds the typed op
// graph. Blocks are expanded inline; every binding becomes an instance name (`pretrained.layer1.0.conv1`), so
// parameters get the official state-dict keys. Shapes are inferred as each node is built; a shape rule that
// fails becomes a diagnostic at the call, with notes pointing at where each input tensor was made.
//
//   values.ts   the Value type and pure helpers (describe, matches, plain conversions)
//   context.ts  the state of one elaboration (graph builder, diagnostics, names, inputs, …) and frames
//   expr.ts     expressions and the builtin functions len/min/max
//   calls.ts    builtin layers, blocks and seq
//   stmts.ts    statements: bindings, outputs, if/assert, inputs, losses, unused layers
//   index.ts    the model: its parameters, its body, the final graph
import { CompileError, error, type Diagnostic } from '../diagnostics.ts';
import type * as A from '../frontend/ast.ts';
import type { Graph } from '../ir/types.ts';
import { checkType } from './calls.ts';
import { Context, type ElaborateOptions, type Frame } from './context.ts';
import { evalExpr } from './expr.ts';
import { runBody } from './stmts.ts';
import { fromPlain, toPlain, type Value } from './values.ts';

export { DEFAULT_SIZE, type ElaborateOptions } from './context.ts';

export function elaborate(
  modules: readonly A.Module[],
  opts: ElaborateOptions = {},
): { graph?: Graph; diagnostics: Diagnostic[] } {
  const decls = new Map<string, A.Decl>();
  for (const m of modules) for (const d of m.decls) if (!decls.has(d.name)) decls.set(d.name, d);

  const entry = modules[0];
  const models = entry ? entry.decls.filter((d) => d.kind === 'model') : [];
  let model: A.Decl | undefined;
  if (opts.model) {
    model = decls.get(opts.model);
    if (!model || model.kind !== 'model') {
      const all = [...decls.values()].filter((d) => d.kind === 'model').map((d) => d.name);
      return {
        diagnostics: [
          error('E_NO_MODEL', `no model named '${opts.model}'`, undefined, {
            hint: all.length ? `models: ${all.join(', ')}` : 'the file defines no model',
          }),
        ],
      };
    }
  } else if (models.length !== 1) {
    return {
      diagnostics: [
        error(
          'E_NO_MODEL',
          models.length === 0
            ? `${entry?.file ?? 'the file'} defines no model`
            : `${entry!.file} defines ${models.length} models; say which`,
          undefined,
          {
            hint:
              models.length === 0
                ? 'a spec needs `model name(...) { ... }`; files in specs/lib only define blocks'
                : `use --model with one of: ${models.map((m) => m.name).join(', ')}`,
          },
        ),
      ],
    };
  } else model = models[0]!;

  const cx = new Context(decls, opts, model.name, entry!.file);
  const { ds } = cx;
  const modelFrame: Frame = { decl: model, prefix: '', env: new Map(), outs: new Map(), depth: 0 };
  setModelParams(cx, model, modelFrame);

  runBody(cx, model.body, modelFrame);
  for (const [name, v] of modelFrame.outs) {
    if (v.t === 'tensor') cx.outputs.push({ name, node: v.node });
  }
  if (ds.some((d) => d.severity === 'error')) return { diagnostics: ds };
  if (cx.outputs.length === 0) {
    ds.push(
      error('E_NO_OUTPUT', `model '${model.name}' has no tensor 'out'`, model.nameSpan, {
        hint: 'declare the logits: `out logits = ...`',
      }),
    );
    return { diagnostics: ds };
  }
  const { inputs, outputs, names, groups, losses } = cx;
  const graph: Graph = cx.builder.finish({ inputs, outputs, names, groups, losses });
  return { graph, diagnostics: ds };
}

/** The model's own parameters: defaults, then overrides from the command line (`--set`), type-checked. */
function setModelParams(cx: Context, model: A.Decl, modelFrame: Frame): void {
  const overrides = { ...(cx.opts.settings ?? {}) };
  for (const p of model.params) {
    try {
      let v: Value;
      if (p.name in overrides) {
        v = fromPlain(overrides[p.name]!);
        delete overrides[p.name];
        checkType(v, p.type, p.name, p.nameSpan, `--set ${p.name}`);
      } else if (p.default) {
        v = evalExpr(cx, p.default, modelFrame);
        checkType(v, p.type, p.name, p.default.span);
      } else {
        throw new CompileError(
          error('E_ARGUMENTS', `model parameter '${p.name}' has no default and was not set`, p.nameSpan, {
            hint: `pass it: --set ${p.name}=VALUE`,
          }),
        );
      }
      modelFrame.env.set(p.name, v);
      cx.settings[p.name] = toPlain(v);
    } catch (e) {
      cx.record(e);
      modelFrame.env.set(p.name, 'poison');
    }
  }
  for (const k of Object.keys(overrides)) {
    cx.ds.push(
      error('E_UNKNOWN_PARAM', `model '${model.name}' has no parameter '${k}'`, model.nameSpan, {
        hint: `its parameters: ${model.params.map((p) => p.name).join(', ') || 'none'}`,
      }),
    );
  }
}
