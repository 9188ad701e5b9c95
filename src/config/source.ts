// images.yaml as text with positions: parses with `yaml` keeping a line counter, turns YAML
// syntax problems into Diagnostics, and maps a path in the data (`images.keystone.parent`)
// back to `file:line:col` so every later check can point at the offending node.
import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Pair,
  parseDocument,
  visit,
  type YAMLMap,
} from 'yaml';
import { type Diagnostic, error, type SourceLocation, warning } from '../errors.js';
import { pathKey, type SourceIndex } from './source-index.js';

export type DataPath = ReadonlyArray<string | number>;

export interface SourceDocument {
  /** The file as the user should see it in messages. */
  displayFile: string;
  /** Plain data (`toJS`), or undefined when the YAML could not be read at all. */
  data: unknown;
  /** YAML syntax errors and warnings, with positions. */
  diagnostics: Diagnostic[];
  /**
   * Position of the node at `path`. A scalar points at its value; a mapping or list that is the
   * value of a key points at the key, which is where a reader looks. Falls back to the nearest
   * ancestor that exists.
   */
  locate(path: DataPath): SourceLocation;
  /** Position of the key of the pair at `path` (its last segment), e.g. for "unknown key". */
  locateKey(path: DataPath): SourceLocation;
  /** Keys of the mapping at `path` in file order (plain objects put integer-like keys first). */
  keysAt(path: DataPath): string[];
}

export interface ParsedSource extends SourceDocument {
  /**
   * Every node's position, for source-index.ts to store and reuse while the text is unchanged;
   * null when the document cannot be stored that way (problems, aliases, non-JSON values).
   */
  index(): SourceIndex | null;
}

export function parseSource(text: string, displayFile: string): ParsedSource {
  const lineCounter = new LineCounter();
  // Duplicate keys are found below in linear time; yaml's own uniqueKeys check compares every
  // pair of keys, which is slow for a file with thousands of images.
  // resolveKnownTags: false keeps YAML 1.1's !!binary, !!set, !!timestamp… unresolved too, so
  // every explicit tag beyond plain data is refused below, not turned into a Buffer or a Date.
  const doc = parseDocument(text, {
    lineCounter,
    uniqueKeys: false,
    prettyErrors: true,
    resolveKnownTags: false,
  });
  const at = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file: displayFile, line, col };
  };
  // An unresolved tag (`!!js/function`, `!!python/object`, `!Ref`) is an error, not a warning:
  // images.yaml is plain data, and the value would otherwise be read as a string and used.
  const unsafe = doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED');
  const yamlErrors = [...doc.errors, ...unsafe].sort((a, b) => a.pos[0] - b.pos[0]);
  const diagnostics: Diagnostic[] = [
    ...yamlErrors
      .slice(0, YAML_ERRORS_SHOWN)
      .map((e) => error(yamlMessage(e.message), { loc: at(e.pos[0]) })),
    ...doc.warnings
      .filter((w) => w.code !== 'TAG_RESOLVE_FAILED')
      .map((w) => warning(yamlMessage(w.message), { loc: at(w.pos[0]) })),
  ];
  if (yamlErrors.length > YAML_ERRORS_SHOWN) {
    const rest = yamlErrors.length - YAML_ERRORS_SHOWN;
    diagnostics.push(
      error(`${rest} more YAML error${rest === 1 ? '' : 's'} (is this a YAML file?)`, {
        loc: at(yamlErrors[YAML_ERRORS_SHOWN]!.pos[0]),
      }),
    );
  }
  let data: unknown;
  if (yamlErrors.length === 0) {
    // A repeated key is reported, and its first occurrence is the one read and located, so the
    // rest of the file is still checked in the same run.
    diagnostics.push(...duplicateKeys(doc, at));
    // An alias needs an anchor (`&name`): a text without '&' has none, and this walk of every
    // node is ≈ 10 ms of a cold start for a large file.
    const recursive = text.includes('&') ? recursiveAliases(doc, at) : [];
    diagnostics.push(...recursive);
    if (recursive.length === 0) {
      try {
        data = doc.toJS({ maxAliasCount: 1000 });
      } catch (e) {
        diagnostics.push(error((e as Error).message, { loc: at(0) }));
      }
    }
  }
  const start: SourceLocation = { file: displayFile, line: 1, col: 1 };

  function locate(dataPath: DataPath): SourceLocation {
    const found = walk(doc, dataPath);
    if (found.complete) {
      const { node, keyNode } = found;
      if (keyNode && (node === undefined || isCollection(node) || isNullScalar(node)))
        return offsetOf(keyNode);
      if (node) return offsetOf(node);
    }
    if (found.keyNode) return offsetOf(found.keyNode);
    return found.node ? offsetOf(found.node) : start;
  }

  function locateKey(dataPath: DataPath): SourceLocation {
    const found = walk(doc, dataPath);
    if (found.complete && found.keyNode) return offsetOf(found.keyNode);
    return locate(dataPath);
  }

  function keysAt(dataPath: DataPath): string[] {
    const found = walk(doc, dataPath);
    if (!found.complete || !found.node || !isMap(found.node)) return [];
    return found.node.items.flatMap((p) => (isScalar(p.key) ? [String(p.key.value)] : []));
  }

  function offsetOf(node: Node): SourceLocation {
    return node.range ? at(node.range[0]) : start;
  }

  function index(): SourceIndex | null {
    if (diagnostics.length > 0 || data === undefined || !jsonSafe(data)) return null;
    const nodes: SourceIndex['nodes'] = {};
    const keys: SourceIndex['keys'] = {};
    let storable = true;
    const position = (node: Node | undefined): [number, number] => {
      if (!node) return [0, 0];
      const loc = offsetOf(node);
      return [loc.line, loc.col];
    };
    const visitNode = (node: Node | undefined, path: string, keyNode: Node | undefined) => {
      if (!storable) return;
      if (node && isAlias(node)) {
        storable = false; // an alias is one node at many paths: parse such files every time
        return;
      }
      const pointAtKey = node === undefined || isCollection(node) || isNullScalar(node) ? 1 : 0;
      nodes[path] = [...position(node), ...position(keyNode), pointAtKey];
      if (node && isMap(node)) {
        keys[path] = node.items.flatMap((p) => (isScalar(p.key) ? [String(p.key.value)] : []));
        for (const [key, pair] of pairsByKey(node)) {
          if (key.includes('\u0000')) storable = false;
          visitNode((pair.value ?? undefined) as Node | undefined, `${path}\u0000${key}`, pair.key as Node);
        }
      } else if (node && isSeq(node)) {
        node.items.forEach((item, i) => {
          visitNode(item as Node, `${path}\u0000${i}`, undefined);
        });
      }
    };
    visitNode((doc.contents ?? undefined) as Node | undefined, pathKey([]), undefined);
    return storable ? { data, nodes, keys } : null;
  }

  return { displayFile, data, diagnostics, locate, locateKey, keysAt, index };
}

/** Whether `JSON.parse(JSON.stringify(value))` gives the same value back. */
function jsonSafe(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value) && !Object.is(value, -0);
  if (Array.isArray(value)) return value.every(jsonSafe);
  if (typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.entries(value).every(([k, v]) => k !== '__proto__' && jsonSafe(v));
}

/** A file with more YAML errors than this is probably not YAML: the rest are counted, not listed. */
const YAML_ERRORS_SHOWN = 10;

/**
 * `yaml` appends "at line L, column C:" and a code excerpt; the location is printed separately.
 * Unresolved tags get arbor's own words; quoted source text is shortened (a binary or minified
 * file would otherwise be echoed).
 */
function yamlMessage(message: string): string {
  const text = message.replace(/ at line \d+, column \d+:[\s\S]*$/, '').trim();
  if (/Maximum call stack size exceeded/.test(text))
    return 'YAML: nested too deeply (hundreds of levels of lists or mappings) to read';
  const tag = /^Unresolved tag: (.*)$/.exec(text);
  if (tag)
    return `YAML tag ${yamlTagName(tag[1]!)} is not allowed: images.yaml holds plain data (strings, numbers, true/false, lists, mappings)`;
  return `YAML: ${text.replace(/"((?:[^"\\]|\\.){60})(?:[^"\\]|\\.)+"/g, '"$1…"')}`;
}

/** `tag:yaml.org,2002:js/function` as the user wrote it: `!!js/function`. */
function yamlTagName(tag: string): string {
  return tag.startsWith('tag:yaml.org,2002:') ? `!!${tag.slice('tag:yaml.org,2002:'.length)}` : tag;
}

/**
 * Every key that repeats in its mapping: YAML would silently keep the last one. Under
 * `images:` that is a duplicate image name. The repeats are removed from the document, so the
 * data holds the first occurrence, the one positions point at.
 */
function duplicateKeys(doc: Document, at: (offset: number) => SourceLocation): Diagnostic[] {
  const found: Diagnostic[] = [];
  const imagesMap: unknown = isMap(doc.contents) ? doc.contents.get('images', true) : undefined;
  const repeats: Array<{ map: YAMLMap; pair: Pair }> = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (!seen.has(key)) {
          seen.add(key);
          continue;
        }
        const what = map === imagesMap ? 'duplicate image name' : 'duplicate key';
        found.push(error(`${what} "${key}"`, { loc: at(pair.key.range?.[0] ?? 0) }));
        repeats.push({ map, pair });
      }
    },
  });
  for (const { map, pair } of repeats) map.items.splice(map.items.indexOf(pair), 1);
  return found;
}

/** `&a [*a]` is a structure holding itself: valid YAML, but no configuration. */
function recursiveAliases(doc: Document, at: (offset: number) => SourceLocation): Diagnostic[] {
  const found: Diagnostic[] = [];
  visit(doc, {
    Alias(_key, alias, ancestors) {
      const target = alias.resolve(doc);
      if (target && ancestors.includes(target as never))
        found.push(
          error(`YAML: alias *${alias.source} refers to a node that contains it`, {
            loc: at(alias.range?.[0] ?? 0),
          }),
        );
    },
  });
  return found;
}

function isNullScalar(node: Node): boolean {
  return isScalar(node) && node.value === null;
}

interface WalkResult {
  /** True when every segment of the path was found. */
  complete: boolean;
  /** The deepest node reached. */
  node?: Node;
  /** The key of the pair holding `node`, when it was reached through a mapping. */
  keyNode?: Node;
}

const keyIndex = new WeakMap<YAMLMap, Map<string, Pair>>();

/** The pairs of a mapping by key, built once per mapping: locating is then O(depth). */
function pairsByKey(map: YAMLMap): Map<string, Pair> {
  let index = keyIndex.get(map);
  if (!index) {
    index = new Map();
    for (const pair of map.items) {
      // The first occurrence wins for positions, as the duplicate itself is reported.
      if (isScalar(pair.key) && !index.has(String(pair.key.value))) index.set(String(pair.key.value), pair);
    }
    keyIndex.set(map, index);
  }
  return index;
}

function walk(doc: Document, dataPath: DataPath): WalkResult {
  let node: Node | undefined = (doc.contents ?? undefined) as Node | undefined;
  let keyNode: Node | undefined;
  for (const segment of dataPath) {
    if (node && isAlias(node)) node = (node.resolve(doc) as Node | undefined) ?? node;
    if (node && isMap(node)) {
      const pair = pairsByKey(node).get(String(segment));
      if (!pair) return { complete: false, node, keyNode };
      keyNode = pair.key as Node;
      node = (pair.value ?? undefined) as Node | undefined;
      if (node && isAlias(node)) node = (node.resolve(doc) as Node | undefined) ?? node;
      continue;
    }
    if (node && isSeq(node)) {
      const index = typeof segment === 'number' ? segment : Number.parseInt(segment, 10);
      const item = Number.isInteger(index) ? (node.items[index] as Node | undefined) : undefined;
      if (!item) return { complete: false, node, keyNode };
      node = item;
      keyNode = undefined;
      continue;
    }
    return { complete: false, node, keyNode };
  }
  return { complete: true, node, keyNode };
}
