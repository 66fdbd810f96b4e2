// memscope's HTML report. Everything it shows was aggregated and pruned by memscope
// and sits in the JSON block above; this script only lays it out and switches views.
(function () {
  'use strict';
  var started = performance.now();
  var D = JSON.parse(document.getElementById('memscope-data').textContent);
  var TYPES = D.sample_types;
  var CHART = { width: 1000, height: 220, left: 72, right: 990, top: 10, bottom: 190 };
  var state = { type: 0, a: D.moments.length - 1, b: null, zoom: 0, sort: 'flat' };

  var children = D.nodes.map(function () { return []; });
  D.nodes.forEach(function (node, id) { if (id > 0) children[node[0]].push(id); });

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs) {
    var node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    return node;
  }
  function bytes(value) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], scaled = Math.abs(value), unit = 0;
    while (scaled >= 1024 && unit + 1 < units.length) { scaled /= 1024; unit++; }
    var text = unit === 0 ? String(Math.abs(value)) + ' B' : scaled.toFixed(1) + ' ' + units[unit];
    return (value < 0 ? '-' : '') + text;
  }
  function isBytes(type) { return TYPES[type].indexOf('space') >= 0; }
  function value(v, type) { return isBytes(type) ? bytes(v) : String(v); }
  function signed(v, type) { return (v > 0 ? '+' : '') + value(v, type); }
  function percent(v, total) { return total ? (v * 100 / total).toFixed(2) + '%' : '-'; }
  function ms(t) { return t.toFixed(3) + ' ms'; }
  function momentName(m) {
    var moment = D.moments[m];
    return ms(moment.t_ms) + (moment.kind ? ' (' + moment.kind + ')' : '');
  }

  // Per moment and sample type: node -> [total, self], function -> [flat, cum];
  // per moment: stack -> the four values.
  // A moment lists what changed since the moment before ([key, 0, 0]: gone), so a
  // moment's map is its predecessor's with those changes; each is built once.
  var built = { tree: [], functions: [] };
  function triples(part, m, type) {
    var cache = built[part][type] || (built[part][type] = []);
    var from = m;
    while (from > 0 && !cache[from - 1]) from--;
    for (var k = from; k <= m; k++) {
      if (cache[k]) continue;
      var map = new Map(k > 0 ? cache[k - 1] : undefined), flat = D.moments[k][part][type];
      for (var i = 0; i < flat.length; i += 3) {
        if (flat[i + 1] === 0 && flat[i + 2] === 0) map.delete(flat[i]);
        else map.set(flat[i], [flat[i + 1], flat[i + 2]]);
      }
      cache[k] = map;
    }
    return cache[m];
  }
  function nodeValues(m, type) { return triples('tree', m, type); }
  function functionValues(m, type) { return triples('functions', m, type); }
  function stackValues(m) {
    var flat = D.moments[m].stacks, map = new Map();
    for (var i = 0; i < flat.length; i += 5) map.set(flat[i], flat.slice(i + 1, i + 5));
    return map;
  }
  // The values of the view: a moment's, or in a range the end's minus the start's
  // (what a list leaves out at one end counts as 0 there).
  function viewValues(read) {
    if (state.b === null) return read(state.a);
    var before = read(state.a), after = read(state.b), out = new Map();
    after.forEach(function (v, key) {
      var old = before.get(key) || v.map(function () { return 0; });
      out.set(key, v.map(function (x, i) { return x - old[i]; }));
    });
    before.forEach(function (v, key) {
      if (!after.has(key)) out.set(key, v.map(function (x) { return -x; }));
    });
    return out;
  }
  function viewTotal(type) {
    var total = D.moments[state.b === null ? state.a : state.b].totals[type];
    return state.b === null ? total : total - D.moments[state.a].totals[type];
  }

  // ---- Layout -------------------------------------------------------------------
  var body = document.body;
  body.appendChild(el('h1', {}, D.title));
  var start = D.start_unix_ms ? new Date(D.start_unix_ms).toISOString() : 'unknown';
  body.appendChild(el('div', { class: 'sub' }, 'pid ' + D.pid + ' · ' + D.exe + ' · started ' + start + ' · ' + ms(D.end_ms) + ' recorded'));
  var summary = el('section', { id: 'summary' });
  var s = D.summary;
  [
    ['calls to allocation functions', String(s.allocations)],
    ['calls to free', String(s.frees)],
    ['temporary allocations', String(s.temporary_allocations)],
    ['bytes allocated in total', bytes(s.bytes_allocated)],
    ['peak heap', bytes(s.peak_bytes) + ' at ' + ms(s.peak_time_ms)],
    ['peak RSS', bytes(s.peak_rss_bytes)],
    ['leaked', bytes(s.leaked_bytes) + ' in ' + s.leaked_blocks + ' blocks'],
    ['threads', String(s.threads)],
    ['runtime', ms(s.runtime_ms) + (s.end_reason ? ', ended by ' + s.end_reason : ', incomplete')]
  ].forEach(function (pair) {
    var cell = el('div', {}, pair[1]);
    cell.insertBefore(el('b', {}, pair[0]), cell.firstChild);
    summary.appendChild(cell);
  });
  body.appendChild(summary);

  body.appendChild(el('h2', {}, 'Memory over time'));
  body.appendChild(el('div', { class: 'hint' }, 'Live heap (blue, the highest of every ' + D.chart.interval_ms + ' ms) and RSS (grey, dashed). Click a moment, or drag across a range; the views below follow.'));
  var chart = svg('svg', { id: 'chart', viewBox: '0 0 ' + CHART.width + ' ' + CHART.height,
    'data-plot-left': CHART.left, 'data-plot-right': CHART.right, 'data-end-ms': D.end_ms });
  body.appendChild(chart);
  var selection = el('div', { id: 'selection' });
  body.appendChild(selection);

  var types = el('div', { id: 'types' });
  TYPES.forEach(function (name, type) {
    var button = el('button', { 'data-type': name }, name);
    button.addEventListener('click', function () { state.type = type; state.zoom = 0; render(); });
    types.appendChild(button);
  });
  body.appendChild(types);
  var flameTitle = el('h2', { id: 'flame-title' });
  body.appendChild(flameTitle);
  var flame = el('div', { id: 'flame' });
  body.appendChild(flame);
  body.appendChild(el('h2', {}, 'Top functions'));
  var table = el('table', { id: 'top' });
  body.appendChild(table);
  var stacksTitle = el('h2', { id: 'stacks-title' });
  body.appendChild(stacksTitle);
  var stacksBox = el('div', { id: 'stacks' });
  body.appendChild(stacksBox);
  var p = D.pruning;
  body.appendChild(el('footer', { id: 'pruning' },
    'What this page leaves out: memscope aggregated the recording (' + p.distinct_stacks + ' distinct stacks, ' +
    p.tree_nodes + ' call-tree frames, ' + p.functions + ' functions) at ' + D.moments.length +
    ' moments; a click or a drag snaps to the nearest of them. Stacks under ' + (p.min_share * 100) +
    "% of a moment's total are folded into 'other' in the flame graph (at most " + p.max_nodes +
    ' frames per view' + (p.capped_views ? '; ' + p.capped_views + ' views were cut to that' : '') +
    '). The table keeps the ' + p.top_functions + ' largest functions by flat and by cum, the stack list the ' +
    p.top_stacks + ' stacks with most live bytes. In a range, what one end leaves out counts as 0 there. ' +
    'For all of it, use memscope top --at, memscope leaks, or memscope export --format pprof.'));

  // ---- Chart --------------------------------------------------------------------
  var plotWidth = CHART.right - CHART.left, plotHeight = CHART.bottom - CHART.top;
  var end = D.end_ms || 1;
  var highest = Math.max(1, Math.max.apply(null, D.chart.heap.concat(D.chart.rss.filter(function (v) { return v !== null; }))));
  function x(t) { return CHART.left + Math.max(0, Math.min(1, t / end)) * plotWidth; }
  function y(v) { return CHART.bottom - (v / highest) * plotHeight; }
  function drawChart() {
    chart.appendChild(svg('line', { class: 'axis', x1: CHART.left, y1: CHART.bottom, x2: CHART.right, y2: CHART.bottom }));
    chart.appendChild(svg('line', { class: 'axis', x1: CHART.left, y1: CHART.top, x2: CHART.left, y2: CHART.bottom }));
    [0, 0.5, 1].forEach(function (f) {
      var label = svg('text', { x: CHART.left - 4, y: y(highest * f) + 4, 'text-anchor': 'end' });
      label.textContent = bytes(Math.round(highest * f));
      chart.appendChild(label);
      var time = svg('text', { x: x(end * f), y: CHART.bottom + 16, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle' });
      time.textContent = ms(end * f);
      chart.appendChild(time);
    });
    var heap = D.chart.t_ms.map(function (t, i) { return x(t).toFixed(1) + ',' + y(D.chart.heap[i]).toFixed(1); });
    chart.appendChild(svg('polyline', { class: 'heap', points: heap.join(' ') }));
    var rss = [];
    D.chart.t_ms.forEach(function (t, i) {
      if (D.chart.rss[i] !== null) rss.push(x(t).toFixed(1) + ',' + y(D.chart.rss[i]).toFixed(1));
    });
    if (rss.length) chart.appendChild(svg('polyline', { class: 'rss', points: rss.join(' ') }));
    D.moments.forEach(function (moment) {
      chart.appendChild(svg('line', { class: 'tick', x1: x(moment.t_ms), y1: CHART.bottom, x2: x(moment.t_ms), y2: CHART.bottom + 4 }));
    });
  }
  var marks = svg('g', {});
  function drawSelection() {
    while (marks.firstChild) marks.removeChild(marks.firstChild);
    var a = x(D.moments[state.a].t_ms);
    if (state.b === null) {
      marks.appendChild(svg('line', { class: 'chosen', x1: a, y1: CHART.top, x2: a, y2: CHART.bottom }));
    } else {
      var b = x(D.moments[state.b].t_ms);
      marks.appendChild(svg('rect', { class: 'range', x: a, y: CHART.top, width: Math.max(1, b - a), height: plotHeight }));
    }
    chart.appendChild(marks);
  }
  function timeAt(clientX) {
    var box = chart.getBoundingClientRect();
    var vx = (clientX - box.left) * CHART.width / box.width;
    return Math.max(0, Math.min(1, (vx - CHART.left) / plotWidth)) * end;
  }
  // A click lands on a whole pixel, which may span several moments: a named one (the
  // peak, the end) within two pixels is taken over a nearer evenly spread one.
  function nearest(t) {
    var pixelMs = CHART.width / chart.getBoundingClientRect().width / plotWidth * end;
    var best = 0;
    D.moments.forEach(function (moment, i) {
      if (Math.abs(moment.t_ms - t) < Math.abs(D.moments[best].t_ms - t)) best = i;
    });
    D.moments.forEach(function (moment, i) {
      if (moment.kind && !D.moments[best].kind && Math.abs(moment.t_ms - t) <= 2 * pixelMs) best = i;
    });
    return best;
  }
  var pressed = null;
  chart.addEventListener('mousedown', function (event) { pressed = event.clientX; event.preventDefault(); });
  chart.addEventListener('mouseup', function (event) {
    if (pressed === null) return;
    var from = timeAt(Math.min(pressed, event.clientX)), to = timeAt(Math.max(pressed, event.clientX));
    var dragged = Math.abs(event.clientX - pressed) > 3;
    pressed = null;
    var a = nearest(from), b = nearest(to);
    state.a = dragged && b > a ? a : nearest(to);
    state.b = dragged && b > a ? b : null;
    state.zoom = 0;
    render();
  });

  // ---- Flame graph --------------------------------------------------------------
  var ROW = 18;
  function drawFlame() {
    var type = state.type, values = viewValues(function (m) { return nodeValues(m, type); });
    var width = function (node) { var v = values.get(node); return v ? Math.max(0, v[0]) : 0; };
    while (flame.firstChild) flame.removeChild(flame.firstChild);
    var rootWidth = width(state.zoom);
    var depth = 0;
    function box(left, share, row, name, cls, tip) {
      var div = el('div', { class: 'fg ' + cls, title: tip, style: 'left:' + (left * 100).toFixed(4) + '%;width:' + (share * 100).toFixed(4) + '%;top:' + row * ROW + 'px' }, name);
      flame.appendChild(div);
      depth = Math.max(depth, row + 1);
      return div;
    }
    function color(name) {
      var hash = 0;
      for (var i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) | 0;
      var tone = Math.abs(hash) % 60;
      return state.b === null ? 'hsl(' + (100 + tone) + ',55%,' + (62 + tone % 15) + '%)' : 'hsl(' + (tone % 20) + ',75%,' + (65 + tone % 12) + '%)';
    }
    function lay(node, left, share, row) {
      var v = values.get(node) || [0, 0];
      var fn = node === 0 ? null : D.functions[D.nodes[node][1]];
      var label = node === 0 ? 'all ' + TYPES[type] : fn[0];
      var tip = label + (fn && fn[1] ? ' (' + fn[1] + ')' : '') + ': ' + (state.b === null ? value(v[0], type) : signed(v[0], type)) + ', ' + percent(v[0], viewTotal(type));
      var div = box(left, share, row, label, node === 0 ? 'root' : '', tip);
      div.setAttribute('data-node', node);
      if (node !== 0) div.style.background = color(label);
      div.addEventListener('click', function () { state.zoom = state.zoom === node ? 0 : node; drawFlame(); });
      var kids = children[node].filter(function (c) { return width(c) > 0; });
      var used = kids.reduce(function (sum, c) { return sum + width(c); }, 0);
      var scale = v[0] > 0 ? share / Math.max(v[0], used) : 0;
      var at = left;
      kids.sort(function (p, q) { return width(q) - width(p); }).forEach(function (c) {
        lay(c, at, width(c) * scale, row + 1);
        at += width(c) * scale;
      });
      var other = state.b === null ? v[0] - v[1] - used : 0;
      if (other > 0 && other * scale * 1000 >= 1) {
        box(at, other * scale, row + 1, 'other', 'other', "other: " + value(other, type) + ' in frames too narrow to keep');
      }
    }
    if (rootWidth > 0) {
      lay(state.zoom, 0, 1, 0);
    } else {
      flame.appendChild(el('div', { class: 'empty' }, state.b === null ? 'Nothing counts as ' + TYPES[type] + ' at this moment.' : 'Nothing grew in ' + TYPES[type] + ' over this range.'));
    }
    flame.style.height = Math.max(1, depth) * ROW + 'px';
  }

  // ---- Top table ----------------------------------------------------------------
  function drawTable() {
    var type = state.type, values = viewValues(function (m) { return functionValues(m, type); });
    var total = viewTotal(type);
    var rows = [];
    values.forEach(function (v, fn) { rows.push({ fn: fn, flat: v[0], cum: v[1] }); });
    var key = state.sort;
    rows.sort(function (p, q) {
      if (key === 'function') return D.functions[p.fn][0] < D.functions[q.fn][0] ? -1 : 1;
      return Math.abs(q[key]) - Math.abs(p[key]) || Math.abs(q.cum) - Math.abs(p.cum);
    });
    while (table.firstChild) table.removeChild(table.firstChild);
    var head = el('tr');
    [['flat', 'flat'], ['flat%', 'flat'], ['cum', 'cum'], ['cum%', 'cum'], ['function', 'function'], ['file', 'function']].forEach(function (col) {
      var th = el('th', { class: (col[0] === 'function' || col[0] === 'file' ? 'name' : '') + (col[0] === key ? ' sorted' : '') }, col[0]);
      th.addEventListener('click', function () { state.sort = col[1]; drawTable(); });
      head.appendChild(th);
    });
    table.appendChild(head);
    var show = state.b === null ? value : signed;
    rows.forEach(function (row) {
      var fn = D.functions[row.fn];
      var tr = el('tr', { 'data-function': fn[0], 'data-flat': row.flat, 'data-cum': row.cum });
      [show(row.flat, type), percent(row.flat, total), show(row.cum, type), percent(row.cum, total)].forEach(function (text) { tr.appendChild(el('td', {}, text)); });
      tr.appendChild(el('td', { class: 'name' }, fn[0]));
      tr.appendChild(el('td', { class: 'name' }, fn[1] || ''));
      table.appendChild(tr);
    });
    if (!rows.length) table.appendChild(el('tr', {}, '')).appendChild(el('td', { class: 'empty name', colspan: 6 }, 'no functions'));
  }

  // ---- Stacks -------------------------------------------------------------------
  function drawStacks() {
    var last = D.moments.length - 1;
    if (state.b !== null) {
      stacksTitle.textContent = 'Stacks live at ' + momentName(state.b) + ', with their growth since ' + momentName(state.a);
    } else if (state.a === last) {
      stacksTitle.textContent = 'Leaks: stacks live at the end, with full stacks';
    } else {
      stacksTitle.textContent = 'Live at ' + momentName(state.a) + ', with full stacks';
    }
    var now = stackValues(state.b === null ? state.a : state.b);
    var before = state.b === null ? null : stackValues(state.a);
    while (stacksBox.firstChild) stacksBox.removeChild(stacksBox.firstChild);
    var list = [];
    now.forEach(function (v, stack) { list.push([stack, v]); });
    list.sort(function (p, q) { return q[1][0] - p[1][0]; });
    list.forEach(function (entry) {
      var v = entry[1], div = el('div', { class: 'stack', 'data-stack': entry[0] });
      var what = bytes(v[0]) + ' in ' + v[1] + ' blocks live, from ' + v[3] + ' allocations';
      if (before) what += before.has(entry[0]) ? ' (' + signed(v[0] - before.get(entry[0])[0], 0) + ')' : ' (not among the largest at the start)';
      div.appendChild(el('div', { class: 'what' }, what));
      var ol = el('ol');
      D.stacks[entry[0]].forEach(function (f) {
        var frame = D.frames[f];
        var at = frame[1] ? ' at ' + frame[1] + (frame[2] ? ':' + frame[2] : '') : '';
        ol.appendChild(el('li', {}, frame[0] + at + ' (' + frame[3] + ')'));
      });
      div.appendChild(ol);
      stacksBox.appendChild(div);
    });
    if (!list.length) stacksBox.appendChild(el('div', { class: 'empty' }, 'No blocks live.'));
  }

  function render() {
    Array.prototype.forEach.call(types.children, function (button, i) { button.className = i === state.type ? 'on' : ''; });
    var shown = state.b === null ? momentName(state.a) : momentName(state.a) + ' to ' + momentName(state.b);
    selection.textContent = (state.b === null ? 'Showing ' : 'Showing the change from ') + shown;
    selection.setAttribute('data-moment', state.b === null ? D.moments[state.a].t_ms : D.moments[state.a].t_ms + '-' + D.moments[state.b].t_ms);
    flameTitle.textContent = 'Flame graph: ' + TYPES[state.type] + (state.b === null ? ' at ' : ', growth from ') + shown;
    drawSelection();
    drawFlame();
    drawTable();
    drawStacks();
  }

  drawChart();
  render();
  body.setAttribute('data-render-ms', (performance.now() - started).toFixed(1));
  body.setAttribute('data-ready', '1');
})();
