/* Public API of the vhost-user front-end library: connection, negotiation, guest memory, split virtqueues, virtio-blk requests. */
#ifndef VBRIDGE_VU_FRONTEND_H
#define VBRIDGE_VU_FRONTEND_H

/*
 * A small vhost-user front-end ("the VMM side") for driving a vhost-user-blk
 * back-end from tests and load generators.
 *
 * Model, in the spirit of liburing: the caller owns plain structs (struct
 * vu_dev, struct vu_blk_req) and calls init / prep / submit / wait functions
 * on them. Fields documented as "read-only" may be read freely; the ring
 * pointers of struct vu_vq may also be written by hostile tests that want to
 * build descriptors by hand.
 *
 * Typical use:
 *
 *	struct vu_dev dev;
 *	struct vu_open_opts o = { .num_queues = 2 };
 *	if (vu_dev_open(&dev, "/tmp/vb.sock", &o) < 0)
 *		errx(1, "%s", dev.err);
 *	void *buf = vu_mem_alloc(&dev, 4096, 4096);
 *	struct vu_blk_req req;
 *	vu_blk_req_init(&dev, &req);
 *	vu_blk_prep_read(&req, 0, buf, 4096);
 *	vu_blk_submit(dev.vqs[0], &req);
 *	vu_blk_wait(dev.vqs[0], &req, 1000);   // req.status, req.used_len
 *	vu_blk_req_fini(&req);
 *	vu_dev_close(&dev);
 *
 * Lower layers are public too: raw bytes and fds on the socket (vu_send_raw),
 * any message (vu_send_msg / vu_recv_msg / vu_request / vu_call), each
 * negotiation step, the memory table, each vring message, and descriptor
 * chains written by hand (vu_vq_alloc_chain + vq->desc[] + vu_vq_publish).
 *
 * Errors: functions returning int give 0 (or a count) on success and a
 * negative errno on failure, with a human readable reason in dev->err.
 * Notable codes: -ECONNRESET the back-end closed the connection;
 * -ETIMEDOUT no answer in time; -EREMOTEIO the back-end answered a REPLY_ACK
 * with a non-zero value (kept in dev->last_ack); -EPROTO a reply that does
 * not match the request.
 *
 * Threading: one struct vu_dev is driven from one thread. The per-queue
 * calls (vu_blk_enqueue/submit/reap/wait, vu_vq_*) on different queues may
 * run in different threads, provided control messages, guest memory
 * allocation and the device-wide waits (vu_dev_wait, vu_blk_wait_all) stay
 * on one thread and requests are initialised before the threads start.
 *
 * Everything assumes a little-endian host (as the daemon does), so ring and
 * request fields are stored without conversion.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "vhost_user_proto.h"

#define VU_MAX_REGIONS 16 /* more than the protocol allows, for hostile tests */
#define VU_MAX_QUEUES 64
#define VU_GPA_INVALID UINT64_MAX
#define VU_DEFAULT_TIMEOUT_MS 5000
#define VU_BLK_MAX_SEGS 64
#define VU_SECTOR_SIZE 512u

/* Monotonic milliseconds: the library's clock for deadlines, and the tests' for timing. */
int64_t vu_now_ms(void);

/* Virtio features the library knows how to drive for a block device. */
#define VU_BLK_FEATURES                                                         \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |   \
	 (1ull << VIRTIO_RING_F_EVENT_IDX) |                                      \
	 (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |                               \
	 (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |       \
	 (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |         \
	 (1ull << VIRTIO_BLK_F_TOPOLOGY) | (1ull << VIRTIO_BLK_F_CONFIG_WCE) |    \
	 (1ull << VIRTIO_BLK_F_MQ) | (1ull << VIRTIO_BLK_F_DISCARD) |             \
	 (1ull << VIRTIO_BLK_F_WRITE_ZEROES) | (1ull << VIRTIO_BLK_F_RO))

/* Protocol features the library knows how to use. */
#define VU_PROTOCOL_FEATURES                                                    \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) |                                     \
	 (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |                              \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |                                 \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) |                    \
	 (1ull << VHOST_USER_PROTOCOL_F_STATUS) |                                 \
	 (1ull << VHOST_USER_PROTOCOL_F_RESET_DEVICE))

/* Bytes of struct virtio_blk_config a front-end with VU_BLK_FEATURES reads
 * (up to and including write_zeroes_may_unmap, as QEMU computes it). */
#define VU_BLK_CONFIG_SIZE offsetof(struct virtio_blk_config, unused1)

/* ------------------------------------------------------------------------ */
/* Device / connection                                                       */
/* ------------------------------------------------------------------------ */

struct vu_alloc_block {
	uint64_t off; /* offset in the region */
	uint64_t len;
};

/* One guest memory region: a memfd mapped MAP_SHARED in this process. */
struct vu_region {
	uint64_t gpa;  /* guest physical address of the first byte */
	uint64_t size; /* bytes */
	uint8_t *host; /* this process's mapping (the user_addr sent) */
	int fd;        /* the memfd */
	/* allocator: allocated blocks sorted by offset */
	struct vu_alloc_block *blocks;
	unsigned nblocks, cap;
};

struct vu_vq;

enum vu_ack_mode {
	VU_ACK_AUTO = 0, /* set NEED_REPLY when REPLY_ACK is negotiated */
	VU_ACK_NEVER,    /* never set NEED_REPLY (hostile tests) */
};

struct vu_dev {
	int sock;        /* connected socket, -1 when not connected */
	int timeout_ms;  /* how long to wait for replies (default 5000) */
	enum vu_ack_mode ack_mode;

	/* read-only: filled by the negotiation calls */
	uint64_t offered_features;          /* GET_FEATURES */
	uint64_t features;                  /* last SET_FEATURES */
	uint64_t offered_protocol_features; /* GET_PROTOCOL_FEATURES */
	uint64_t protocol_features;         /* last SET_PROTOCOL_FEATURES */
	unsigned num_queues;                /* GET_QUEUE_NUM, 1 without MQ */
	uint64_t last_ack;                  /* value of the last REPLY_ACK */

	/* guest memory, see vu_mem_* */
	struct vu_region regions[VU_MAX_REGIONS];
	unsigned nregions;

	/* virtqueues created with vu_vq_create, indexed by queue index */
	struct vu_vq *vqs[VU_MAX_QUEUES];

	char err[256]; /* reason of the last failure */
};

/* Zeroes dev and sets defaults (no socket, 5 s timeout). */
void vu_dev_init(struct vu_dev *dev);

/* Connects to a unix socket, retrying every 20 ms for up to timeout_ms while
 * the back-end is starting (ENOENT / ECONNREFUSED). */
int vu_connect(struct vu_dev *dev, const char *path, int timeout_ms);

/* Closes the socket only (queues and memory stay). */
void vu_disconnect(struct vu_dev *dev);

/* Closes everything: socket, queues (eventfds), guest memory. dev can be
 * reused after vu_dev_init. */
void vu_dev_close(struct vu_dev *dev);

/* True when REPLY_ACK is negotiated and dev->ack_mode allows using it. */
bool vu_dev_reply_ack(const struct vu_dev *dev);

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

/* Sends len bytes as one sendmsg (looping on short writes), with nfds file
 * descriptors as SCM_RIGHTS on the first chunk. No validation at all. */
int vu_send_raw(struct vu_dev *dev, const void *buf, size_t len, const int *fds,
		unsigned nfds);

/* Sends header {request, VERSION | flags, size} + payload (+ fds). */
int vu_send_msg(struct vu_dev *dev, uint32_t request, uint32_t flags,
		const void *payload, uint32_t size, const int *fds, unsigned nfds);

/* Receives one message (header + payload). Received fds are stored in fds
 * (up to *nfds; *nfds is updated, extra ones are closed); pass NULL to close
 * them all. -ECONNRESET on EOF, -ETIMEDOUT after timeout_ms (< 0: forever). */
int vu_recv_msg(struct vu_dev *dev, struct vhost_user_msg *msg, int *fds,
		unsigned *nfds, int timeout_ms);

/* Waits up to timeout_ms for the peer to close the connection, discarding
 * anything it sends meanwhile. 1 = closed, 0 = still open, < 0 = error. */
int vu_wait_closed(struct vu_dev *dev, int timeout_ms);

/* Sends a request that has no reply of its own. If vu_dev_reply_ack(), sets
 * NEED_REPLY and waits for the u64 ack: 0 -> 0, non-zero -> -EREMOTEIO. */
int vu_request(struct vu_dev *dev, uint32_t request, const void *payload,
	       uint32_t size, const int *fds, unsigned nfds);

/* Sends a request that always has a reply (GET_*) and receives it into reply
 * (at most reply_cap bytes; *reply_size gets the payload size if non-NULL).
 * The reply must carry the same request id and the REPLY flag. */
int vu_call(struct vu_dev *dev, uint32_t request, const void *payload,
	    uint32_t size, void *reply, uint32_t reply_cap, uint32_t *reply_size);

/* ------------------------------------------------------------------------ */
/* Negotiation and device-wide control                                       */
/* ------------------------------------------------------------------------ */

int vu_get_features(struct vu_dev *dev, uint64_t *features);
int vu_set_features(struct vu_dev *dev, uint64_t features);
int vu_get_protocol_features(struct vu_dev *dev, uint64_t *features);
int vu_set_protocol_features(struct vu_dev *dev, uint64_t features);
int vu_set_owner(struct vu_dev *dev);
int vu_get_queue_num(struct vu_dev *dev, uint64_t *num);
int vu_get_max_mem_slots(struct vu_dev *dev, uint64_t *num);
int vu_reset_device(struct vu_dev *dev);
int vu_set_status(struct vu_dev *dev, uint8_t status);
/* A zeroed dirty log of size bytes: returns its memfd (or -errno), mapped at *bitmap. */
int vu_log_create(uint64_t size, uint8_t **bitmap);
/* SET_LOG_BASE (LOG_SHMFD) with size bytes of bitmap at offset of fd; its
 * reply is always awaited: 0, or -EREMOTEIO for a non-zero one. */
int vu_set_log_base(struct vu_dev *dev, int fd, uint64_t size, uint64_t offset);
int vu_get_status(struct vu_dev *dev, uint8_t *status);
/* GET_CONFIG of size bytes at offset (size <= 256) into buf. */
int vu_get_config(struct vu_dev *dev, uint32_t offset, void *buf, uint32_t size);
/* Zeroes *cfg and reads VU_BLK_CONFIG_SIZE bytes of it. */
int vu_blk_get_config(struct vu_dev *dev, struct virtio_blk_config *cfg);

/*
 * The usual start-up sequence: GET_FEATURES, SET_OWNER, then, when bit 30 is
 * offered and wanted, GET/SET_PROTOCOL_FEATURES (wanted & offered) and, with
 * MQ, GET_QUEUE_NUM; finally SET_FEATURES(want_features & offered).
 */
int vu_negotiate(struct vu_dev *dev, uint64_t want_features,
		 uint64_t want_protocol_features);

/* ------------------------------------------------------------------------ */
/* Guest memory                                                              */
/* ------------------------------------------------------------------------ */

/* Adds a zero-filled memfd region of size bytes (page multiple) at guest
 * physical address gpa. Returns the region index. */
int vu_mem_add_region(struct vu_dev *dev, uint64_t gpa, uint64_t size);

/* Builds the SET_MEM_TABLE payload for all regions (user_addr = our mapping,
 * mmap_offset 0) into buf (>= 8 + 32 * nregions bytes), fds into fds.
 * Returns the payload size. Handy for hostile variants. */
uint32_t vu_mem_table_payload(const struct vu_dev *dev, void *buf, int *fds);

/* Sends SET_MEM_TABLE with every region and its fd. */
int vu_mem_set_table(struct vu_dev *dev);

/* Guest pointer helpers. vu_gpa_to_ptr returns NULL unless [gpa, gpa+len)
 * lies in one region; vu_ptr_to_gpa returns VU_GPA_INVALID outside. */
void *vu_gpa_to_ptr(const struct vu_dev *dev, uint64_t gpa, uint64_t len);
uint64_t vu_ptr_to_gpa(const struct vu_dev *dev, const void *ptr);

/* First-fit allocator over the regions. align is a power of two (0 = 16).
 * Memory is zeroed. NULL when nothing fits. */
void *vu_mem_alloc(struct vu_dev *dev, uint64_t size, uint64_t align);
/* Same, restricted to region index region. */
void *vu_mem_alloc_in(struct vu_dev *dev, unsigned region, uint64_t size, uint64_t align);
void vu_mem_free(struct vu_dev *dev, void *ptr);

/* ------------------------------------------------------------------------ */
/* Split virtqueues                                                          */
/* ------------------------------------------------------------------------ */

struct vu_vq {
	struct vu_dev *dev;
	unsigned index;
	uint16_t size;

	/* the rings, in guest memory; hostile tests may write them directly */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t desc_gpa, avail_gpa, used_gpa;

	int kick_fd; /* we write it to notify the back-end */
	int call_fd; /* the back-end writes it to notify us */

	bool event_idx;   /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;    /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	bool always_kick; /* ignore notification suppression */
	bool started;
	bool hold_avail;  /* vu_vq_hold_avail: ring entries written, avail->idx not */

	/* driver state (read-only) */
	uint16_t avail_idx;  /* shadow of avail->idx */
	uint16_t kicked_idx; /* avail_idx at the last notification decision */
	uint16_t last_used;  /* next used ring slot to consume */
	uint16_t base;       /* SET_VRING_BASE value for the next start */
	uint16_t free_head, num_free;
	unsigned in_flight;  /* published heads not yet returned */
	unsigned bad_used;   /* used entries naming a head not in flight */
	uint64_t kicks, calls;

	/* private chain bookkeeping, indexed by descriptor id */
	uint16_t *link;      /* next free / next in our own chain */
	uint16_t *chain_len; /* per head */
	void **cookie;       /* per head */
	uint8_t *busy;       /* per head: published and not yet used */
};

/* One consumed used-ring entry. */
struct vu_used {
	uint32_t id;
	uint32_t len;
	void *cookie; /* as given to vu_vq_publish, NULL for unknown ids */
};

/* Allocates the rings (zeroed, in guest memory) and the two eventfds for
 * queue index; registers it in dev->vqs[index]. Negotiate first (EVENT_IDX /
 * INDIRECT_DESC come from dev->features). size is a power of two. */
struct vu_vq *vu_vq_create(struct vu_dev *dev, unsigned index, uint16_t size);

/* SET_VRING_NUM, SET_VRING_BASE(vq->base), SET_VRING_ADDR, SET_VRING_KICK,
 * SET_VRING_CALL, then SET_VRING_ENABLE(1) when bit 30 is negotiated. */
int vu_vq_start(struct vu_vq *vq);

/* SET_VRING_ENABLE(0) (with bit 30) and GET_VRING_BASE; *base (may be NULL)
 * and vq->base get the returned index. */
int vu_vq_stop(struct vu_vq *vq, uint32_t *base);
/* vu_vq_stop without the SET_VRING_ENABLE: for a ring disabled a while ago. */
int vu_vq_get_base(struct vu_vq *vq, uint32_t *base);

/* Unregisters and frees the queue (rings, eventfds). No message is sent. */
void vu_vq_destroy(struct vu_vq *vq);

/* Single vring messages, for tests that want a different order or values.
 * kick/call: fd < 0 sends the NOFD flag. */
int vu_set_vring_num(struct vu_dev *dev, unsigned index, unsigned num);
int vu_set_vring_base(struct vu_dev *dev, unsigned index, unsigned num);
int vu_set_vring_addr(struct vu_dev *dev, const struct vhost_user_vring_addr *a);
int vu_set_vring_kick(struct vu_dev *dev, unsigned index, int fd);
int vu_set_vring_call(struct vu_dev *dev, unsigned index, int fd);
int vu_set_vring_enable(struct vu_dev *dev, unsigned index, bool enable);
int vu_get_vring_base(struct vu_dev *dev, unsigned index, uint32_t *num);

/* Takes n free descriptors, chained in our private bookkeeping (the
 * descriptor contents, including next, are left to the caller). ids[0] is
 * the head. -ENOSPC if fewer than n are free. */
int vu_vq_alloc_chain(struct vu_vq *vq, unsigned n, uint16_t *ids);
/* Returns a chain taken with vu_vq_alloc_chain that was never published. */
void vu_vq_free_chain(struct vu_vq *vq, uint16_t head);

/* Puts head in the avail ring and publishes the new avail->idx (release).
 * cookie comes back in struct vu_used. Does not notify. */
void vu_vq_publish(struct vu_vq *vq, uint16_t head, void *cookie);
/* Writes an arbitrary value in the next avail slot (hostile tests: ids out of
 * range, duplicates) and publishes it; not tracked as in flight. */
void vu_vq_publish_raw(struct vu_vq *vq, uint16_t id);
/* With hold, publishing only fills avail slots; releasing stores avail->idx
 * once, so a back-end that happens to be awake sees the whole batch or none
 * of it. */
void vu_vq_hold_avail(struct vu_vq *vq, bool hold);

/* Notifies the back-end if it asked for it (EVENT_IDX avail_event or
 * VRING_USED_F_NO_NOTIFY); returns 1 if it kicked. */
int vu_vq_notify(struct vu_vq *vq);
/* Writes the kick eventfd unconditionally. */
int vu_vq_kick(struct vu_vq *vq);

/* Number of used entries not consumed yet (acquire read of used->idx). */
unsigned vu_vq_pending(const struct vu_vq *vq);
/* Consumes up to max used entries, returning their chains to the free list. */
unsigned vu_vq_reap(struct vu_vq *vq, struct vu_used *out, unsigned max);
/* Waits until at least one used entry is pending: 1, or 0 after timeout_ms,
 * or -ECONNRESET as soon as the back-end hangs up the control socket.
 * Re-arms used_event (EVENT_IDX) before sleeping on the call eventfd. */
int vu_vq_wait(struct vu_vq *vq, int timeout_ms);

/* Waits until some started queue of dev has pending used entries; returns
 * the number of such queues, 0 on timeout, -ECONNRESET on hang-up. */
int vu_dev_wait(struct vu_dev *dev, int timeout_ms);

/* The EVENT_IDX words: used_event (written by us in the avail ring) and
 * avail_event (written by the back-end in the used ring). */
volatile uint16_t *vu_vq_used_event(struct vu_vq *vq);
volatile uint16_t *vu_vq_avail_event(struct vu_vq *vq);

/* ------------------------------------------------------------------------ */
/* virtio-blk requests                                                       */
/* ------------------------------------------------------------------------ */

/* A data segment: guest physical address + length. */
struct vu_seg {
	uint64_t gpa;
	uint32_t len;
};

/* Put the chain in the request's indirect table (honoured even when
 * INDIRECT_DESC was not negotiated, so hostile tests can send it anyway). */
#define VU_REQ_INDIRECT 0x1u

struct vu_blk_req {
	/* what to send: set by vu_blk_prep*, may be edited before submit */
	uint32_t type;      /* VIRTIO_BLK_T_* */
	uint32_t ioprio;
	uint64_t sector;
	unsigned nsegs;
	struct vu_seg segs[VU_BLK_MAX_SEGS];
	bool data_write;    /* data descriptors are device-writable */
	unsigned flags;     /* VU_REQ_* */
	void *user_data;

	/* results, valid once done */
	bool done;
	uint8_t status;     /* the status byte as the back-end left it */
	uint32_t used_len;  /* the used ring's len */

	/* guest memory owned by the request (allocated by vu_blk_req_init) */
	struct virtio_blk_outhdr *hdr;
	uint8_t *status_ptr;
	struct virtio_blk_discard_write_zeroes *dwz;
	struct vring_desc *itable; /* VU_BLK_MAX_SEGS + 2 entries */
	uint64_t hdr_gpa, status_gpa, dwz_gpa, itable_gpa;

	/* internal */
	struct vu_dev *dev;
	struct vu_vq *vq;
	uint16_t head;
	bool in_flight;
};

/* Value the status byte is set to before submission, to detect that the
 * back-end did not write it. */
#define VU_STATUS_UNSET 0xee

int vu_blk_req_init(struct vu_dev *dev, struct vu_blk_req *req);
void vu_blk_req_fini(struct vu_blk_req *req);

/* Generic preparation: header {type, sector}, data segments, direction.
 * Clears the results and flags. */
void vu_blk_prep(struct vu_blk_req *req, uint32_t type, uint64_t sector,
		 const struct vu_seg *segs, unsigned nsegs, bool data_write);
/* buf must be in guest memory (vu_mem_alloc). */
void vu_blk_prep_read(struct vu_blk_req *req, uint64_t sector, void *buf, uint32_t len);
void vu_blk_prep_write(struct vu_blk_req *req, uint64_t sector, const void *buf,
		       uint32_t len);
void vu_blk_prep_flush(struct vu_blk_req *req);
/* buf: 20 bytes (VIRTIO_BLK_ID_BYTES) of guest memory */
void vu_blk_prep_get_id(struct vu_blk_req *req, void *buf);
/* One range in the request's own discard/write-zeroes segment. */
void vu_blk_prep_discard(struct vu_blk_req *req, uint64_t sector, uint32_t nsectors);
void vu_blk_prep_write_zeroes(struct vu_blk_req *req, uint64_t sector,
			      uint32_t nsectors, bool unmap);

/* Builds the chain (direct, or indirect with VU_REQ_INDIRECT), sets the
 * status byte to VU_STATUS_UNSET and publishes it; no notification. */
int vu_blk_enqueue(struct vu_vq *vq, struct vu_blk_req *req);
/* vu_blk_enqueue + vu_vq_notify. */
int vu_blk_submit(struct vu_vq *vq, struct vu_blk_req *req);
/* Tracks a chain the caller built by hand (head from vu_vq_alloc_chain) as
 * req, publishes it; completion fills req->used_len/status as usual. */
void vu_blk_publish_raw(struct vu_vq *vq, struct vu_blk_req *req, uint16_t head);

/* Consumes the used ring of vq, completing requests; returns how many. */
unsigned vu_blk_reap(struct vu_vq *vq);
/* Waits until req is done (reaping others on its queue). 0, -ETIMEDOUT, or
 * -ECONNRESET if the back-end closed the connection meanwhile. */
int vu_blk_wait(struct vu_vq *vq, struct vu_blk_req *req, int timeout_ms);
/* Waits until all n requests (possibly on different queues) are done. */
int vu_blk_wait_all(struct vu_dev *dev, struct vu_blk_req **reqs, unsigned n,
		    int timeout_ms);
/* submit + wait; returns the status byte (>= 0) or a negative errno. */
int vu_blk_run(struct vu_vq *vq, struct vu_blk_req *req, int timeout_ms);

/* ------------------------------------------------------------------------ */
/* One call set-up                                                           */
/* ------------------------------------------------------------------------ */

struct vu_open_opts {
	int connect_timeout_ms;      /* 0 = 5000 */
	uint64_t features;           /* 0 = VU_BLK_FEATURES */
	uint64_t protocol_features;  /* 0 = VU_PROTOCOL_FEATURES */
	unsigned num_queues;         /* 0 = 1; capped by GET_QUEUE_NUM */
	uint16_t queue_size;         /* 0 = 128 */
	uint64_t mem_size;           /* per region, 0 = 16 MiB */
	unsigned mem_regions;        /* 0 = 1; region i at gpa i * region_step */
	uint64_t region_step;        /* 0 = 1 GiB; mem_size makes them adjacent */
};

/* vu_dev_init, vu_connect, vu_negotiate, regions + SET_MEM_TABLE, then
 * creates and starts num_queues queues. On failure everything is closed
 * again but dev->err is kept. */
int vu_dev_open(struct vu_dev *dev, const char *path, const struct vu_open_opts *opts);

/* ------------------------------------------------------------------------ */
/* Inflight I/O tracking (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)              */
/* ------------------------------------------------------------------------ */

/* GET_INFLIGHT_FD for {0, 0, num_queues, queue_size}, sending payload_size
 * bytes of it (0 = the full 24; 20 as some front-ends send). The reply's
 * payload goes to *reply (its size to *reply_size if non-NULL), the fd it
 * carried to *fd (-1 if none; the caller closes it). -EPROTO if the reply is
 * not a GET_INFLIGHT_FD reply or carries more than one fd. */
int vu_get_inflight_fd(struct vu_dev *dev, uint16_t num_queues, uint16_t queue_size,
		       uint32_t payload_size, struct vhost_user_inflight *reply,
		       uint32_t *reply_size, int *fd);
/* SET_INFLIGHT_FD with fd (< 0: none sent) and the 24-byte *in. */
int vu_set_inflight_fd(struct vu_dev *dev, int fd, const struct vhost_user_inflight *in);

/* Positions a queue that is not started and has nothing in flight at ring
 * index idx, as if idx requests had gone through it: avail->idx, used->idx,
 * the EVENT_IDX words, the driver's shadow indices and vq->base (the next
 * SET_VRING_BASE). */
void vu_vq_set_index(struct vu_vq *vq, uint16_t idx);

/* ------------------------------------------------------------------------ */
/* Ring suspension and inflight migration                                    */
/* ------------------------------------------------------------------------ */

/* An inflight region the front-end keeps (and would migrate). */
struct vu_inflight {
	int fd;                           /* -1 when none */
	void *base;                       /* our mapping of it */
	struct vhost_user_inflight info;  /* as GET_INFLIGHT_FD described it */
};

/* GET_INFLIGHT_FD for num_queues rings of queue_size entries, maps the
 * region and hands it back with SET_INFLIGHT_FD, as QEMU does at start. */
int vu_inflight_open(struct vu_dev *dev, uint16_t num_queues, uint16_t queue_size,
		     struct vu_inflight *inf);
void vu_inflight_close(struct vu_inflight *inf);
/* Entries of queue index's split-ring region marked inflight. */
unsigned vu_inflight_count(const struct vu_inflight *inf, unsigned index);
/*
 * Moves dev to the back-end at path as QEMU's inflight migration does on
 * the destination: connect, negotiate, SET_INFLIGHT_FD with the region as
 * it is (inf may be NULL), SET_MEM_TABLE with the same guest memory, then
 * every queue restarts at vq->base (the GET_VRING_BASE reply of the
 * source) with its kick and call fds. Stop the queues (vu_vq_stop) first.
 */
int vu_dev_handoff(struct vu_dev *dev, const char *path, uint64_t features,
		   uint64_t protocol_features, const struct vu_inflight *inf);

#endif
