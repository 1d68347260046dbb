#!/usr/bin/env python3
"""Writes the golden key list (UTF-8, one key per line) to stdout.

Deterministic (fixed seed). Realistic graphite/statsd names plus the awkward
ones every oracle must agree on: ';tags', ':', non-ASCII, very long keys,
'..', leading/trailing dots, punctuation. No whitespace, no empty keys (the
oracles refuse them).
"""
import random

rnd = random.Random(20261122)
keys = []
seen = set()


def add(k):
    if k and not any(c in k for c in " \t\r\n") and k not in seen:
        seen.add(k)
        keys.append(k)


words = ("servers web db cache api app cpu user system idle load memory free used "
         "disk sda sdb read write latency p50 p95 p99 count rate requests errors "
         "timers counters gauges stats collectd carbon agents graphite statsd "
         "eu us ams fra prod staging checkout payment login search").split()

for i in range(1400):
    n = rnd.randint(2, 7)
    parts = [rnd.choice(words) for _ in range(n)]
    if rnd.random() < 0.4:
        parts.insert(1, "%s-%03d" % (rnd.choice(["web", "db", "node", "host"]), rnd.randint(0, 999)))
    add(".".join(parts))
for i in range(100):
    add("%040x" % rnd.getrandbits(160))
# tags
for i in range(200):
    base = ".".join(rnd.choice(words) for _ in range(rnd.randint(1, 4)))
    tags = ";".join("%s=%s" % (rnd.choice(words), rnd.choice(words + ["a.b", "x..y", "1"]))
                    for _ in range(rnd.randint(1, 3)))
    add(base + ";" + tags)
# ':' (statsd lines, carbon allowed char)
for i in range(150):
    base = ".".join(rnd.choice(words) for _ in range(rnd.randint(1, 4)))
    add(base + ":" + rnd.choice(["1|c", "12.5|ms", "3|g", "x:y", "", "1|c|@0.1"]))
    add(rnd.choice(words) + ":" + rnd.choice(words) + "." + rnd.choice(words))
# non-ASCII
uni = ["é", "ü", "ß", "ø", "日本", "東京", "ñ", "Ω", "🔥", "€", "ĳ", "\u00a0", "\u200b", "ä"]
for i in range(250):
    parts = [rnd.choice(words) for _ in range(rnd.randint(1, 4))]
    j = rnd.randrange(len(parts))
    parts[j] = parts[j] + rnd.choice(uni) + rnd.choice(["", rnd.choice(uni)])
    add(".".join(parts))
# dots, punctuation
for i in range(200):
    parts = [rnd.choice(words) for _ in range(rnd.randint(1, 4))]
    k = rnd.choice(["..", ".", "...", "#", "-", "_", "/", "$", "%", "*", "+", "=", "@", "!", "(", ")", ",", "'", '"', "\\", "[", "]", "{", "}", "<", ">", "?", "&", "^", "`", "~", "|"]).join(parts)
    if rnd.random() < 0.3:
        k = "." + k
    if rnd.random() < 0.3:
        k = k + "."
    add(k)
for k in ["a", "b", ".", "..", "a.", ".a", "a..b", "a;", ";a", "x;;y", "foo", "foo.bar", "gorets", "glork",
          "test", "a.b.c.d", "stats.counter.a", "apple", "banana", "orange", "lemon", "0", "00", "-",
          "hosts.worker1.cpu", "hosts.worker2.cpu", "hosts.worker1.load", "hosts.worker2.network",
          "hosts.worker3.cpu", "hosts.worker3.irq",
          "stats.checkout.cluster.padamski-wro.api.v1.payment-initialize.count", "métrique.x"]:
    add(k)
# very long keys
for n in (200, 255, 256, 300, 511, 512, 1000, 2048, 4000):
    add(".".join(rnd.choice(words) for _ in range(n))[:n])
    add(("long" + rnd.choice(uni)) * (n // 5))
for k in keys:
    print(k)
