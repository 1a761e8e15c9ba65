/* A FIFO of requests linked through the head of their engine data: the uring engine's parked requests, the delay and kabort engines' queues, the rbd engine's forwarded completions. */
#ifndef VBRIDGE_REQ_LIST_H
#define VBRIDGE_REQ_LIST_H

#include <stddef.h>

#include "virtio/blk.h"

/*
 * The link: an engine that keeps its requests in these lists starts its
 * per-request data (vb_blk_req_engine_data) with one.
 */
struct vb_req_link {
	struct vb_blk_req *next;
};

static inline struct vb_req_link *vb_req_link(struct vb_blk_req *req)
{
	return vb_blk_req_engine_data(req);
}

struct vb_req_list {
	struct vb_blk_req *head, *tail;
};

/* The request after req in its list (or in a list vb_req_list_take returned); NULL at the end. */
static inline struct vb_blk_req *vb_req_next(struct vb_blk_req *req)
{
	return vb_req_link(req)->next;
}

static inline void vb_req_list_push(struct vb_req_list *l, struct vb_blk_req *req)
{
	vb_req_link(req)->next = NULL;
	if (l->tail)
		vb_req_link(l->tail)->next = req;
	else
		l->head = req;
	l->tail = req;
}

/* Takes the oldest request; the list must not be empty. */
static inline struct vb_blk_req *vb_req_list_pop(struct vb_req_list *l)
{
	struct vb_blk_req *req = l->head;

	l->head = vb_req_next(req);
	if (!l->head)
		l->tail = NULL;
	return req;
}

/* Empties the list, returning its requests still linked (vb_req_next). */
static inline struct vb_blk_req *vb_req_list_take(struct vb_req_list *l)
{
	struct vb_blk_req *all = l->head;

	l->head = l->tail = NULL;
	return all;
}

#endif
