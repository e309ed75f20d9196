// CST → AST. Runs only on a CST without syntax errors, so every child the grammar requires is present.
// Small syntactic checks that the grammar cannot express (type names, the `stride` word) become diagnostics here.
import type { CstNode, IToken, CstElement } from 'chevrotain';
import { error, lineStarts, spanAt, type Diagnostic, type SourceFile, type Span } from '../diagnostics.ts';
import type * as A from './ast.ts';

const TYPE_NAMES = new Set(['tensor', 'int', 'float', 'bool', 'string']);

export function toAst(cst: CstNode, file: SourceFile, diagnostics: Diagnostic[]): A.Module {
  const starts = lineStarts(file.text);
  const span = (start: number, end: number): Span => spanAt(file, start, end, starts);
  const tokSpan = (t: IToken): Span => span(t.startOffset, t.endOffset! + 1);
  const nodeSpan = (n: CstNode): Span => span(n.location!.startOffset, n.location!.endOffset! + 1);
  const join = (a: Span, b: Span): Span => span(a.start, b.end);

  const nodes = (n: CstNode, key: string): CstNode[] => (n.children[key] ?? []) as CstNode[];
  const toks = (n: CstNode, key: string): IToken[] => (n.children[key] ?? []) as IToken[];
  const node = (n: CstNode, key: string): CstNode => nodes(n, key)[0]!;
  const tok = (n: CstNode, key: string): IToken => toks(n, key)[0]!;

  /** The text of a name token (backticks removed). */
  const idText = (t: IToken): string => (t.image.startsWith('`') ? t.image.slice(1, -1) : t.image);

  function unquote(t: IToken): string {
    return JSON.parse(t.image) as string;
  }

  const imports: A.Import[] = [];
  const decls: A.Decl[] = [];
  for (const item of nodes(cst, 'topItem')) {
    if (item.children.importDecl) {
      for (const s of toks(node(item, 'importDecl'), 'StringLiteral'))
        imports.push({ path: unquote(s), span: tokSpan(s) });
    } else {
      const kind = item.children.blockDecl ? 'block' : 'model';
      const d = node(item, kind === 'block' ? 'blockDecl' : 'modelDecl');
      const name = tok(d, 'Identifier');
      decls.push({
        kind,
        name: idText(name),
        nameSpan: tokSpan(name),
        params: nodes(node(d, 'paramList'), 'param').map(param),
        body: body(node(d, 'body')),
        span: nodeSpan(d),
      });
    }
  }
  return { file: file.path, imports, decls };

  function param(p: CstNode): A.Param {
    const name = tok(p, 'Identifier');
    const def = nodes(p, 'expression')[0];
    return {
      name: idText(name),
      nameSpan: tokSpan(name),
      type: typeRef(node(p, 'typeRef')),
      default: def && expr(def),
      span: nodeSpan(p),
    };
  }

  function typeRef(t: CstNode): A.TypeRef {
    const id = toks(t, 'Identifier')[0];
    if (id) {
      if (!TYPE_NAMES.has(id.image)) {
        diagnostics.push(
          error('E_TYPE', `unknown type '${id.image}'`, tokSpan(id), {
            hint: 'types are tensor, int, float, bool, string and lists of them: [int]',
          }),
        );
        return { kind: 'int', span: tokSpan(id) };
      }
      return { kind: id.image as 'tensor', span: tokSpan(id) };
    }
    return { kind: 'list', of: typeRef(node(t, 'typeRef')), span: nodeSpan(t) };
  }

  function body(b: CstNode): A.Stmt[] {
    return nodes(b, 'statement').map(statement);
  }

  function statement(s: CstNode): A.Stmt {
    const [key, children] = Object.entries(s.children)[0]!;
    const n = (children as CstNode[])[0]!;
    const sp = nodeSpan(n);
    switch (key) {
      case 'inputStmt': {
        const ids = toks(n, 'Identifier');
        const exprs = nodes(n, 'expression').map(expr);
        const hasStride = ids.length > 1;
        return {
          kind: 'input',
          name: idText(ids[0]!),
          nameSpan: tokSpan(ids[0]!),
          dims: hasStride ? exprs.slice(0, -1) : exprs,
          stride: hasStride ? exprs[exprs.length - 1] : undefined,
          span: sp,
        };
      }
      case 'outStmt':
      case 'unusedStmt':
      case 'assignStmt': {
        const id = tok(n, 'Identifier');
        const kind = key === 'outStmt' ? 'out' : key === 'unusedStmt' ? 'unused' : 'assign';
        return {
          kind,
          name: idText(id),
          nameSpan: tokSpan(id),
          value: expr(node(n, 'expression')),
          span: sp,
        };
      }
      case 'ifStmt':
        return ifStmt(n);
      case 'assertStmt': {
        const msg = toks(n, 'StringLiteral')[0];
        return { kind: 'assert', cond: expr(node(n, 'expression')), message: msg && unquote(msg), span: sp };
      }
      case 'lossStmt':
        return { kind: 'loss', value: expr(node(n, 'expression')), span: sp };
      default:
        throw new Error(`unexpected statement ${key}`);
    }
  }

  function ifStmt(n: CstNode): A.Stmt {
    const bodies = nodes(n, 'body');
    const elseIf = nodes(n, 'ifStmt')[0];
    return {
      kind: 'if',
      cond: expr(node(n, 'expression')),
      then: body(bodies[0]!),
      else: elseIf ? [ifStmt(elseIf)] : bodies[1] ? body(bodies[1]) : undefined,
      span: nodeSpan(n),
    };
  }

  function expr(e: CstNode): A.Expr {
    const c = nodes(e, 'conditional')[0];
    if (c) {
      const [cond, a, b] = nodes(c, 'expression').map(expr);
      return { kind: 'cond', cond: cond!, then: a!, else: b!, span: nodeSpan(c) };
    }
    return orExpr(node(e, 'orExpr'));
  }

  // Left-associative chains: operands and operators are stored in two ordered lists.
  function chain(
    n: CstNode,
    operandKey: string,
    sub: (c: CstNode) => A.Expr,
    opKeys: readonly string[],
  ): A.Expr {
    const operands = nodes(n, operandKey).map(sub);
    const ops = opKeys.flatMap((k) => toks(n, k)).sort((a, b) => a.startOffset - b.startOffset);
    let left = operands[0]!;
    ops.forEach((op, i) => {
      const right = operands[i + 1]!;
      left = { kind: 'binary', op: op.image as A.BinaryOp, left, right, span: join(left.span, right.span) };
    });
    return left;
  }

  function orExpr(n: CstNode): A.Expr {
    return chain(n, 'andExpr', andExpr, ['Or']);
  }
  function andExpr(n: CstNode): A.Expr {
    return chain(n, 'notExpr', notExpr, ['And']);
  }
  function notExpr(n: CstNode): A.Expr {
    const inner = nodes(n, 'notExpr')[0];
    if (inner) return { kind: 'unary', op: 'not', operand: notExpr(inner), span: nodeSpan(n) };
    return chain(node(n, 'comparison'), 'additive', additive, ['EqEq', 'NotEq', 'LtEq', 'GtEq', 'Lt', 'Gt']);
  }
  function additive(n: CstNode): A.Expr {
    return chain(n, 'multiplicative', multiplicative, ['Plus', 'Minus']);
  }
  function multiplicative(n: CstNode): A.Expr {
    return chain(n, 'unary', unary, ['Star', 'Slash', 'Percent']);
  }
  function unary(n: CstNode): A.Expr {
    const inner = nodes(n, 'unary')[0];
    if (inner) {
      const operand = unary(inner);
      // Fold a minus sign into a literal so `-1` is a literal with the span of the whole text.
      if (operand.kind === 'int' || operand.kind === 'float')
        return { ...operand, value: -operand.value, span: nodeSpan(n) };
      return { kind: 'unary', op: '-', operand, span: nodeSpan(n) };
    }
    return postfix(node(n, 'postfix'));
  }

  function postfix(n: CstNode): A.Expr {
    let e = primary(node(n, 'primary'));
    for (const s of nodes(n, 'postfixSuffix')) {
      const sp = join(e.span, nodeSpan(s));
      if (s.children.argList) {
        if (e.kind !== 'name') {
          diagnostics.push(
            error('E_SYNTAX', 'only a layer or block name can be called', e.span, {
              hint: 'write `name(args)`',
            }),
          );
          continue;
        }
        e = { kind: 'call', callee: e.name, calleeSpan: e.span, args: args(node(s, 'argList')), span: sp };
      } else if (s.children.Dot) {
        const id = tok(s, 'Identifier');
        e = { kind: 'member', object: e, name: idText(id), nameSpan: tokSpan(id), span: sp };
      } else {
        e = { kind: 'index', object: e, index: expr(node(s, 'expression')), span: sp };
      }
    }
    return e;
  }

  function args(list: CstNode): A.Arg[] {
    return nodes(list, 'argument').map((a) => {
      const id = toks(a, 'Identifier')[0];
      const value = expr(node(a, 'expression'));
      return id
        ? { name: idText(id), nameSpan: tokSpan(id), value, span: nodeSpan(a) }
        : { value, span: nodeSpan(a) };
    });
  }

  function primary(n: CstNode): A.Expr {
    const [key, children] = Object.entries(n.children).filter(
      ([k]) => k !== 'LParen' && k !== 'RParen',
    )[0]! as [string, CstElement[]];
    const t = children[0] as IToken;
    switch (key) {
      case 'FloatLiteral':
        return { kind: 'float', value: Number(t.image), span: tokSpan(t) };
      case 'IntLiteral':
        return { kind: 'int', value: Number(t.image), span: tokSpan(t) };
      case 'StringLiteral':
        return { kind: 'string', value: unquote(t), span: tokSpan(t) };
      case 'True':
      case 'False':
        return { kind: 'bool', value: key === 'True', span: tokSpan(t) };
      case 'Identifier':
        return { kind: 'name', name: idText(t), span: tokSpan(t) };
      case 'listLiteral': {
        const l = children[0] as CstNode;
        return { kind: 'list', items: nodes(l, 'expression').map(expr), span: nodeSpan(l) };
      }
      case 'expression': {
        const inner = expr(children[0] as CstNode);
        return inner;
      }
      case 'seqExpr': {
        const s = children[0] as CstNode;
        return {
          kind: 'seq',
          input: expr(node(s, 'expression')),
          items: nodes(s, 'seqItem').map(seqItem),
          span: nodeSpan(s),
        };
      }
      default:
        throw new Error(`unexpected primary ${key}`);
    }
  }

  function seqItem(s: CstNode): A.SeqItem {
    const id = tok(s, 'Identifier');
    const argList = node(s, 'argList');
    const call: A.CallExpr = {
      kind: 'call',
      callee: idText(id),
      calleeSpan: tokSpan(id),
      args: args(argList),
      span: join(tokSpan(id), nodeSpan(argList)),
    };
    const rep = nodes(s, 'unary')[0];
    return { call, repeat: rep && unary(rep), span: nodeSpan(s) };
  }
}
