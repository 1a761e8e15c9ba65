/* Shared definitions of vbridge-bench: the run configuration and the per-queue worker. */
#ifndef VBRIDGE_BENCH_H
#define VBRIDGE_BENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "vu_frontend.h"

enum bench_op { OP_READ, OP_WRITE, OP_MIX };

struct bench_cfg {
	const char *socket;
	const char *rw;       /* the --rw word, for reports */
	enum bench_op op;
	bool random;
	unsigned read_pct;    /* OP_MIX: share of reads */
	uint32_t bs;
	unsigned depth;       /* requests in flight per queue */
	unsigned queues;
	double time_s;        /* used when requests == 0 */
	uint64_t requests;    /* in total, over all queues */
	bool poll, verify, json;
	bool indirect;
	bool suspendable;     /* negotiate GET_VRING_BASE_INFLIGHT (bit 20) with an inflight region */
	uint64_t span;        /* bytes of the device used, from offset 0 */
	uint16_t queue_size;
	uint64_t mem_size;
	uint64_t seed;
	unsigned timeout_ms;  /* longest wait for one completion */

	/* from the device */
	uint64_t capacity;    /* bytes */
	uint32_t seg_size;    /* largest data segment */
	unsigned nsegs;       /* segments per request */
};

/* One request slot: a request, its data buffer and what it is doing now. */
struct slot {
	struct vu_blk_req req;
	uint8_t *buf;
	uint64_t t0;          /* submission time, ns */
	uint64_t block;       /* index in the worker's stripe */
	uint32_t gen;         /* --verify: generation being written */
	bool write;
};

/* One queue and the thread that drives it, over its own stripe of blocks. */
struct worker {
	const struct bench_cfg *cfg;
	pthread_barrier_t *start;     /* every worker and main: starts together */
	struct vu_vq *vq;
	unsigned index;
	struct slot *slots;
	struct vu_blk_req **done;     /* depth entries, for reaping */
	uint64_t first_block, nblocks;
	uint64_t budget;              /* requests to issue; UINT64_MAX: until the deadline */
	uint64_t issued, next_seq, rng;

	/* --verify state: per block, the generation it holds (0: not written
	 * by this run) and whether a request on it is in flight */
	uint32_t *gen;
	uint8_t *busy;
	uint32_t next_gen;
	uint8_t *expect;              /* bs bytes, the data a read should return */

	/* results */
	struct hist hist;
	uint64_t reads, writes, verified, mismatches, blocks_written;
	uint64_t start_ns, end_ns;
	bool failed;
	char err[256];
};

/* Set from a signal handler or a failing worker: every worker stops issuing. */
extern volatile int bench_stop;

/* Fills a write buffer of len bytes destined for byte offset off: each
 * 512-byte sector starts with the tag {"vbbench", sector number, seed}, the
 * rest is vu_pattern_fill(seed). */
void bench_fill(uint8_t *buf, uint32_t len, uint64_t off, uint32_t seed);
#define BENCH_TAG_MAGIC "vbbench"

uint64_t bench_now_ns(void);

/* Thread body (arg: struct worker): waits on its start barrier, runs the
 * workload, then waits for its requests in flight. */
void *bench_worker_run(void *arg);

#endif
