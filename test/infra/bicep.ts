/**
 * Offline checks on the Bicep templates: parse with tree-sitter-bicep (no Bicep compiler can run on the development and
 * CI machines) and read declarations, resources, app settings and outputs from the syntax tree. This is syntax plus project rules, not semantic validation: `bicep build` and
 * `az deployment sub what-if` must still run where Azure is reachable (docs/deploy.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import Parser from 'tree-sitter';
import Bicep from 'tree-sitter-bicep';

export type SyntaxNode = Parser.SyntaxNode;

export interface ParsedBicep {
  /** Path relative to the repository root (for messages). */
  file: string;
  source: string;
  root: SyntaxNode;
  /** Names declared with `extension <name>` statements. */
  extensions: string[];
}

let parser: Parser | undefined;
function getParser(): Parser {
  if (!parser) {
    parser = new Parser();
    parser.setLanguage(Bicep as unknown as Parser.Language);
  }
  return parser;
}

/**
 * `extension <alias>` (Bicep 0.30+, the way the Microsoft Graph extension is imported) is newer than the
 * tree-sitter-bicep 1.1.0 grammar, which only knows `import`/`provider`. Such statements are recognised here with a
 * strict pattern, recorded, and blanked with spaces (same length, so positions stay right) before parsing; anything
 * else starting with `extension` is left for the parser to reject.
 */
const EXTENSION_STATEMENT = /^extension[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*(?=\r?$)/gm;

export function parseBicep(source: string, file = '<inline>'): ParsedBicep {
  const extensions: string[] = [];
  const blanked = source.replace(EXTENSION_STATEMENT, (m: string, name: string) => {
    extensions.push(name);
    return ' '.repeat(m.length);
  });
  const tree = getParser().parse(blanked);
  return { file, source, root: tree.rootNode, extensions };
}

export function parseBicepFile(repoRoot: string, relPath: string): ParsedBicep {
  return parseBicep(fs.readFileSync(path.join(repoRoot, relPath), 'utf8'), relPath);
}

/** Every `.bicep` file under `dir` (relative to repoRoot), sorted. */
export function listBicepFiles(repoRoot: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(repoRoot, rel), { withFileTypes: true })) {
      const child = path.posix.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.name.endsWith('.bicep')) out.push(child);
    }
  };
  walk(dir);
  return out.sort();
}

/** ERROR and MISSING nodes as `file:line:col message` (1-based). */
export function syntaxProblems(parsed: ParsedBicep): string[] {
  const problems: string[] = [];
  const walk = (n: SyntaxNode) => {
    if (n.type === 'ERROR' || n.isMissing) {
      const at = `${parsed.file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}`;
      const snippet = parsed.source.slice(n.startIndex, Math.min(n.endIndex, n.startIndex + 40)).replace(/\s+/g, ' ');
      problems.push(n.isMissing ? `${at} MISSING ${n.type}` : `${at} syntax error near '${snippet}'`);
    }
    for (const c of n.children) walk(c);
  };
  walk(parsed.root);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// Values

/** The text of a string literal without interpolation, else undefined. */
export function stringLiteral(node: SyntaxNode | null | undefined): string | undefined {
  if (!node || node.type !== 'string') return undefined;
  if (node.namedChildren.some((c) => c.type === 'interpolation')) return undefined;
  return node.namedChildren
    .filter((c) => c.type === 'string_content' || c.type === 'escape_sequence')
    .map((c) => c.text)
    .join('');
}

export function booleanLiteral(node: SyntaxNode | null | undefined): boolean | undefined {
  if (!node || node.type !== 'boolean') return undefined;
  return node.text === 'true';
}

/** The object a resource/module body stands for, looking through `if (...) {}` and `[for ...: {}]`. */
export function bodyObject(node: SyntaxNode | null | undefined): SyntaxNode | undefined {
  if (!node) return undefined;
  if (node.type === 'object') return node;
  if (node.type === 'if_statement' || node.type === 'for_statement') {
    const inner = node.namedChildren.filter((c) => c.type === 'object' || c.type === 'if_statement');
    return bodyObject(inner[inner.length - 1]);
  }
  return undefined;
}

/** Key of an `object_property` (identifier or string key), or undefined for nested declarations. */
function propertyKey(prop: SyntaxNode): string | undefined {
  const key = prop.namedChildren[0];
  if (!key) return undefined;
  if (key.type === 'identifier') return key.text;
  if (key.type === 'string') return stringLiteral(key);
  return undefined;
}

/** `key: value` pairs of an object literal, in order. */
export function objectEntries(obj: SyntaxNode | undefined): Array<{ key: string; value: SyntaxNode }> {
  if (!obj || obj.type !== 'object') return [];
  const out: Array<{ key: string; value: SyntaxNode }> = [];
  for (const prop of obj.namedChildren) {
    if (prop.type !== 'object_property') continue;
    const key = propertyKey(prop);
    const value = prop.namedChildren[prop.namedChildren.length - 1];
    if (key !== undefined && value && prop.namedChildren.length >= 2) out.push({ key, value });
  }
  return out;
}

/** Value at a dotted path inside an object literal (`properties.functionAppConfig.runtime`). */
export function propertyAt(obj: SyntaxNode | undefined, dotted: string): SyntaxNode | undefined {
  let current: SyntaxNode | undefined = obj;
  for (const key of dotted.split('.')) {
    current = objectEntries(current).find((e) => e.key.toLowerCase() === key.toLowerCase())?.value;
    if (!current) return undefined;
  }
  return current;
}

// ---------------------------------------------------------------------------------------------------------------
// Declarations

export interface Declaration {
  kind: 'param' | 'var' | 'output';
  name: string;
  /** Declared type text for params/outputs (`string`, `bool`…). */
  type?: string;
  /** Default value (param), value (var, output). */
  value?: SyntaxNode;
  /** Decorator names, e.g. `secure`, `description`. */
  decorators: string[];
  node: SyntaxNode;
}

function decoratorNames(decl: SyntaxNode): string[] {
  let prev = decl.previousNamedSibling;
  while (prev && prev.type === 'comment') prev = prev.previousNamedSibling;
  if (!prev || prev.type !== 'decorators') return [];
  return prev.namedChildren
    .filter((d) => d.type === 'decorator')
    .map((d) => {
      const call = d.namedChildren[0];
      const fn = call?.type === 'call_expression' ? call.namedChildren[0] : call;
      // `@sys.secure()` → member_expression; take the last identifier.
      return (fn?.text ?? '').split('.').pop() ?? '';
    });
}

const DECL_KINDS: Record<string, Declaration['kind']> = {
  parameter_declaration: 'param',
  variable_declaration: 'var',
  output_declaration: 'output',
};

export function declarations(parsed: ParsedBicep): Declaration[] {
  const out: Declaration[] = [];
  for (const node of parsed.root.namedChildren) {
    const kind = DECL_KINDS[node.type];
    if (!kind) continue;
    const named = node.namedChildren;
    const name = named[0]?.text ?? '';
    const typeNode = named.find((c) => c.type === 'type');
    const hasValue = node.children.some((c) => c.type === '=');
    const value = hasValue ? named[named.length - 1] : undefined;
    out.push({ kind, name, type: typeNode?.text, value, decorators: decoratorNames(node), node });
  }
  return out;
}

export const params = (p: ParsedBicep) => declarations(p).filter((d) => d.kind === 'param');
export const variables = (p: ParsedBicep) => declarations(p).filter((d) => d.kind === 'var');
export const outputs = (p: ParsedBicep) => declarations(p).filter((d) => d.kind === 'output');

export interface ResourceDecl {
  symbol: string;
  /** Full type, nested child types resolved against their parents (`Microsoft.Storage/storageAccounts/tableServices`). */
  type: string;
  apiVersion: string;
  existing: boolean;
  /** The body (looking through if/for), if any. */
  body?: SyntaxNode;
  conditional: boolean;
  loop: boolean;
  node: SyntaxNode;
}

function splitTypeString(text: string): { type: string; apiVersion: string } {
  const at = text.lastIndexOf('@');
  return at < 0 ? { type: text, apiVersion: '' } : { type: text.slice(0, at), apiVersion: text.slice(at + 1) };
}

/** Every resource declaration, including ones nested in a parent's body. */
export function resources(parsed: ParsedBicep): ResourceDecl[] {
  const out: ResourceDecl[] = [];
  const visit = (node: SyntaxNode, parent?: ResourceDecl) => {
    if (node.type === 'resource_declaration') {
      const named = node.namedChildren;
      const typeText = stringLiteral(named[1]) ?? '';
      let { type, apiVersion } = splitTypeString(typeText);
      if (parent && !type.includes('/')) {
        type = `${parent.type}/${type}`;
        apiVersion ||= parent.apiVersion;
      }
      const value = named[named.length - 1];
      const decl: ResourceDecl = {
        symbol: named[0]?.text ?? '',
        type,
        apiVersion,
        existing: node.children.some((c) => c.type === 'existing'),
        body: bodyObject(value),
        conditional: value?.type === 'if_statement',
        loop: value?.type === 'for_statement',
        node,
      };
      out.push(decl);
      for (const c of node.namedChildren) visit(c, decl);
      return;
    }
    for (const c of node.namedChildren) visit(c, parent);
  };
  visit(parsed.root);
  return out;
}

export interface ModuleDecl {
  symbol: string;
  path: string;
  body?: SyntaxNode;
  conditional: boolean;
  node: SyntaxNode;
}

export function modules(parsed: ParsedBicep): ModuleDecl[] {
  return parsed.root.namedChildren
    .filter((n) => n.type === 'module_declaration')
    .map((node) => {
      const named = node.namedChildren;
      const value = named[named.length - 1];
      return {
        symbol: named[0]?.text ?? '',
        path: stringLiteral(named[1]) ?? '',
        body: bodyObject(value),
        conditional: value?.type === 'if_statement',
        node,
      };
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Function App settings

/**
 * Object literals an expression stands for: an object, a `union(a, b, …)` of such, or an identifier naming a `var`
 * in the same file. Anything else (a param, a module output) cannot be read offline and is reported as unresolved.
 */
export function resolveObjects(parsed: ParsedBicep, expr: SyntaxNode): { objects: SyntaxNode[]; unresolved: string[] } {
  const vars = new Map(variables(parsed).map((v) => [v.name, v.value]));
  const objects: SyntaxNode[] = [];
  const unresolved: string[] = [];
  const seen = new Set<string>();
  const visit = (n: SyntaxNode | undefined) => {
    if (!n) return;
    if (n.type === 'object') objects.push(n);
    else if (n.type === 'parenthesized_expression') visit(n.namedChildren[0]);
    else if (n.type === 'identifier' && vars.has(n.text) && !seen.has(n.text)) {
      seen.add(n.text);
      visit(vars.get(n.text));
    } else if (n.type === 'call_expression' && n.namedChildren[0]?.text === 'union') {
      const args = n.namedChildren[1];
      for (const a of args?.namedChildren ?? []) visit(a);
    } else unresolved.push(n.text);
  };
  visit(expr);
  return { objects, unresolved };
}

export interface AppSettings {
  /** Setting name → value expression. */
  settings: Map<string, SyntaxNode>;
  /** Expressions that could not be read offline (each would hide settings from the checks). */
  unresolved: string[];
  /** The `Microsoft.Web/sites/config` 'appsettings' resources and `siteConfig.appSettings` arrays found. */
  sources: number;
}

/** App settings of every Function App in the file: `sites/config` named 'appsettings' and `siteConfig.appSettings`. */
export function appSettings(parsed: ParsedBicep): AppSettings {
  const settings = new Map<string, SyntaxNode>();
  const unresolved: string[] = [];
  let sources = 0;
  for (const r of resources(parsed)) {
    if (r.existing || !r.body) continue;
    if (r.type === 'Microsoft.Web/sites/config' && stringLiteral(propertyAt(r.body, 'name')) === 'appsettings') {
      sources += 1;
      const props = propertyAt(r.body, 'properties');
      if (!props) continue;
      const res = resolveObjects(parsed, props);
      unresolved.push(...res.unresolved);
      for (const o of res.objects) for (const e of objectEntries(o)) settings.set(e.key, e.value);
    }
    if (r.type === 'Microsoft.Web/sites') {
      const arr = propertyAt(r.body, 'properties.siteConfig.appSettings');
      if (!arr) continue;
      sources += 1;
      for (const item of arr.namedChildren) {
        const name = stringLiteral(propertyAt(item, 'name'));
        const value = propertyAt(item, 'value');
        if (name && value) settings.set(name, value);
        else unresolved.push(item.text);
      }
    }
  }
  return { settings, unresolved, sources };
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers for rules

/** Identifiers used anywhere inside a node. */
export function identifiersIn(node: SyntaxNode): string[] {
  const out: string[] = [];
  const walk = (n: SyntaxNode) => {
    if (n.type === 'identifier') out.push(n.text);
    for (const c of n.namedChildren) walk(c);
  };
  walk(node);
  return out;
}

/** Names of functions called anywhere inside a node (`listKeys`, `union`…). */
export function callsIn(node: SyntaxNode): string[] {
  const out: string[] = [];
  const walk = (n: SyntaxNode) => {
    if (n.type === 'call_expression') out.push((n.namedChildren[0]?.text ?? '').split('.').pop() ?? '');
    for (const c of n.namedChildren) walk(c);
  };
  walk(node);
  return out;
}

/** String literals (without interpolation) anywhere inside a node. */
export function stringsIn(node: SyntaxNode): string[] {
  const out: string[] = [];
  const walk = (n: SyntaxNode) => {
    const s = stringLiteral(n);
    if (s !== undefined) out.push(s);
    for (const c of n.namedChildren) walk(c);
  };
  walk(node);
  return out;
}

/** Source with the resource whose symbolic name is `symbol` removed (for mutation tests). */
export function withoutResource(parsed: ParsedBicep, symbol: string): string {
  const r = resources(parsed).find((x) => x.symbol === symbol);
  if (!r) throw new Error(`no resource '${symbol}' in ${parsed.file}`);
  return parsed.source.slice(0, r.node.startIndex) + parsed.source.slice(r.node.endIndex);
}
