#!/usr/bin/env python3
"""Writes the seed corpora of the vbridge fuzz targets into tests/fuzz/corpus/<target>/.

Usage: tests/fuzz/gen_corpus.py [CORPUS_DIR]

Seeds are named seed-*, reproducers of findings in the daemon repro-*; the
script replaces those and leaves every other file (entries kept from fuzzing
runs) alone. The input formats are described at the top of each
tests/fuzz/fuzz_*.c.
"""

import os
import struct
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write_corpus(target, seeds, repros=None):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-") or f.startswith("repro-"):
            os.remove(os.path.join(d, f))
    for prefix, files in (("seed-", seeds), ("repro-", repros or {})):
        for name, data in files.items():
            with open(os.path.join(d, prefix + name), "wb") as f:
                f.write(bytes(data))


def u8(v): return struct.pack("<B", v & 0xff)
def u16(v): return struct.pack("<H", v & 0xffff)
def u32(v): return struct.pack("<I", v & 0xffffffff)
def u64(v): return struct.pack("<Q", v & 0xffffffffffffffff)


def desc(addr, length, flags, nxt):
    """A split descriptor (or, with nxt as the id, a packed one: same layout with id and flags swapped)."""
    return struct.pack("<QIHH", addr, length, flags, nxt)


def pdesc(addr, length, ident, flags):
    return struct.pack("<QIHH", addr, length, ident, flags)


def blk_hdr(t, sector):
    return struct.pack("<IIQ", t, 0, sector)


VRING_DESC_F_NEXT, VRING_DESC_F_WRITE, VRING_DESC_F_INDIRECT = 1, 2, 4
PACKED_AVAIL, PACKED_USED = 1 << 7, 1 << 15
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WRITE_ZEROES = 0, 1, 4, 8, 11, 13


class Mem:
    """Guest memory as bytes at guest physical addresses from base, trimmed of trailing zeroes."""

    def __init__(self, size):
        self.b = bytearray(size)

    def put(self, off, data):
        self.b[off:off + len(data)] = data

    def bytes(self):
        return bytes(self.b).rstrip(b"\0")


# ---- fuzz_chain ----------------------------------------------------------

GPA_A, SIZE_A, SIZE_B, GPA_C, SIZE_C = 0x10000, 0x8000, 0x2000, 0x100000, 0x3000
GPA_B = GPA_A + SIZE_A


def chain_seed(log2num, flags=0, base=0, base_hi=0, extra_head=0, probe=(0, 0), build=None):
    num = 1 << log2num
    packed = flags & 4
    avail_end = 16 if packed else (2 * (3 + num) + 15) & ~15
    mem = Mem(SIZE_A + SIZE_B + SIZE_C)

    def gpa_off(gpa):
        if GPA_A <= gpa < GPA_B + SIZE_B:
            return gpa - GPA_A
        return SIZE_A + SIZE_B + gpa - GPA_C

    ctx = {"num": num, "desc": GPA_A + avail_end, "avail": GPA_A, "used": GPA_C}
    build(ctx, lambda gpa, data: mem.put(gpa_off(gpa), data))
    hdr = u8(log2num) + u8(flags) + u16(base) + u16(base_hi) + u16(extra_head) + u16(probe[1]) + u32(probe[0])
    return hdr + mem.bytes()


def split_avail(ctx, put, heads, idx=None, flags=0, used_event=None):
    put(ctx["avail"], u16(flags) + u16(len(heads) if idx is None else idx))
    for i, h in enumerate(heads):
        put(ctx["avail"] + 4 + 2 * (i % ctx["num"]), u16(h))
    if used_event is not None:
        put(ctx["avail"] + 4 + 2 * ctx["num"], u16(used_event))


def split_desc(ctx, put, i, *a):
    put(ctx["desc"] + 16 * i, desc(*a))


def chains():
    s = {}
    D = 0x14000  # buffers in A

    def simple(ctx, put):
        split_desc(ctx, put, 0, D, 16, VRING_DESC_F_NEXT, 1)
        split_desc(ctx, put, 1, D + 0x100, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2)
        split_desc(ctx, put, 2, D + 0x400, 1, VRING_DESC_F_WRITE, 0)
        split_avail(ctx, put, [0])
    s["split-3desc"] = chain_seed(3, build=simple)
    s["split-3desc-event-idx"] = chain_seed(3, flags=1, build=simple)

    def several(ctx, put):
        for h in range(4):
            split_desc(ctx, put, 2 * h, D + 0x40 * h, 16, VRING_DESC_F_NEXT, 2 * h + 1)
            split_desc(ctx, put, 2 * h + 1, D + 0x1000 + 0x200 * h, 0x200, VRING_DESC_F_WRITE, 0)
        split_avail(ctx, put, [0, 2, 4, 6], used_event=2)
    s["split-4chains"] = chain_seed(3, flags=1, build=several)

    def wrap(ctx, put):
        split_desc(ctx, put, 1, D, 16, VRING_DESC_F_NEXT, 2)
        split_desc(ctx, put, 2, D + 0x200, 1, VRING_DESC_F_WRITE, 0)
        put(ctx["avail"], u16(0) + u16(2))
        put(ctx["avail"] + 4 + 2 * (0xfffe % 4), u16(1))
        put(ctx["avail"] + 4 + 2 * (0xffff % 4), u16(1))
        put(ctx["used"], u16(0) + u16(0xfffe))
    s["split-index-wrap"] = chain_seed(2, base=0xfffe, build=wrap)

    def indirect(ctx, put):
        table = 0x15000
        put(table, desc(D, 16, VRING_DESC_F_NEXT, 1) +
            desc(D + 0x200, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2) +
            desc(D + 0x80, 1, VRING_DESC_F_WRITE, 0))
        split_desc(ctx, put, 3, table, 48, VRING_DESC_F_INDIRECT, 0)
        split_avail(ctx, put, [3])
    s["split-indirect"] = chain_seed(4, build=indirect)

    def straddle(ctx, put):
        split_desc(ctx, put, 0, D, 16, VRING_DESC_F_NEXT, 1)
        split_desc(ctx, put, 1, GPA_B - 0x100, 0x200, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2)
        split_desc(ctx, put, 2, GPA_C + 0x2f00, 0x10, VRING_DESC_F_WRITE, 0)
        split_avail(ctx, put, [0])
    s["split-straddle-regions"] = chain_seed(3, build=straddle)

    def bad(ctx, put):
        split_desc(ctx, put, 0, D, 16, VRING_DESC_F_NEXT, 1)
        split_desc(ctx, put, 1, D, 16, VRING_DESC_F_NEXT, 0)            # loop
        split_desc(ctx, put, 2, 0xdead0000, 16, VRING_DESC_F_WRITE, 0)   # outside memory
        split_desc(ctx, put, 3, D, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 4)
        split_desc(ctx, put, 4, D, 16, 0, 0)                               # readable after writable
        split_desc(ctx, put, 5, 0x15000, 17, VRING_DESC_F_INDIRECT, 0)    # bad indirect length
        split_avail(ctx, put, [0, 2, 3, 5, 9])
    s["split-bad-chains"] = chain_seed(3, flags=2, extra_head=4, build=bad)

    def nested(ctx, put):
        table = 0x15000
        put(table, desc(0x15100, 16, VRING_DESC_F_INDIRECT, 0))
        split_desc(ctx, put, 0, table, 16, VRING_DESC_F_INDIRECT, 0)
        split_avail(ctx, put, [0])
    s["split-nested-indirect"] = chain_seed(1, build=nested)

    def big(ctx, put):
        for i in range(0, 64):
            split_desc(ctx, put, i, D + 0x40 * i, 0x40, VRING_DESC_F_WRITE if i % 2 else VRING_DESC_F_NEXT, i + 1)
        split_avail(ctx, put, list(range(0, 64, 2)))
    s["split-64"] = chain_seed(6, build=big)

    s["translate-probe"] = chain_seed(0, probe=(GPA_B - GPA_A + 0x1000 - 8, 16), build=lambda c, p: None)

    def packed(ctx, put):
        put(ctx["desc"], pdesc(D, 16, 0, PACKED_AVAIL | VRING_DESC_F_NEXT) +
            pdesc(D + 0x100, 512, 0, PACKED_AVAIL | VRING_DESC_F_NEXT | VRING_DESC_F_WRITE) +
            pdesc(D + 0x400, 1, 5, PACKED_AVAIL | VRING_DESC_F_WRITE))
    # base: avail slot 0 and used slot 0, both wrap counters set (a fresh ring)
    s["packed-3desc"] = chain_seed(3, flags=4 | 8, base=0x8000, base_hi=0x8000, build=packed)

    def packed_indirect(ctx, put):
        table = 0x15000
        put(table, pdesc(D, 16, 0, 0) + pdesc(D + 0x200, 4096, 0, VRING_DESC_F_WRITE) +
            pdesc(D + 0x80, 1, 0, VRING_DESC_F_WRITE))
        put(ctx["desc"], pdesc(table, 48, 2, PACKED_AVAIL | VRING_DESC_F_INDIRECT) +
            pdesc(D, 16, 1, PACKED_AVAIL | VRING_DESC_F_NEXT) +
            pdesc(D + 0x80, 1, 1, PACKED_AVAIL | VRING_DESC_F_WRITE))
    s["packed-indirect"] = chain_seed(2, flags=4 | 8 | 1, base=0x8000, base_hi=0x8000, build=packed_indirect)

    def packed_wrap(ctx, put):
        # avail slot 3 on the first lap (wrap 1); the chain wraps to slot 0
        put(ctx["desc"] + 16 * 3, pdesc(D, 16, 0, PACKED_AVAIL | VRING_DESC_F_NEXT))
        put(ctx["desc"], pdesc(D + 0x80, 1, 3, PACKED_AVAIL | VRING_DESC_F_WRITE))
    s["packed-wrap"] = chain_seed(2, flags=4 | 8, base=0x8003, base_hi=0x8003, build=packed_wrap)
    return s


def misaligned_indirect():
    """Finding 2 in Documentation/fuzzing.rst: indirect tables at guest addresses that are not
    8-byte aligned are read through misaligned pointers (UBSan: misaligned member access)."""
    D = 0x14000

    def split(ctx, put):
        table = 0x15001
        put(table, desc(D, 16, VRING_DESC_F_NEXT, 1) + desc(D + 0x80, 1, VRING_DESC_F_WRITE, 0))
        split_desc(ctx, put, 0, table, 32, VRING_DESC_F_INDIRECT, 0)
        split_avail(ctx, put, [0])

    def packed(ctx, put):
        table = 0x15001
        put(table, pdesc(D, 16, 0, 0) + pdesc(D + 0x80, 1, 0, VRING_DESC_F_WRITE))
        put(ctx["desc"], pdesc(table, 32, 0, PACKED_AVAIL | VRING_DESC_F_INDIRECT))
    return {"split-indirect-misaligned": chain_seed(3, build=split),
            "packed-indirect-misaligned": chain_seed(3, flags=4 | 8, base=0x8000, base_hi=0x8000, build=packed)}


# ---- fuzz_blk ------------------------------------------------------------

def blk_seed(bufs, nout, flags=4, sectors=2048):
    """bufs: list of buffer contents (bytes) or lengths (int, zero-filled)."""
    data = [b if isinstance(b, (bytes, bytearray)) else bytes(b) for b in bufs]
    out = u8(flags) + u8(len(data)) + u8(nout) + u32(sectors - 1)
    for b in data:
        out += u16(len(b) - 1)
    for b in data:
        out += b
    return out.rstrip(b"\0") if flags & 4 else out


def blks():
    s = {}
    seg = lambda sector, n, fl=0: struct.pack("<QII", sector, n, fl)
    s["read"] = blk_seed([blk_hdr(T_IN, 8), 4096, 1], 1)
    s["read-split-header-status-in-data"] = blk_seed([blk_hdr(T_IN, 1)[:7], blk_hdr(T_IN, 1)[7:], 513], 2)
    s["read-many-segments"] = blk_seed([blk_hdr(T_IN, 0)] + [512] * 8 + [1], 1)
    s["read-past-end"] = blk_seed([blk_hdr(T_IN, 2047), 1024, 1], 1)
    s["read-unaligned"] = blk_seed([blk_hdr(T_IN, 0), 100, 1], 1)
    s["write"] = blk_seed([blk_hdr(T_OUT, 16), b"\xab" * 1024, 1], 2)
    s["write-header-and-data-one-buffer"] = blk_seed([blk_hdr(T_OUT, 0) + b"\x5a" * 512, 1], 1)
    s["write-readonly"] = blk_seed([blk_hdr(T_OUT, 0), b"\x01" * 512, 1], 2, flags=4 | 1)
    s["flush"] = blk_seed([blk_hdr(T_FLUSH, 0), 1], 1)
    s["get-id"] = blk_seed([blk_hdr(T_GET_ID, 0), 20, 1], 1)
    s["get-id-short"] = blk_seed([blk_hdr(T_GET_ID, 0), 7], 1)
    s["discard"] = blk_seed([blk_hdr(T_DISCARD, 0), seg(64, 128), 1], 2)
    s["discard-flags"] = blk_seed([blk_hdr(T_DISCARD, 0), seg(64, 128, 1), 1], 2)
    s["discard-readonly"] = blk_seed([blk_hdr(T_DISCARD, 0), seg(64, 128), 1], 2, flags=4 | 1)
    s["write-zeroes-unmap"] = blk_seed([blk_hdr(T_WRITE_ZEROES, 0), seg(0, 8, 1), 1], 2)
    s["write-zeroes-two-segments"] = blk_seed([blk_hdr(T_WRITE_ZEROES, 0), seg(0, 8) + seg(8, 8), 1], 2)
    s["write-zeroes-huge-disk"] = blk_seed([blk_hdr(T_WRITE_ZEROES, 0), seg(2**54 - 8, 8), 1], 2, flags=4 | 8)
    s["unknown-type"] = blk_seed([blk_hdr(0x1234, 0), 1], 1)
    s["short-header"] = blk_seed([blk_hdr(T_IN, 0)[:10], 512, 1], 1)
    s["bad-address"] = blk_seed([blk_hdr(T_IN, 0), 512, 1], 1, flags=4 | 2)
    s["no-status"] = blk_seed([blk_hdr(T_IN, 0), 512], 1, flags=0)
    return s


# ---- fuzz_inflight -------------------------------------------------------

def inflight_seed(flags, qs, extra=0, features=0, rings=((4, 0),) * 4, ops=b"", region=b""):
    out = u8(flags) + u16(qs) + u8(extra) + u64(features)
    for log2num, used in rings:
        out += u8(log2num) + u16(used)
    return out + u8(len(ops)) + bytes(ops) + region


def queue_region(qs, version=1, desc_num=None, last_batch_head=0, used_idx=0, descs=None, stride=None):
    """descs: {head: (inflight, next, counter)}"""
    r = bytearray(stride or 16 + 16 * qs)
    struct.pack_into("<QHHHH", r, 0, 0, version, qs if desc_num is None else desc_num, last_batch_head, used_idx)
    for h, (infl, nxt, counter) in (descs or {}).items():
        struct.pack_into("<B5xHQ", r, 16 + 16 * h, infl, nxt, counter)
    return bytes(r)


FETCH, COMPLETE, PUBLISH, RESTART = 0, 1, 2, 3


def op(kind, pick=0):
    return (pick << 2 | kind) & 0xff


def inflights():
    s = {}
    work = bytes([op(FETCH, 3), op(FETCH, 7), op(FETCH, 1), op(COMPLETE, 7), op(PUBLISH),
                  op(FETCH, 9), op(COMPLETE, 3), op(RESTART, 0), op(COMPLETE, 1), op(COMPLETE, 3),
                  op(RESTART, 1), op(FETCH, 0), op(COMPLETE, 0), op(PUBLISH), op(RESTART, 0)])
    s["created-2x16"] = inflight_seed(4 | 1, 16, rings=((4, 700), (4, 0), (4, 0), (4, 0)), ops=work)
    s["created-4x128"] = inflight_seed(4 | 3, 128, rings=((7, 0), (6, 5), (7, 65535), (0, 0)), ops=work)
    s["created-qs0"] = inflight_seed(4, 0)
    s["fresh-input-1x16"] = inflight_seed(0, 16, rings=((4, 700),) * 4, ops=work)
    used = queue_region(16, used_idx=701, descs={3: (1, 0, 1), 1: (1, 0, 3), 7: (0, 0, 2)})
    s["used-resubmit"] = inflight_seed(0, 16, rings=((4, 701),) * 4, ops=work, region=used)
    # died after publishing a batch of two (9 then 3) and before clearing it
    rep = queue_region(16, used_idx=701, last_batch_head=9,
                       descs={3: (1, 7, 4), 9: (1, 3, 5), 1: (1, 0, 3), 7: (0, 0, 2)})
    s["repairable-batch"] = inflight_seed(0, 16, rings=((4, 703),) * 4, ops=work, region=rep)
    s["repair-too-far"] = inflight_seed(0, 16, rings=((4, 701 + 17),) * 4, region=rep)
    s["repair-list-leaves-queue"] = inflight_seed(0, 16, rings=((4, 702),) * 4,
                                                  region=queue_region(16, used_idx=701, last_batch_head=40))
    s["bad-state"] = inflight_seed(0, 16, region=queue_region(16, descs={5: (2, 0, 1)}))
    s["other-queue-size"] = inflight_seed(0, 16, rings=((3, 0),) * 4, region=queue_region(16))
    s["bad-version"] = inflight_seed(0, 16, region=queue_region(16, version=7))
    two = queue_region(32, used_idx=10, descs={0: (1, 0, 9), 31: (1, 0, 8)}, stride=16 + 16 * 32 + 8)
    two += queue_region(32, used_idx=3, descs={4: (1, 0, 2)}, stride=16 + 16 * 32 + 8)
    s["two-queues-padded-stride"] = inflight_seed(1, 32, extra=8, rings=((5, 10), (5, 3), (5, 0), (5, 0)),
                                                  ops=work, region=two)
    s["stride-not-multiple-of-8"] = inflight_seed(1, 32, extra=4, rings=((5, 0),) * 4)
    s["size-not-whole-strides"] = inflight_seed(1 | 32, 32, extra=8, rings=((5, 0),) * 4)
    s["offset-4096"] = inflight_seed(8, 16, rings=((4, 701),) * 4, ops=work, region=used)
    s["offset-unaligned"] = inflight_seed(16, 16, region=used)
    s["ring-larger-than-region"] = inflight_seed(0, 16, rings=((6, 0),) * 4, region=queue_region(16))
    big = queue_region(1024, used_idx=0, descs={h: (1, 0, 1024 - h) for h in range(0, 1024, 97)})
    s["1024-resubmit-reverse"] = inflight_seed(0, 1024, rings=((10, 11),) * 4, ops=work, region=big)
    return s


def packed_region(num, used=(0, 1), old_used=None, free_head=None, old_free_head=None, entries=None):
    """entries: {entry: dict(inflight, next, last, num, counter, id, flags, len, addr)}; others are
    free, chained in order."""
    entries = entries or {}
    old_used = old_used or used
    free = [e for e in range(num) if e not in entries]
    fh = free[0] if free else num
    r = bytearray(32 + 32 * num)
    struct.pack_into("<QHHHHHHBB", r, 0, 0, 1, num, fh if free_head is None else free_head,
                     fh if old_free_head is None else old_free_head, used[0], old_used[0], used[1], old_used[1])
    for i, e in enumerate(free):
        struct.pack_into("<H", r, 32 + 32 * e + 2, free[i + 1] if i + 1 < len(free) else num)
    for e, f in entries.items():
        struct.pack_into("<BxHHHQHHIQ", r, 32 + 32 * e, f.get("inflight", 0), f.get("next", 0), f.get("last", e),
                         f.get("num", 0), f.get("counter", 0), f.get("id", 0), f.get("flags", 0),
                         f.get("len", 0), f.get("addr", 0))
    return bytes(r)


PACKED = 64


def packed_ops():
    # make available (pick: bits 0-1 length - 1, rest the id), complete, die completing, restart
    return bytes([op(FETCH, 0), op(FETCH, 1 | 4 << 2), op(FETCH, 3 | 9 << 2), op(COMPLETE, 1), op(FETCH, 2),
                  op(RESTART), op(COMPLETE, 0), op(PUBLISH, 1), op(FETCH, 0), op(PUBLISH, 0),
                  op(COMPLETE, 2), op(RESTART), op(FETCH, 1), op(COMPLETE, 5), op(PUBLISH, 1), op(RESTART)])


def inflights_packed():
    s = {}
    used = packed_region(16, used=(5, 1), entries={
        0: dict(inflight=1, next=1, last=1, num=2, counter=5, id=3, flags=1, len=16, addr=0x1000),
        1: dict(id=3, flags=2, len=1, addr=0x2000),
        2: dict(inflight=1, last=2, num=1, counter=4, id=7, flags=2, len=512, addr=0x3000)})
    s["packed-created-2x16"] = inflight_seed(PACKED | 4 | 1, 16, rings=((4, 0x8000), (4, 0x0005), (4, 0), (4, 0)),
                                             ops=packed_ops())
    s["packed-fresh-input-1x32"] = inflight_seed(PACKED, 32, rings=((5, 0x8003),) * 4, ops=packed_ops())
    s["packed-used-resubmit"] = inflight_seed(PACKED, 16, rings=((4, 0),) * 4, ops=packed_ops(), region=used)
    # Entry 2 was completed (freed, used index moved to 6) but not committed.
    interrupted = packed_region(16, used=(6, 1), old_used=(5, 1), free_head=2, old_free_head=3, entries={
        0: dict(inflight=1, next=1, last=1, num=2, counter=5, id=3, flags=1, len=16, addr=0x1000),
        1: dict(id=3, flags=2, len=1, addr=0x2000),
        2: dict(inflight=1, next=3, last=2, num=1, counter=4, id=7, flags=2, len=512, addr=0x3000)})
    s["packed-interrupted-completion"] = inflight_seed(PACKED, 16, rings=((4, 0),) * 4, ops=packed_ops(),
                                                       region=interrupted)
    s["packed-broken-chain"] = inflight_seed(PACKED, 16, rings=((4, 0),) * 4, region=packed_region(16, entries={
        0: dict(inflight=1, next=40, last=1, num=2, counter=1)}))
    s["packed-too-many-descriptors"] = inflight_seed(PACKED, 8, rings=((3, 0),) * 4, region=packed_region(8, entries={
        e: dict(inflight=1, next=(e + 1) % 8, last=(e + 4) % 8, num=5, counter=e) for e in range(2)}))
    s["packed-bad-indexes"] = inflight_seed(PACKED, 16, rings=((4, 0),) * 4, region=packed_region(16, used=(16, 1)))
    return s


def packed_slots_overflow():
    """Finding 5 in Documentation/fuzzing.rst: the packed region's descriptor count is summed in
    16 bits, so 256 chains of 256 descriptors (65536) pass the "no more than the ring" check."""
    num = 256
    return inflight_seed(PACKED, num, rings=((8, 0),) * 4, region=packed_region(num, free_head=num, old_free_head=num,
                         entries={e: dict(inflight=1, next=0, last=0, num=num, counter=e) for e in range(num)}))


def packed_free_list_overlap():
    """Finding 6 in Documentation/fuzzing.rst: the packed region's free list is not checked
    against the inflight chains; here it starts inside the chain of inflight entry 0, so the next
    fetch overwrites that request's saved descriptors."""
    return inflight_seed(PACKED, 16, rings=((4, 0x8000),) * 4, ops=bytes([op(FETCH, 0), op(RESTART)]),
                         region=packed_region(16, used=(0, 1), entries={
                             0: dict(inflight=1, next=1, last=1, num=2, counter=1, id=3, flags=1, len=16)}))


def packed_free_list_bad_end():
    """Finding 6 in Documentation/fuzzing.rst, the part left: a free list that ends with a link
    above num (100 here) instead of num is accepted; once fetches use it up the free head is 100,
    and the next restart refuses the region ("does not fit")."""
    r = bytearray(packed_region(16, used=(0, 1), entries={
        0: dict(inflight=1, next=0, last=0, num=1, counter=1, id=3, flags=2, len=1)}))
    struct.pack_into("<H", r, 32 + 32 * 15 + 2, 100)
    ops = bytes([op(FETCH, k << 2) for k in range(4, 19)] + [op(RESTART)])
    return inflight_seed(PACKED, 16, rings=((4, 0x8000),) * 4, ops=ops, region=bytes(r))


HOSTILE = 128


def rewrite(field_offset, value, pick=1):
    """A hostile front-end's store of a u16 at byte field_offset of a queue region (pick: 1 packed,
    2 split)."""
    return bytes([op(RESTART, pick)]) + u16(field_offset // 2) + u16(value)


OLD_FREE_HEAD, ENTRY_NEXT, ENTRY_LAST, ENTRY_NUM, FREE_HEAD = 14, 2, 4, 6, 12


def entry_field(e, off):
    return 32 + 32 * e + off


def inflights_hostile():
    """A region rewritten by the front-end while its ring runs: every call refuses or copes."""
    # Chains 0-1 and 2; entry 0's count rewritten, it completes; the free list 0, 1 made to loop
    # back to 0 takes a 3-descriptor fetch; a free head beyond the ring makes the restart refuse.
    ops = (bytes([op(FETCH, 1), op(FETCH, 0)]) + rewrite(entry_field(0, ENTRY_NUM), 40) +
           bytes([op(COMPLETE, 0)]) + rewrite(entry_field(1, ENTRY_NEXT), 0) + bytes([op(FETCH, 2)]) +
           rewrite(FREE_HEAD, 17) + bytes([op(RESTART)]))
    # Split: heads 7 then 3 complete around a rewritten last_batch_head, 3's batch link is
    # rewritten out of the ring, and the restart that must repair the batch refuses.
    split_ops = (bytes([op(FETCH, 3), op(FETCH, 7), op(COMPLETE, 7)]) + rewrite(12, 0xffff, 2) +
                 bytes([op(COMPLETE, 3)]) + rewrite(16 + 16 * 3 + 6, 40, 2) + bytes([op(RESTART, 1)]))
    return {"packed-rewritten-while-running": inflight_seed(PACKED | HOSTILE, 16, rings=((4, 0x8000),) * 4, ops=ops),
            "split-rewritten-while-running": inflight_seed(HOSTILE | 4, 16, rings=((4, 0),) * 4, ops=split_ops)}


def packed_rewritten_old_free_head():
    """Issue 12 item 8: fetch took its head entry from old_free_head unchecked; rewritten to 16
    (one past a 16-entry ring) while the ring runs, the next fetch wrote past the region."""
    ops = bytes([op(FETCH, 0)]) + rewrite(OLD_FREE_HEAD, 16) + bytes([op(FETCH, 0)])
    return inflight_seed(PACKED | HOSTILE, 16, rings=((4, 0x8000),) * 4, ops=ops)


def packed_rewritten_last():
    """Issue 12 item 8: complete linked the chain's last entry, read unchecked from the region, into
    the free list; rewritten to 16 while the request is inflight, complete wrote past the region."""
    ops = bytes([op(FETCH, 1)]) + rewrite(entry_field(0, ENTRY_LAST), 16) + bytes([op(COMPLETE, 0)])
    return inflight_seed(PACKED | HOSTILE, 16, rings=((4, 0x8000),) * 4, ops=ops)


# ---- fuzz_vu_message -----------------------------------------------------

(GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE, SET_LOG_BASE, SET_LOG_FD,
 SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL,
 SET_VRING_ERR, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM,
 SET_VRING_ENABLE) = range(1, 19)
GET_CONFIG, SET_CONFIG, GET_INFLIGHT_FD, SET_INFLIGHT_FD, RESET_DEVICE = 24, 25, 31, 32, 34
GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG, SET_STATUS, GET_STATUS = 36, 37, 38, 39, 40

KIND_RAM, KIND_EVENTFD, KIND_SMALL, KIND_PIPE = 0, 1, 2, 3
NEED_REPLY = 1 << 3
PF = sum(1 << b for b in (0, 1, 3, 9, 12, 13, 15, 16))
F_BLK = sum(1 << b for b in (1, 2, 6, 9, 10, 11, 12, 13, 14, 28, 29, 32))
F_PROTO, F_LOG_ALL, F_PACKED, F_EVENT_IDX = 1 << 30, 1 << 26, 1 << 34, 1 << 29
UVA = 0x7f0000000000
RAM_SIZE = 0x40000
CONFIG_SIZE, WCE_OFFSET = 96, 32


def msg(req, payload=b"", nfds=0, kind=KIND_RAM, late=False, split=False, reply=False, flags=None,
        size=None):
    f = 1 if flags is None else flags
    f |= nfds << 8 | kind << 12 | (1 << 14 if late else 0) | (1 << 15 if split else 0)
    f |= NEED_REPLY if reply else 0
    return struct.pack("<III", req, f, len(payload) if size is None else size) + payload


def region(gpa, size, uva, off):
    return struct.pack("<QQQQ", gpa, size, uva, off)


def mem_table(*regions):
    return struct.pack("<II", len(regions), 0) + b"".join(regions)


def state(index, num):
    return struct.pack("<II", index, num)


def vring_addr(index, desc, used, avail, flags=0, log=0):
    return struct.pack("<IIQQQQ", index, flags, desc, used, avail, log)


def config(offset, size, data=b""):
    return struct.pack("<III", offset, size, 0) + data


def inflight_msg(size, offset, nq, qs):
    return struct.pack("<QQHH4x", size, offset, nq, qs)


def stride(qs):
    return (16 + 16 * qs + 63) & ~63


def patches(*items):
    return b"".join(u32(off) + u16(len(data)) + data for off, data in items)


def negotiate(features=F_BLK, proto=PF, reply=False):
    return (msg(GET_FEATURES) + msg(SET_FEATURES, u64(features | F_PROTO)) +
            msg(GET_PROTOCOL_FEATURES) + msg(SET_PROTOCOL_FEATURES, u64(proto), reply=reply) +
            msg(GET_QUEUE_NUM) + msg(SET_OWNER))


def ram_table(reply=False):
    return msg(SET_MEM_TABLE, mem_table(region(0, RAM_SIZE, UVA, 0)), nfds=1, reply=reply)


def ring_setup(index=0, num=32, enable_first=True, reply=False, log=False):
    m = (msg(SET_VRING_NUM, state(index, num), reply=reply) +
         msg(SET_VRING_BASE, state(index, 0), reply=reply) +
         msg(SET_VRING_ADDR, vring_addr(index, UVA, UVA + 0x2000, UVA + 0x1000, flags=1 if log else 0,
                                        log=0x2000), reply=reply) +
         msg(SET_VRING_CALL, u64(index), nfds=1, kind=KIND_EVENTFD, reply=reply) +
         msg(SET_VRING_ERR, u64(index), nfds=1, kind=KIND_EVENTFD))
    enable = msg(SET_VRING_ENABLE, state(index, 1), reply=reply)
    kick = msg(SET_VRING_KICK, u64(index), nfds=1, kind=KIND_EVENTFD, reply=reply)
    return m + (enable + kick if enable_first else kick + enable)


def vu_messages():
    s = {}
    # One of each message, after what it needs.
    s["get-features"] = msg(GET_FEATURES)
    s["set-features"] = msg(SET_FEATURES, u64(F_BLK | F_PROTO))
    s["set-features-unknown"] = msg(SET_FEATURES, u64(1 << 60))
    s["owner-reset-owner"] = msg(SET_OWNER) + msg(RESET_OWNER)
    s["protocol-features"] = negotiate(reply=True) + msg(GET_MAX_MEM_SLOTS)
    s["set-mem-table-1"] = negotiate() + ram_table(reply=True)
    s["set-mem-table-2-regions"] = negotiate() + msg(
        SET_MEM_TABLE, mem_table(region(0, 0x20000, UVA, 0), region(0x100000, 0x20000, UVA + 0x100000, 0x20000)),
        nfds=2, reply=True)
    s["set-mem-table-no-fd"] = negotiate() + msg(SET_MEM_TABLE, mem_table(region(0, RAM_SIZE, UVA, 0)), reply=True)
    s["set-mem-table-pipe"] = negotiate() + msg(SET_MEM_TABLE, mem_table(region(0, RAM_SIZE, UVA, 0)), nfds=1,
                                                kind=KIND_PIPE, reply=True)
    s["set-mem-table-overlap"] = negotiate() + msg(
        SET_MEM_TABLE, mem_table(region(0, 0x20000, UVA, 0), region(0x10000, 0x20000, UVA + 0x100000, 0)),
        nfds=2, reply=True)
    s["add-rem-mem-reg"] = (negotiate() + msg(GET_MAX_MEM_SLOTS) +
                            msg(ADD_MEM_REG, u64(0) + region(0, RAM_SIZE, UVA, 0), nfds=1, reply=True) +
                            ring_setup() +
                            msg(REM_MEM_REG, u64(0) + region(0, RAM_SIZE, UVA, 0), reply=True) +
                            msg(ADD_MEM_REG, u64(0) + region(0, RAM_SIZE, UVA, 0), nfds=1, reply=True))
    s["vring-num-bad"] = negotiate() + msg(SET_VRING_NUM, state(0, 33), reply=True) + msg(SET_VRING_NUM, state(5, 8))
    s["vring-addr-outside"] = (negotiate() + ram_table() + msg(SET_VRING_NUM, state(0, 32)) +
                               msg(SET_VRING_ADDR, vring_addr(0, UVA + RAM_SIZE, UVA, UVA)) +
                               msg(SET_VRING_KICK, u64(0), nfds=1, kind=KIND_EVENTFD, reply=True))
    s["vring-call-nofd"] = negotiate() + msg(SET_VRING_CALL, u64(0x100), reply=True) + msg(SET_VRING_KICK, u64(0x100), reply=True)
    s["get-vring-base"] = negotiate() + msg(GET_VRING_BASE, state(1, 0)) + msg(GET_VRING_BASE, state(2, 0))
    s["config"] = (negotiate() + msg(GET_CONFIG, config(0, CONFIG_SIZE, bytes(CONFIG_SIZE))) +
                   msg(GET_CONFIG, config(20, 8, bytes(8))) + msg(GET_CONFIG, config(90, 8, bytes(8))) +
                   msg(SET_CONFIG, config(WCE_OFFSET, 1, b"\0"), reply=True) +
                   msg(GET_CONFIG, config(WCE_OFFSET, 1, b"\0")) +
                   msg(SET_CONFIG, config(0, 8, bytes(8)), reply=True))
    s["status"] = negotiate() + msg(SET_STATUS, u64(0xf), reply=True) + msg(GET_STATUS) + msg(SET_STATUS, u64(0x100), reply=True)
    s["reset-device"] = negotiate() + ram_table() + ring_setup() + msg(RESET_DEVICE, reply=True) + msg(GET_STATUS)
    s["log-fd"] = negotiate() + msg(SET_LOG_FD, nfds=1, kind=KIND_EVENTFD, reply=True)
    s["inflight-get"] = negotiate() + msg(GET_INFLIGHT_FD, inflight_msg(0, 0, 2, 128)) + \
        msg(GET_INFLIGHT_FD, inflight_msg(0, 0, 3, 128)) + msg(GET_INFLIGHT_FD, inflight_msg(0, 0, 1, 0))
    s["inflight-20-byte"] = negotiate() + msg(GET_INFLIGHT_FD, inflight_msg(0, 0, 1, 32)[:20])

    # Whole sessions that start rings on the template (requests are served).
    s["session-start-ring"] = negotiate(reply=True) + ram_table(reply=True) + ring_setup(reply=True) + \
        msg(GET_VRING_BASE, state(0, 0))
    s["session-legacy-no-protocol-features"] = (msg(GET_FEATURES) + msg(SET_FEATURES, u64(F_BLK)) + msg(SET_OWNER) +
                                                ram_table() + ring_setup(enable_first=False) +
                                                msg(GET_VRING_BASE, state(0, 0)))
    s["session-no-event-idx-enable-late"] = (negotiate(features=F_BLK & ~F_EVENT_IDX) + ram_table() +
                                             ring_setup(enable_first=False) + msg(SET_VRING_ENABLE, state(0, 0)) +
                                             msg(GET_VRING_BASE, state(0, 0)))
    s["session-two-queues"] = negotiate() + ram_table() + ring_setup(0) + ring_setup(1, num=16) + \
        msg(SET_FEATURES, u64(F_BLK | F_PROTO)) + ram_table() + msg(GET_VRING_BASE, state(1, 0))
    s["session-readdress-running"] = negotiate() + ram_table() + ring_setup() + \
        msg(SET_VRING_ADDR, vring_addr(0, UVA, UVA + 0x2000, UVA + 0x1000, flags=1, log=0x2000), reply=True)
    s["session-dirty-log"] = (negotiate(features=F_BLK | F_LOG_ALL) + ram_table() +
                              msg(SET_LOG_BASE, struct.pack("<QQ", 0x1000, 0), nfds=1, kind=KIND_SMALL) +
                              ring_setup(log=True) + msg(GET_VRING_BASE, state(0, 0)))
    s["session-inflight-fresh"] = (negotiate() + msg(GET_INFLIGHT_FD, inflight_msg(0, 0, 1, 32)) +
                                   msg(SET_INFLIGHT_FD, inflight_msg(stride(32), 0, 1, 32), nfds=1, kind=KIND_SMALL,
                                       reply=True) +
                                   ram_table() + ring_setup() + msg(GET_VRING_BASE, state(0, 0)))
    rec = queue_region(32, used_idx=0, descs={0: (1, 0, 5), 3: (1, 0, 2)}, stride=stride(32))
    s["session-inflight-recovery"] = (negotiate() +
                                      msg(SET_INFLIGHT_FD, inflight_msg(stride(32), 0, 1, 32), nfds=1,
                                          kind=KIND_SMALL) +
                                      ram_table() + ring_setup() + msg(GET_VRING_BASE, state(0, 0)) +
                                      b"#INF#" + patches((0, rec)))
    s["session-packed"] = (negotiate(features=F_BLK | F_PACKED) + ram_table() + ring_setup(num=16) +
                           msg(SET_VRING_BASE, state(0, 0x80008000)) + msg(GET_VRING_BASE, state(0, 0)))
    s["session-guest-memory-patched"] = (negotiate() + ram_table() + ring_setup() +
                                         b"#RAM#" + patches((0x1002, u16(9) + u16(0) * 7 + u16(31) + u16(0)),
                                                            (0x10, desc(0x3ff00, 0x200, 3, 2))))

    # Framing: how bytes and fds arrive.
    s["frame-split-header"] = msg(GET_FEATURES, split=True) + msg(SET_FEATURES, u64(F_BLK), split=True)
    s["frame-fds-with-payload"] = negotiate() + msg(SET_MEM_TABLE, mem_table(region(0, RAM_SIZE, UVA, 0)), nfds=1,
                                                    late=True, split=True, reply=True)
    s["frame-too-many-fds"] = msg(SET_OWNER, nfds=9, kind=KIND_EVENTFD)
    s["frame-fds-over-two-reads"] = negotiate() + msg(SET_MEM_TABLE, mem_table(region(0, RAM_SIZE, UVA, 0)),
                                                      nfds=5, kind=KIND_EVENTFD, split=True) + \
        msg(SET_OWNER, nfds=5, kind=KIND_EVENTFD)
    s["frame-fds-on-message-without-fds"] = msg(GET_FEATURES, nfds=3, kind=KIND_SMALL) + msg(GET_FEATURES)
    s["frame-bad-version"] = msg(GET_FEATURES, flags=2)
    s["frame-oversized"] = msg(GET_FEATURES, size=4097)
    s["frame-truncated-payload"] = msg(SET_FEATURES, u64(0))[:-3]
    s["frame-truncated-header"] = msg(GET_FEATURES)[:7]
    s["frame-unknown-message"] = msg(99) + msg(20)
    s["frame-wrong-size"] = msg(SET_FEATURES, u32(0))
    s["frame-no-protocol-feature"] = msg(GET_QUEUE_NUM)
    return s


def batch_overflow():
    """Finding 1 in Documentation/fuzzing.rst: a restart resubmits inflight heads that finish at
    once, then a full ring of such heads follows; the completion batch outgrows its array."""
    num = 16
    # Head 8 is the template's GET_ID chain (8 -> 9 -> 10), finished without I/O; head 15
    # chains to descriptor 16, beyond a 16-entry table, so it is a malformed chain, also
    # finished at once.
    rec = queue_region(num, used_idx=0, descs={8: (1, 0, 1), 15: (1, 0, 2)}, stride=stride(num))
    avail = u16(0) + u16(2 + num) + u16(8) * num
    return (negotiate() +
            msg(SET_INFLIGHT_FD, inflight_msg(stride(num), 0, 1, num), nfds=1, kind=KIND_SMALL) +
            ram_table() + ring_setup(num=num) + msg(GET_VRING_BASE, state(0, 0)) +
            b"#RAM#" + patches((0x1000, avail)) + b"#INF#" + patches((0, rec)))


def past_eof():
    """Finding 3 in Documentation/fuzzing.rst: ranges of the front-end's fds past the end of
    the file are mapped without a check; the first access kills the daemon with SIGBUS."""
    small = 0x10000
    return {
        # SET_INFLIGHT_FD at an offset far past the 64 KiB memfd; the ring start reads it.
        "mmap-past-eof-inflight": (negotiate() + msg(SET_INFLIGHT_FD, inflight_msg(stride(32), 0x2800000000, 1, 32),
                                                      nfds=1, kind=KIND_SMALL) +
                                   ram_table() + ring_setup()),
        # A guest memory region twice the size of its 256 KiB memfd, with the rings in the second half.
        "mmap-past-eof-guest-memory": (negotiate() +
                                       msg(SET_MEM_TABLE, mem_table(region(0, 2 * RAM_SIZE, UVA, 0)), nfds=1) +
                                       msg(SET_VRING_NUM, state(0, 32)) +
                                       msg(SET_VRING_ADDR, vring_addr(0, UVA + RAM_SIZE, UVA + RAM_SIZE + 0x2000,
                                                                      UVA + RAM_SIZE + 0x1000)) +
                                       msg(SET_VRING_KICK, u64(0), nfds=1, kind=KIND_EVENTFD)),
        # A dirty log past the end of its memfd; the queue thread marks it for the first request.
        "mmap-past-eof-dirty-log": (negotiate(features=F_BLK | F_LOG_ALL) + ram_table() +
                                    msg(SET_LOG_BASE, struct.pack("<QQ", 0x1000, 16 * small), nfds=1, kind=KIND_SMALL) +
                                    ring_setup(log=True) + msg(GET_VRING_BASE, state(0, 0))),
    }


def misaligned_ring():
    """Finding 4 in Documentation/fuzzing.rst: ring addresses are checked for alignment as
    front-end addresses; a region whose user_addr is not aligned like its mapping makes them
    misaligned host pointers (UBSan: misaligned member access in vb_vring_start)."""
    return (negotiate() + msg(SET_MEM_TABLE, mem_table(region(0, RAM_SIZE, UVA - 1, 0)), nfds=1) +
            ring_setup() + msg(GET_VRING_BASE, state(0, 0)))


def main():
    write_corpus("fuzz_chain", chains(), misaligned_indirect())
    write_corpus("fuzz_blk", blks())
    write_corpus("fuzz_inflight", {**inflights(), **inflights_packed(), **inflights_hostile()},
                 {"packed-slots-overflow": packed_slots_overflow(),
                  "packed-free-list-overlap": packed_free_list_overlap(),
                  "packed-free-list-bad-end": packed_free_list_bad_end(),
                  "packed-rewritten-old-free-head": packed_rewritten_old_free_head(),
                  "packed-rewritten-last": packed_rewritten_last()})
    write_corpus("fuzz_vu_message", vu_messages(),
                 {"inflight-batch-overflow": batch_overflow(), **past_eof(),
                  "ring-misaligned-host-address": misaligned_ring()})


if __name__ == "__main__":
    main()
