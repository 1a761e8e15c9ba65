/* vbridge's vbabort ioctls per request, with reads published in batches of a given size; vbabort.sh runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define BLK 4096u
#define MAX_BATCH 64u
#define REQUESTS 512u

/*
 * REQUESTS reads, batch at a time (1..MAX_BATCH, three descriptors each)
 * published at once with one kick; true if all completed well.
 */
static bool read_batches(struct vu_dev *dev, struct vu_vq *vq, unsigned int batch)
{
	static struct vu_blk_req reqs[MAX_BATCH];
	struct vu_blk_req *ptrs[MAX_BATCH];
	uint8_t *buf = vu_mem_alloc(dev, MAX_BATCH * BLK, BLK);

	if (!buf) {
		tap_diag("cannot allocate the buffers in guest memory");
		return false;
	}
	for (unsigned int i = 0; i < batch; i++) {
		if (vu_blk_req_init(dev, &reqs[i]) < 0) {
			tap_diag("cannot allocate request %u in guest memory", i);
			return false;
		}
		ptrs[i] = &reqs[i];
	}
	for (unsigned int r = 0; r < REQUESTS / batch; r++) {
		vu_vq_hold_avail(vq, true);
		for (unsigned int i = 0; i < batch; i++) {
			vu_blk_prep_read(&reqs[i], (uint64_t)(r * batch + i) * 8, buf + i * BLK, BLK);
			if (vu_blk_enqueue(vq, &reqs[i]) < 0) {
				tap_diag("cannot enqueue read %u", i);
				return false;
			}
		}
		vu_vq_hold_avail(vq, false);
		if (vu_vq_kick(vq) < 0 || vu_blk_wait_all(dev, ptrs, batch, 10000) < 0) {
			tap_diag("round %u did not complete", r);
			return false;
		}
		for (unsigned int i = 0; i < batch; i++) {
			if (reqs[i].status != VIRTIO_BLK_S_OK)
				return false;
		}
	}
	return true;
}

/* Lines of the strace output holding needle. */
static unsigned int count_calls(const char *trace, const char *needle)
{
	FILE *f = fopen(trace, "r");
	char line[512];
	unsigned int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	struct vu_daemon_opts o = { .strace = true };
	static struct vu_daemon d;
	unsigned int batch, reqs, data_ioctls, enters;
	struct vu_dev dev;
	bool ok;

	batch = argc == 5 ? strtoul(argv[3], NULL, 0) : 0;
	if (batch < 1 || batch > MAX_BATCH || REQUESTS % batch) {
		fprintf(stderr, "Usage: ioctl_count DEV ENGINE BATCH MAX_IOCTLS_PER_100\n"
				"vbridge ($BUILD/vbridge --engine ENGINE, under strace) on DEV reads %u blocks,\n"
				"BATCH (a power of 2 up to %u) at a time; its vbabort SUBMIT, REAP and SUBMIT_REAP\n"
				"calls must stay within MAX_IOCTLS_PER_100 per 100 requests.\n", REQUESTS, MAX_BATCH);
		return 2;
	}
	reqs = REQUESTS;
	o.engine = argv[2];
	vu_harness_init(120);
	tap_plan(2);
	vu_daemon_start_on(&d, argv[1], &o);
	if (vu_dev_open(&dev, d.sock, &(struct vu_open_opts){ .queue_size = 256, .mem_size = 4u << 20 }) < 0)
		tap_bail("front-end set-up: %s", dev.err);
	ok = read_batches(&dev, dev.vqs[0], batch);
	tap_ok(ok, "%s: %u reads, %u at a time, complete", argv[2], reqs, batch);
	vu_dev_close(&dev);
	vu_daemon_stop(&d);
	/* The ioctl numbers as strace prints them: 0xba is vbabort's magic, 0x2/0x3/0x6 SUBMIT, REAP, SUBMIT_REAP. */
	data_ioctls = count_calls(d.trace, "0xba, 0x2,") + count_calls(d.trace, "0xba, 0x3,") +
		      count_calls(d.trace, "0xba, 0x6,");
	enters = count_calls(d.trace, "io_uring_enter(");
	tap_diag("%s, batches of %u: %u requests, %u vbabort data ioctls (%.2f per request), %u io_uring_enter (%.2f per request)",
		 argv[2], batch, reqs, data_ioctls, (double)data_ioctls / reqs, enters, (double)enters / reqs);
	tap_ok(ok && data_ioctls * 100 <= reqs * strtoul(argv[4], NULL, 0),
	       "%s, batches of %u: at most %s vbabort ioctls per 100 requests (%u for %u)", argv[2], batch,
	       argv[4], data_ioctls, reqs);
	vu_daemon_teardown(&d);
	return tap_done();
}
