/* A minimal VMM on /dev/vhost-vdpa-N for a VDUSE device: a hostile read-only IOTLB entry, an IOTLB update and GET_VRING_BASE with requests in flight. */
#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/*
 * Usage: vdpa_driver DEVICE PATTERN DELAY_MS. The daemon holds each disk
 * request DELAY_MS (--engine delay); PATTERN holds the disk's first 4 KiB.
 * Prints "PASS what" or "FAIL what" per check; exits 2 if it cannot drive
 * the device at all.
 */

#define QSZ 8
#define RW_IOVA 0x100000ull	/* rings, headers, status bytes, good buffers */
#define RO_IOVA 0x200000ull	/* the same file, without write access */
#define NEW_IOVA 0x400000ull	/* added while requests are held */
#define SPAN 0x100000ull
#define DESC_OFF 0x0
#define AVAIL_OFF 0x1000
#define USED_OFF 0x2000
#define HDR_OFF 0x3000		/* 16 bytes per request */
#define STATUS_OFF 0x4000	/* one byte per request */
#define DATA_OFF 0x10000	/* 4 KiB per request */
#define STATUS_UNSET 0xee

static int vfd, kick_fd, call_fd;
static uint8_t *mem;		/* [0, SPAN) is RW_IOVA, [SPAN, 2 SPAN) is RO_IOVA */
static struct vring_desc *desc;
static struct vring_avail *avail;
static struct vring_used *used;
static uint16_t next_avail;
static uint8_t pattern[4096];
static int failures;

static void result(bool ok, const char *what)
{
	printf("%s %s\n", ok ? "PASS" : "FAIL", what);
	fflush(stdout);
	failures += !ok;
}

static void die(const char *what)
{
	printf("FAIL cannot drive the device: %s: %s\n", what, strerror(errno));
	exit(2);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void set_status(uint8_t s)
{
	if (ioctl(vfd, VHOST_VDPA_SET_STATUS, &s) < 0)
		die("VHOST_VDPA_SET_STATUS");
}

static int iotlb_update(uint64_t iova, uint64_t size, void *uaddr, uint8_t perm)
{
	struct vhost_msg_v2 m = {
		.type = VHOST_IOTLB_MSG_V2,
		.iotlb = { .iova = iova, .size = size, .uaddr = (uintptr_t)uaddr, .perm = perm,
			   .type = VHOST_IOTLB_UPDATE },
	};

	return write(vfd, &m, sizeof(m)) == sizeof(m) ? 0 : -errno;
}

static void ring_setup(void)
{
	struct vhost_vring_state num = { 0, QSZ }, base = { 0, 0 };
	struct vhost_vring_addr addr = { .index = 0, .desc_user_addr = RW_IOVA + DESC_OFF,
					 .avail_user_addr = RW_IOVA + AVAIL_OFF,
					 .used_user_addr = RW_IOVA + USED_OFF };
	struct vhost_vring_file kick = { 0, kick_fd }, call = { 0, call_fd };
	struct vhost_vring_state enable = { 0, 1 };

	if (ioctl(vfd, VHOST_SET_VRING_NUM, &num) < 0 || ioctl(vfd, VHOST_SET_VRING_BASE, &base) < 0 ||
	    ioctl(vfd, VHOST_SET_VRING_ADDR, &addr) < 0 || ioctl(vfd, VHOST_SET_VRING_KICK, &kick) < 0 ||
	    ioctl(vfd, VHOST_SET_VRING_CALL, &call) < 0 ||
	    ioctl(vfd, VHOST_VDPA_SET_VRING_ENABLE, &enable) < 0)
		die("vring set-up");
}

static void open_device(const char *path)
{
	uint64_t features, backend = 1ull << VHOST_BACKEND_F_IOTLB_MSG_V2;
	int fd;

	vfd = open(path, O_RDWR);
	if (vfd < 0)
		die(path);
	if (ioctl(vfd, VHOST_SET_OWNER) < 0 || ioctl(vfd, VHOST_SET_BACKEND_FEATURES, &backend) < 0)
		die("owner and backend features");
	if (ioctl(vfd, VHOST_GET_FEATURES, &features) < 0)
		die("VHOST_GET_FEATURES");
	features &= (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM);
	set_status(0);
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	if (ioctl(vfd, VHOST_SET_FEATURES, &features) < 0)
		die("VHOST_SET_FEATURES");
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);

	fd = memfd_create("guest", 0);
	if (fd < 0 || ftruncate(fd, 2 * SPAN) < 0)
		die("memfd");
	mem = mmap(NULL, 2 * SPAN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	if (iotlb_update(RW_IOVA, SPAN, mem, VHOST_ACCESS_RW) < 0 ||
	    iotlb_update(RO_IOVA, SPAN, mem + SPAN, VHOST_ACCESS_RO) < 0)
		die("IOTLB update");
	desc = (void *)(mem + DESC_OFF);
	avail = (void *)(mem + AVAIL_OFF);
	used = (void *)(mem + USED_OFF);
	kick_fd = eventfd(0, EFD_CLOEXEC);
	call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (kick_fd < 0 || call_fd < 0)
		die("eventfd");
	ring_setup();
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* Host pointer of an IOVA we mapped. */
static uint8_t *host(uint64_t iova)
{
	return iova >= RO_IOVA ? mem + SPAN + (iova - RO_IOVA) : mem + (iova - RW_IOVA);
}

/* Request n (its own header and descriptors 3n..3n+2): a 4 KiB read of sector 0. */
static void submit_read(unsigned int n, uint64_t data_iova, uint64_t status_iova)
{
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_IN };
	uint16_t d = (3 * n) % QSZ;

	memcpy(mem + HDR_OFF + 16 * n, &h, sizeof(h));
	memset(host(data_iova), 0, 4096);
	if (status_iova < RO_IOVA)
		*host(status_iova) = STATUS_UNSET;
	desc[d] = (struct vring_desc){ RW_IOVA + HDR_OFF + 16 * n, sizeof(h), VRING_DESC_F_NEXT,
				       (d + 1) % QSZ };
	desc[(d + 1) % QSZ] = (struct vring_desc){ data_iova, 4096,
						   VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
						   (d + 2) % QSZ };
	desc[(d + 2) % QSZ] = (struct vring_desc){ status_iova, 1, VRING_DESC_F_WRITE, 0 };
	avail->ring[next_avail % QSZ] = d;
	__atomic_store_n(&avail->idx, ++next_avail, __ATOMIC_RELEASE);
	eventfd_write(kick_fd, 1);
}

/* Waits up to ms for used->idx to reach idx. */
static bool wait_used(uint16_t idx, int ms)
{
	double end = now_ms() + ms;

	while (__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) != idx) {
		struct pollfd p = { .fd = call_fd, .events = POLLIN };
		eventfd_t v;

		if (now_ms() > end)
			return false;
		poll(&p, 1, 100);
		eventfd_read(call_fd, &v);
	}
	return true;
}

int main(int argc, char **argv)
{
	uint64_t data0 = RW_IOVA + DATA_OFF;
	struct vhost_vring_state state = { 0, 0 };
	uint16_t base;
	double start, ms;
	int delay_ms, pfd, fd, r;
	uint8_t *extra;

	if (argc != 4)
		return 2;
	delay_ms = atoi(argv[3]);
	pfd = open(argv[2], O_RDONLY);
	if (pfd < 0 || read(pfd, pattern, sizeof(pattern)) != sizeof(pattern))
		die(argv[2]);
	open_device(argv[1]);

	submit_read(0, RO_IOVA, RW_IOVA + STATUS_OFF);
	result(wait_used(1, 10 * delay_ms) && mem[STATUS_OFF] == VIRTIO_BLK_S_IOERR,
	       "a read into a read-only IOTLB entry fails with IOERR");
	submit_read(1, data0, RO_IOVA + 0x1000);
	result(wait_used(2, 10 * delay_ms) && used->ring[1].len == 0,
	       "a status byte in a read-only IOTLB entry: the request comes back unused");
	submit_read(2, data0, RW_IOVA + STATUS_OFF + 2);
	result(wait_used(3, 10 * delay_ms) && mem[STATUS_OFF + 2] == VIRTIO_BLK_S_OK &&
	       !memcmp(host(data0), pattern, 4096), "then a good read completes with the right data");

	/* An IOTLB update while a request is held: answered without waiting for it. */
	fd = memfd_create("extra", 0);
	extra = fd < 0 || ftruncate(fd, SPAN) < 0 ? MAP_FAILED :
		mmap(NULL, SPAN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (extra == MAP_FAILED)
		die("memfd");
	submit_read(3, data0 + 4096, RW_IOVA + STATUS_OFF + 3);
	/* Nothing tells a driver that the device fetched it: give it a quarter of its delay. */
	usleep(delay_ms * 1000 / 4);
	start = now_ms();
	r = iotlb_update(NEW_IOVA, SPAN, extra, VHOST_ACCESS_RW);
	ms = now_ms() - start;
	printf("# IOTLB update answered in %.1f ms, requests held %d ms\n", ms, delay_ms);
	result(r == 0 && ms < delay_ms / 2.0 &&
	       __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) == 3,
	       "an IOTLB update is answered while a request is held (no drain)");
	result(wait_used(4, 10 * delay_ms) && mem[STATUS_OFF + 3] == VIRTIO_BLK_S_OK &&
	       !memcmp(host(data0 + 4096), pattern, 4096),
	       "the held request then completes with the right data");

	/* GET_VRING_BASE (VDUSE GET_VQ_STATE) with a request in flight. */
	submit_read(4, data0 + 8192, RW_IOVA + STATUS_OFF + 4);
	usleep(delay_ms * 1000 / 4);	/* as above */
	r = ioctl(vfd, VHOST_GET_VRING_BASE, &state);
	base = state.num;
	printf("# GET_VRING_BASE: %d, base %u, used idx %u\n", r, base,
	       __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE));
	result(r == 0 && base == 5 && __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) == base,
	       "GET_VRING_BASE with a request in flight: every request before the base is used");
	result(mem[STATUS_OFF + 4] == VIRTIO_BLK_S_OK && !memcmp(host(data0 + 8192), pattern, 4096),
	       "... and that request completed with the right data");
	set_status(0);
	return failures ? 1 : 0;
}
