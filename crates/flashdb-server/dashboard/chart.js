// A small line chart on a canvas: a few series over time, the y axis from zero to the
// largest value shown, a legend. Enough for the monitoring page, without a library.

import { el } from './lib.js';

export class LineChart {
  /**
   * `title`: the chart's heading; `format`: how a value reads (axis, legend);
   * series are named on the first `set`.
   */
  constructor(title, format = String) {
    this.format = format;
    this.canvas = el('canvas', { role: 'img', 'aria-label': title });
    this.legend = el('div', { class: 'legend' });
    this.node = el('section', { class: 'panel chart' }, el('h2', {}, title), this.canvas, this.legend);
    this.data = { times: [], series: [] };
  }

  /** Shows `times` (ms) against `series` ([{name, values}]). */
  set(times, series) {
    this.data = { times, series };
    const last = series.map((s) => s.values[s.values.length - 1]);
    this.canvas.dataset.last = JSON.stringify(last);
    this.canvas.setAttribute('aria-label', this.canvas.getAttribute('aria-label').split(':')[0] + ': '
      + series.map((s, i) => `${s.name} ${this.format(last[i] ?? 0)}`).join(', '));
    this.legend.replaceChildren(...series.map((s, i) => el('span', {},
      el('i', { class: 'sw', 'data-i': i }), `${s.name} ${this.format(last[i] ?? 0)}`)));
    for (const sw of this.legend.querySelectorAll('i')) {
      sw.style.background = this.color(Number(sw.dataset.i));
    }
    this.draw();
  }

  color(i) {
    return getComputedStyle(document.documentElement).getPropertyValue(`--series-${i % 6}`).trim() || '#888';
  }

  draw() {
    const c = this.canvas;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (!w || !h) return;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const style = getComputedStyle(document.documentElement);
    const muted = style.getPropertyValue('--muted').trim();
    const line = style.getPropertyValue('--line').trim();
    const { times, series } = this.data;
    if (times.length < 2) {
      g.fillStyle = muted;
      g.font = '12px system-ui';
      g.fillText('collecting…', 8, h / 2);
      return;
    }
    let max = 0;
    for (const s of series) for (const v of s.values) if (Number.isFinite(v) && v > max) max = v;
    if (max === 0) max = 1;
    const left = 52;
    const t0 = times[0];
    const span = Math.max(times[times.length - 1] - t0, 1);
    const x = (t) => left + ((t - t0) / span) * (w - left - 4);
    const y = (v) => h - 14 - (v / max) * (h - 24);
    g.strokeStyle = line;
    g.lineWidth = 1;
    g.beginPath();
    g.moveTo(left, y(0)); g.lineTo(w, y(0));
    g.moveTo(left, y(max)); g.lineTo(w, y(max));
    g.stroke();
    g.fillStyle = muted;
    g.font = '11px system-ui';
    g.fillText(this.format(max), 2, y(max) + 4);
    g.fillText('0', 2, y(0) + 4);
    const ago = Math.round(span / 60000);
    g.fillText(ago >= 1 ? `${ago} min` : `${Math.round(span / 1000)} s`, left, h - 2);
    series.forEach((s, i) => {
      g.strokeStyle = this.color(i);
      g.lineWidth = 1.5;
      g.beginPath();
      let started = false;
      s.values.forEach((v, j) => {
        if (!Number.isFinite(v)) { started = false; return; }
        if (started) g.lineTo(x(times[j]), y(v));
        else { g.moveTo(x(times[j]), y(v)); started = true; }
      });
      g.stroke();
    });
  }
}
