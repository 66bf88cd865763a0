// The review panel: builds itself from the JSON in #review-data with text nodes only (never markup),
// and turns the maker's choices into pairs.csv and book.toml files to drop into the book folder.
(function () {
  const source = document.getElementById('review-data');
  const panel = document.getElementById('review-items');
  if (!source || !panel) return;
  const data = JSON.parse(source.textContent);
  const choices = new Map();   // generated path -> drawing path, or '-' (from no drawing of this book)
  const names = new Map();     // book.toml section -> the real name
  const texts = new Map();     // book.toml section -> a new story text
  const drawingName = new Map(data.drawings.map(function (d) { return [d.path, d.name]; }));

  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) { node.setAttribute(key, attributes[key]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }
  function picture(base64, alt) {
    const img = el('img', {alt: alt, class: 'thumb'});
    img.src = 'data:image/jpeg;base64,' + base64;
    return img;
  }
  // the panel's words for a variation the book proposes for a drawing (ReviewReason in review.py)
  const PROPOSALS = {
    'proposed-for-empty': {
      choice: 'had few or no variations: proposed',
      question: function (name) {
        return 'Neither it nor the pictures most like it clearly match a drawing, and ' + name
          + ' had few or none: is it from ' + name + '?';
      },
    },
    'proposed-with-look-alikes': {
      choice: 'has most of the pictures like it: proposed',
      question: function (name) {
        return 'It looks about as much like another drawing, but most of the pictures like it are with '
          + name + ': is it from ' + name + '?';
      },
    },
  };
  // the panel's question for a variation left out of the book and proposed for no drawing (ReviewReason)
  const HELD_QUESTIONS = {
    'held': ': left out of the book, which drawing is it from?',
    'held-no-drawing': ': left out of the book. It and the pictures most like it match none of the drawings'
      + ' well: is their drawing missing from the book? Which drawing is it from, if any?',
  };
  function percent(p) { return p < 0.01 ? '< 1 %' : Math.round(p * 100) + ' %'; }
  function fileName(path) { return path.slice(path.lastIndexOf('/') + 1); }
  function updateCount() {
    const count = choices.size + names.size + texts.size;
    document.getElementById('review-count').textContent = count === 0 ? 'No changes yet.'
      : count + (count === 1 ? ' change' : ' changes') + ' to download.';
  }

  data.variations.forEach(function (variation, index) {
    const group = 'variation-' + index;
    // a proposal rests on the book (where the pictures most like it are), not on its own odds
    const proposal = PROPOSALS[variation.reason];
    const proposedName = proposal ? (drawingName.get(variation.candidates[0].drawing)
                                     || fileName(variation.candidates[0].drawing)) : '';
    const held = variation.reason in HELD_QUESTIONS || !!proposal;
    const options = el('div', {class: 'options'});
    function option(value, label, thumbnail, checked, onChange) {
      const input = el('input', {type: 'radio', name: group, value: value});
      input.checked = !!checked;
      input.addEventListener('change', onChange || function () {
        if (value === '') choices.delete(variation.generated); else choices.set(variation.generated, value);
        updateCount();
      });
      const parts = [input];
      if (thumbnail) parts.push(picture(thumbnail, label));
      parts.push(el('span', {}, [label]));
      options.appendChild(el('label', {class: 'option'}, parts));
      return input;
    }
    option('', held ? 'Leave it out for now' : 'Keep it where it is', null, true);
    variation.candidates.forEach(function (candidate, rank) {
      const thumb = (data.drawings.find(function (d) { return d.path === candidate.drawing; }) || {}).thumbnail;
      const why = proposal && rank === 0 ? proposal.choice : percent(candidate.probability) + ' sure';
      option(candidate.drawing, 'With ' + (drawingName.get(candidate.drawing) || fileName(candidate.drawing))
             + ' (' + fileName(candidate.drawing) + ', ' + why + ')', thumb, false);
    });
    const select = el('select', {'aria-label': 'another drawing for ' + fileName(variation.generated)});
    data.drawings.forEach(function (d) { select.appendChild(el('option', {value: d.path}, [d.name + ' (' + fileName(d.path) + ')'])); });
    function pickOther() { other.checked = true; choices.set(variation.generated, select.value); updateCount(); }
    const other = option('*', 'With another drawing:', null, false, pickOther);
    select.addEventListener('change', pickOther);
    options.lastChild.appendChild(select);
    option('-', 'Not from any drawing in this book', null, false);
    panel.appendChild(el('fieldset', {class: 'item variation', 'data-generated': variation.generated}, [
      el('legend', {}, [fileName(variation.generated) + (proposal
        ? ': left out of the book. ' + proposal.question(proposedName)
        : held ? HELD_QUESTIONS[variation.reason] : ': printed, but is it with the right drawing?')]),
      picture(variation.thumbnail, 'Variation ' + fileName(variation.generated)), options]));
  });

  data.drawings.filter(function (d) { return d.named_by_us; }).forEach(function (drawing) {
    const parts = [el('legend', {}, [fileName(drawing.path)]), picture(drawing.thumbnail, 'Drawing ' + fileName(drawing.path))];
    const fieldsBox = el('div', {class: 'fields'});
    const input = el('input', {type: 'text', placeholder: drawing.name, 'aria-label': 'real name of ' + fileName(drawing.path)});
    input.addEventListener('input', function () {
      const value = input.value.trim();
      if (value) names.set(drawing.section, value); else names.delete(drawing.section);
      updateCount();
    });
    fieldsBox.appendChild(el('label', {}, ['We called it “' + drawing.name + '”. Its real name: ', input]));
    const note = 'Its story (change it if you like):';
    const area = el('textarea', {rows: '3', 'aria-label': 'story text of ' + fileName(drawing.path)});
    area.value = drawing.text;
    area.addEventListener('input', function () {
      const value = area.value.trim();
      if (value && value !== drawing.text.trim()) texts.set(drawing.section, value); else texts.delete(drawing.section);
      updateCount();
    });
    fieldsBox.appendChild(el('label', {}, [note, area]));
    parts.push(fieldsBox);
    panel.appendChild(el('fieldset', {class: 'item drawing', 'data-drawing': drawing.path}, parts));
  });

  // pairs.csv: the rows the book already obeyed, each replaced where the maker chose again.
  function csvCell(text) {
    return /[",\r\n]/.test(text) || text !== text.trim() ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function pairsCsv() {
    const rows = new Map(data.pairs_rows.map(function (row) { return [row[0], row[1]]; }));
    choices.forEach(function (drawing, generated) { rows.set(generated, drawing); });
    const lines = ['generated,drawing'];
    Array.from(rows.keys()).sort().forEach(function (generated) {
      lines.push(csvCell(generated) + ',' + csvCell(rows.get(generated)));
    });
    return lines.join('\n') + '\n';
  }

  // book.toml: the settings the book used, with the new names and texts in the drawings' sections.
  function tomlString(text) {
    let out = '"';
    for (const ch of text) {
      const code = ch.codePointAt(0);
      if (ch === '"') out += '\\"';
      else if (ch === '\\') out += '\\\\';
      else if (ch === '\n') out += '\\n';
      else if (ch === '\t') out += '\\t';
      else if (ch === '\r') out += '\\r';
      else if (code < 0x20 || code === 0x7f) out += '\\u' + code.toString(16).padStart(4, '0');
      else out += ch;
    }
    return out + '"';
  }
  function tomlValue(value) {
    if (typeof value === 'string') return tomlString(value);
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (Array.isArray(value)) return '[' + value.map(tomlValue).join(', ') + ']';
    throw new Error('book.toml value of an unexpected kind');
  }
  function bookToml() {
    const settings = JSON.parse(JSON.stringify(data.settings));
    const sections = settings.drawings || {};
    delete settings.drawings;
    names.forEach(function (name, section) { sections[section] = Object.assign(sections[section] || {}, {title: name}); });
    texts.forEach(function (text, section) { sections[section] = Object.assign(sections[section] || {}, {text: text}); });
    const lines = ['# book.toml from the preview of this book: your settings, with the names and stories you gave.'];
    Object.keys(settings).forEach(function (key) { lines.push(key + ' = ' + tomlValue(settings[key])); });
    Object.keys(sections).sort().forEach(function (section) {
      lines.push('', '[drawings.' + tomlString(section) + ']');
      Object.keys(sections[section]).forEach(function (key) { lines.push(key + ' = ' + tomlValue(sections[section][key])); });
    });
    return lines.join('\n') + '\n';
  }

  function download(name, text, type) {
    const link = el('a', {download: name});
    link.href = URL.createObjectURL(new Blob([text], {type: type}));
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  }
  document.getElementById('download-pairs').addEventListener('click', function () {
    download('pairs.csv', pairsCsv(), 'text/csv;charset=utf-8');
  });
  document.getElementById('download-toml').addEventListener('click', function () {
    download('book.toml', bookToml(), 'application/toml;charset=utf-8');
  });
  updateCount();
})();
