#!/usr/bin/env python3
"""The table of make bench-poll: medians over rounds, ratios against qsd of the same round.

Columns: median IOPS, p50 and p99; xIOPS and xp99, the median over rounds of
the row's IOPS and p99 over qsd's in the same round; ctxsw/r and sysc/r,
the back-end's context switches and system calls per request (all threads,
io_uring workers included); cpu, the back-end's CPU seconds per second;
spread, (max - min) / median of the rounds' IOPS."""
import json
import statistics
import sys
from collections import defaultdict


def main():
    rows = [json.loads(line) for line in open(sys.argv[1])]
    by = defaultdict(list)
    qsd = {}
    order = []
    for r in rows:
        key = (r["backing"], r["workload"], r["backend"])
        if key not in by:
            order.append(key)
        by[key].append(r)
        if r["backend"] == "qsd":
            qsd[(r["backing"], r["workload"], r["round"])] = r
    print("%-7s %-16s %-12s %8s %7s %8s %6s %6s %7s %7s %5s %6s" %
          ("backing", "workload", "backend", "IOPS", "p50 us", "p99 us", "xIOPS", "xp99",
           "ctxsw/r", "sysc/r", "cpu", "spread"))
    for key in order:
        runs = by[key]
        iops = [r["iops"] for r in runs]
        ratio_iops, ratio_p99 = [], []
        for r in runs:
            peer = qsd.get((r["backing"], r["workload"], r["round"]))
            if peer:
                ratio_iops.append(r["iops"] / peer["iops"])
                ratio_p99.append(r["lat_ns"]["p99"] / peer["lat_ns"]["p99"])
        med = statistics.median
        print("%-7s %-16s %-12s %8.0f %7.1f %8.1f %6.2f %6.2f %7.2f %7.2f %5.2f %5.0f%%" % (
            key[0], key[1], key[2], med(iops), med(r["lat_ns"]["p50"] for r in runs) / 1e3,
            med(r["lat_ns"]["p99"] for r in runs) / 1e3,
            med(ratio_iops), med(ratio_p99),
            med(r["ctxsw"] / r["requests"] for r in runs),
            med(r["syscalls"] / r["requests"] for r in runs),
            med(r["backend_cpu"] for r in runs),
            100 * (max(iops) - min(iops)) / med(iops)))


main()
