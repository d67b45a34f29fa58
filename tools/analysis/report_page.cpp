// The run report's stylesheet and script, inlined into every page so that
// it opens with no network. The script reads the runs' events from the
// <script type="application/json" class="run-data"> elements and draws the
// space-time diagrams as SVG; the window of rounds can be changed in the
// page (only the rounds the page carries: see kEventsEmbeddedMax).
#include "tools/analysis/html_report.h"

namespace chunkex {

const char* const kReportCss = R"CSS(
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: left; font-variant-numeric: tabular-nums; }
th { background: #f5f5f5; font-weight: 600; }
td.verified { color: #1a7f37; }
td.missing { color: #c00; font-weight: 600; }
caption { text-align: left; font-style: italic; padding: 4px 0; }
pre.diff { background: #f8f8f8; border: 1px solid #ddd; padding: 8px; overflow: auto; max-height: 32em; font-size: 12px; }
.controls { margin: 0.5em 0; }
.controls input { font-family: monospace; }
.hint { color: #777; font-size: 12px; }
.notice { color: #a05a00; min-height: 1.2em; }
.pair { display: flex; gap: 16px; align-items: flex-start; overflow-x: auto; }
.diagram { flex: 0 0 auto; }
.diagram h3 { font-size: 1em; margin: 0.3em 0; }
svg.spacetime { background: #fff; border: 1px solid #e4e4e4; }
svg.spacetime .lane { stroke: #bbb; stroke-width: 1; }
svg.spacetime .lane-name { font: 600 13px system-ui, sans-serif; text-anchor: middle; }
svg.spacetime .section { stroke: #ddd; stroke-dasharray: 4 3; }
svg.spacetime .section-name { font: 11px system-ui, sans-serif; fill: #555; }
svg.spacetime .event { fill: #555; }
svg.spacetime .msg line { stroke-width: 1.3; }
svg.spacetime .msg text { font: 9.5px monospace; }
svg.spacetime .msg:hover line { stroke-width: 3; }
svg.spacetime .msg.differs line { stroke-width: 2.4; }
svg.spacetime .msg.differs text { font-weight: bold; text-decoration: underline; }
svg.spacetime [data-line] { cursor: default; }
svg.plot .axis { stroke: #333; }
svg.plot .grid { stroke: #eee; }
svg.plot .tick { font: 11px system-ui, sans-serif; text-anchor: middle; }
svg.plot .tick.y { text-anchor: end; }
svg.plot .label, svg.plot .legend { font: 12px system-ui, sans-serif; }
svg.plot .curve { fill: none; stroke-width: 1.6; }
svg.plot .curve.dashed { stroke-dasharray: 6 4; }
.hover { position: fixed; left: 0; right: 0; bottom: 0; background: #fffbe6; border-top: 1px solid #e0c060;
         font: 12px monospace; padding: 4px 12px; white-space: pre; min-height: 1.2em; }
)CSS";

const char* const kReportScript = R"JS(
(function () {
  'use strict';
  const started = performance.now();
  const SVG = 'http://www.w3.org/2000/svg';
  const runs = Array.from(document.querySelectorAll('script.run-data'),
                          (element) => JSON.parse(element.textContent));
  // Two runs are drawn side by side: narrower lanes.
  const LANE_WIDTH = runs.length > 1 ? 120 : 190;
  const ROW_HEIGHT = 16;
  const TOP = 40;
  const LEFT = 96;
  const COLORS = {
    ANNOUNCE: '#8c564b', ROSTER: '#8c564b', REQUEST_CHUNK: '#1f77b4', IDLE: '#999999',
    forward: '#9467bd', CHUNK_DATA: '#2ca02c', SEND_CHUNK: '#d62728', DONE: '#e377c2',
    FINAL: '#e377c2',
  };

  function node(name, attributes, parent) {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    if (parent) parent.appendChild(element);
    return element;
  }

  function sectionName(key) {
    if (key === 'setup') return 'before round 0';
    if (key === 'end') return 'after the last round';
    return 'round ' + key;
  }

  // "0-2,last" -> [[0, 2], [last, last]]
  function parseRounds(text, lastRound) {
    const ranges = [];
    for (const part of text.split(',').map((p) => p.trim()).filter((p) => p)) {
      const match = /^(\d+|last)(?:-(\d+|last))?$/.exec(part);
      const value = (s) => (s === 'last' ? lastRound : Number(s));
      if (!match) throw new Error("'" + part + "' is not FROM-TO (or a round, or 'last')");
      const from = value(match[1]);
      const to = Math.min(match[2] === undefined ? from : value(match[2]), lastRound);
      if (to < from) throw new Error("'" + part + "': no rounds (the last is " + lastRound + ')');
      ranges.push([from, to]);
    }
    if (!ranges.length) throw new Error('no rounds given');
    return ranges.sort((a, b) => a[0] - b[0]);
  }

  function keysOf(ranges, lastRound) {
    const keys = [];
    const holds = (round) => ranges.some(([a, b]) => round >= a && round <= b);
    if (holds(0)) keys.push('setup');
    let next = 0;
    for (const [from, to] of ranges) {
      for (let round = Math.max(from, next); round <= to; round++) keys.push(round);
      next = Math.max(next, to + 1);
    }
    if (holds(lastRound)) keys.push('end');
    return keys;
  }

  // Sections of the window that the page holds, while the arrows fit the cap.
  function pick(run, ranges) {
    const byKey = new Map(run.sections.map((section) => [String(section.key), section]));
    const picked = { sections: [], missing: [], capped: false, arrows: 0 };
    for (const key of keysOf(ranges, run.lastRound)) {
      const section = byKey.get(String(key));
      if (!section) {
        picked.missing.push(key);
      } else if (picked.arrows + section.messages.length > run.arrowsMax) {
        picked.capped = true;
        break;
      } else {
        picked.sections.push(section);
        picked.arrows += section.messages.length;
      }
    }
    return picked;
  }

  // A row per event and lane; a receive sits below its send (Lamport's rule).
  function layout(run, sections) {
    const laneRow = run.lanes.map(() => 0);
    let bottom = 0;
    return {
      placed: sections.map((section) => {
        const top = bottom + 1;
        for (let lane = 0; lane < laneRow.length; lane++) laneRow[lane] = Math.max(laneRow[lane], top);
        const sendOf = new Map(section.messages.map((m) => [m[2], m[1]]));
        const rows = [];
        section.events.forEach((event, i) => {
          let row = laneRow[event[0]] + 1;
          if (sendOf.has(i)) row = Math.max(row, rows[sendOf.get(i)] + 1);
          rows[i] = row;
          laneRow[event[0]] = row;
          bottom = Math.max(bottom, row);
        });
        return { section, top, rows };
      }),
      get bottom() { return bottom; },
    };
  }

  const laneX = (lane) => LEFT + lane * LANE_WIDTH + LANE_WIDTH / 2;
  const rowY = (row) => TOP + row * ROW_HEIGHT;

  function drawLanes(svg, run, height) {
    run.lanes.forEach((name, lane) => {
      node('line', { class: 'lane', x1: laneX(lane), y1: TOP - 8, x2: laneX(lane), y2: height - 4 }, svg);
      node('text', { class: 'lane-name', x: laneX(lane), y: 20 }, svg).textContent = name;
    });
  }

  // `other`: the same section of the other run, whose messages (in the same
  // order when the runs follow the same schedule) mark those that differ.
  function drawSection(svg, run, placed, view, runIndex, other) {
    const { section, top, rows } = placed;
    const width = LEFT + run.lanes.length * LANE_WIDTH;
    node('line', { class: 'section', x1: 0, y1: rowY(top) - 4, x2: width, y2: rowY(top) - 4 }, svg);
    node('text', { class: 'section-name', x: 4, y: rowY(top) + 8 }, svg).textContent =
        sectionName(section.key);
    const fanOut = new Map();
    for (const m of section.messages) fanOut.set(m[1], (fanOut.get(m[1]) || 0) + 1);
    section.messages.forEach(([type, send, receive], k) => {
      const from = section.events[send];
      const to = section.events[receive];
      const color = COLORS[type] || '#333';
      const group = node('g', { class: 'msg', 'data-view': view, 'data-run': runIndex, 'data-type': type,
                                'data-line': from[2] + '\n' + to[2] }, svg);
      if (other) {
        const twin = other.messages[k];
        const same = twin && other.events[twin[1]][2] === from[2] && other.events[twin[2]][2] === to[2];
        if (!same) group.classList.add('differs');
      }
      const x1 = laneX(from[0]);
      const y1 = rowY(rows[send]);
      const x2 = laneX(to[0]);
      const y2 = rowY(rows[receive]);
      node('line', { x1, y1, x2, y2, stroke: color, 'marker-end': 'url(#arrow-' + type + ')' }, group);
      // A broadcast's labels sit near its receivers, where they do not overlap.
      const at = fanOut.get(send) > 1 ? 0.72 : 0.22;
      const label = node('text', { x: x1 + (x2 - x1) * at, y: y1 + (y2 - y1) * at - 3, fill: color,
                                   'text-anchor': 'middle' }, group);
      label.textContent = type + ' ' + from[1];
      node('title', {}, group).textContent = from[2] + '\n' + to[2];
    });
    section.events.forEach((event, i) => {
      const dot = node('circle', { class: 'event', cx: laneX(event[0]), cy: rowY(rows[i]), r: 2.6,
                                   'data-line': event[2] }, svg);
      node('title', {}, dot).textContent = event[2];
    });
  }

  function draw(container, runIndex, ranges, view, otherIndex) {
    const run = runs[runIndex];
    const picked = pick(run, ranges);
    const shape = layout(run, picked.sections);
    const height = rowY(shape.bottom + 2);
    container.textContent = '';
    const title = document.createElement('h3');
    title.textContent = run.label;
    container.appendChild(title);
    const svg = node('svg', { class: 'spacetime', width: LEFT + run.lanes.length * LANE_WIDTH, height });
    container.appendChild(svg);
    drawLanes(svg, run, height);
    const others = otherIndex === undefined ? new Map()
        : new Map(runs[otherIndex].sections.map((section) => [String(section.key), section]));
    for (const placed of shape.placed) {
      drawSection(svg, run, placed, view, runIndex, others.get(String(placed.section.key)));
    }
    return picked;
  }

  function markers() {
    const holder = node('svg', { width: 0, height: 0, style: 'position:absolute' });
    const defs = node('defs', {}, holder);
    for (const [type, color] of Object.entries(COLORS)) {
      const marker = node('marker', { id: 'arrow-' + type, viewBox: '0 0 10 10', refX: 10, refY: 5,
                                      markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
      node('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: color }, marker);
    }
    document.body.appendChild(holder);
  }

  function describeMissing(run, picked) {
    const notes = [];
    if (picked.missing.length) {
      const shown = picked.missing.slice(0, 6).map(sectionName).join(', ');
      notes.push(run.label + ': ' + picked.missing.length + ' of the rounds asked for are not in this page (' +
                 shown + (picked.missing.length > 6 ? ', ...' : '') + '); the page holds at most ' +
                 run.cap + ' events per run' + (run.capped ? ' and that cap was reached' : '') +
                 ': run chunkex-report --rounds FROM-TO to draw them');
    }
    if (picked.capped) {
      notes.push(run.label + ': stopped at ' + run.arrowsMax + ' arrows; choose fewer rounds');
    }
    return notes;
  }

  function drawMain() {
    const input = document.getElementById('rounds');
    const notice = document.getElementById('notice');
    const notes = [];
    runs.forEach((run, i) => {
      let ranges;
      try {
        ranges = parseRounds(input.value, run.lastRound);
      } catch (error) {
        notes.push(error.message);
        return;
      }
      const picked = draw(document.getElementById('diagram-' + i), i, ranges, 'main');
      document.body.dataset['arrowsMain' + i] = String(picked.arrows);
      notes.push(...describeMissing(run, picked));
    });
    notice.textContent = notes.join(' | ');
  }

  function shift(direction) {
    const input = document.getElementById('rounds');
    const lastRound = Math.max(...runs.map((run) => run.lastRound));
    let ranges;
    try {
      ranges = parseRounds(input.value, lastRound);
    } catch (error) {
      document.getElementById('notice').textContent = error.message;
      return;
    }
    const [from, to] = ranges[0];
    const length = to - from + 1;
    const start = Math.min(Math.max(0, from + direction * length), Math.max(0, lastRound - length + 1));
    input.value = start + '-' + Math.min(lastRound, start + length - 1);
    drawMain();
  }

  function drawDivergence() {
    const title = document.getElementById('divergence-title');
    if (!title) return;
    const round = Number(title.dataset.round);
    runs.forEach((run, i) => {
      const container = document.getElementById('divergence-' + i);
      if (container) draw(container, i, [[round, round]], 'divergence', 1 - i);
    });
  }

  function hover() {
    const box = document.getElementById('hover');
    document.addEventListener('mouseover', (event) => {
      const target = event.target.closest ? event.target.closest('[data-line]') : null;
      if (target) box.textContent = target.dataset.line;
    });
  }

  // "report.html#rounds=40-45": a window to open the page at.
  function windowFromAddress() {
    const match = /rounds=([0-9a-z,-]+)/.exec(decodeURIComponent(location.hash));
    if (match) document.getElementById('rounds').value = match[1];
  }

  try {
    markers();
    windowFromAddress();
    drawMain();
    drawDivergence();
    hover();
    document.getElementById('draw').addEventListener('click', drawMain);
    document.getElementById('earlier').addEventListener('click', () => shift(-1));
    document.getElementById('later').addEventListener('click', () => shift(1));
    document.getElementById('rounds').addEventListener('keydown', (event) => {
      if (event.key === 'Enter') drawMain();
    });
    window.addEventListener('hashchange', () => {
      windowFromAddress();
      drawMain();
    });
    // From the start of navigation, and for the script alone.
    document.body.dataset.readyMs = String(Math.round(performance.now()));
    document.body.dataset.scriptMs = String(Math.round(performance.now() - started));
    document.body.dataset.status = 'ok';
  } catch (error) {
    document.body.dataset.status = 'error';
    console.error('chunkex report: ' + error.message);
  }
})();
)JS";

}  // namespace chunkex
