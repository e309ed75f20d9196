// Every token of the .fcn language, in one table, and the lexer built from it.
import { createToken, Lexer, type TokenType } from 'chevrotain';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
export const LineComment = createToken({ name: 'LineComment', pattern: /\/\/[^\n]*/, group: Lexer.SKIPPED });
export const BlockComment = createToken({
  name: 'BlockComment',
  pattern: /\/\*[\s\S]*?\*\//,
  group: Lexer.SKIPPED,
  line_breaks: true,
});

export const Identifier = createToken({
  name: 'Identifier',
  pattern: /[A-Za-z_][A-Za-z0-9_]*/,
  label: 'a name',
});
// `name` in backticks is a name even when it is a keyword (the official PyTorch key `head.block.*`).
export const QuotedIdentifier = createToken({
  name: 'QuotedIdentifier',
  pattern: /`[A-Za-z_][A-Za-z0-9_]*`/,
  categories: [Identifier],
  label: 'a name',
});

const keyword = (word: string): TokenType =>
  createToken({
    name: word[0]!.toUpperCase() + word.slice(1),
    pattern: new RegExp(word),
    longer_alt: Identifier,
    label: `'${word}'`,
  });

export const Import = keyword('import');
export const Block = keyword('block');
export const Model = keyword('model');
export const Input = keyword('input');
export const Out = keyword('out');
export const Unused = keyword('unused');
export const Loss = keyword('loss');
export const If = keyword('if');
export const Then = keyword('then');
export const Else = keyword('else');
export const Assert = keyword('assert');
export const Seq = keyword('seq');
export const True = keyword('true');
export const False = keyword('false');
export const And = keyword('and');
export const Or = keyword('or');
export const Not = keyword('not');

// A float has a fraction or an exponent; everything else made of digits is an int.
export const FloatLiteral = createToken({
  name: 'FloatLiteral',
  pattern: /\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+/,
  label: 'a number',
});
export const IntLiteral = createToken({ name: 'IntLiteral', pattern: /\d+/, label: 'a number' });
export const StringLiteral = createToken({
  name: 'StringLiteral',
  pattern: /"(?:[^"\\\n]|\\.)*"/,
  label: 'a string',
});

const punct = (name: string, pattern: RegExp | string, label: string): TokenType =>
  createToken({ name, pattern, label: `'${label}'` });
export const EqEq = punct('EqEq', '==', '==');
export const NotEq = punct('NotEq', '!=', '!=');
export const LtEq = punct('LtEq', '<=', '<=');
export const GtEq = punct('GtEq', '>=', '>=');
export const Lt = punct('Lt', '<', '<');
export const Gt = punct('Gt', '>', '>');
export const Equals = punct('Equals', '=', '=');
export const Plus = punct('Plus', '+', '+');
export const Minus = punct('Minus', '-', '-');
export const Star = punct('Star', '*', '*');
export const Slash = punct('Slash', '/', '/');
export const Percent = punct('Percent', '%', '%');
export const LParen = punct('LParen', '(', '(');
export const RParen = punct('RParen', ')', ')');
export const LBracket = punct('LBracket', '[', '[');
export const RBracket = punct('RBracket', ']', ']');
export const LBrace = punct('LBrace', '{', '{');
export const RBrace = punct('RBrace', '}', '}');
export const Comma = punct('Comma', ',', ',');
export const Colon = punct('Colon', ':', ':');
export const Dot = punct('Dot', '.', '.');

export const keywords = [
  Import,
  Block,
  Model,
  Input,
  Out,
  Unused,
  Loss,
  If,
  Then,
  Else,
  Assert,
  Seq,
  True,
  False,
  And,
  Or,
  Not,
];

// Order matters: comments before '/', longer operators before their prefixes, keywords before identifiers.
export const allTokens: TokenType[] = [
  WhiteSpace,
  LineComment,
  BlockComment,
  ...keywords,
  QuotedIdentifier,
  Identifier,
  FloatLiteral,
  IntLiteral,
  StringLiteral,
  EqEq,
  NotEq,
  LtEq,
  GtEq,
  Lt,
  Gt,
  Equals,
  Plus,
  Minus,
  Star,
  Slash,
  Percent,
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Comma,
  Colon,
  Dot,
];

export const keywordNames = new Set(keywords.map((k) => String(k.PATTERN).replace(/\//g, '')));

export const lexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });
