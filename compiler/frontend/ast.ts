// The abstract syntax tree of a .fcn file. Plain data, discriminated on `kind`; every node carries a span.
import type { Span } from '../diagnostics.ts';

export type TypeRef =
  | { readonly kind: 'tensor' | 'int' | 'float' | 'bool' | 'string'; readonly span: Span }
  | { readonly kind: 'list'; readonly of: TypeRef; readonly span: Span };

export interface Arg {
  readonly name?: string;
  readonly nameSpan?: Span;
  readonly value: Expr;
  readonly span: Span;
}

export interface CallExpr {
  readonly kind: 'call';
  readonly callee: string;
  readonly calleeSpan: Span;
  readonly args: readonly Arg[];
  readonly span: Span;
}

export interface SeqItem {
  readonly call: CallExpr;
  readonly repeat?: Expr;
  readonly span: Span;
}

export type BinaryOp = '+' | '-' | '*' | '/' | '%' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'and' | 'or';

export type Expr =
  | { readonly kind: 'int'; readonly value: number; readonly span: Span }
  | { readonly kind: 'float'; readonly value: number; readonly span: Span }
  | { readonly kind: 'bool'; readonly value: boolean; readonly span: Span }
  | { readonly kind: 'string'; readonly value: string; readonly span: Span }
  | { readonly kind: 'name'; readonly name: string; readonly span: Span }
  | { readonly kind: 'list'; readonly items: readonly Expr[]; readonly span: Span }
  | CallExpr
  | {
      readonly kind: 'member';
      readonly object: Expr;
      readonly name: string;
      readonly nameSpan: Span;
      readonly span: Span;
    }
  | { readonly kind: 'index'; readonly object: Expr; readonly index: Expr; readonly span: Span }
  | { readonly kind: 'unary'; readonly op: '-' | 'not'; readonly operand: Expr; readonly span: Span }
  | {
      readonly kind: 'binary';
      readonly op: BinaryOp;
      readonly left: Expr;
      readonly right: Expr;
      readonly span: Span;
    }
  | {
      readonly kind: 'cond';
      readonly cond: Expr;
      readonly then: Expr;
      readonly else: Expr;
      readonly span: Span;
    }
  | { readonly kind: 'seq'; readonly input: Expr; readonly items: readonly SeqItem[]; readonly span: Span };

export type Stmt =
  | {
      readonly kind: 'assign';
      readonly name: string;
      readonly nameSpan: Span;
      readonly value: Expr;
      readonly span: Span;
    }
  | {
      readonly kind: 'out';
      readonly name: string;
      readonly nameSpan: Span;
      readonly value: Expr;
      readonly span: Span;
    }
  | {
      readonly kind: 'unused';
      readonly name: string;
      readonly nameSpan: Span;
      readonly value: Expr;
      readonly span: Span;
    }
  | {
      readonly kind: 'input';
      readonly name: string;
      readonly nameSpan: Span;
      readonly dims: readonly Expr[];
      readonly stride?: Expr;
      readonly span: Span;
    }
  | {
      readonly kind: 'if';
      readonly cond: Expr;
      readonly then: readonly Stmt[];
      readonly else?: readonly Stmt[];
      readonly span: Span;
    }
  | { readonly kind: 'assert'; readonly cond: Expr; readonly message?: string; readonly span: Span }
  | { readonly kind: 'loss'; readonly value: Expr; readonly span: Span };

export interface Param {
  readonly name: string;
  readonly nameSpan: Span;
  readonly type: TypeRef;
  readonly default?: Expr;
  readonly span: Span;
}

export interface Decl {
  readonly kind: 'block' | 'model';
  readonly name: string;
  readonly nameSpan: Span;
  readonly params: readonly Param[];
  readonly body: readonly Stmt[];
  readonly span: Span;
}

export interface Import {
  readonly path: string;
  readonly span: Span;
}

export interface Module {
  readonly file: string;
  readonly imports: readonly Import[];
  readonly decls: readonly Decl[];
}

export function typeToString(t: TypeRef): string {
  return t.kind === 'list' ? `[${typeToString(t.of)}]` : t.kind;
}
