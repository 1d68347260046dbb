#!/usr/bin/python3
"""Makes goldens.json and functions.json: what graphite-web itself computes.

Run from the repository root with Debian's graphite-web installed
(apt-get install -y graphite-web; 1.1.8-2 on Debian 12 made the files here):

    /usr/bin/python3 graphiteapi/expr/testdata/gen_goldens.py graphiteapi/expr/testdata

It evaluates every target in CASES with graphite-web's own evaluator
(graphite.render.evaluator.evaluateTarget, so its grammar and
graphite.render.functions), reading the FIXTURES series through a fetch that
slices them to the request's window exactly as the Go tests' Fetcher does:
the points whose time t has from <= t < until.
"""
import importlib.metadata
import inspect
import json
import math
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'graphite.settings')
import warnings
warnings.simplefilter('ignore')
import django  # noqa: E402
django.setup()

from graphite.finders import match_entries, expand_braces  # noqa: E402
from graphite.render import evaluator  # noqa: E402
from graphite.render.datalib import TimeSeries  # noqa: E402
from graphite.functions import SeriesFunctions  # noqa: E402

T0 = 1699999200                  # FROM; a multiple of 3600
FROM, UNTIL, NOW = T0, T0 + 600, T0 + 600
DATA_FROM = T0 - 3600            # fixtures hold an hour before FROM for movingAverage


def wave(seed, n, nulls=(), scale=1.0, ints=False):
    out = []
    for i in range(n):
        if i % 97 in nulls:
            out.append(None)
            continue
        v = ((i * 37 + seed * 11) % 23 - 5) * scale + (seed % 3) * 0.25
        out.append(int(v) if ints else round(v, 3))
    return out


def counter(n, step_inc, wrap):
    out, v = [], 0
    for i in range(n):
        v = (v + step_inc + i % 3) % wrap
        out.append(v)
    return out


def fixture(step, values):
    return {'start': DATA_FROM, 'step': step, 'values': values}


N10 = (UNTIL - DATA_FROM) // 10
FIXTURES = {
    'a.b.c': fixture(10, wave(1, N10, nulls=(3, 4, 50, 70))),
    'a.b.d': fixture(10, wave(2, N10, nulls=(5, 71, 72))),
    'a.x.c': fixture(10, wave(3, N10, ints=True)),
    'web.host1.requests': fixture(10, wave(4, N10, scale=10, ints=True)),
    'web.host2.requests': fixture(10, wave(5, N10, nulls=(10, 11, 12), scale=3.5)),
    'web.host3.requests': fixture(10, [None] * N10),
    'web.host1.errors': fixture(10, wave(6, N10, nulls=(73,), ints=True)),
    'web.host2.errors': fixture(10, wave(7, N10)),
    'slow.one': fixture(30, wave(8, N10 // 3, nulls=(30,))),
    'slow.two': fixture(20, wave(9, N10 // 2, nulls=(85, 2))),
    'counter.wrap': fixture(10, counter(N10, 7, 100)),
    'counter.big': fixture(10, counter(N10, 1000, 1 << 31)),
    'sparse.x': fixture(10, [(i if i % 5 == 0 else None) for i in range(N10)]),
    'sparse.tail': fixture(10, [(i if i < N10 - 4 else None) for i in range(N10)]),
    'tiny.fractions': fixture(10, [round(1.0 / (i + 3), 9) for i in range(N10)]),
}

CASES = [
    # paths, globs, braces
    'a.b.c', 'a.*.c', 'a.{b,x}.*', 'web.host[12].requests', 'nothing.here',
    # combine
    'sumSeries(a.b.*)', 'sum(a.*.c)', 'sumSeries(a.b.c, a.x.c)', 'sumSeries(web.*.requests)',
    'averageSeries(web.*.requests)', 'avg(a.b.*)', 'maxSeries(web.*.requests)', 'minSeries(web.*.requests)',
    'sumSeries(a.b.c, slow.one)', 'averageSeries(slow.one, slow.two)', 'maxSeries(a.b.c, slow.two)',
    'minSeries(slow.*, a.b.d)', 'sumSeries(nothing.here)', 'sumSeries(web.host3.requests)',
    'sumSeries(a.b.c,a.b.c)', 'group(a.b.c, web.*.errors)', 'group()', 'group(nothing.here, a.b.d)',
    # transform
    'scale(a.b.c, 2)', 'scale(a.*.c, 0.5)', 'scale(a.b.d, -1.5e3)', 'scale(a.b.c, 1000000)', 'scale(a.b.c, 1234567)',
    'scale(a.b.c, 0.00001234)', 'offset(a.b.*, 10)', 'offset(a.b.c, -0.25)',
    'derivative(a.b.c)', 'derivative(counter.wrap)', 'nonNegativeDerivative(counter.wrap)',
    'nonNegativeDerivative(counter.wrap, 99)', 'nonNegativeDerivative(counter.wrap, maxValue=120)',
    'nonNegativeDerivative(counter.wrap, 99, 2)', 'nonNegativeDerivative(counter.wrap, minValue=1)',
    'nonNegativeDerivative(a.b.c)', 'perSecond(counter.wrap)', 'perSecond(counter.wrap, 99)',
    'perSecond(a.b.c)', 'perSecond(counter.big)', 'perSecond(slow.one)', 'perSecond(tiny.fractions)',
    'integral(a.b.c)', 'integral(web.host2.requests)', 'absolute(a.b.*)', 'absolute(scale(a.b.d, -1))',
    'keepLastValue(sparse.x)', 'keepLastValue(sparse.x, 2)', 'keepLastValue(sparse.x, 4)', 'keepLastValue(sparse.tail)',
    'keepLastValue(sparse.tail, 3)', 'keepLastValue(a.b.c, 1)', 'keepLastValue(web.host3.requests)',
    'transformNull(a.b.c)', 'transformNull(a.b.*, -1)', 'transformNull(sparse.x, 2.5)',
    'transformNull(sparse.x, default=7)', 'transformNull(sparse.x, 0, referenceSeries=a.b.c)',
    'transformNull(web.host3.requests, 1, web.host3.requests)',
    'summarize(a.b.c, "1min")', 'summarize(a.b.c, "1min", "avg")', 'summarize(a.b.c, "1min", "max")',
    'summarize(a.b.c, "1min", "min")', 'summarize(a.b.c, "1min", "last")', 'summarize(a.b.c, "5min", "sum", true)',
    'summarize(a.b.c, "70s", "sum")', 'summarize(a.b.c, "70s", "sum", alignToFrom=true)',
    'summarize(a.b.c, "70s", "average", alignToFrom=True)', "summarize(web.*.requests, '2min', 'median')",
    'summarize(a.b.d, "1h")', 'summarize(slow.two, "50s", "count")', 'summarize(a.b.c, "1min", "stddev")',
    'summarize(a.b.c, "1min", "range")', 'summarize(a.b.c, "1min", "diff")', 'summarize(a.b.c, "1min", "multiply")',
    'summarize(a.b.c, "1min", "avg_zero")', 'summarize(a.b.c, "1min", "total")', 'summarize(a.b.c, "1min", "current")',
    'summarize(a.b.c, "1min", "rangeOf")', 'summarize(a.b.c, "1min", "sumSeries")',
    'movingAverage(a.b.c, 5)', 'movingAverage(a.b.c, "1min")', 'movingAverage(a.b.c, "45s")',
    'movingAverage(slow.one, 2)', 'movingAverage(a.*.c, 3, 0.5)', 'movingAverage(a.b.c, windowSize=4, xFilesFactor=1)',
    'movingAverage(sumSeries(a.b.*), "30s")', 'movingAverage(nothing.here, 3)', 'movingAverage(sparse.x, 4, 0.3)',
    # filter and sort
    'highestMax(web.*.requests, 1)', 'highestMax(web.*.requests, 2)', 'highestMax(web.*.*, 10)',
    'limit(web.*.*, 2)', 'limit(web.*.*, 0)', 'limit(web.*.*, 10)', 'sortByMaxima(web.*.*)', 'sortByMaxima(a.*.*)',
    # asPercent
    'asPercent(web.*.requests)', 'asPercent(web.host1.requests, 100)', 'asPercent(web.host1.requests, 100.0)',
    'asPercent(web.*.requests, web.host1.requests)', 'asPercent(web.host*.errors, web.host*.requests)',
    'asPercent(a.b.c, slow.one)', 'asPercent(a.b.c, sumSeries(a.*.c))', 'pct(a.b.*)', 'asPercent(a.b.c, a.b.c)',
    'asPercent(web.*.*, None, 1)', 'asPercent(web.*.errors, web.*.requests, 1)', 'asPercent(nothing.here)',
    'asPercent(slow.*, None)',
    # alias
    'alias(a.b.c, "foo")', "alias(a.*.c, 'all the same')", 'aliasByNode(a.b.c, 1)', 'aliasByNode(a.*.*, 0, 2)',
    'aliasByNode(a.b.c, -1)', 'aliasByNode(a.b.c, -2, -1)', 'aliasByNode(sumSeries(a.b.*), 1)',
    'aliasByNode(scale(web.*.requests, 2), 1)', 'aliasByNode(summarize(a.b.c, "1min", "sum"), 2)',
    'aliasByNode(a.b.c, 7)', 'aliasByNode(alias(a.b.c, "x.y"), 1)',
    'aliasSub(a.b.c, "b", "B")', r'aliasSub(web.*.requests, "^web\.(\w+)\..*", "\1")',
    r'aliasSub(web.*.requests, "web\.(?P<host>[a-z]+)(\d)", "\g<host>-\2")', 'aliasSub(a.*.c, "[.]", "_")',
    r'aliasSub(a.b.c, "(a)\.(b)", "\2.\1$")',
    # constants
    'constantLine(5)', 'constantLine(1.5)', 'constantLine(-2e2)',
    # nesting, kwargs, pipes, literals
    'alias(sumSeries(scale(a.b.*, 2)), "scaled sum")', 'a.b.c|scale(2)', 'a.b.*|sumSeries()|alias("s")',
    'sumSeries(a.b.c|offset(1), a.x.c)', 'scale(a.b.c, factor=3)', 'summarize(a.b.c, intervalString="2min", func="max")', 'SCALE(a.b.c, 2)',
    'sumSeries(a.b.{c,d})', 'group(a.b.c, a.b.c|scale(2), keepLastValue(sparse.x, inf))',
    'highestMax(web.*.*, -1)', 'limit(web.*.*, -2)', 'perSecond(counter.wrap, maxValue=99, minValue=2)',
    'keepLastValue(sparse.x, 0)', 'summarize(slow.one, "1min", "sum", true)', 'summarize(slow.two, "1min", "last")',
    'asPercent(web.*.requests, web.host1.requests, 1)', 'movingAverage(a.b.c, "1h")', 'movingAverage(a.b.c, "2h")',
    'sumSeries(a.b.c, sparse.tail, slow.two)', 'transformNull(a.b.c, 0, referenceSeries=slow.one)',
    'a.b.c | scale(2) | alias("x")', 'aliasByNode(movingAverage(web.*.requests, "1min"), 1)',
    'asPercent(slow.one, slow.two)', 'maxSeries(a.b.c, a.b.d, web.host3.requests)',
    # errors
    'asPercent(web.*.requests, nothing.here, 1)',
    'noSuchFunction(a.b.c)', 'scale(a.b.c)', 'summarize(a.b.c, "1min", "nope")',
]

FUNCTIONS = [
    'alias', 'aliasByNode', 'aliasSub', 'sumSeries', 'sum', 'averageSeries', 'avg', 'maxSeries', 'minSeries',
    'scale', 'offset', 'derivative', 'nonNegativeDerivative', 'perSecond', 'integral', 'summarize',
    'movingAverage', 'highestMax', 'limit', 'sortByMaxima', 'asPercent', 'pct', 'absolute', 'keepLastValue',
    'transformNull', 'constantLine', 'group',
]


def debian_version(pkg):
    return subprocess.run(['dpkg-query', '-W', '-f=${Version}', pkg], capture_output=True, text=True).stdout


def epoch(dt):
    return int(dt.timestamp())


def fetch(requestContext, pathExpr):
    """Slices every fixture that pathExpr matches to [from, until)."""
    frm, until = epoch(requestContext['startTime']), epoch(requestContext['endTime'])
    names = sorted(set(n for p in expand_braces(pathExpr) for n in match_entries(list(FIXTURES), p)
                       if n.count('.') == p.count('.')))
    out = []
    for name in names:
        f = FIXTURES[name]
        pts = [(f['start'] + i * f['step'], v) for i, v in enumerate(f['values'])]
        pts = [(t, v) for t, v in pts if frm <= t < until]
        if not pts:
            continue
        start = pts[0][0]
        s = TimeSeries(name, start, start + len(pts) * f['step'], f['step'], [v for _, v in pts])
        s.pathExpression = pathExpr
        out.append(s)
    return out


evaluator.fetchData = fetch
evaluator.prefetchData = lambda *a, **k: None


def jsonable(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def run(target):
    ctx = {
        'startTime': datetime.fromtimestamp(FROM, timezone.utc),
        'endTime': datetime.fromtimestamp(UNTIL, timezone.utc),
        'now': datetime.fromtimestamp(NOW, timezone.utc),
        'localOnly': False, 'template': {}, 'tzinfo': timezone.utc, 'forwardHeaders': {},
        'sourceIdHeaders': {}, 'data': [], 'prefetched': {}, 'xFilesFactor': None, 'targets': [target],
    }
    try:
        result = evaluator.evaluateTarget(ctx, target)
    except Exception as e:  # graphite-web answers these with an error
        return {'target': target, 'error': '%s: %s' % (type(e).__name__, e)}
    return {'target': target, 'series': [{
        'name': s.name, 'pathExpression': s.pathExpression, 'start': s.start, 'end': s.end, 'step': s.step,
        'values': [jsonable(v) for v in s],
    } for s in result]}


def signature(name, func):
    """What graphite-web's functionInfo puts in "function" (it calls the
    inspect.formatargspec that Python 3.11 no longer has)."""
    spec = inspect.getfullargspec(func)
    args = spec.args[1:]
    defaults = list(spec.defaults or [])
    parts = []
    for i, a in enumerate(args):
        j = i - (len(args) - len(defaults))
        parts.append(a if j < 0 else '%s=%r' % (a, defaults[j]))
    if spec.varargs:
        parts.append('*' + spec.varargs)
    return '%s(%s)' % (name, ', '.join(parts))


def info(name):
    func = SeriesFunctions()[name]
    params = [p.toJSON() for p in func.params]
    for p in params:
        if p.get('default') == float('inf'):
            p['default'] = '1e9999'  # graphite-web's encoder writes Infinity as 1e9999
    return {'name': name, 'function': signature(name, func), 'module': func.__module__,
            'group': getattr(func, 'group', 'Ungrouped'), 'params': params}


def one_per_line(goldens):
    """JSON with one fixture and one case a line, so a diff shows which changed."""
    out = ['{']
    for key in ('made_by', 'from', 'until', 'now'):
        out.append(' %s: %s,' % (json.dumps(key), json.dumps(goldens[key])))
    out.append(' "fixtures": {')
    fx = sorted(goldens['fixtures'].items())
    out += ['  %s: %s%s' % (json.dumps(n), json.dumps(f, sort_keys=True), ',' if i < len(fx) - 1 else '')
            for i, (n, f) in enumerate(fx)]
    out.append(' },')
    out.append(' "cases": [')
    cs = goldens['cases']
    out += ['  %s%s' % (json.dumps(c, sort_keys=True), ',' if i < len(cs) - 1 else '') for i, c in enumerate(cs)]
    out.append(' ]')
    out.append('}')
    return '\n'.join(out) + '\n'


def main(outdir):
    goldens = {
        'made_by': 'graphite-web %s (Debian %s), Python %s' % (
            importlib.metadata.version('graphite-web'), debian_version('graphite-web'), platform.python_version()),
        'from': FROM, 'until': UNTIL, 'now': NOW,
        'fixtures': {n: {'start': f['start'], 'step': f['step'], 'values': f['values']} for n, f in FIXTURES.items()},
        'cases': [run(t) for t in CASES],
    }
    with open(os.path.join(outdir, 'goldens.json'), 'w') as f:
        f.write(one_per_line(goldens))
    with open(os.path.join(outdir, 'functions.json'), 'w') as f:
        json.dump({n: info(n) for n in FUNCTIONS}, f, indent=1, sort_keys=True)
        f.write('\n')


if __name__ == '__main__':
    main(sys.argv[1])
