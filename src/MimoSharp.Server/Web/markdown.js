// A small Markdown renderer for model output that can never inject markup: it builds DOM nodes with
// createElement and textContent only (never innerHTML), from a fixed set of tags, and links keep only
// http(s) and mailto targets. Handles what chat models write: paragraphs, headings, fenced code blocks
// (an unclosed fence while streaming runs to the end), inline code, bold, italic, strikethrough, links,
// lists, block quotes and rules.

const FENCE = /^ {0,3}(```+|~~~+)\s*([\w+#.-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;
const BULLET = /^(\s*)[-*+]\s+(.*)$/;
const ORDERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;

/** Renders Markdown source into a fresh element (a div of block elements). */
export function renderMarkdown(source, options = {}) {
  const root = document.createElement('div');
  root.className = 'markdown';
  renderBlocks(String(source ?? '').replace(/\r\n?/g, '\n').split('\n'), root, options);
  return root;
}

function renderBlocks(lines, parent, options) {
  let i = 0;
  let paragraph = [];
  const flush = () => {
    if (paragraph.length === 0) return;
    const p = document.createElement('p');
    appendInline(p, paragraph.join('\n'));
    parent.append(p);
    paragraph = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if ((m = FENCE.exec(line))) {
      flush();
      const fence = m[1];
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence)) body.push(lines[i++]);
      i++; // the closing fence (or past the end while the block is still streaming)
      parent.append(codeBlock(body.join('\n'), m[2], options));
    } else if ((m = HEADING.exec(line))) {
      flush();
      const h = document.createElement('h' + Math.min(6, m[1].length + 2)); // h3..h6 inside a message
      appendInline(h, m[2]);
      parent.append(h);
      i++;
    } else if (RULE.test(line)) {
      flush();
      parent.append(document.createElement('hr'));
      i++;
    } else if (QUOTE.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) { quoted.push(m[1]); i++; }
      const q = document.createElement('blockquote');
      renderBlocks(quoted, q, options);
      parent.append(q);
    } else if (BULLET.test(line) || ORDERED.test(line)) {
      flush();
      i = renderList(lines, i, parent, options);
    } else if (line.trim() === '') {
      flush();
      i++;
    } else {
      paragraph.push(line);
      i++;
    }
  }
  flush();
}

function renderList(lines, start, parent, options) {
  const ordered = !BULLET.test(lines[start]);
  const pattern = ordered ? ORDERED : BULLET;
  const list = document.createElement(ordered ? 'ol' : 'ul');
  const first = pattern.exec(lines[start]);
  const indent = first[1].length;
  if (ordered && first[2] !== '1') list.start = Number(first[2]);
  let i = start;
  let item = null;
  let itemLines = [];
  const close = () => {
    if (item === null) return;
    renderBlocks(itemLines, item, options);
    // A tight item is one paragraph: show its text without the paragraph's margins.
    if (item.childElementCount === 1 && item.firstElementChild.tagName === 'P') item.firstElementChild.replaceWith(...item.firstElementChild.childNodes);
    list.append(item);
  };
  while (i < lines.length) {
    const line = lines[i];
    const m = pattern.exec(line);
    if (m && m[1].length <= indent) {
      close();
      item = document.createElement('li');
      itemLines = [ordered ? m[3] : m[2]];
      i++;
    } else if (line.trim() !== '' && (/^\s/.test(line) || (!BULLET.test(line) && !ORDERED.test(line) && itemLines.length > 0 && lines[i - 1].trim() !== ''))) {
      itemLines.push(line.replace(/^\s{1,4}/, '')); // nested list, continuation line
      i++;
    } else {
      break;
    }
  }
  close();
  parent.append(list);
  return i;
}

function codeBlock(code, language, options) {
  const wrapper = document.createElement('div');
  wrapper.className = 'code-block';
  const bar = document.createElement('div');
  bar.className = 'code-bar';
  const label = document.createElement('span');
  label.textContent = language || 'text';
  bar.append(label);
  if (options.onCopy) {
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.className = 'copy-code';
    copy.textContent = 'Copy';
    copy.addEventListener('click', () => options.onCopy(code, copy));
    bar.append(copy);
  }
  const pre = document.createElement('pre');
  const element = document.createElement('code');
  if (language) element.dataset.language = language;
  element.textContent = code;
  pre.append(element);
  wrapper.append(bar, pre);
  return wrapper;
}

// Inline spans, earliest match first; the text between matches is plain text.
const INLINE = [
  { re: /`([^`\n]+)`/, make: m => textElement('code', m[1]) },
  { re: /\*\*(?=\S)([\s\S]*?\S)\*\*/, make: m => nested('strong', m[1]) },
  { re: /__(?=\S)([\s\S]*?\S)__(?!\w)/, make: m => nested('strong', m[1]) },
  { re: /~~(?=\S)([\s\S]*?\S)~~/, make: m => nested('del', m[1]) },
  { re: /\*(?=[^\s*])([\s\S]*?[^\s*])\*/, make: m => nested('em', m[1]) },
  { re: /(?<!\w)_(?=[^\s_])([\s\S]*?[^\s_])_(?!\w)/, make: m => nested('em', m[1]) },
  { re: /\[([^\]\n]+)\]\(([^)\s]+)\)/, make: m => link(m[1], m[2]) },
];

export function appendInline(parent, text) {
  while (text.length > 0) {
    let best = null;
    for (const rule of INLINE) {
      const m = rule.re.exec(text);
      if (m && (best === null || m.index < best.m.index)) best = { m, rule };
    }
    if (best === null) {
      parent.append(document.createTextNode(text));
      return;
    }
    if (best.m.index > 0) parent.append(document.createTextNode(text.slice(0, best.m.index)));
    parent.append(best.rule.make(best.m));
    text = text.slice(best.m.index + best.m[0].length);
  }
}

function textElement(tag, text) {
  const element = document.createElement(tag);
  element.textContent = text;
  return element;
}

function nested(tag, text) {
  const element = document.createElement(tag);
  appendInline(element, text);
  return element;
}

/** A link only for http(s) and mailto targets; anything else (javascript:, data:) stays visible text. */
function link(label, target) {
  let url = null;
  try {
    url = new URL(target, document.baseURI);
  } catch {
    url = null;
  }
  if (url === null || !['http:', 'https:', 'mailto:'].includes(url.protocol)) return document.createTextNode(`[${label}](${target})`);
  const a = document.createElement('a');
  a.href = url.href;
  a.rel = 'noopener noreferrer nofollow';
  a.target = '_blank';
  appendInline(a, label);
  return a;
}
