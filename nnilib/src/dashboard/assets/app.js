/*
 * fmnist-nas dashboard: the single-page app (see docs/dashboard.md).
 *
 * Pages are routed by the URL fragment (#/, #/e/<id>, #/e/<id>/trials, ...).
 * Data comes from the server's JSON API under the page's own path (relative
 * URLs: api/...), or, in a self-contained report, from window.NNILIB_REPORT.
 * While an experiment runs, its page re-fetches every 2 s and updates in place.
 * Every string from the API is inserted as text (textContent), never as HTML.
 */
(function () {
  'use strict';

  const REPORT = window.NNILIB_REPORT || null;
  const HAS_CHART = typeof window.Chart === 'function';
  const POLL_MS = 2000;
  const TRIAL_STATUSES = ['WAITING', 'RUNNING', 'SUCCEEDED', 'FAILED',
    'USER_CANCELED', 'EARLY_STOPPED'];
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd',
    '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

  // ---------------------------------------------------------------- DOM helpers

  /** Creates an element; attrs: class, text, on<event>, or plain attributes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = String(v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    append(node, children);
    return node;
  }

  function append(parent, child) {
    if (child == null || child === false) return;
    if (Array.isArray(child)) child.forEach((c) => append(parent, c));
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  /** Sets a node's text only when it changed (keeps the DOM quiet). */
  function setText(node, value) {
    const s = value == null ? '' : String(value);
    if (node.textContent !== s) node.textContent = s;
  }

  /** Replaces a node's children with `content` when `key` changed since last time. */
  function fillOnce(node, key, build) {
    if (node._filled && node._fillKey === key) return;
    node._filled = true;
    node._fillKey = key;
    clear(node);
    append(node, build());
  }

  function statusBadge(status) {
    const s = status || 'UNKNOWN';
    return el('span', { class: 'badge st-' + s.toLowerCase().replace(/[^a-z_]/g, ''), text: s });
  }

  function setBadge(node, status) {
    const s = status || 'UNKNOWN';
    setText(node, s);
    node.className = 'badge st-' + s.toLowerCase().replace(/[^a-z_]/g, '');
  }

  function enc(s) {
    return encodeURIComponent(String(s));
  }

  function expHref(id, sub) {
    return '#/e/' + enc(id) + (sub ? '/' + sub : '');
  }

  function trialHref(id, trial) {
    return expHref(id, 'trial/' + enc(trial));
  }

  // ----------------------------------------------------------------- formatting

  const DASH = '–';

  function isNum(v) {
    return typeof v === 'number' && isFinite(v);
  }

  function fmtNum(v) {
    if (!isNum(v)) return v == null ? DASH : String(v);
    if (Number.isInteger(v)) return String(v);
    if (Math.abs(v) >= 1000) return v.toFixed(1);
    return String(Number(v.toPrecision(4)));
  }

  /** 379098 -> "379.1k", 5872544 -> "5.87M". */
  function fmtCount(v) {
    if (!isNum(v)) return DASH;
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(2) + 'G';
    if (a >= 1e6) return (v / 1e6).toFixed(2) + 'M';
    if (a >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    return String(v);
  }

  /** Seconds -> "1:20", "12:03", "1:02:03", "3d 4h". */
  function fmtDuration(s) {
    if (!isNum(s)) return DASH;
    s = Math.max(0, Math.round(s));
    if (s >= 86400) return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, '0');
    return h > 0 ? h + ':' + String(m).padStart(2, '0') + ':' + sec : m + ':' + sec;
  }

  function fmtAgo(s) {
    if (!isNum(s)) return '';
    s = Math.max(0, Math.round(s));
    if (s < 120) return s + 's ago';
    if (s < 7200) return Math.floor(s / 60) + 'm ago';
    if (s < 172800) return Math.floor(s / 3600) + 'h ago';
    return Math.floor(s / 86400) + 'd ago';
  }

  function fmtDate(t) {
    return isNum(t) ? new Date(t * 1000).toLocaleString() : DASH;
  }

  function fmtValue(v) {
    if (v == null) return DASH;
    if (typeof v === 'number') return fmtNum(v);
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  /** A duration limit as it could be typed: 7200 -> "2h", 5400 -> "90m". */
  function fmtLimit(v) {
    if (!isNum(v)) return String(v);
    if (v > 0 && v % 3600 === 0) return v / 3600 + 'h';
    if (v > 0 && v % 60 === 0) return v / 60 + 'm';
    return v + 's';
  }

  /** "90m", "2h", "1d", "45s" or plain seconds -> seconds; null when not a duration. */
  function parseDuration(text) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/i.exec(text);
    if (!m) return null;
    const mult = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2].toLowerCase()];
    return parseFloat(m[1]) * mult;
  }

  /** Running trial progress: "e3/9 28% 312 img/s ETA 1:20". */
  function progressText(t) {
    const p = t && t.progress;
    if (!p || typeof p !== 'object') return '';
    const parts = [];
    if (isNum(p.epoch)) parts.push('e' + p.epoch + (isNum(p.epochs) ? '/' + p.epochs : ''));
    if (isNum(p.batch) && isNum(p.batches) && p.batches > 0) {
      parts.push(Math.floor((100 * p.batch) / p.batches) + '%');
    }
    if (isNum(p.images_per_second)) parts.push(Math.round(p.images_per_second) + ' img/s');
    if (isNum(p.eta_seconds)) parts.push('ETA ' + fmtDuration(p.eta_seconds));
    return parts.join(' ');
  }

  /** The trial's result for ranking and plots: final, else best. */
  function resultOf(t) {
    return isNum(t.final) ? t.final : isNum(t.best) ? t.best : null;
  }

  /** A trial's duration; for a running one, up to the snapshot's `now`. */
  function durationOf(t, snap) {
    if (isNum(t.duration_s)) return t.duration_s;
    if (isNum(t.started_at) && snap && isNum(snap.now) && t.status === 'RUNNING') {
      return snap.now - t.started_at;
    }
    return null;
  }

  /** The numeric value of `key` in one intermediate/final value (number or dict). */
  function metricOf(value, key) {
    if (isNum(value)) return key === 'default' ? value : null;
    if (value && typeof value === 'object' && isNum(value[key])) return value[key];
    return null;
  }

  function isLive(snap) {
    return !!snap && (snap.status === 'RUNNING' || snap.running === true);
  }

  // ----------------------------------------------------------------------- data

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function getJSON(path) {
    let resp;
    try {
      resp = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
    } catch (e) {
      throw new ApiError(0, (e && e.message) || String(e));
    }
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    if (!resp.ok) {
      throw new ApiError(resp.status, (body && body.error) || 'HTTP ' + resp.status);
    }
    if (body == null || typeof body !== 'object') throw new ApiError(resp.status, 'the answer is not JSON');
    return body;
  }

  function fromReport(value, what) {
    if (value == null) return Promise.reject(new ApiError(404, what + ' is not in this report'));
    return Promise.resolve(value);
  }

  function apiExperiments() {
    if (REPORT) return fromReport(REPORT.experiments, 'the experiment list');
    return getJSON('api/experiments');
  }

  function apiSnapshot(id) {
    if (REPORT) return fromReport((REPORT.snapshots || {})[id], 'experiment ' + id);
    return getJSON('api/experiments/' + enc(id));
  }

  function apiTrial(id, trial) {
    if (REPORT) return fromReport(((REPORT.trials || {})[id] || {})[trial], 'trial ' + trial);
    return getJSON('api/experiments/' + enc(id) + '/trials/' + enc(trial));
  }

  /**
   * The control key of a run's dashboard: the address fmnist-nas printed ends with
   * ?control=<key>; whoever has it may control the experiment (docs/dashboard.md).
   */
  const CONTROL_KEY = new URLSearchParams(window.location.search).get('control') || '';

  /** A control POST; resolves to a line of text describing the answer. */
  async function postControl(path, body) {
    let resp;
    try {
      resp = await fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Control-Key': CONTROL_KEY },
        body: JSON.stringify(body || {}),
      });
    } catch (e) {
      return { ok: false, text: 'cannot reach the server: ' + ((e && e.message) || e) };
    }
    let answer = null;
    try {
      answer = await resp.json();
    } catch (e) {
      answer = null;
    }
    if (resp.ok) {
      const req = answer && answer.request != null ? answer.request : '?';
      return { ok: true, text: 'request ' + req + ' accepted (' + resp.status + '); the runner applies it within a second' };
    }
    return { ok: false, text: 'refused (' + resp.status + '): ' + ((answer && answer.error) || resp.statusText) };
  }

  // ------------------------------------------------------ banner, nav, ticker

  const banner = document.getElementById('banner');
  const nav = document.getElementById('nav');
  const expStatus = document.getElementById('exp-status');
  const updated = document.getElementById('updated');
  let updatedInfo = null; // {dataAge, fetchedAt} for the "updated Ns ago" ticker

  function showBanner(text) {
    setText(banner, text);
    banner.hidden = false;
  }

  function hideBanner() {
    banner.hidden = true;
  }

  /** The nav bar: links to the experiment's pages, its status and data age. */
  function setNav(route, snap) {
    const id = route.id;
    const key = JSON.stringify(route);
    fillOnce(nav, key, () => {
      if (id == null) return [];
      const link = (sub, label, page) =>
        el('a', { href: expHref(id, sub), class: route.page === page ? 'active' : null, text: label });
      const items = [
        el('span', { class: 'nav-exp', text: id }),
        link('', 'Overview', 'overview'),
        link('trials', 'Trials', 'trials'),
        link('params', 'Hyper-parameters', 'params'),
      ];
      if (route.page === 'compare') items.push(el('a', { class: 'active', href: location.hash, text: 'Compare' }));
      if (route.page === 'trial') items.push(el('a', { class: 'active', href: location.hash, text: 'Trial ' + route.trial }));
      return items;
    });
    if (!snap) {
      clear(expStatus);
      return;
    }
    if (!expStatus.firstChild) expStatus.appendChild(statusBadge(snap.status));
    setBadge(expStatus.firstChild, snap.status);
    if (snap.name) document.title = snap.name + ' · fmnist-nas';
    if (isNum(snap.updated_at) && isNum(snap.now)) {
      updatedInfo = { dataAge: snap.now - snap.updated_at, fetchedAt: Date.now() / 1000, now: snap.now };
    }
    tick();
  }

  function tick() {
    if (REPORT) {
      setText(updated, updatedInfo ? 'report of ' + fmtDate(updatedInfo.now) : 'report');
      return;
    }
    if (!updatedInfo) return setText(updated, '');
    const age = updatedInfo.dataAge + (Date.now() / 1000 - updatedInfo.fetchedAt);
    setText(updated, 'updated ' + fmtAgo(age));
  }

  // --------------------------------------------------------------------- charts

  if (HAS_CHART) {
    Chart.defaults.animation = false;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.maintainAspectRatio = false;
  }

  function axis(type, title, extra) {
    return Object.assign({ type, title: { display: !!title, text: title } }, extra || {});
  }

  /** Navigates to the trial of a clicked point (points carry {id}). */
  function clickToTrial(expId) {
    return (evt, elements, chart) => {
      if (!elements.length) return;
      const e = elements[0];
      const raw = chart.data.datasets[e.datasetIndex].data[e.index];
      const tid = raw && raw.id != null ? raw.id : chart.data.datasets[e.datasetIndex].trialId;
      if (tid != null) location.hash = trialHref(expId, tid);
    };
  }

  /**
   * A place for one chart: shows a placeholder until there is data, creates the
   * chart on the first data, then only updates its datasets (no re-creation).
   */
  class ChartSlot {
    constructor(parent, title, makeOptions) {
      this.makeOptions = makeOptions;
      this.chart = null;
      this.box = el('div', { class: 'chart-box' });
      this.empty = el('p', { class: 'muted', text: HAS_CHART ? 'no data yet' : 'charts unavailable (Chart.js did not load)' });
      this.root = el('div', { class: 'card chart-card' }, title ? el('h3', { text: title }) : null, this.empty, this.box);
      this.box.hidden = true;
      parent.appendChild(this.root);
    }

    /** datasets: [{label, data, ...style}]; opts: {labels, xType} */
    set(datasets, opts) {
      const points = datasets.reduce((n, d) => n + d.data.length, 0);
      if (!HAS_CHART || (!this.chart && points === 0)) return;
      opts = opts || {};
      if (!this.chart) {
        this.box.hidden = false;
        this.empty.hidden = true;
        const canvas = el('canvas');
        this.box.appendChild(canvas);
        const cfg = this.makeOptions(opts);
        cfg.data = { labels: opts.labels || [], datasets: datasets.map((d) => Object.assign({}, d)) };
        this.chart = new Chart(canvas, cfg);
        return;
      }
      const chart = this.chart;
      // Keep dataset objects (and so the legend's hidden state); replace their data.
      const old = chart.data.datasets;
      const next = datasets.map((d) => {
        const same = old.find((o) => o.label === d.label);
        return same ? Object.assign(same, d) : Object.assign({}, d);
      });
      if (next.length !== old.length || next.some((d, i) => d !== old[i])) chart.data.datasets = next;
      if (opts.labels) chart.data.labels = opts.labels;
      if (opts.xType && chart.options.scales.x.type !== opts.xType) chart.options.scales.x.type = opts.xType;
      chart.update('none');
    }

    destroy() {
      if (this.chart) this.chart.destroy();
      this.chart = null;
    }
  }

  /** A line chart's config maker; opt: {legend, onClick, integerX}. */
  function lineOptions(xTitle, yTitle, opt) {
    opt = opt || {};
    return () => ({
      type: 'line',
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'nearest', intersect: false },
        scales: {
          x: axis('linear', xTitle, opt.integerX ? { ticks: { precision: 0 } } : null),
          y: axis('linear', yTitle),
        },
        plugins: { legend: { display: !!opt.legend } },
        onClick: opt.onClick,
      },
    });
  }

  function lineDataset(label, points, color, more) {
    return Object.assign({
      label, data: points, borderColor: color, backgroundColor: color,
      borderWidth: 2, pointRadius: 2, tension: 0,
    }, more || {});
  }

  // -------------------------------------------------------------- page plumbing

  /**
   * Base of every page: fetches with load(), draws with render(data), and
   * polls every 2 s while the experiment runs. Failed fetches show the banner
   * and are retried; nothing is logged to the console.
   */
  class Page {
    constructor(route, main) {
      this.route = route;
      this.main = main;
      this.slots = [];
      this.timer = null;
      this.stopped = false;
      this.rendered = false;
    }

    start() {
      this.poll();
    }

    async poll() {
      this.timer = null;
      let data;
      try {
        data = await this.load();
      } catch (e) {
        if (this.stopped) return;
        const status = e && e.status;
        if (status === 404 || (REPORT && !this.rendered)) {
          this.fail((e && e.message) || String(e));
          return;
        }
        showBanner(status
          ? 'the server answered ' + status + ': ' + e.message + ', retrying'
          : 'cannot reach the server: ' + ((e && e.message) || e) + ', retrying');
        this.schedule();
        return;
      }
      if (this.stopped) return;
      hideBanner();
      let live = false;
      try {
        live = this.isLive(data);
        this.render(data);
        this.rendered = true;
        this.main.setAttribute('data-state', 'ready');
      } catch (e) {
        showBanner('cannot display this page: ' + ((e && e.message) || e));
      }
      if (live) this.schedule();
    }

    schedule() {
      if (!this.stopped && !REPORT) this.timer = setTimeout(() => this.poll(), POLL_MS);
    }

    /** An error that ends the page (no such experiment or trial). */
    fail(message) {
      clear(this.main);
      this.main.appendChild(el('div', { class: 'card error' },
        el('h2', { text: 'Not found' }), el('p', { text: message }),
        el('p', {}, el('a', { href: '#/', text: 'All experiments' }))));
      this.main.setAttribute('data-state', 'error');
    }

    isLive(data) {
      return isLive(data.snap || data);
    }

    slot(parent, title, makeOptions) {
      const s = new ChartSlot(parent, title, makeOptions);
      this.slots.push(s);
      return s;
    }

    destroy() {
      this.stopped = true;
      if (this.timer) clearTimeout(this.timer);
      this.slots.forEach((s) => s.destroy());
    }
  }

  /** A small two-column key/value table; rows: [[label, value or node], ...]. */
  function kvTable(rows) {
    return el('table', { class: 'kv' }, el('tbody', {}, rows.map(([k, v]) =>
      el('tr', {}, el('th', { text: k }), el('td', {}, v instanceof Node ? v : fmtValue(v))))));
  }

  function card(title, ...children) {
    return el('section', { class: 'card' }, title ? el('h2', { text: title }) : null, children);
  }

  /** A filled bar "used of limit". */
  function meter() {
    const fill = el('span', { class: 'fill' });
    const text = el('span', { class: 'meter-text' });
    const root = el('div', { class: 'meter' }, el('div', { class: 'bar' }, fill), text);
    return {
      root,
      set(used, limit, label) {
        const pct = isNum(used) && isNum(limit) && limit > 0 ? Math.min(100, (100 * used) / limit) : 0;
        fill.style.width = pct.toFixed(1) + '%';
        setText(text, label);
      },
    };
  }

  /** The flat parameters of a trial as a table. */
  function paramsTable(flat) {
    const entries = Object.entries(flat || {});
    if (!entries.length) return el('p', { class: 'muted', text: 'no parameters' });
    return kvTable(entries.map(([k, v]) => [k, v]));
  }

  // --------------------------------------------------------- page: experiments

  class ListPage extends Page {
    load() {
      return apiExperiments();
    }

    isLive(data) {
      return (data.experiments || []).some(isLive);
    }

    render(data) {
      const exps = data.experiments || [];
      if (exps.length === 1 && !this.rendered) {
        location.replace(expHref(exps[0].id));
        return;
      }
      setNav(this.route, null);
      if (!this.tbody) {
        this.tbody = el('tbody');
        this.note = el('p', { class: 'muted' });
        this.main.appendChild(card('Experiments', this.note,
          el('table', { class: 'grid' },
            el('thead', {}, el('tr', {}, ['Id', 'Name', 'Status', 'Trials', 'Best', 'Time', 'Created', 'Directory']
              .map((h) => el('th', { text: h })))),
            this.tbody)));
        this.rows = new Map();
      }
      setText(this.note, (exps.length ? exps.length + ' experiment(s)' : 'No experiments are served.') +
        (data.read_only ? ' · read-only server' : ''));
      const seen = new Set();
      exps.forEach((x) => {
        seen.add(x.id);
        let row = this.rows.get(x.id);
        if (!row) {
          const cells = [0, 1, 2, 3, 4, 5, 6, 7].map(() => el('td'));
          cells[0].appendChild(el('a', { href: expHref(x.id), text: x.id }));
          cells[3].className = cells[4].className = cells[5].className = 'num';
          row = { tr: el('tr', {}, cells), cells };
          this.rows.set(x.id, row);
        }
        const c = row.cells;
        setText(c[1], x.name || '');
        fillOnce(c[2], x.status, () => statusBadge(x.status));
        setText(c[3], fmtValue(x.trials));
        setText(c[4], fmtNum(x.best));
        setText(c[5], fmtDuration(x.elapsed_s));
        setText(c[6], fmtDate(x.created_at));
        setText(c[7], x.dir || '');
        this.tbody.appendChild(row.tr); // keeps the server's order
      });
      for (const [id, row] of this.rows) {
        if (!seen.has(id)) {
          row.tr.remove();
          this.rows.delete(id);
        }
      }
    }
  }

  // ------------------------------------------------------------ page: overview

  class OverviewPage extends Page {
    async load() {
      const snap = await apiSnapshot(this.route.id);
      // The best trial's detail (for its architecture): fetched again only when
      // the best trial changes or its status does.
      const bestId = snap.best && snap.best.id;
      const bestTrial = (snap.trials || []).find((t) => t.id === bestId);
      const bestStatus = bestTrial ? bestTrial.status : null;
      if (bestId != null && (!this.bestDetail || this.bestDetail.id !== bestId ||
          (bestStatus && this.bestDetail.status !== bestStatus))) {
        try {
          this.bestDetail = await apiTrial(this.route.id, bestId);
        } catch (e) {
          this.bestDetail = null; // the overview still shows the snapshot
        }
      }
      return snap;
    }

    build(snap) {
      const id = this.route.id;
      this.head = el('h1');
      this.statusCard = el('div');
      this.timeMeter = meter();
      this.trialMeter = meter();
      this.concurrency = el('p', { class: 'muted' });
      this.counts = el('div');
      this.best = el('div');
      const grid = el('div', { class: 'cards' },
        card('Status', this.statusCard),
        card('Budget', el('h4', { text: 'Time' }), this.timeMeter.root,
          el('h4', { text: 'Trials' }), this.trialMeter.root, this.concurrency),
        card('Trials by status', this.counts),
        card('Best trial', this.best));
      this.finalBody = el('div');
      this.finalCard = card('Final model', this.finalBody);
      this.finalCard.id = 'final-model';
      this.finalCard.hidden = true;
      grid.appendChild(this.finalCard);
      const charts = el('div', { class: 'charts wide' });
      this.curve = this.slot(charts, 'Best so far',
        lineOptions('minutes since start', 'best result', { onClick: clickToTrial(id) }));
      this.control = el('div');
      this.history = el('div');
      this.main.append(this.head, grid, charts, this.control, this.history);
      if (!REPORT && snap.control === true) this.buildControls(id);
    }

    buildControls(id) {
      const out = el('p', { class: 'answer', 'aria-live': 'polite' });
      const say = (r) => {
        setText(out, r.text);
        out.className = 'answer ' + (r.ok ? 'ok' : 'bad');
      };
      const stop = el('button', {
        class: 'danger', text: 'Stop experiment',
        onclick: async () => {
          if (!confirm('Stop experiment ' + id + '? Running trials are ended; it can be resumed.')) return;
          say(await postControl('api/experiments/' + enc(id) + '/stop', {}));
        },
      });
      this.limitInputs = {
        maxTrialNumber: el('input', { type: 'text', inputmode: 'numeric', size: 8 }),
        maxExperimentDuration: el('input', { type: 'text', size: 8, title: '"90m", "2h" or seconds' }),
        trialConcurrency: el('input', { type: 'text', inputmode: 'numeric', size: 8 }),
      };
      const form = el('form', {
        class: 'limits',
        onsubmit: async (ev) => {
          ev.preventDefault();
          const body = {};
          for (const [name, input] of Object.entries(this.limitInputs)) {
            const v = input.value.trim();
            if (!v) continue;
            if (name === 'maxExperimentDuration') {
              const secs = parseDuration(v);
              if (secs == null || secs <= 0) return say({ ok: false, text: name + ': write "90m", "2h" or seconds' });
              body[name] = /^\d+(\.\d+)?$/.test(v) ? Number(v) : v;
            } else {
              if (!/^\d+$/.test(v) || Number(v) < 1) return say({ ok: false, text: name + ': a positive whole number' });
              body[name] = Number(v);
            }
          }
          if (!Object.keys(body).length) return say({ ok: false, text: 'nothing to change: fill in a field' });
          const r = await postControl('api/experiments/' + enc(id) + '/limits', body);
          say(r);
          if (r.ok) Object.values(this.limitInputs).forEach((i) => { i.value = ''; });
        },
      },
      Object.entries(this.limitInputs).map(([name, input]) => el('label', {}, name, ' ', input)),
      el('button', { type: 'submit', text: 'Change limits' }));
      this.control.appendChild(card('Control', el('div', { class: 'row' }, stop), form, out));
      this.controlCard = this.control.firstChild;
    }

    render(snap) {
      setNav(this.route, snap);
      if (!this.head) this.build(snap);
      if (this.controlCard) this.controlCard.hidden = !(snap.control === true && isLive(snap));
      setText(this.head, (snap.name || 'experiment') + ' · ' + snap.id);
      const trials = snap.trials || [];
      const limits = snap.limits || {};

      fillOnce(this.statusCard, JSON.stringify([snap.status, snap.end_reason, snap.tuner, snap.assessor,
        snap.optimize_mode, snap.sessions, snap.created_at, snap.dir, snap.control]), () => kvTable([
        ['status', statusBadge(snap.status)],
        ['end reason', snap.end_reason || DASH],
        ['tuner', snap.tuner || DASH],
        ['assessor', snap.assessor || DASH],
        ['optimize', snap.optimize_mode || DASH],
        ['sessions', snap.sessions],
        ['created', fmtDate(snap.created_at)],
        ['directory', snap.dir || DASH],
        ['control', REPORT ? 'report (read-only)' : !snap.control ? 'read-only'
          : CONTROL_KEY ? 'enabled' : 'needs the address fmnist-nas printed (…/?control=<key>)'],
      ]));

      let maxDur = limits.maxExperimentDuration;
      if (typeof maxDur === 'string') maxDur = parseDuration(maxDur);
      this.timeMeter.set(snap.elapsed_s, maxDur, fmtDuration(snap.elapsed_s) + ' of ' +
        (isNum(maxDur) ? fmtDuration(maxDur) : 'no limit'));
      this.trialMeter.set(trials.length, limits.maxTrialNumber, trials.length + ' of ' +
        (isNum(limits.maxTrialNumber) ? limits.maxTrialNumber : 'no limit'));
      const running = trials.filter((t) => t.status === 'RUNNING').length;
      setText(this.concurrency, running + ' running, trialConcurrency ' + fmtValue(limits.trialConcurrency));
      if (this.limitInputs) {
        for (const [name, input] of Object.entries(this.limitInputs)) {
          const v = limits[name];
          input.placeholder = 'now ' + (v == null ? DASH : name === 'maxExperimentDuration' ? fmtLimit(v) : v);
        }
      }

      const counts = snap.counts || {};
      fillOnce(this.counts, JSON.stringify(counts), () => {
        const names = TRIAL_STATUSES.concat(Object.keys(counts).filter((k) => !TRIAL_STATUSES.includes(k)));
        return el('table', { class: 'kv' }, el('tbody', {}, names.map((s) =>
          el('tr', {}, el('th', {}, statusBadge(s)), el('td', { class: 'num', text: fmtValue(counts[s] || 0) })))));
      });

      const best = snap.best;
      const detail = this.bestDetail && best && this.bestDetail.id === best.id ? this.bestDetail : null;
      const bt = (best && (trials.find((x) => x.id === best.id) || detail)) || {};
      fillOnce(this.best, JSON.stringify([best, detail && detail.architecture, bt.test_accuracy, bt.params,
        bt.macs, bt.flat]), () => {
        if (!best || best.id == null) return el('p', { class: 'muted', text: 'no result yet' });
        const t = bt;
        return [
          kvTable([
            ['trial', el('a', { href: trialHref(snap.id, best.id), text: best.id })],
            ['sequence', best.sequence],
            ['value', best.value],
            ['test accuracy', t.test_accuracy],
            ['params / MACs', fmtCount(t.params) + ' / ' + fmtCount(t.macs)],
          ]),
          el('h4', { text: 'Parameters' }), paramsTable(t.flat),
          el('h4', { text: 'Architecture' }),
          el('pre', { class: 'arch', text: (detail && detail.architecture) || DASH }),
        ];
      });

      const fin = snap.final_training;
      this.finalCard.hidden = !fin;
      fillOnce(this.finalBody, JSON.stringify(fin), () => {
        if (!fin) return [];
        const flip = fin.test_time_augmentation === 'flip';
        const rows = [
          ['state', fin.state === 'done' ? statusBadge('DONE')
            : fin.state === 'running' ? statusBadge('RUNNING') : fin.state],
          ['epochs', fin.epochs],
          ['started', fmtDate(fin.started_at)],
        ];
        if (fin.state === 'running') rows.push(['progress', progressText(fin) || 'starting']);
        if (fin.state === 'done') {
          const ensemble = isNum(fin.models) && fin.models > 1 ? ', an ensemble of ' + fin.models + ' models' : '';
          rows.push(['test accuracy', fmtNum(fin.test_accuracy) + (flip ? ' (flip test-time augmentation' + ensemble + ')' : ensemble ? ' (' + ensemble.slice(2) + ')' : '')]);
          if (isNum(fin.test_accuracy_without_tta)) rows.push(['without augmentation', fin.test_accuracy_without_tta]);
          if (!ensemble) {
            rows.push(['training time', fmtDuration(fin.seconds)],
              ['images', fin.train_size], ['precision', (fin.precision || DASH) + ', ' + fmtValue(fin.threads) + ' thread(s)']);
          }
        }
        return [
          el('p', { class: 'muted', text: isNum(fin.models) && fin.models > 1
            ? 'the best configurations, retrained on every training image side by side; their averaged predictions tested once'
            : "the best trial's configuration, retrained on every training image and tested once" }),
          kvTable(rows),
          fin.architecture ? el('pre', { class: 'arch', text: fin.architecture }) : null,
        ];
      });

      const pts = (snap.best_curve || []).filter((p) => isNum(p.t) && isNum(p.value))
        .map((p) => ({ x: p.t / 60, y: p.value, id: p.id }));
      if (pts.length && isNum(snap.elapsed_s) && snap.elapsed_s / 60 > pts[pts.length - 1].x) {
        const last = pts[pts.length - 1];
        pts.push({ x: snap.elapsed_s / 60, y: last.y, id: last.id }); // hold the line until now
      }
      this.curve.set([lineDataset('best so far', pts, COLORS[0], { stepped: true })]);

      const controls = snap.controls || [];
      fillOnce(this.history, JSON.stringify(controls), () => controls.length ? card('Control requests',
        el('table', { class: 'grid' },
          el('thead', {}, el('tr', {}, ['#', 'Action', 'Target', 'Value', 'Requested', 'Applied', 'Result']
            .map((h) => el('th', { text: h })))),
          el('tbody', {}, controls.map((c) => el('tr', {},
            [c.id, c.action, c.target, c.value, fmtDate(c.requested_at),
              c.applied_at == null ? 'pending' : fmtDate(c.applied_at), c.result]
              .map((v) => el('td', { text: fmtValue(v) }))))))) : []);
    }
  }

  // -------------------------------------------------------------- page: trials

  class TrialsPage extends Page {
    constructor(route, main) {
      super(route, main);
      this.sort = { key: 'sequence', dir: 1 };
      this.filter = '';
      this.statusFilter = '';
      this.selected = new Set();
      this.rows = new Map();
      this.columnsKey = null;
    }

    load() {
      return apiSnapshot(this.route.id);
    }

    columns(snap) {
      const cols = [
        { key: 'sequence', label: '#', num: true, get: (t) => t.sequence },
        { key: 'id', label: 'Id', get: (t) => t.id, link: true },
        { key: 'status', label: 'Status', get: (t) => t.status, badge: true },
        { key: 'progress', label: 'Progress', get: (t) => progressText(t) || null },
      ];
      (snap.parameter_names || []).forEach((name) => cols.push({
        key: 'p:' + name, label: name, param: true, get: (t) => (t.flat ? t.flat[name] : null),
      }));
      cols.push(
        { key: 'final', label: 'Final', num: true, get: (t) => t.final, fmt: fmtNum },
        { key: 'best', label: 'Best', num: true, get: (t) => t.best, fmt: fmtNum },
        { key: 'test_accuracy', label: 'Test acc.', num: true, get: (t) => t.test_accuracy, fmt: fmtNum },
        { key: 'epochs', label: 'Epochs', num: true, get: (t) => t.epochs },
        { key: 'duration', label: 'Duration', num: true, get: (t) => durationOf(t, snap), fmt: fmtDuration },
        { key: 'params', label: 'Params', num: true, get: (t) => t.params, fmt: fmtCount },
        { key: 'macs', label: 'MACs', num: true, get: (t) => t.macs, fmt: fmtCount });
      return cols;
    }

    build() {
      const id = this.route.id;
      this.filterInput = el('input', {
        type: 'search', placeholder: 'filter: id, status, parameter value…', size: 32,
        oninput: () => { this.filter = this.filterInput.value.trim().toLowerCase(); this.arrange(); },
      });
      this.statusSelect = el('select', {
        onchange: () => { this.statusFilter = this.statusSelect.value; this.arrange(); },
      }, el('option', { value: '', text: 'all statuses' }), TRIAL_STATUSES.map((s) => el('option', { value: s, text: s })));
      this.shown = el('span', { class: 'muted' });
      this.compareBtn = el('button', {
        text: 'Compare', disabled: true,
        onclick: () => {
          const ids = this.ordered().map((r) => r.trial.id).filter((t) => this.selected.has(t));
          if (ids.length) location.hash = expHref(id, 'compare/' + ids.map(enc).join(','));
        },
      });
      this.clearBtn = el('button', {
        text: 'Clear selection', class: 'plain',
        onclick: () => { this.selected.clear(); this.rows.forEach((r) => { r.box.checked = false; }); this.updateCompare(); },
      });
      this.thead = el('thead');
      this.tbody = el('tbody');
      this.table = el('table', { class: 'grid trials' }, this.thead, this.tbody);
      this.main.append(
        el('div', { class: 'toolbar' }, this.filterInput, this.statusSelect, this.shown,
          el('span', { class: 'spacer' }), this.clearBtn, this.compareBtn),
        el('div', { class: 'table-wrap' }, this.table));
    }

    buildHeader() {
      clear(this.thead);
      this.headCells = new Map();
      const tr = el('tr', {}, el('th', { class: 'sel' }));
      this.cols.forEach((c) => {
        const th = el('th', {
          class: 'sortable' + (c.num ? ' num' : ''), title: 'sort by ' + c.label, text: c.label,
          onclick: () => {
            this.sort = this.sort.key === c.key ? { key: c.key, dir: -this.sort.dir } : { key: c.key, dir: 1 };
            this.arrange();
          },
        });
        this.headCells.set(c.key, th);
        tr.appendChild(th);
      });
      this.thead.appendChild(tr);
      // Rows must be rebuilt with the new columns.
      this.rows.forEach((r) => r.tr.remove());
      this.rows.clear();
    }

    makeRow(t) {
      const box = el('input', { type: 'checkbox', title: 'select for Compare' });
      box.checked = this.selected.has(t.id);
      box.addEventListener('change', () => {
        if (box.checked) this.selected.add(row.trial.id);
        else this.selected.delete(row.trial.id);
        this.updateCompare();
      });
      const cells = this.cols.map((c) => el('td', { class: c.num ? 'num' : c.param ? 'param' : null }));
      const row = { tr: el('tr', {}, el('td', { class: 'sel' }, box), cells), cells, box, trial: t };
      return row;
    }

    fillRow(row, t) {
      row.trial = t;
      this.cols.forEach((c, i) => {
        const cell = row.cells[i];
        const v = c.get(t);
        if (c.link) {
          fillOnce(cell, String(v), () => el('a', { href: trialHref(this.route.id, v), text: v }));
        } else if (c.badge) {
          fillOnce(cell, String(v), () => statusBadge(v));
        } else {
          setText(cell, c.fmt ? c.fmt(v) : v == null ? (c.key === 'progress' ? '' : DASH) : fmtValue(v));
        }
      });
      row.text = [t.id, t.status, String(t.sequence)].concat(Object.values(t.flat || {}).map(String))
        .join('\u0001').toLowerCase();
    }

    render(snap) {
      setNav(this.route, snap);
      if (!this.tbody) this.build();
      this.snap = snap;
      this.cols = this.columns(snap);
      const key = JSON.stringify(this.cols.map((c) => c.key));
      if (key !== this.columnsKey) {
        this.columnsKey = key;
        this.buildHeader();
      }
      const seen = new Set();
      (snap.trials || []).forEach((t) => {
        seen.add(t.id);
        let row = this.rows.get(t.id);
        if (!row) {
          row = this.makeRow(t);
          this.rows.set(t.id, row);
        }
        this.fillRow(row, t);
      });
      for (const [tid, row] of this.rows) {
        if (!seen.has(tid)) {
          row.tr.remove();
          this.rows.delete(tid);
        }
      }
      this.arrange();
    }

    /** The rows in the current sort order. */
    ordered() {
      const col = this.cols.find((c) => c.key === this.sort.key) || this.cols[0];
      const dir = this.sort.dir;
      const rows = Array.from(this.rows.values());
      const val = (r) => col.get(r.trial);
      return rows.sort((a, b) => {
        const va = val(a);
        const vb = val(b);
        const na = va == null || va === '';
        const nb = vb == null || vb === '';
        if (na || nb) return na === nb ? a.trial.sequence - b.trial.sequence : na ? 1 : -1; // empty last
        let d;
        if (typeof va === 'number' && typeof vb === 'number') d = va - vb;
        else d = String(va).localeCompare(String(vb), undefined, { numeric: true });
        return d !== 0 ? d * dir : (a.trial.sequence - b.trial.sequence);
      });
    }

    /** Applies sort and filter to the existing rows (moves only what moved). */
    arrange() {
      if (!this.cols) return;
      const rows = this.ordered();
      let shown = 0;
      rows.forEach((r) => {
        const visible = (!this.statusFilter || r.trial.status === this.statusFilter) &&
          (!this.filter || r.text.includes(this.filter));
        r.tr.hidden = !visible;
        if (visible) shown++;
      });
      const current = Array.from(this.tbody.children);
      if (current.length !== rows.length || rows.some((r, i) => current[i] !== r.tr)) {
        rows.forEach((r) => this.tbody.appendChild(r.tr));
      }
      this.headCells.forEach((th, k) => {
        th.classList.toggle('asc', k === this.sort.key && this.sort.dir > 0);
        th.classList.toggle('desc', k === this.sort.key && this.sort.dir < 0);
      });
      setText(this.shown, shown + ' of ' + rows.length + ' trials');
      for (const tid of Array.from(this.selected)) if (!this.rows.has(tid)) this.selected.delete(tid);
      this.updateCompare();
    }

    updateCompare() {
      const n = this.selected.size;
      this.compareBtn.disabled = n < 1;
      setText(this.compareBtn, n ? 'Compare ' + n : 'Compare');
    }
  }

  // --------------------------------------------------------------- page: trial

  /** Keeps a <pre> scrolled to the end unless the user scrolled it up. */
  function setPre(pre, text) {
    const s = text == null ? '' : String(text);
    if (pre.textContent === s) return;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    const top = pre.scrollTop;
    pre.textContent = s;
    pre.scrollTop = atEnd ? pre.scrollHeight : top;
  }

  /** The points of one metric key over a trial's intermediate results (x = epoch). */
  function curveOf(detail, key) {
    return (detail.intermediate || []).map((r) => ({ x: (isNum(r.sequence) ? r.sequence : 0) + 1, y: metricOf(r.value, key) }))
      .filter((p) => p.y != null);
  }

  class TrialPage extends Page {
    async load() {
      const [snap, trial] = await Promise.all([apiSnapshot(this.route.id), apiTrial(this.route.id, this.route.trial)]);
      return { snap, trial };
    }

    build() {
      const t = this.route.trial;
      this.head = el('h1', { text: 'Trial ' + t });
      this.summary = el('div');
      this.cost = el('div');
      this.params = el('div');
      this.finalValue = el('div');
      this.arch = el('pre', { class: 'arch' });
      this.out = el('pre', { class: 'tail' });
      this.err = el('pre', { class: 'tail' });
      this.answer = el('p', { class: 'answer', 'aria-live': 'polite' });
      this.cancel = el('button', {
        class: 'danger', text: 'Cancel trial', hidden: true,
        onclick: async () => {
          if (!confirm('Cancel trial ' + t + '?')) return;
          const r = await postControl('api/experiments/' + enc(this.route.id) + '/trials/' + enc(t) + '/cancel', {});
          setText(this.answer, r.text);
          this.answer.className = 'answer ' + (r.ok ? 'ok' : 'bad');
        },
      });
      this.charts = el('div', { class: 'charts' });
      this.noMetrics = el('p', { class: 'muted', text: 'no intermediate results yet' });
      this.keySlots = new Map();
      this.main.append(
        el('div', { class: 'title-row' }, this.head, el('span', { class: 'spacer' }), this.cancel),
        this.answer,
        el('div', { class: 'cards' },
          card('Trial', this.summary), card('Cost', this.cost),
          card('Parameters', this.params), card('Final result', this.finalValue)),
        card('Metrics', this.noMetrics, this.charts),
        card('Architecture', this.arch),
        card('stdout (tail)', this.out),
        card('stderr (tail)', this.err));
    }

    render({ snap, trial }) {
      setNav(this.route, snap);
      if (!this.head) this.build();
      const t = trial;
      setText(this.head, 'Trial ' + t.id + (isNum(t.sequence) ? ' (#' + t.sequence + ')' : ''));
      this.cancel.hidden = !(!REPORT && snap.control === true && t.status === 'RUNNING');

      fillOnce(this.summary, JSON.stringify([t.status, t.exit_code, t.signal, t.reason, t.epochs,
        t.final, t.best, t.latest, t.test_accuracy, t.duration_s, t.started_at, t.ended_at, t.parameter_id,
        progressText(t), t.status === 'RUNNING' ? snap.now : 0]), () => kvTable([
        ['status', statusBadge(t.status)],
        ['progress', progressText(t) || DASH],
        ['exit code', t.exit_code],
        ['signal', t.signal],
        ['reason', t.reason || DASH],
        ['final', t.final],
        ['best', t.best],
        ['latest', t.latest],
        ['test accuracy', t.test_accuracy],
        ['epochs', t.epochs],
        ['duration', fmtDuration(durationOf(t, snap))],
        ['started', fmtDate(t.started_at)],
        ['ended', fmtDate(t.ended_at)],
        ['parameter id', t.parameter_id],
      ]));
      fillOnce(this.cost, JSON.stringify([t.params, t.macs]), () => kvTable([
        ['parameters', isNum(t.params) ? t.params.toLocaleString('en-US') + ' (' + fmtCount(t.params) + ')' : DASH],
        ['MACs', isNum(t.macs) ? t.macs.toLocaleString('en-US') + ' (' + fmtCount(t.macs) + ')' : DASH],
      ]));
      fillOnce(this.params, JSON.stringify(t.flat || null), () => paramsTable(t.flat));
      fillOnce(this.finalValue, JSON.stringify(t.final_value === undefined ? null : t.final_value), () => {
        const fv = t.final_value;
        if (fv == null) return el('p', { class: 'muted', text: 'no final result' });
        if (typeof fv !== 'object') return kvTable([['default', fv]]);
        return kvTable(Object.entries(fv));
      });
      setText(this.arch, t.architecture || (t.summary ? JSON.stringify(t.summary, null, 2) : DASH));
      setPre(this.out, t.stdout_tail || '');
      setPre(this.err, t.stderr_tail || '');

      const keys = Array.isArray(t.keys) ? t.keys : [];
      this.noMetrics.hidden = keys.length > 0;
      keys.forEach((key, i) => {
        let slot = this.keySlots.get(key);
        if (!slot) {
          slot = this.slot(this.charts, key, lineOptions('epoch', key, { integerX: true }));
          this.keySlots.set(key, slot);
        }
        slot.set([lineDataset(key, curveOf(t, key), COLORS[i % COLORS.length])]);
      });
    }
  }

  // ------------------------------------------------------------- page: compare

  class ComparePage extends Page {
    async load() {
      const ids = this.route.trials;
      const [snap, ...details] = await Promise.all([apiSnapshot(this.route.id)]
        .concat(ids.map((t) => apiTrial(this.route.id, t).catch((e) => {
          if (e.status === 404) return { id: t, missing: true };
          throw e;
        }))));
      return { snap, details };
    }

    render({ snap, details }) {
      setNav(this.route, snap);
      if (!this.head) {
        this.head = el('h1', { text: 'Compare ' + this.route.trials.length + ' trial(s)' });
        this.missing = el('p', { class: 'muted' });
        this.table = el('div', { class: 'table-wrap' });
        this.charts = el('div', { class: 'charts' });
        this.noMetrics = el('p', { class: 'muted', text: 'no intermediate results yet' });
        this.keySlots = new Map();
        this.main.append(this.head, this.missing, card('Trials', this.table), card('Metrics', this.noMetrics, this.charts));
        if (!this.route.trials.length) setText(this.missing, 'No trials chosen: select some on the Trials page.');
      }
      const present = details.filter((d) => !d.missing);
      const gone = details.filter((d) => d.missing).map((d) => d.id);
      if (gone.length) setText(this.missing, 'not found: ' + gone.join(', '));
      const color = (i) => COLORS[i % COLORS.length];

      // Side-by-side table: results, cost and the parameters (differing ones marked).
      const names = snap.parameter_names && snap.parameter_names.length ? snap.parameter_names
        : Array.from(new Set([].concat(...present.map((d) => Object.keys(d.flat || {})))));
      const rows = [
        ['status', (d) => d.status], ['final', (d) => d.final], ['best', (d) => d.best],
        ['test accuracy', (d) => d.test_accuracy], ['epochs', (d) => d.epochs],
        ['params', (d) => fmtCount(d.params)], ['MACs', (d) => fmtCount(d.macs)],
      ].concat(names.map((n) => [n, (d) => (d.flat ? d.flat[n] : null), true]));
      const cells = rows.map(([, get]) => present.map((d) => fmtValue(get(d))));
      fillOnce(this.table, JSON.stringify([present.map((d) => d.id), cells]), () => el('table', { class: 'grid' },
        el('thead', {}, el('tr', {}, el('th'), present.map((d, i) =>
          el('th', {}, el('span', { class: 'swatch', style: 'background:' + color(i) }),
            el('a', { href: trialHref(snap.id, d.id), text: d.id }))))),
        el('tbody', {}, rows.map(([label, , isParam], r) => {
          const differs = isParam && new Set(cells[r]).size > 1;
          return el('tr', { class: differs ? 'differs' : null }, el('th', { text: label }),
            cells[r].map((v) => el('td', { text: v })));
        }))));

      const keys = [];
      present.forEach((d) => (d.keys || []).forEach((k) => { if (!keys.includes(k)) keys.push(k); }));
      keys.sort((a, b) => (a === 'default' ? -1 : b === 'default' ? 1 : 0));
      this.noMetrics.hidden = keys.length > 0;
      keys.forEach((key) => {
        let slot = this.keySlots.get(key);
        if (!slot) {
          slot = this.slot(this.charts, key, lineOptions('epoch', key, { legend: true, integerX: true, onClick: clickToTrial(snap.id) }));
          this.keySlots.set(key, slot);
        }
        slot.set(present.map((d, i) => lineDataset(String(d.id), curveOf(d, key), color(i), { trialId: d.id })));
      });
    }
  }

  // -------------------------------------------------------------- page: params

  class ParamsPage extends Page {
    load() {
      return apiSnapshot(this.route.id);
    }

    render(snap) {
      setNav(this.route, snap);
      if (!this.charts) {
        this.charts = el('div', { class: 'charts' });
        this.none = el('p', { class: 'muted', text: 'no parameters' });
        this.main.append(el('h1', { text: 'Hyper-parameters' }),
          el('p', { class: 'muted', text: 'Each trial\'s final result (else its best) against the parameter\'s value; click a point for its trial.' }),
          this.none, this.charts);
        this.paramSlots = new Map();
      }
      const names = snap.parameter_names || [];
      this.none.hidden = names.length > 0;
      const trials = snap.trials || [];
      names.forEach((name) => {
        const pts = [];
        trials.forEach((t) => {
          const x = t.flat ? t.flat[name] : null;
          const y = resultOf(t);
          if (x != null && y != null) pts.push({ x, y, id: t.id });
        });
        const numeric = pts.length > 0 && pts.every((p) => isNum(p.x));
        let xType = 'linear';
        let labels = null;
        if (numeric) {
          const xs = pts.map((p) => p.x);
          const lo = Math.min(...xs);
          const hi = Math.max(...xs);
          if (lo > 0 && hi / lo > 20) xType = 'logarithmic';
        } else {
          xType = 'category';
          pts.forEach((p) => { p.x = typeof p.x === 'object' ? JSON.stringify(p.x) : String(p.x); });
          labels = Array.from(new Set(pts.map((p) => p.x)))
            .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
        }
        let slot = this.paramSlots.get(name);
        if (!slot) {
          slot = this.slot(this.charts, name, () => ({
            type: 'scatter',
            options: {
              animation: false,
              responsive: true,
              maintainAspectRatio: false,
              scales: { x: axis(xType, name, { offset: xType === 'category' }), y: axis('linear', 'result') },
              plugins: {
                legend: { display: false },
                tooltip: { callbacks: { label: (c) => (c.raw.id + ': ' + c.raw.x + ' → ' + fmtNum(c.raw.y)) } },
              },
              onClick: clickToTrial(snap.id),
            },
          }));
          this.paramSlots.set(name, slot);
        }
        if (slot.chart) slot.chart.options.scales.x.offset = xType === 'category';
        slot.set([{ label: name, data: pts, borderColor: COLORS[0], backgroundColor: COLORS[0] + '99', pointRadius: 4 }],
          { xType, labels: labels || [] });
      });
    }
  }

  // ------------------------------------------------------------------- routing

  function parseRoute() {
    const raw = location.hash.replace(/^#\/?/, '');
    const parts = raw.split('/').filter((p) => p !== '');
    const dec = (s) => {
      try {
        return decodeURIComponent(s);
      } catch (e) {
        return s;
      }
    };
    if (!parts.length) return { page: 'list' };
    if (parts[0] === 'e' && parts.length >= 2) {
      const id = dec(parts[1]);
      const sub = parts[2];
      if (parts.length === 2) return { page: 'overview', id };
      if (sub === 'trials' && parts.length === 3) return { page: 'trials', id };
      if (sub === 'params' && parts.length === 3) return { page: 'params', id };
      if (sub === 'trial' && parts.length === 4) return { page: 'trial', id, trial: dec(parts[3]) };
      if (sub === 'compare' && parts.length <= 4) {
        return { page: 'compare', id, trials: (parts[3] || '').split(',').filter(Boolean).map(dec) };
      }
    }
    return { page: 'unknown' };
  }

  const PAGES = {
    list: ListPage, overview: OverviewPage, trials: TrialsPage,
    trial: TrialPage, compare: ComparePage, params: ParamsPage,
  };

  let current = null;

  function route() {
    if (current) current.destroy();
    current = null;
    hideBanner();
    updatedInfo = null;
    tick();
    const main = document.getElementById('main');
    clear(main);
    main.removeAttribute('data-state');
    const r = parseRoute();
    main.setAttribute('data-page', r.page);
    document.title = 'fmnist-nas dashboard';
    window.scrollTo(0, 0);
    setNav(r, null);
    const Cls = PAGES[r.page];
    if (!Cls) {
      main.appendChild(card('Not found', el('p', { text: 'There is no such page.' }),
        el('p', {}, el('a', { href: '#/', text: 'All experiments' }))));
      return;
    }
    current = new Cls(r, main);
    current.start();
  }

  window.addEventListener('hashchange', route);
  if (!REPORT) setInterval(tick, 1000);
  if (REPORT) document.body.classList.add('report');
  route();
})();
