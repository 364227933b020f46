// The browser benchmark's part of docs/benchmarks.md (tests/browser/bench.mjs
// --out): one section between BEGIN and END, holding one block per label
// ("before", "after", …) between its own markers. Writing a label replaces
// only that label's block, adding the section or the block when missing;
// everything else in the file is kept as it is. `make bench`
// (cmd/bucketdesk-bench), which rewrites the rest of the file, keeps the
// section the same way.

export const BEGIN = '<!-- bench-browser:begin -->';
export const END = '<!-- bench-browser:end -->';

const labelBegin = (label) => `<!-- bench-browser:run ${label} -->`;
const labelEnd = (label) => `<!-- bench-browser:end-run ${label} -->`;

/** validLabel says whether label may name a block: lowercase letters, digits and hyphens. */
export function validLabel(label) {
  return /^[a-z0-9][a-z0-9-]{0,39}$/.test(label);
}

/** labelBlock wraps body (Markdown) in label's markers. */
export function labelBlock(label, body) {
  return `${labelBegin(label)}\n${body.trim()}\n${labelEnd(label)}`;
}

/**
 * spliceSection returns doc with the block of label set to body. intro is
 * the section's text before its blocks, used only when doc has no section
 * yet (the section is then appended to doc). An existing block of label is
 * replaced in place; a new one goes at the end of the section.
 */
export function spliceSection(doc, label, body, intro) {
  if (!validLabel(label)) throw new Error(`label ${JSON.stringify(label)}: use lowercase letters, digits and hyphens`);
  const block = labelBlock(label, body);
  let b = doc.indexOf(BEGIN);
  let e = doc.indexOf(END);
  if ((b < 0) !== (e < 0) || e < b) throw new Error(`the file has a broken ${BEGIN} … ${END} section; fix it by hand`);
  if (b < 0) {
    const sep = doc === '' || doc.endsWith('\n\n') ? '' : doc.endsWith('\n') ? '\n' : '\n\n';
    doc = `${doc}${sep}${BEGIN}\n${intro.trim()}\n\n${END}\n`;
    b = doc.indexOf(BEGIN);
    e = doc.indexOf(END);
  }
  const section = doc.slice(b, e);
  const lb = section.indexOf(labelBegin(label));
  const le = section.indexOf(labelEnd(label));
  if ((lb < 0) !== (le < 0) || le < lb) throw new Error(`the block of label ${label} is broken; fix it by hand`);
  let next;
  if (lb >= 0) {
    next = section.slice(0, lb) + block + section.slice(le + labelEnd(label).length);
  } else {
    next = `${section.replace(/\n*$/, '')}\n\n${block}\n\n`;
  }
  return doc.slice(0, b) + next + doc.slice(e);
}
