#!/usr/bin/python3
"""Real-browser test of the fmnist-nas dashboard (docs/dashboard.md).

Drives headless Chromium through selenium (Debian's python3-selenium,
chromium and chromium-driver) over a running dashboard server: for a finished
and a running experiment it loads the list, overview, trials, trial, compare and
hyper-parameter pages, waits until each shows its data and drew its charts, and
checks that the browser logged no error, that no request failed or left the
server's origin, and that the running experiment's trials page updates itself.
With --report it also opens a self-contained report file offline.

  /usr/bin/python3 tests/browser/dashboard_browser_test.py \\
      --url http://127.0.0.1:8080/ --finished ID --running ID \\
      --screenshots DIR [--report FILE.html]

Exit status 0 when every check passed; else one line per problem and 1.
"""

import argparse
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
PAGE_TIMEOUT_S = 15
LIVE_TIMEOUT_S = 12

# The page's state as the checks see it (one execute_script per look).
STATE_JS = r"""
const main = document.getElementById('main');
const banner = document.getElementById('banner');
const visible = (e) => e.offsetParent !== null;
const charts = Array.from(main.querySelectorAll('canvas')).map((c) => {
  const ch = window.Chart && window.Chart.getChart ? window.Chart.getChart(c) : null;
  if (!ch) return null;
  return {
    points: ch.data.datasets.reduce((n, d) => n + ((d.data || []).length), 0),
    labels: ch.data.datasets.map((d) => String(d.label)),
    width: c.width, height: c.height,
  };
});
return {
  state: main.getAttribute('data-state'),
  page: main.getAttribute('data-page'),
  banner: banner && !banner.hidden ? banner.textContent : null,
  h1: Array.from(main.querySelectorAll('h1')).map((h) => h.textContent).join(' | '),
  links: Array.from(main.querySelectorAll('a')).map((a) => a.textContent),
  rows: main.querySelectorAll('table.trials tbody tr').length,
  rowIds: Array.from(main.querySelectorAll('table.trials tbody tr a')).map((a) => a.textContent),
  buttons: Array.from(main.querySelectorAll('button')).filter(visible).map((b) => b.textContent),
  charts: charts,
  injected: main.querySelectorAll('img, script, iframe, object, embed').length,
  chartLib: typeof window.Chart,
  updated: (document.getElementById('updated') || {}).textContent || '',
  text: main.innerText.length,
  finalModel: (() => {
    const card = document.getElementById('final-model');
    return card && visible(card) ? card.innerText : null;
  })(),
};
"""

# Every request the document made since the last look, then forget them.
NETWORK_JS = r"""
const out = [];
for (const e of performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))) {
  out.push({ name: e.name, status: e.responseStatus === undefined ? null : e.responseStatus,
             kind: e.initiatorType || 'navigation' });
}
performance.clearResourceTimings();
return out;
"""

# A snapshot of the trials table's body text, marking the page and the table so
# that a reload or a re-created table can be told from an in-place update.
LIVE_MARK_JS = r"""
window.__dashLiveMark = 1;
const t = document.querySelector('#main table.trials');
if (t) t.__dashLiveMark = 1;
return t ? t.tBodies[0].innerText : null;
"""
LIVE_LOOK_JS = r"""
const t = document.querySelector('#main table.trials');
return { page: window.__dashLiveMark === 1, table: !!t && t.__dashLiveMark === 1,
         text: t ? t.tBodies[0].innerText : null };
"""


class Test:
    def __init__(self, args):
        self.args = args
        self.base = args.url if args.url.endswith('/') else args.url + '/'
        self.origin = '{0.scheme}://{0.netloc}'.format(urllib.parse.urlsplit(self.base))
        self.problems = []
        self.driver = None

    # ------------------------------------------------------------------ helpers

    def problem(self, text):
        self.problems.append(text)
        print('FAIL ' + text, flush=True)

    def api(self, path):
        with urllib.request.urlopen(urllib.parse.urljoin(self.base, path), timeout=10) as r:
            return json.load(r)

    def snapshot(self, exp):
        return self.api('api/experiments/' + urllib.parse.quote(exp, safe=''))

    def trial(self, exp, tid):
        return self.api('api/experiments/%s/trials/%s' % (urllib.parse.quote(exp, safe=''),
                                                          urllib.parse.quote(tid, safe='')))

    def start_browser(self):
        opts = Options()
        opts.binary_location = CHROMIUM
        for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--window-size=1400,1000',
                  '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'):
            opts.add_argument(a)
        # browser: the console; performance: DevTools' network events, which
        # also see the requests that Resource Timing leaves out (failed fetches).
        opts.set_capability('goog:loggingPrefs', {'browser': 'ALL', 'performance': 'ALL'})
        opts.add_experimental_option('perfLoggingPrefs', {'enableNetwork': True, 'enablePage': False})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.driver.set_page_load_timeout(30)

    def state(self):
        return self.driver.execute_script(STATE_JS)

    def wait(self, expect, timeout=PAGE_TIMEOUT_S):
        """Polls the page's state until expect(state) gives no reason; returns (state, reason)."""
        end = time.time() + timeout
        why = 'no state'
        st = None
        while True:
            try:
                st = self.state()
                why = expect(st)
            except Exception as e:  # the page is changing under us: look again
                why = 'cannot read the page: %s' % str(e).splitlines()[0]
            if not why or time.time() > end:
                return st, why
            time.sleep(0.3)

    def console_problems(self, where):
        for entry in self.driver.get_log('browser'):
            if entry.get('level') == 'SEVERE':
                self.problem('%s: browser console error: %s' % (where, entry.get('message')))

    def network_problems(self, where, offline=False):
        """Checks every request since the last look: the page's Resource Timing
        entries (responseStatus) and DevTools' network events."""
        seen = []  # (url, status or None, error or None)
        for e in self.driver.execute_script(NETWORK_JS):
            seen.append((e['name'], e['status'], None))
        urls = {}
        for entry in self.driver.get_log('performance'):
            try:
                msg = json.loads(entry['message'])['message']
            except (ValueError, KeyError):
                continue
            method, params = msg.get('method'), msg.get('params') or {}
            if method == 'Network.requestWillBeSent':
                urls[params.get('requestId')] = params['request']['url']
                seen.append((params['request']['url'], None, None))
            elif method == 'Network.responseReceived':
                seen.append((params['response']['url'], params['response'].get('status'), None))
            elif method == 'Network.loadingFailed' and not params.get('canceled'):
                seen.append((urls.get(params.get('requestId'), '?'), None, params.get('errorText')))
        reported = set()
        for url, status, error in seen:
            scheme = urllib.parse.urlsplit(url).scheme
            if offline:
                text = ('the report made a network request: %s' % url if scheme not in ('file', 'data') else
                        'the report failed to load (%s): %s' % (error, url) if error else None)
            elif scheme != 'data' and url != '?' and not (url == self.origin or url.startswith(self.origin + '/')):
                text = 'request outside the server\'s origin: %s' % url
            elif isinstance(status, int) and status >= 400:
                text = 'request failed with %s: %s' % (status, url)
            elif error:
                text = 'request failed (%s): %s' % (error, url)
            else:
                text = None
            if text and text not in reported:
                reported.add(text)
                self.problem('%s: %s' % (where, text))

    def screenshot(self, name):
        os.makedirs(self.args.screenshots, exist_ok=True)
        self.driver.save_screenshot(os.path.join(self.args.screenshots, name + '.png'))

    def check_page(self, label, url, expect, offline=False):
        """Loads url, waits for expect, then checks console, network and charts."""
        before = len(self.problems)
        self.driver.get(url)
        st, why = self.wait(lambda s: common_expect(s) or expect(s))
        self.screenshot(label)
        if why:
            self.problem('%s: %s' % (label, why))
        if offline and st:
            for b in ('Stop experiment', 'Cancel trial', 'Change limits'):
                if b in st['buttons']:
                    self.problem('%s: the report shows the control "%s"' % (label, b))
        self.console_problems(label)
        self.network_problems(label, offline)
        if len(self.problems) == before:
            print('ok   %-28s %d chart(s), %s' % (label, len(st['charts']), url), flush=True)
        return st

    # -------------------------------------------------------------- the pages

    def check_control(self, url, exp):
        control_check(self, url, exp)

    def check_experiment(self, label, exp, running):
        frag = self.base + '#/e/' + urllib.parse.quote(exp, safe='')
        snap = self.snapshot(exp)
        trials = sorted(snap.get('trials') or [], key=lambda t: t.get('sequence') or 0)
        ids = [t['id'] for t in trials]
        if running and not (snap.get('status') == 'RUNNING' or snap.get('running')):
            self.problem('%s: experiment %s does not run (status %s)' % (label, exp, snap.get('status')))

        def overview(s):
            if exp not in s['h1']:
                return 'the heading does not name %s' % exp
            best = (snap.get('best') or {}).get('id')
            if best and not running and best not in s['links']:
                return 'the best trial %s is not shown' % best
            if snap.get('best_curve') and not s['charts']:
                return 'no best-so-far chart'
            if running and snap.get('control') and 'Stop experiment' not in s['buttons']:
                return 'no "Stop experiment" button although control is true'
            if not snap.get('control') and 'Stop experiment' in s['buttons']:
                return 'a "Stop experiment" button although control is false'
            return final_model_problem(snap, s)
        self.check_page(label + '-overview', frag, overview)

        def trials_page(s):
            if s['rows'] < len(ids) or (not running and s['rows'] != len(ids)):
                return 'the trials table has %d rows, the snapshot %d trials' % (s['rows'], len(ids))
            missing = [i for i in ids if i not in s['rowIds']]
            if missing:
                return 'trial ids not in the table: %s' % ', '.join(missing[:5])
            return None
        self.check_page(label + '-trials', frag + '/trials', trials_page)
        if running:
            self.check_live(label)

        if ids:
            detail = self.trial(exp, ids[0])
            keys = detail.get('keys') or []

            def trial_page(s):
                if ids[0] not in s['h1']:
                    return 'the heading does not name trial %s' % ids[0]
                if len(s['charts']) < len(keys) or (not running and len(s['charts']) != len(keys)):
                    return '%d chart(s) for %d metric key(s)' % (len(s['charts']), len(keys))
                return None
            self.check_page(label + '-trial', frag + '/trial/' + urllib.parse.quote(ids[0], safe=''), trial_page)
        else:
            print('skip %s-trial: no trials' % label)

        if len(ids) >= 1:
            chosen = ids[:2]
            details = [self.trial(exp, t) for t in chosen]
            keys = set(k for d in details for k in (d.get('keys') or []))

            def compare(s):
                if len(s['charts']) < len(keys) or (not running and len(s['charts']) != len(keys)):
                    return '%d chart(s) for %d metric key(s)' % (len(s['charts']), len(keys))
                for c in s['charts']:
                    if c and not set(c['labels']) <= set(chosen):
                        return 'a chart shows %s, not only %s' % (c['labels'], chosen)
                if len(chosen) == 2 and all(d.get('keys') for d in details) and \
                        not any(c and len(c['labels']) == 2 for c in s['charts']):
                    return 'no chart overlays both trials'
                return None
            self.check_page(label + '-compare', frag + '/compare/' +
                            ','.join(urllib.parse.quote(t, safe='') for t in chosen), compare)

        def with_value(name):
            for t in trials:
                y = t.get('final') if t.get('final') is not None else t.get('best')
                if (t.get('flat') or {}).get(name) is not None and y is not None:
                    return True
            return False
        scatters = sum(1 for n in snap.get('parameter_names') or [] if with_value(n))

        def params(s):
            if len(s['charts']) < scatters:
                return '%d scatter chart(s), expected %d' % (len(s['charts']), scatters)
            return None
        self.check_page(label + '-params', frag + '/params', params)

    def check_live(self, label):
        """The running experiment's trials table changes without a reload."""
        before = self.driver.execute_script(LIVE_MARK_JS)
        end = time.time() + LIVE_TIMEOUT_S
        look = None
        problems = len(self.problems)
        while time.time() < end:
            time.sleep(0.5)
            look = self.driver.execute_script(LIVE_LOOK_JS)
            if not look['page'] or not look['table']:
                break
            if look['text'] != before:
                break
        if look is None or not look['page']:
            self.problem('%s-live: the page reloaded instead of updating in place' % label)
        elif not look['table']:
            self.problem('%s-live: the trials table was re-created instead of updated' % label)
        elif look['text'] == before:
            self.problem('%s-live: the trials table did not change within %d s' % (label, LIVE_TIMEOUT_S))
        self.console_problems(label + '-live')
        self.network_problems(label + '-live')
        if len(self.problems) == problems:
            print('ok   %-28s the trials table updated in place' % (label + '-live'), flush=True)

    def check_list(self, exps):
        def listing(s):
            missing = [e for e in exps if e not in s['links']]
            return 'experiments not listed: %s' % ', '.join(missing) if missing else None
        self.check_page('list', self.base + '#/', listing)

    def check_report(self, path):
        url = 'file://' + urllib.parse.quote(os.path.abspath(path))
        self.driver.get(url + '#/')
        time.sleep(0.5)
        data = self.driver.execute_script('return window.NNILIB_REPORT || null;')
        if not data:
            self.problem('report: window.NNILIB_REPORT is not defined in %s' % path)
            return
        exps = [e['id'] for e in (data.get('experiments') or {}).get('experiments') or []]
        if len(exps) > 1:
            self.check_page('report-list', url + '#/',
                            lambda s: None if all(e in s['links'] for e in exps) else 'experiments not listed',
                            offline=True)
        for n, exp in enumerate(exps[:2]):
            snap = (data.get('snapshots') or {}).get(exp) or {}
            details = (data.get('trials') or {}).get(exp) or {}
            frag = url + '#/e/' + urllib.parse.quote(exp, safe='')
            trials = sorted(snap.get('trials') or [], key=lambda t: t.get('sequence') or 0)
            tag = 'report-%d' % (n + 1)
            self.check_page(tag + '-overview', frag,
                            lambda s: final_model_problem(snap, s) if not snap.get('best_curve') or s['charts']
                            else 'no chart', offline=True)
            self.check_page(tag + '-trials', frag + '/trials',
                            lambda s: None if s['rows'] == len(trials) else
                            '%d rows, %d trials' % (s['rows'], len(trials)), offline=True)
            with_detail = [t['id'] for t in trials if t['id'] in details]
            if with_detail:
                keys = details[with_detail[0]].get('keys') or []
                self.check_page(tag + '-trial', frag + '/trial/' + urllib.parse.quote(with_detail[0], safe=''),
                                lambda s: None if len(s['charts']) == len(keys) else
                                '%d chart(s) for %d key(s)' % (len(s['charts']), len(keys)), offline=True)
            self.check_page(tag + '-params', frag + '/params', lambda s: None, offline=True)

    def run(self):
        a = self.args
        try:
            listing = self.api('api/experiments')
        except Exception as e:
            self.problem('cannot read %sapi/experiments: %s' % (self.base, e))
            return 1
        served = [e.get('id') for e in listing.get('experiments') or []]
        for exp in (a.finished, a.running):
            if exp not in served:
                self.problem('the server does not list experiment %s (it lists %s)' % (exp, served))
        if self.problems:
            return 1
        self.start_browser()
        try:
            self.check_list([a.finished, a.running])
            self.check_experiment('finished', a.finished, running=False)
            self.check_experiment('running', a.running, running=True)
            if a.report:
                self.check_report(a.report)
            if a.control_url:
                self.check_control(a.control_url, a.control)
        finally:
            self.driver.quit()
        if self.problems:
            print('%d problem(s)' % len(self.problems))
            return 1
        print('all dashboard checks passed')
        return 0


def control_check(t, url, exp):
    """The controls of a run's own dashboard, used as a person would: change a limit in
    the form, cancel a running trial, stop the experiment (each confirm() accepted), and
    see each applied by the runner through the API."""
    from selenium.webdriver.common.by import By
    parts = urllib.parse.urlsplit(url)  # http://host:port/?control=<key>
    base = '{0.scheme}://{0.netloc}{0.path}'.format(parts)
    base = base if base.endswith('/') else base + '/'
    page = base + ('?' + parts.query if parts.query else '')  # the address with its key
    api = lambda path: json.load(urllib.request.urlopen(base + path, timeout=10))
    snap_path = 'api/experiments/' + urllib.parse.quote(exp, safe='')
    d = t.driver
    t.origin = '{0.scheme}://{0.netloc}'.format(urllib.parse.urlsplit(base))  # its own server

    def until(what, f, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            try:
                if f():
                    return True
            except Exception:  # the page or the server is changing: look again
                pass
            time.sleep(0.3)
        t.problem('control: %s did not happen within %d s' % (what, timeout))
        return False

    def answer_ok():
        return any('accepted' in e.text and 'ok' in e.get_attribute('class')
                   for e in d.find_elements(By.CSS_SELECTOR, 'p.answer'))

    def button(text):
        for b in d.find_elements(By.TAG_NAME, 'button'):
            if b.text == text and b.is_displayed():
                return b
        return None

    d.get(page + '#/e/' + exp)
    if not until('the control card showing', lambda: button('Stop experiment') is not None):
        return
    form = d.find_element(By.CSS_SELECTOR, 'form.limits')
    form.find_elements(By.TAG_NAME, 'input')[0].send_keys('3')  # maxTrialNumber
    button('Change limits').click()
    until('the limits request accepted', answer_ok)
    until('maxTrialNumber 3 applied by the runner',
          lambda: api(snap_path)['limits']['maxTrialNumber'] == 3)
    t.screenshot('control-overview')

    running = [x['id'] for x in api(snap_path)['trials'] if x['status'] == 'RUNNING']
    if not running:
        t.problem('control: no running trial to cancel')
        return
    d.get(page + '#/e/' + exp + '/trial/' + running[0])
    if until('the "Cancel trial" button', lambda: button('Cancel trial') is not None):
        button('Cancel trial').click()
        d.switch_to.alert.accept()
        until('the cancel request accepted', answer_ok)
        until('trial %s USER_CANCELED' % running[0],
              lambda: api(snap_path + '/trials/' + running[0])['status'] == 'USER_CANCELED')
    t.console_problems('control')
    t.network_problems('control')

    d.get(page + '#/e/' + exp)
    if until('the "Stop experiment" button', lambda: button('Stop experiment') is not None):
        button('Stop experiment').click()
        d.switch_to.alert.accept()
        until('the stop request accepted', answer_ok)
    # The runner stops and its server with it; the page then says it cannot reach it.
    print('ok   control                      limits, cancel and stop applied' if not any(
        p.startswith('control') for p in t.problems) else 'FAIL control', flush=True)


def final_model_problem(snap, s):
    """The overview's "Final model" card: shown exactly when the snapshot has a final
    training, with its test accuracy once it is done."""
    fin = snap.get('final_training')
    if not fin:
        return 'a "Final model" card without a final training' if s.get('finalModel') else None
    card = s.get('finalModel')
    if not card:
        return 'no "Final model" card although the final training is %s' % fin.get('state')
    if fin.get('state') == 'done':
        shown = re.search(r'test accuracy\s+([0-9.]+)', card)
        if not shown or abs(float(shown.group(1)) - fin['test_accuracy']) > 5e-5:
            return 'the "Final model" card does not show the test accuracy %s: %r' % (
                fin['test_accuracy'], card)
        if fin.get('test_time_augmentation') == 'flip' and 'flip test-time augmentation' not in card:
            return 'the "Final model" card does not say the test used flip augmentation'
    return None


def common_expect(s):
    """What every page must show: no banner, the page drawn, charts with data."""
    if s['chartLib'] != 'function':
        return 'Chart.js is not loaded'
    if s['banner']:
        return 'the page shows an error banner: %s' % s['banner']
    if s['injected']:
        return 'the page holds %d img/script/iframe element(s): HTML from the data?' % s['injected']
    if s['state'] != 'ready':
        return 'the page is not drawn (state %s)' % s['state']
    for i, c in enumerate(s['charts']):
        if c is None:
            return 'canvas %d has no Chart.js chart' % i
        if c['points'] < 1:
            return 'chart %d has no data point' % i
        if not c['width'] or not c['height']:
            return 'chart %d has no size' % i
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--url', required=True, help='the dashboard, e.g. http://127.0.0.1:8080/')
    p.add_argument('--finished', required=True, help='id of a finished experiment it serves')
    p.add_argument('--running', required=True, help='id of a running experiment it serves')
    p.add_argument('--screenshots', required=True, help='folder for one PNG per page')
    p.add_argument('--report', help='a report written by "fmnist-nas report --html"')
    p.add_argument('--control-url', help="a `fmnist-nas run`'s own dashboard: its controls are used")
    p.add_argument('--control', help='the id of the experiment that run runs')
    return Test(p.parse_args()).run()


if __name__ == '__main__':
    sys.exit(main())
