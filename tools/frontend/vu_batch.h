/* Front-end library additions for load generators: batched completion and interrupt suppression on split queues. */
#ifndef VBRIDGE_VU_BATCH_H
#define VBRIDGE_VU_BATCH_H

#include "vu_frontend.h"

/* Consumes up to max used entries of vq, completes their requests (status,
 * used_len, done) and stores them in done[]; returns how many. Entries that
 * name no request of ours are consumed and counted in vq->bad_used only. */
unsigned vu_blk_reap_batch(struct vu_vq *vq, struct vu_blk_req **done, unsigned max);

/* Asks the back-end not to write the call eventfd, for a driver that polls
 * the used ring: VRING_AVAIL_F_NO_INTERRUPT, and with EVENT_IDX a used_event
 * half the index space ahead of what has been consumed. With EVENT_IDX the
 * request is relative to vq->last_used, so a poller calls it again after
 * reaping. Not undone: without EVENT_IDX, vu_vq_wait would then sleep
 * through completions, so a queue that polls keeps polling. */
void vu_vq_calls_off(struct vu_vq *vq);

#endif
