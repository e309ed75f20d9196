// The grammar of the .fcn language as a chevrotain CstParser, with error recovery on: one run reports every
// syntax error of a file. Semantics live in to_ast.ts and check.ts, never here.
//
//   file      := (import | block | model)*
//   import    := 'import' STRING (',' STRING)*
//   block     := 'block' NAME '(' params? ')' body          model := 'model' NAME '(' params? ')' body
//   param     := NAME ':' type ('=' expr)?                  type  := NAME | '[' type ']'
//   body      := '{' stmt* '}'
//   stmt      := 'input' NAME ':' '[' expr,* ']' ('stride' expr)? | 'out' NAME '=' expr | 'unused' NAME '=' expr
//              | 'if' expr body ('else' (if | body))? | 'assert' expr (',' STRING)? | 'loss' expr | NAME '=' expr
//   expr      := 'if' expr 'then' expr 'else' expr | or
//   or/and/not, comparison, + -, * / %, unary -, postfix: call '(' args ')', member '.' NAME, index '[' expr ']'
//   primary   := INT | FLOAT | STRING | true | false | NAME | '[' expr,* ']' | '(' expr ')' | seq
//   seq       := 'seq' '(' expr ')' '[' seqItem,* ']'       seqItem := NAME '(' args? ')' ('*' unary)?
//   arg       := NAME '=' expr | expr
import {
  CstParser,
  EOF,
  type IRecognitionException,
  type IToken,
  type TokenType,
  type IParserErrorMessageProvider,
} from 'chevrotain';
import * as T from './tokens.ts';

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual }) {
    return `expected ${label(expected)} but found ${describe(actual)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `expected a 'block', 'model' or 'import' but found ${describe(firstRedundant)}`;
  },
  buildNoViableAltMessage({ actual, ruleName }) {
    return `${describe(actual[0])} cannot start ${ruleDescription(ruleName)} here`;
  },
  buildEarlyExitMessage({ actual, ruleName }) {
    return `expected ${ruleDescription(ruleName)} but found ${describe(actual[0])}`;
  },
};

function label(t: TokenType): string {
  return t.LABEL ?? t.name;
}
function describe(tok: IToken | undefined): string {
  if (!tok || tok.tokenType === EOF) return 'the end of the file';
  return `'${tok.image}'`;
}
function ruleDescription(rule: string): string {
  const names: Record<string, string> = {
    topItem: "a 'block', 'model' or 'import'",
    statement: 'a statement',
    expression: 'an expression',
    primary: 'an expression',
    typeRef: 'a type',
    argument: 'an argument',
    postfixSuffix: 'a call, member access or index',
  };
  return names[rule] ?? `a ${rule}`;
}

class FcnParser extends CstParser {
  constructor() {
    super(T.allTokens, {
      recoveryEnabled: true,
      nodeLocationTracking: 'onlyOffset',
      errorMessageProvider: messages,
      maxLookahead: 3,
    });
    this.performSelfAnalysis();
  }

  file = this.RULE('file', () => {
    this.MANY(() => this.SUBRULE(this.topItem));
  });

  topItem = this.RULE('topItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.importDecl) },
      { ALT: () => this.SUBRULE(this.blockDecl) },
      { ALT: () => this.SUBRULE(this.modelDecl) },
    ]);
  });

  importDecl = this.RULE('importDecl', () => {
    this.CONSUME(T.Import);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.CONSUME(T.StringLiteral) });
  });

  blockDecl = this.RULE('blockDecl', () => {
    this.CONSUME(T.Block);
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.paramList);
    this.SUBRULE(this.body);
  });

  modelDecl = this.RULE('modelDecl', () => {
    this.CONSUME(T.Model);
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.paramList);
    this.SUBRULE(this.body);
  });

  paramList = this.RULE('paramList', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.param) });
    this.CONSUME(T.RParen);
  });

  param = this.RULE('param', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.SUBRULE(this.typeRef);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expression);
    });
  });

  typeRef = this.RULE('typeRef', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Identifier) },
      {
        ALT: () => {
          this.CONSUME(T.LBracket);
          this.SUBRULE(this.typeRef);
          this.CONSUME(T.RBracket);
        },
      },
    ]);
  });

  body = this.RULE('body', () => {
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.statement));
    this.CONSUME(T.RBrace);
  });

  statement = this.RULE('statement', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.inputStmt) },
      { ALT: () => this.SUBRULE(this.outStmt) },
      { ALT: () => this.SUBRULE(this.unusedStmt) },
      { ALT: () => this.SUBRULE(this.ifStmt) },
      { ALT: () => this.SUBRULE(this.assertStmt) },
      { ALT: () => this.SUBRULE(this.lossStmt) },
      { ALT: () => this.SUBRULE(this.assignStmt) },
    ]);
  });

  inputStmt = this.RULE('inputStmt', () => {
    this.CONSUME(T.Input);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Colon);
    this.CONSUME(T.LBracket);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expression) });
    this.CONSUME(T.RBracket);
    // `stride` is a contextual word here (it is also a parameter name of conv and pooling layers).
    this.OPTION({
      GATE: () =>
        this.LA(1).tokenType === T.Identifier &&
        this.LA(1).image === 'stride' &&
        this.LA(2).tokenType !== T.Equals,
      DEF: () => {
        this.CONSUME2(T.Identifier);
        this.SUBRULE2(this.expression);
      },
    });
  });

  outStmt = this.RULE('outStmt', () => {
    this.CONSUME(T.Out);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  unusedStmt = this.RULE('unusedStmt', () => {
    this.CONSUME(T.Unused);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  ifStmt = this.RULE('ifStmt', () => {
    this.CONSUME(T.If);
    this.SUBRULE(this.expression);
    this.SUBRULE(this.body);
    this.OPTION(() => {
      this.CONSUME(T.Else);
      this.OR([{ ALT: () => this.SUBRULE(this.ifStmt) }, { ALT: () => this.SUBRULE2(this.body) }]);
    });
  });

  assertStmt = this.RULE('assertStmt', () => {
    this.CONSUME(T.Assert);
    this.SUBRULE(this.expression);
    this.OPTION(() => {
      this.CONSUME(T.Comma);
      this.CONSUME(T.StringLiteral);
    });
  });

  lossStmt = this.RULE('lossStmt', () => {
    this.CONSUME(T.Loss);
    this.SUBRULE(this.expression);
  });

  assignStmt = this.RULE('assignStmt', () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression);
  });

  expression = this.RULE('expression', () => {
    this.OR([{ ALT: () => this.SUBRULE(this.conditional) }, { ALT: () => this.SUBRULE(this.orExpr) }]);
  });

  conditional = this.RULE('conditional', () => {
    this.CONSUME(T.If);
    this.SUBRULE(this.expression);
    this.CONSUME(T.Then);
    this.SUBRULE2(this.expression);
    this.CONSUME(T.Else);
    this.SUBRULE3(this.expression);
  });

  orExpr = this.RULE('orExpr', () => {
    this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(T.Or);
      this.SUBRULE2(this.andExpr);
    });
  });

  andExpr = this.RULE('andExpr', () => {
    this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(T.And);
      this.SUBRULE2(this.notExpr);
    });
  });

  notExpr = this.RULE('notExpr', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Not);
          this.SUBRULE(this.notExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.comparison) },
    ]);
  });

  comparison = this.RULE('comparison', () => {
    this.SUBRULE(this.additive);
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.EqEq) },
        { ALT: () => this.CONSUME(T.NotEq) },
        { ALT: () => this.CONSUME(T.LtEq) },
        { ALT: () => this.CONSUME(T.GtEq) },
        { ALT: () => this.CONSUME(T.Lt) },
        { ALT: () => this.CONSUME(T.Gt) },
      ]);
      this.SUBRULE2(this.additive);
    });
  });

  additive = this.RULE('additive', () => {
    this.SUBRULE(this.multiplicative);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      this.SUBRULE2(this.multiplicative);
    });
  });

  multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star) },
        { ALT: () => this.CONSUME(T.Slash) },
        { ALT: () => this.CONSUME(T.Percent) },
      ]);
      this.SUBRULE2(this.unary);
    });
  });

  unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.postfix) },
    ]);
  });

  postfix = this.RULE('postfix', () => {
    this.SUBRULE(this.primary);
    this.MANY(() => this.SUBRULE(this.postfixSuffix));
  });

  postfixSuffix = this.RULE('postfixSuffix', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.argList) },
      {
        ALT: () => {
          this.CONSUME(T.Dot);
          this.CONSUME(T.Identifier);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.LBracket);
          this.SUBRULE(this.expression);
          this.CONSUME(T.RBracket);
        },
      },
    ]);
  });

  argList = this.RULE('argList', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.argument) });
    this.CONSUME(T.RParen);
  });

  argument = this.RULE('argument', () => {
    this.OR([
      {
        GATE: () => this.LA(2).tokenType === T.Equals,
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.CONSUME(T.Equals);
          this.SUBRULE(this.expression);
        },
      },
      { ALT: () => this.SUBRULE2(this.expression) },
    ]);
  });

  primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.FloatLiteral) },
      { ALT: () => this.CONSUME(T.IntLiteral) },
      { ALT: () => this.CONSUME(T.StringLiteral) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.CONSUME(T.Identifier) },
      { ALT: () => this.SUBRULE(this.listLiteral) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expression);
          this.CONSUME(T.RParen);
        },
      },
      { ALT: () => this.SUBRULE(this.seqExpr) },
    ]);
  });

  listLiteral = this.RULE('listLiteral', () => {
    this.CONSUME(T.LBracket);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expression) });
    this.CONSUME(T.RBracket);
  });

  seqExpr = this.RULE('seqExpr', () => {
    this.CONSUME(T.Seq);
    this.CONSUME(T.LParen);
    this.SUBRULE(this.expression);
    this.CONSUME(T.RParen);
    this.CONSUME(T.LBracket);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.seqItem) });
    this.CONSUME(T.RBracket);
  });

  seqItem = this.RULE('seqItem', () => {
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.argList);
    this.OPTION(() => {
      this.CONSUME(T.Star);
      this.SUBRULE(this.unary);
    });
  });
}

export const parser = new FcnParser();

export interface ParseResult {
  cst: ReturnType<FcnParser['file']>;
  lexErrors: { offset: number; length: number; message: string }[];
  parseErrors: IRecognitionException[];
}

export function parseText(text: string): ParseResult {
  const lexed = T.lexer.tokenize(text);
  parser.input = lexed.tokens;
  const cst = parser.file();
  return {
    cst,
    lexErrors: lexed.errors.map((e) => ({ offset: e.offset, length: e.length, message: e.message })),
    parseErrors: [...parser.errors],
  };
}
