// The signal form's model: the common shapes of a signal (a threshold, a
// sequence or a score over simple matches) as plain fields, read from and
// written to the same YAML document the editor holds.
//
// The reader understands the YAML the form writes and what people usually
// write by hand for these shapes: block and flow mappings, lists of
// mappings, plain and quoted scalars, comments; and JSON. Anything else
// (block scalars, anchors, several documents, fields the form has no
// control for) is declined with the reason, and the YAML stays the way to
// edit it. The server validates whatever is saved either way.

const KINDS = ['threshold', 'sequence', 'score'];
const MATCH_FIELDS = ['type', 'url', 'content_id', 'keywords'];
const TOP_FIELDS = ['id', 'name', 'owner', 'audience', 'scope', 'priority', 'when', 'cooldown', 'message'];

// ---------------------------------------------------------------- reading

class Declined extends Error {}

function decline(msg) {
  throw new Declined(msg);
}

// stripComment removes a # comment that is not inside quotes.
function stripComment(line) {
  let q = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = '';
    } else if (c === '"' || c === "'") {
      q = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      return line.slice(0, i);
    }
  }
  return line;
}

// scalar reads a plain or quoted scalar; numbers become numbers.
function scalar(raw, line) {
  const s = raw.trim();
  if (s === '' || s === '~' || s === 'null') return null;
  if (s[0] === '"') {
    try {
      return JSON.parse(s);
    } catch {
      decline(`line ${line}: a "…" string the form cannot read`);
    }
  }
  if (s[0] === "'") {
    if (s.length < 2 || s[s.length - 1] !== "'") decline(`line ${line}: a '…' string is not closed`);
    return s.slice(1, -1).replace(/''/g, "'");
  }
  if (/^[|>]/.test(s)) decline(`line ${line}: a | or > block; edit it as YAML`);
  if (/^[&*!]/.test(s)) decline(`line ${line}: anchors and tags; edit it as YAML`);
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  return s;
}

// flow reads a flow mapping or list ({a: b, c: [d, e]}) at s[i].
function flow(s, line) {
  let i = 0;
  const ws = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  const token = (stops) => {
    ws();
    if (s[i] === '"' || s[i] === "'") {
      const q = s[i];
      let j = i + 1;
      while (j < s.length && s[j] !== q) j += s[j] === '\\' && q === '"' ? 2 : 1;
      if (j >= s.length) decline(`line ${line}: a string is not closed`);
      const v = scalar(s.slice(i, j + 1), line);
      i = j + 1;
      return v;
    }
    let j = i;
    while (j < s.length && !stops.includes(s[j])) j++;
    const v = scalar(s.slice(i, j), line);
    i = j;
    return v;
  };
  const value = () => {
    ws();
    if (s[i] === '{') return map();
    if (s[i] === '[') return list();
    return token(',}]');
  };
  const map = () => {
    i++; // {
    const out = {};
    for (;;) {
      ws();
      if (s[i] === '}') {
        i++;
        return out;
      }
      const k = token(':,}');
      ws();
      if (s[i] !== ':') decline(`line ${line}: a key without a colon in { … }`);
      i++;
      out[String(k)] = value();
      ws();
      if (s[i] === ',') i++;
      else if (s[i] !== '}') decline(`line ${line}: a { … } is not closed`);
    }
  };
  const list = () => {
    i++; // [
    const out = [];
    for (;;) {
      ws();
      if (s[i] === ']') {
        i++;
        return out;
      }
      out.push(value());
      ws();
      if (s[i] === ',') i++;
      else if (s[i] !== ']') decline(`line ${line}: a [ … ] is not closed`);
    }
  };
  const v = value();
  ws();
  if (i < s.length) decline(`line ${line}: text after the closing bracket`);
  return v;
}

function inlineValue(rest, line) {
  const t = rest.trim();
  if (t[0] === '{' || t[0] === '[') return flow(t, line);
  return scalar(t, line);
}

// parseYAML reads the block-structured subset described above.
function parseYAML(text) {
  const lines = [];
  text.split('\n').forEach((raw, n) => {
    const body = stripComment(raw.replace(/\r$/, ''));
    if (body.trim() === '' || /^(---|\.\.\.)\s*$/.test(body)) {
      if (/^---/.test(body) && lines.length) decline(`line ${n + 1}: several documents; edit them as YAML`);
      return;
    }
    if (/^\t/.test(body)) decline(`line ${n + 1}: a tab; indent with spaces`);
    lines.push({ indent: body.match(/^ */)[0].length, text: body.trim(), line: n + 1 });
  });
  let pos = 0;
  const block = (indent) => {
    const first = lines[pos];
    if (first.text.startsWith('- ') || first.text === '-') return seq(first.indent);
    return mapping(first.indent);
  };
  const mapping = (indent) => {
    const out = {};
    while (pos < lines.length && lines[pos].indent === indent && !lines[pos].text.startsWith('- ')) {
      const { text, line } = lines[pos];
      const m = text.match(/^("[^"]*"|'[^']*'|[^:{}[\]]+?)\s*:(?:\s+(.*))?$/);
      if (!m) decline(`line ${line}: expected "key: value"`);
      const key = String(scalar(m[1], line));
      if (Object.hasOwn(out, key)) decline(`line ${line}: ${key} is given twice`);
      pos++;
      if (m[2] !== undefined && m[2].trim() !== '') {
        out[key] = inlineValue(m[2], line);
      } else if (pos < lines.length && lines[pos].indent > indent) {
        out[key] = block(lines[pos].indent);
      } else if (pos < lines.length && lines[pos].indent === indent && lines[pos].text.startsWith('- ')) {
        out[key] = seq(indent);
      } else {
        out[key] = null;
      }
    }
    if (pos < lines.length && lines[pos].indent > indent) decline(`line ${lines[pos].line}: indented more than the key before it`);
    return out;
  };
  const seq = (indent) => {
    const out = [];
    while (pos < lines.length && lines[pos].indent === indent && (lines[pos].text.startsWith('- ') || lines[pos].text === '-')) {
      const { text, line } = lines[pos];
      const rest = text.slice(1).trimStart();
      if (rest === '') {
        pos++;
        out.push(pos < lines.length && lines[pos].indent > indent ? block(lines[pos].indent) : null);
        continue;
      }
      if (rest[0] === '{' || rest[0] === '[' || !/^("[^"]*"|'[^']*'|[^:{}[\]"']+?)\s*:(\s|$)/.test(rest)) {
        out.push(inlineValue(rest, line));
        pos++;
        continue;
      }
      // "- key: value" starts a mapping indented to the key.
      const inner = indent + (text.length - rest.length);
      lines[pos] = { indent: inner, text: rest, line };
      out.push(mapping(inner));
    }
    return out;
  };
  if (!lines.length) decline('the document is empty');
  const doc = block(lines[0].indent);
  if (pos < lines.length) decline(`line ${lines[pos].line}: indented less than the document`);
  return doc;
}

// readDocument parses the editor's text as JSON or the YAML subset.
function readDocument(text) {
  const t = text.trim();
  if (t.startsWith('{')) {
    try {
      return JSON.parse(t);
    } catch (err) {
      decline(`the JSON does not parse: ${err.message}`);
    }
  }
  return parseYAML(text);
}

// ---------------------------------------------------------------- the model

function str(v) {
  return v === null || v === undefined ? '' : String(v);
}

function isMap(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function readMatch(m, where) {
  if (!isMap(m)) decline(`${where} is not a mapping`);
  for (const k of Object.keys(m)) {
    if (!MATCH_FIELDS.includes(k)) decline(`${where} uses ${k}, which the form does not show`);
  }
  if (m.keywords !== undefined && m.keywords !== null && !Array.isArray(m.keywords)) decline(`${where}.keywords is not a list`);
  return {
    type: str(m.type),
    url: str(m.url),
    content_id: str(m.content_id),
    keywords: (m.keywords || []).map(str).join(', '),
  };
}

function only(obj, allowed, where) {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) decline(`${where} uses ${k}, which the form does not show`);
  }
}

/**
 * readForm returns {model} for a text the form can show, or {reason} why
 * it cannot.
 */
export function readForm(text) {
  try {
    const doc = readDocument(text);
    if (!isMap(doc)) decline('the document is not a mapping');
    only(doc, TOP_FIELDS, 'the signal');
    const when = doc.when;
    if (!isMap(when)) decline('when is missing or not a mapping');
    const kinds = Object.keys(when);
    if (kinds.length !== 1 || !KINDS.includes(kinds[0])) decline(`when uses ${kinds.join(', ') || 'nothing'}; the form shows a threshold, a sequence or a score`);
    const kind = kinds[0];
    const w = when[kind];
    if (!isMap(w)) decline(`when.${kind} is not a mapping`);
    const model = {
      id: str(doc.id),
      name: str(doc.name),
      owner: str(doc.owner),
      audience: str(doc.audience),
      scope: str(doc.scope),
      priority: str(doc.priority),
      kind,
      cooldown: str(doc.cooldown),
      message: str(doc.message),
      match: { type: '', url: '', content_id: '', keywords: '' },
      count: '',
      within: '',
      steps: [],
      rules: [],
      half_life: '',
      level: '',
    };
    if (kind === 'threshold') {
      only(w, ['match', 'count', 'within'], 'when.threshold');
      model.match = readMatch(w.match || {}, 'when.threshold.match');
      model.count = str(w.count);
      model.within = str(w.within);
    } else if (kind === 'sequence') {
      only(w, ['steps', 'within'], 'when.sequence');
      if (!Array.isArray(w.steps)) decline('when.sequence.steps is not a list');
      model.steps = w.steps.map((s, i) => readMatch(s, `when.sequence.steps[${i}]`));
      model.within = str(w.within);
    } else {
      only(w, ['rules', 'half_life', 'level'], 'when.score');
      if (!Array.isArray(w.rules)) decline('when.score.rules is not a list');
      model.rules = w.rules.map((r, i) => {
        if (!isMap(r)) decline(`when.score.rules[${i}] is not a mapping`);
        only(r, ['match', 'points'], `when.score.rules[${i}]`);
        return { ...readMatch(r.match || {}, `when.score.rules[${i}].match`), points: str(r.points) };
      });
      model.half_life = str(w.half_life);
      model.level = str(w.level);
    }
    return { model };
  } catch (err) {
    if (err instanceof Declined) return { reason: err.message };
    throw err;
  }
}

// ---------------------------------------------------------------- writing

// quote writes a string as YAML: plain when that reads back the same,
// else double-quoted (JSON's escapes are YAML's).
function quote(s) {
  if (s === '') return '""';
  const plain = /^[A-Za-z0-9_./@-][A-Za-z0-9_./@ -]*$/.test(s) && !/\s$/.test(s) &&
    !/^(true|false|null|yes|no|on|off|~|-?\d+(\.\d+)?)$/i.test(s);
  return plain ? s : JSON.stringify(s);
}

function num(s) {
  const t = String(s).trim();
  return /^-?\d+(\.\d+)?$/.test(t) ? t : quote(t);
}

function matchFlow(m) {
  const parts = [];
  if (m.type.trim()) parts.push(`type: ${quote(m.type.trim())}`);
  if (m.url.trim()) parts.push(`url: ${quote(m.url.trim())}`);
  if (m.content_id.trim()) parts.push(`content_id: ${quote(m.content_id.trim())}`);
  const kws = m.keywords.split(',').map((k) => k.trim()).filter(Boolean);
  if (kws.length) parts.push(`keywords: [${kws.map(quote).join(', ')}]`);
  return `{${parts.join(', ')}}`;
}

/** writeForm writes the model as the signal's YAML document. */
export function writeForm(m) {
  const out = [];
  const field = (k, v) => {
    if (String(v).trim() !== '') out.push(`${k}: ${quote(String(v).trim())}`);
  };
  field('id', m.id);
  field('name', m.name);
  field('owner', m.owner);
  field('audience', m.audience);
  field('scope', m.scope);
  field('priority', m.priority);
  out.push('when:', `  ${m.kind}:`);
  if (m.kind === 'threshold') {
    out.push(`    match: ${matchFlow(m.match)}`);
    if (String(m.count).trim()) out.push(`    count: ${num(m.count)}`);
    if (m.within.trim()) out.push(`    within: ${quote(m.within.trim())}`);
  } else if (m.kind === 'sequence') {
    out.push('    steps:');
    for (const s of m.steps) out.push(`      - ${matchFlow(s)}`);
    if (m.within.trim()) out.push(`    within: ${quote(m.within.trim())}`);
  } else {
    out.push('    rules:');
    for (const r of m.rules) {
      out.push(`      - match: ${matchFlow(r)}`);
      if (String(r.points).trim()) out.push(`        points: ${num(r.points)}`);
    }
    if (m.half_life.trim()) out.push(`    half_life: ${quote(m.half_life.trim())}`);
    if (String(m.level).trim()) out.push(`    level: ${num(m.level)}`);
  }
  field('cooldown', m.cooldown);
  if (m.message.trim()) out.push(`message: ${JSON.stringify(m.message)}`);
  return out.join('\n') + '\n';
}

/** emptyMatch is a match with no field set. */
export const emptyMatch = () => ({ type: '', url: '', content_id: '', keywords: '' });
