/**
 * Reads a rendered SVG back into a tree (fast-xml-parser), failing on XML that is not well formed,
 * so tests can check what the diagram says rather than how its text looks.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export interface SvgElement {
  readonly tag: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly SvgElement[];
  /** The element's own text, entities decoded. */
  readonly text: string;
}

type Parsed = Record<string, unknown>;

function convert(node: Parsed): SvgElement | null {
  const tag = Object.keys(node).find((k) => k !== ':@');
  if (tag === undefined || tag === '#text' || tag.startsWith('?')) return null;
  const rawChildren = (node[tag] as Parsed[]) ?? [];
  const attrs = (node[':@'] as Record<string, string> | undefined) ?? {};
  const children = rawChildren.map(convert).filter((c): c is SvgElement => c !== null);
  const text = rawChildren.map((c) => (typeof c['#text'] === 'string' ? c['#text'] : '')).join('');
  return { tag, attrs, children, text };
}

export function readSvg(svgText: string): SvgElement {
  const valid = XMLValidator.validate(svgText);
  if (valid !== true) throw new Error(`SVG is not well-formed XML: ${valid.err.msg} at line ${valid.err.line}`);
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', preserveOrder: true, parseAttributeValue: false, parseTagValue: false, trimValues: false });
  const top = (parser.parse(svgText) as Parsed[]).map(convert).filter((c): c is SvgElement => c !== null);
  const svg = top.find((e) => e.tag === 'svg');
  if (svg === undefined) throw new Error('no <svg> element');
  return svg;
}

export function findAll(root: SvgElement, test: (e: SvgElement) => boolean): SvgElement[] {
  const out: SvgElement[] = [];
  const visit = (e: SvgElement): void => {
    if (test(e)) out.push(e);
    e.children.forEach(visit);
  };
  visit(root);
  return out;
}

export const hasClass = (e: SvgElement, c: string): boolean => (e.attrs.class ?? '').split(/\s+/).includes(c);

export const byClass = (root: SvgElement, ...classes: string[]): SvgElement[] => findAll(root, (e) => classes.every((c) => hasClass(e, c)));

export const titleOf = (e: SvgElement): string | undefined => e.children.find((c) => c.tag === 'title')?.text;

export const child = (e: SvgElement, tag: string, cls?: string): SvgElement | undefined => e.children.find((c) => c.tag === tag && (cls === undefined || hasClass(c, cls)));
