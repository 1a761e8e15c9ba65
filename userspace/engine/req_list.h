/* A FIFO of requests linked through their held_next field: the delay and kabort engines' queues, the rbd engine's forwarded completions. */
#ifndef VBRIDGE_REQ_LIST_H
#define VBRIDGE_REQ_LIST_H

#include <stddef.h>

#include "virtio/blk.h"

struct vb_req_list {
	struct vb_blk_req *head, *tail;
};

static inline void vb_req_list_push(struct vb_req_list *l, struct vb_blk_req *req)
{
	req->held_next = NULL;
	if (l->tail)
		l->tail->held_next = req;
	else
		l->head = req;
	l->tail = req;
}

/* Takes the oldest request; the list must not be empty. */
static inline struct vb_blk_req *vb_req_list_pop(struct vb_req_list *l)
{
	struct vb_blk_req *req = l->head;

	l->head = req->held_next;
	if (!l->head)
		l->tail = NULL;
	return req;
}

/* Empties the list, returning its requests still linked by held_next. */
static inline struct vb_blk_req *vb_req_list_take(struct vb_req_list *l)
{
	struct vb_blk_req *all = l->head;

	l->head = l->tail = NULL;
	return all;
}

#endif
