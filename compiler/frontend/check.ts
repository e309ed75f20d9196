// Static checks on the AST of all loaded modules, before anything is elaborated: duplicate and undefined names,
// unknown layers and keyword arguments, argument counts, recursion between blocks, statements in the wrong kind
// of declaration, and warnings for values that are never used. Checks that need values (types, ranges, shapes)
// happen during elaboration, where the values are known.
import { closest, error, warning, type Diagnostic, type Note, type Span } from '../diagnostics.ts';
import { FUNCTIONS, LAYERS, LOSSES } from '../ops/index.ts';
import type * as A from './ast.ts';

interface Binding {
  readonly span: Span;
  used: boolean;
  readonly kind: 'param' | 'value' | 'out' | 'input' | 'size' | 'unused';
}

export function checkModules(modules: readonly A.Module[]): Diagnostic[] {
  const ds: Diagnostic[] = [];
  const decls = new Map<string, A.Decl>();
  for (const m of modules)
    for (const d of m.decls) {
      const prev = decls.get(d.name);
      if (prev) {
        ds.push(
          error('E_DUPLICATE', `'${d.name}' is defined twice`, d.nameSpan, {
            notes: [{ message: 'first defined here', span: prev.nameSpan }],
          }),
        );
        continue;
      }
      if (LAYERS.has(d.name) || FUNCTIONS.has(d.name) || LOSSES.has(d.name) || d.name === 'seq') {
        ds.push(
          error('E_DUPLICATE', `'${d.name}' is a builtin; a ${d.kind} cannot take its name`, d.nameSpan, {
            hint: `rename the ${d.kind}`,
          }),
        );
        continue;
      }
      decls.set(d.name, d);
    }

  // Call graph between blocks (caller → callees with the call's span), for the recursion check.
  const calls = new Map<string, { callee: string; span: Span }[]>();

  for (const d of decls.values()) checkDecl(d);
  checkRecursion();
  return ds;

  function checkDecl(d: A.Decl): void {
    const scope = new Map<string, Binding>();
    const edges: { callee: string; span: Span }[] = [];
    calls.set(d.name, edges);
    for (const p of d.params) {
      const prev = scope.get(p.name);
      if (prev)
        ds.push(
          error('E_DUPLICATE', `parameter '${p.name}' is declared twice`, p.nameSpan, {
            notes: [{ message: 'first declared here', span: prev.span }],
          }),
        );
      if (p.default) expr(p.default, scope, edges);
      scope.set(p.name, { span: p.nameSpan, used: false, kind: 'param' });
    }
    body(d.body, scope, edges, d);
    if (d.kind === 'block' && !hasOut(d.body))
      ds.push(
        error('E_NO_OUTPUT', `block '${d.name}' has no 'out' statement`, d.nameSpan, {
          hint: 'name what the block returns: `out y = ...`',
        }),
      );
    if (d.kind === 'model' && !hasInput(d.body))
      ds.push(
        error('E_NO_OUTPUT', `model '${d.name}' declares no input`, d.nameSpan, {
          hint: 'declare the image: `input image: [3, H, W]`',
        }),
      );
    for (const [name, b] of scope) {
      if (
        b.used ||
        name.startsWith('_') ||
        b.kind === 'out' ||
        b.kind === 'input' ||
        b.kind === 'unused' ||
        b.kind === 'size'
      )
        continue;
      const what = b.kind === 'param' ? 'parameter' : 'value';
      ds.push(
        warning('W_UNUSED', `${what} '${name}' is never used`, b.span, {
          hint: `remove it, or start its name with _ to keep it`,
        }),
      );
    }
  }

  function hasOut(stmts: readonly A.Stmt[]): boolean {
    return stmts.some(
      (s) => s.kind === 'out' || (s.kind === 'if' && (hasOut(s.then) || hasOut(s.else ?? []))),
    );
  }
  function hasInput(stmts: readonly A.Stmt[]): boolean {
    return stmts.some(
      (s) => s.kind === 'input' || (s.kind === 'if' && (hasInput(s.then) || hasInput(s.else ?? []))),
    );
  }

  function define(scope: Map<string, Binding>, name: string, span: Span, kind: Binding['kind']): void {
    const prev = scope.get(name);
    if (prev) {
      ds.push(
        error(
          'E_DUPLICATE',
          `'${name}' is already defined in this ${prev.kind === 'param' ? 'block as a parameter' : 'scope'}`,
          span,
          {
            notes: [{ message: 'first defined here', span: prev.span }],
            hint: 'pick another name; every binding names one instance',
          },
        ),
      );
      return;
    }
    scope.set(name, { span, used: false, kind });
  }

  function body(
    stmts: readonly A.Stmt[],
    scope: Map<string, Binding>,
    edges: { callee: string; span: Span }[],
    d: A.Decl,
  ): void {
    for (const s of stmts) {
      switch (s.kind) {
        case 'input':
          if (d.kind !== 'model')
            ds.push(
              error('E_SYNTAX', "'input' is only allowed in a model", s.span, {
                hint: 'blocks take tensors as parameters: `x: tensor`',
              }),
            );
          for (const dim of s.dims) {
            // A bare name that is not yet defined declares a size variable (H, W), bound from --size.
            if (dim.kind === 'name' && !scope.has(dim.name))
              scope.set(dim.name, { span: dim.span, used: false, kind: 'size' });
            else expr(dim, scope, edges);
          }
          if (s.stride) expr(s.stride, scope, edges);
          define(scope, s.name, s.nameSpan, 'input');
          break;
        case 'assign':
        case 'out':
        case 'unused':
          if (s.kind === 'unused' && s.value.kind !== 'call')
            ds.push(
              error('E_SYNTAX', "'unused' declares the parameters of one layer call", s.value.span, {
                hint: 'e.g. `unused fc = linear(in_features = 2048, features = 1000)`',
              }),
            );
          expr(s.value, scope, edges, s.kind === 'unused');
          define(scope, s.name, s.nameSpan, s.kind === 'assign' ? 'value' : s.kind);
          break;
        case 'if': {
          expr(s.cond, scope, edges);
          // Each branch sees the names defined before the `if`; names defined in either branch are visible after.
          const before = new Set(scope.keys());
          const thenScope = new Map(scope);
          body(s.then, thenScope, edges, d);
          const elseScope = new Map(scope);
          if (s.else) body(s.else, elseScope, edges, d);
          for (const [k, v] of [...thenScope, ...elseScope])
            if (!before.has(k) && !scope.has(k)) scope.set(k, v);
          break;
        }
        case 'assert':
          expr(s.cond, scope, edges);
          break;
        case 'loss':
          if (d.kind !== 'model') ds.push(error('E_SYNTAX', "'loss' is only allowed in a model", s.span));
          expr(s.value, scope, edges, false, true);
          break;
      }
    }
  }

  function expr(
    e: A.Expr,
    scope: Map<string, Binding>,
    edges: { callee: string; span: Span }[],
    unused = false,
    inLoss = false,
  ): void {
    switch (e.kind) {
      case 'int':
      case 'float':
      case 'bool':
      case 'string':
        return;
      case 'name': {
        const b = scope.get(e.name);
        if (b) {
          b.used = true;
          return;
        }
        const guess = closest(e.name, scope.keys());
        const isCallable = decls.has(e.name) || LAYERS.has(e.name);
        ds.push(
          error('E_UNDEFINED', `'${e.name}' is not defined`, e.span, {
            hint: isCallable
              ? `'${e.name}' is a layer or block: call it, e.g. ${e.name}(x)`
              : guess
                ? `did you mean '${guess}'?`
                : undefined,
          }),
        );
        return;
      }
      case 'list':
        return e.items.forEach((i) => expr(i, scope, edges, false, inLoss));
      case 'member':
        return expr(e.object, scope, edges, false, inLoss);
      case 'index':
        expr(e.object, scope, edges, false, inLoss);
        return expr(e.index, scope, edges, false, inLoss);
      case 'unary':
        return expr(e.operand, scope, edges, false, inLoss);
      case 'binary':
        expr(e.left, scope, edges, false, inLoss);
        return expr(e.right, scope, edges, false, inLoss);
      case 'cond':
        expr(e.cond, scope, edges);
        expr(e.then, scope, edges, false, inLoss);
        return expr(e.else, scope, edges, false, inLoss);
      case 'seq':
        expr(e.input, scope, edges);
        for (const item of e.items) {
          call(item.call, scope, edges, { implicitFirst: true });
          if (item.repeat) expr(item.repeat, scope, edges);
        }
        return;
      case 'call':
        return call(e, scope, edges, { unused, inLoss });
    }
  }

  function call(
    c: A.CallExpr,
    scope: Map<string, Binding>,
    edges: { callee: string; span: Span }[],
    opts: { implicitFirst?: boolean; unused?: boolean; inLoss?: boolean },
  ): void {
    for (const a of c.args) expr(a.value, scope, edges, false, opts.inLoss);
    if (FUNCTIONS.has(c.callee)) return;
    if (LOSSES.has(c.callee)) {
      if (!opts.inLoss)
        ds.push(
          error('E_LOSS', `'${c.callee}' is a loss; it may only appear in a 'loss' statement`, c.calleeSpan, {
            hint: 'e.g. `loss ce(logits, ignore = -1)`',
          }),
        );
      return;
    }
    const layer = LAYERS.get(c.callee);
    const block = decls.get(c.callee);
    if (!layer && !block) {
      const guess = closest(c.callee, [...LAYERS.keys(), ...decls.keys()]);
      ds.push(
        error('E_UNKNOWN_LAYER', `unknown layer or block '${c.callee}'`, c.calleeSpan, {
          hint: guess ? `did you mean '${guess}'?` : `builtin layers: ${[...LAYERS.keys()].join(', ')}`,
        }),
      );
      return;
    }
    if (block?.kind === 'model') {
      ds.push(
        error(
          'E_UNKNOWN_LAYER',
          `'${c.callee}' is a model; only blocks and layers can be called`,
          c.calleeSpan,
          { notes: [{ message: 'model defined here', span: block.nameSpan }] },
        ),
      );
      return;
    }
    if (block) edges.push({ callee: block.name, span: c.calleeSpan });
    const params = layer
      ? layer.params.map((p) => ({
          name: p.name,
          required: p.default === undefined && !p.optional,
          tensor: p.type === 'tensor',
        }))
      : block!.params.map((p) => ({ name: p.name, required: !p.default, tensor: p.type.kind === 'tensor' }));
    // Inside seq the first tensor parameter is the previous item's output; in `unused` tensors are absent.
    const skipped = new Set<string>();
    if (opts.implicitFirst && params[0]?.tensor) skipped.add(params[0].name);
    if (opts.unused) params.filter((p) => p.tensor).forEach((p) => skipped.add(p.name));
    const open = params.filter((p) => !skipped.has(p.name));
    const seen = new Map<string, Span>();
    let positional = 0;
    for (const a of c.args) {
      let name: string;
      if (a.name === undefined) {
        if (positional >= open.length) {
          ds.push(
            error(
              'E_ARGUMENTS',
              `${c.callee} takes at most ${open.length} positional argument${open.length === 1 ? '' : 's'}${opts.implicitFirst ? ' here (its input comes from the previous seq item)' : ''}`,
              a.span,
              { hint: `parameters: ${open.map((p) => p.name).join(', ')}` },
            ),
          );
          continue;
        }
        name = open[positional++]!.name;
      } else {
        name = a.name;
        if (!params.some((p) => p.name === name)) {
          const guess = closest(
            name,
            params.map((p) => p.name),
          );
          ds.push(
            error('E_UNKNOWN_PARAM', `${c.callee} has no parameter '${name}'`, a.nameSpan ?? a.span, {
              hint: guess
                ? `did you mean '${guess}'?`
                : `parameters: ${params.map((p) => p.name).join(', ')}`,
            }),
          );
          continue;
        }
        if (skipped.has(name) && opts.implicitFirst) {
          ds.push(
            error(
              'E_ARGUMENTS',
              `'${name}' of ${c.callee} is the previous seq item's output and cannot be given here`,
              a.span,
            ),
          );
          continue;
        }
      }
      const prev = seen.get(name);
      if (prev) {
        ds.push(
          error('E_ARGUMENTS', `argument '${name}' of ${c.callee} is given twice`, a.span, {
            notes: [{ message: 'first given here', span: prev }],
          }),
        );
        continue;
      }
      seen.set(name, a.span);
    }
    const missing = open.filter((p) => p.required && !seen.has(p.name)).map((p) => p.name);
    if (missing.length > 0)
      ds.push(
        error(
          'E_ARGUMENTS',
          `${c.callee} is missing ${missing.length === 1 ? 'argument' : 'arguments'} ${missing.map((m) => `'${m}'`).join(', ')}`,
          c.span,
          {
            notes: block ? [{ message: `'${block.name}' is defined here`, span: block.nameSpan }] : [],
          },
        ),
      );
  }

  function checkRecursion(): void {
    const state = new Map<string, 'active' | 'done'>();
    const stack: { name: string; span?: Span }[] = [];
    const reported = new Set<string>();
    const dfs = (name: string): void => {
      state.set(name, 'active');
      for (const edge of calls.get(name) ?? []) {
        const s = state.get(edge.callee);
        if (s === 'active') {
          const start = stack.findIndex((f) => f.name === edge.callee);
          const cycle = [...stack.slice(start).map((f) => f.name), name, edge.callee];
          const key = [...new Set(cycle)].sort().join(',');
          if (!reported.has(key)) {
            reported.add(key);
            const notes: Note[] = stack
              .slice(start + 1)
              .map((f) => ({ message: `'${f.name}' is called here`, span: f.span }));
            ds.push(
              error(
                'E_RECURSION',
                `blocks call each other in a cycle: ${[...stack.slice(start).map((f) => f.name), name, edge.callee].filter((n, i, arr) => i === 0 || n !== arr[i - 1]).join(' → ')}`,
                edge.span,
                { notes, hint: 'a network is a finite graph: unroll the repetition with seq(...)[item * n]' },
              ),
            );
          }
          continue;
        }
        if (s === 'done') continue;
        stack.push({ name: edge.callee, span: edge.span });
        dfs(edge.callee);
        stack.pop();
      }
      state.set(name, 'done');
    };
    for (const name of calls.keys())
      if (!state.has(name)) {
        stack.push({ name });
        dfs(name);
        stack.pop();
      }
  }
}
