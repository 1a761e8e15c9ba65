/* One write through vbridge in write-through cache mode, one in writeback mode; vbabort.sh reads their flags in a block trace. */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vu_frontend.h"
#include "vu_harness.h"

#define BLK 4096u

/* The driver's cache mode: the writeback byte of the config space (VIRTIO_BLK_F_CONFIG_WCE). */
static int set_writeback(struct vu_dev *dev, uint8_t on)
{
	struct vhost_user_config cfg = { .offset = offsetof(struct virtio_blk_config, wce), .size = 1 };

	cfg.region[0] = on;
	return vu_request(dev, VHOST_USER_SET_CONFIG, &cfg, VHOST_USER_CONFIG_HDR_SIZE + 1, NULL, 0);
}

/* Sets the cache mode, then writes one block at sector; true if both worked. */
static bool write_in_mode(struct vu_dev *dev, struct vu_vq *vq, uint8_t writeback, uint64_t sector)
{
	struct vu_blk_req req;
	uint8_t *buf = vu_mem_alloc(dev, BLK, BLK);

	if (!buf || vu_blk_req_init(dev, &req) < 0 || set_writeback(dev, writeback) < 0)
		return false;
	vu_pattern_fill(buf, BLK, 7, sector * 512);
	vu_blk_prep_write(&req, sector, buf, BLK);
	return vu_blk_run(vq, &req, 10000) == VIRTIO_BLK_S_OK;
}

int main(int argc, char **argv)
{
	struct vu_daemon_opts o = { 0 };
	static struct vu_daemon d;
	struct vu_dev dev;
	struct vu_vq *vq;

	if (argc != 5) {
		fprintf(stderr, "Usage: writethrough DEV ENGINE WT_SECTOR WB_SECTOR\n"
				"vbridge ($BUILD/vbridge --engine ENGINE) on DEV writes a block at WT_SECTOR\n"
				"in write-through cache mode, then one at WB_SECTOR in writeback mode.\n");
		return 2;
	}
	o.engine = argv[2];
	vu_harness_init(60);
	tap_plan(2);
	vu_daemon_start_on(&d, argv[1], &o);
	vu_dev_init(&dev);
	if (vu_connect(&dev, d.sock, 5000) < 0 ||
	    vu_negotiate(&dev, VU_BLK_FEATURES, VU_PROTOCOL_FEATURES) < 0 ||
	    vu_mem_add_region(&dev, 0, 1u << 20) < 0 || vu_mem_set_table(&dev) < 0 ||
	    !(vq = vu_vq_create(&dev, 0, 16)) || vu_vq_start(vq) < 0)
		tap_bail("front-end set-up: %s", dev.err);
	tap_ok(write_in_mode(&dev, vq, 0, strtoull(argv[3], NULL, 0)),
	       "%s: a write in write-through mode completes", argv[2]);
	tap_ok(write_in_mode(&dev, vq, 1, strtoull(argv[4], NULL, 0)),
	       "%s: a write in writeback mode completes", argv[2]);
	vu_dev_close(&dev);
	vu_daemon_teardown(&d);
	return tap_done();
}
