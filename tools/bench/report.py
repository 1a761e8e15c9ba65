#!/usr/bin/env python3
"""make bench's report: the vbridge/peers table on stdout, Documentation/benchmarks.rst from its template, the gnuplot script and data."""
import argparse
import datetime
import json
import os
import platform
import subprocess

BACKINGS = ("null", "file", "tmpfs")
# qemu-storage-daemon always; yc-libvhost-server's test server when YC_SERVER is given
PEERS = ("qsd", "yc")
PEER_NAMES = {"qsd": "qemu-storage-daemon", "yc": "yc-libvhost-server"}
YC_SKIPPED = "yc-libvhost-server: skipped (set YC_SERVER=path/to/vhost-user-blk-test-server)"
NO_ENGINE = "vbridge null engine not available in this build"
# the rows of issue 16's table, whose targets are against the best peer
ISSUE16_ROWS = ("4k-randread-d1", "4k-randread-d32", "4k-randwrite-d1", "4k-randwrite-d32",
                "1m-read-d8", "1m-write-d8")


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown"
    return out.splitlines()[0].strip() if out else "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Results:
    def __init__(self, rows):
        self.by = {(r["backing"], r["backend"], r["workload"]): r for r in rows}
        self.workloads = []
        for r in rows:
            if r["workload"] not in self.workloads:
                self.workloads.append(r["workload"])

    def get(self, backing, backend, workload):
        return self.by.get((backing, backend, workload))

    def peers(self):
        """The peers that have any row, in PEERS order."""
        return [p for p in PEERS if any(k[1] == p for k in self.by)]

    def ratio(self, backing, workload, metric, peer="qsd"):
        vb = self.get(backing, "vbridge", workload)
        other = self.get(backing, peer, workload)
        if not vb or not other or not metric(other):
            return None
        return metric(vb) / metric(other)

    def ratio_best(self, backing, workload, metric, worst):
        """vbridge's metric over the best peer's on this row: the worst of its ratios to the
        peers, so worst is min for IOPS and max for latency."""
        ratios = [self.ratio(backing, workload, metric, p) for p in PEERS]
        ratios = [r for r in ratios if r is not None]
        return worst(ratios) if ratios else None


def iops(r):
    return r["iops"]


def p99_us(r):
    return r["lat_ns"]["p99"] / 1e3


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def cpu(r):
    """Back-end / client CPU use, so that a client-bound row shows."""
    if not r:
        return "n/a"
    return "%.0f/%.0f%%" % (100 * r["backend_cpu"], 100 * r["client_cpu"])


def iops_best(res, backing, w):
    return res.ratio_best(backing, w, iops, min)


def p99_best(res, backing, w):
    return res.ratio_best(backing, w, p99_us, max)


def rows_for_table(res):
    backends = ["vbridge"] + res.peers()
    header = (["backing", "workload"] + ["%s IOPS" % b for b in backends] + ["IOPS ratio"] +
              ["%s p99 us" % b for b in backends] + ["p99 ratio"] + ["%s CPU" % b for b in backends])
    rows = []
    for backing in BACKINGS:
        for w in res.workloads:
            got = [res.get(backing, b, w) for b in backends]
            if not any(got):
                continue
            rows.append([backing, w] + [fmt(r and iops(r), ".0f") for r in got] +
                        [fmt(iops_best(res, backing, w), ".2f")] +
                        [fmt(r and p99_us(r), ".1f") for r in got] +
                        [fmt(p99_best(res, backing, w), ".2f")] + [cpu(r) for r in got])
    return header, rows


def text_table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w)
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def rst_table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    rule = "  ".join("=" * w for w in widths)
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([rule, line(header), rule] + [line(r) for r in rows] + [rule])


def verdict(value, ok):
    if value is None:
        return "not measured"
    return "met" if ok(value) else "not met"


def targets(res, rss, null_engine):
    out = []
    r = res.ratio("null", "4k-randread-d32", iops)
    out.append(["null, 4k randread, depth 32, 1 queue: IOPS", ">= 2x qsd",
                fmt(r, ".2f") + "x" if r is not None else (NO_ENGINE if not null_engine else "n/a"),
                verdict(r, lambda v: v >= 2)])
    for backing in ("null", "file"):
        r = res.ratio(backing, "4k-randread-d1", p99_us)
        shown = fmt(r, ".2f") + "x" if r is not None else (
            NO_ENGINE if backing == "null" and not null_engine else "n/a")
        out.append(["%s, 4k randread, depth 1: p99 latency" % backing, "<= 0.6x qsd", shown,
                    verdict(r, lambda v: v <= 0.6)])
    for w in ("4k-randread-d32", "4k-randwrite-d32"):
        r = res.ratio("file", w, iops)
        out.append(["file, %s: IOPS" % w.replace("4k-", "4k ").replace("-d32", ", depth 32"),
                    ">= 1.2x qsd", fmt(r, ".2f") + "x", verdict(r, lambda v: v >= 1.2)])
    r = iops_best(res, "tmpfs", "4k-randread-d1")
    out.append(["tmpfs, 4k randread, depth 1: IOPS", ">= 1.5x best peer", fmt(r, ".2f") + "x",
                verdict(r, lambda v: v >= 1.5)])
    r = res.ratio("tmpfs", "4k-randread-d1", p99_us)
    out.append(["tmpfs, 4k randread, depth 1: p99 latency", "<= 0.6x qsd", fmt(r, ".2f") + "x",
                verdict(r, lambda v: v <= 0.6)])
    for label, wanted, ratio, ok, worst in (("IOPS", ">= 1x best peer", iops_best, lambda v: v >= 1, min),
                                            ("p99 latency", "<= 1x best peer", p99_best, lambda v: v <= 1, max)):
        got = [(ratio(res, "tmpfs", w), w) for w in ISSUE16_ROWS]
        got = [g for g in got if g[0] is not None]
        if not got:
            out.append(["tmpfs, issue 16's 6 rows: " + label, wanted, "n/a", verdict(None, ok)])
            continue
        w = worst(got)
        met = sum(1 for v, _ in got if ok(v))
        out.append(["tmpfs, issue 16's %d rows: %s" % (len(got), label), wanted,
                    "%d met, worst %.2fx (%s)" % (met, w[0], w[1]), verdict(w[0], ok)])
    for m in rss:
        if m["backend"] != "vbridge":
            continue
        # VmHWM is only brought up to date now and then: a sample may top it
        mib = max(m["hwm_kib"], m["rss_kib"]) / 1024
        out.append(["RSS peak, 4 queues x 256, guest memory %s" % m["mem"], "< 16 MiB",
                    "%.1f MiB" % mib, verdict(mib, lambda v: v < 16)])
    return ["target", "wanted", "measured", "verdict"], out


def rss_table(rss):
    rows = [[m["backend"], m["mem"], "%.1f" % (m["rss_kib"] / 1024), "%.1f" % (m["hwm_kib"] / 1024)]
            for m in rss]
    return ["back-end", "guest memory", "VmRSS mid-run MiB", "VmHWM MiB"], rows


def write_plot(res, work, png):
    series = []
    for backing in BACKINGS:
        for backend in ("vbridge",) + PEERS:
            for rw in ("randread", "randwrite"):
                pts = []
                for w in res.workloads:
                    r = res.get(backing, backend, w)
                    if r and r["rw"] == rw and r["bs"] == 4096:
                        pts.append((r["depth"], iops(r), p99_us(r)))
                if not pts:
                    continue
                path = os.path.join(work, "%s-%s-%s.dat" % (rw, backend, backing))
                with open(path, "w") as f:
                    for p in sorted(pts):
                        f.write("%d %.1f %.2f\n" % p)
                series.append((rw, backend, backing, path))
    gp = [
        "set terminal pngcairo size 1400,1000 font ',10'",
        "set output '%s'" % png,
        "set multiplot layout 2,2 title '4k random I/O, one queue: vbridge vs %s'" % " and ".join(
            PEER_NAMES[p] for p in res.peers()),
        "set logscale x 2", "set logscale y", "set xrange [0.8:160]", "set xtics (1, 8, 32, 128)", "set grid",
        "set key outside right top",  # eight series: inside, the key hides data
        "set xlabel 'queue depth'",
    ]
    # colour by back-end, line and point by backing
    colours = {"vbridge": "#1f77b4", "qsd": "#d62728", "yc": "#2ca02c"}
    lines = {"null": "pt 7", "file": "dt 2 pt 5", "tmpfs": "dt 3 pt 9"}
    for rw in ("randread", "randwrite"):
        # logarithmic: null and file rates differ by an order of magnitude
        for col, label in ((2, "IOPS"), (3, "p99 latency (us)")):
            mine = [s for s in series if s[0] == rw]
            gp.append("set title '4k %s: %s'" % (rw, label))
            gp.append("set ylabel '%s'" % label)
            if not mine:
                gp.append("plot NaN title 'no data'")
                continue
            gp.append("plot " + ", ".join(
                "'%s' using 1:%d with linespoints %s lw 2 title '%s %s'" %
                (path, col, "lc rgb '%s' %s" % (colours[backend], lines[backing]), backend, backing)
                for _, backend, backing, path in mine))
    gp.append("unset multiplot")
    with open(os.path.join(work, "plot.gp"), "w") as f:
        f.write("\n".join(gp) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    for name in ("results", "rss", "template", "rst", "plot", "work", "time", "duration", "cpus",
                 "vbridge", "client-args", "vbridge-args", "load", "load-end", "suspend"):
        ap.add_argument("--" + name, required=True)
    ap.add_argument("--yc-server", default="", help="YC_SERVER, empty when it was not set")
    ap.add_argument("--yc-version", default="")
    a = ap.parse_args()

    res = Results(load(a.results))
    rss = load(a.rss)
    null_engine = any(r["backing"] == "null" and r["backend"] == "vbridge" for r in res.by.values())

    header, rows = rows_for_table(res)
    print(text_table(header, rows))
    if not null_engine:
        print("null rows: " + NO_ENGINE)
    if a.yc_server:
        yc = "yc-libvhost-server %s: %s" % (a.yc_version or "(version not given: YC_VERSION)", a.yc_server)
    else:
        yc = YC_SKIPPED
    print(yc)
    th, trows = targets(res, rss, null_engine)
    print()
    print(text_table(th, trows))
    rh, rrows = rss_table(rss)
    print()
    print(text_table(rh, rrows))

    write_plot(res, a.work, a.plot)
    backend_cpu, client_cpu = a.cpus.split(",")
    subst = {
        "@DATE@": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "@MACHINE@": "%s, %d CPUs, Linux %s" % (cpu_model(), os.cpu_count(), platform.release()),
        "@VBRIDGE@": version([a.vbridge, "--version"]),
        "@QSD@": version(["qemu-storage-daemon", "--version"]),
        "@YC@": yc,
        "@LOAD@": "%s at the start, %s at the end (1, 5, 15 min)" % (a.load, a.load_end),
        "@TIME@": a.time,
        "@DURATION@": a.duration,
        "@BACKEND_CPU@": backend_cpu,
        "@CLIENT_CPU@": client_cpu,
        "@CLIENT_ARGS@": a.client_args,
        "@VBRIDGE_ARGS@": a.vbridge_args,
        "@SUSPEND@": ("on with vbridge and yc (``vbridge-bench --suspendable``: INFLIGHT_SHMFD "
                      "and protocol feature 20), so vbridge bounces every read of the file backing "
                      "as a ring that may be suspended does, and reads the tmpfs backing, a file in "
                      "memory, straight into guest memory (``--bounce-max auto``); qsd does not "
                      "offer feature 20"
                      if a.suspend == "1" else "off for every back-end (``BENCH_SUSPEND=0``)"),
        "@TARGETS@": rst_table(th, trows),
        "@TABLE@": rst_table(header, rows) + ("" if null_engine else
                                              "\n\nThe null rows have no vbridge numbers: " + NO_ENGINE + "."),
        "@RSS@": rst_table(rh, rrows),
        "@PLOT@": os.path.basename(a.plot),
    }
    with open(a.template) as f:
        text = f.read()
    for k, v in subst.items():
        text = text.replace(k, v)
    with open(a.rst, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
