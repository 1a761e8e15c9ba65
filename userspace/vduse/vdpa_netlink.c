/* vDPA bus attachment over generic netlink: what `vdpa dev add/del` sends, without the tool. */
#include "vdpa_netlink.h"

#include <errno.h>
#include <linux/vdpa.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

/* libnl turns the kernel's errno into its own codes; keep the errno for the caller's message. */
static int keep_errno(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	(void)nla;
	*(int *)arg = e->error;
	return NL_STOP;
}

static int vdpa_request(int cmd, const char *mgmtdev, const char *name)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_msg *msg = NULL;
	int family, err = 0, ret = -ENOMEM;

	if (!sk)
		return -ENOMEM;
	if (genl_connect(sk) < 0) {
		ret = -EPROTONOSUPPORT;
		goto out;
	}
	family = genl_ctrl_resolve(sk, VDPA_GENL_NAME);
	if (family < 0) {
		ret = -ENOENT;
		goto out;
	}
	msg = nlmsg_alloc();
	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_ACK, cmd,
				 VDPA_GENL_VERSION))
		goto out;
	if ((mgmtdev && nla_put_string(msg, VDPA_ATTR_MGMTDEV_DEV_NAME, mgmtdev) < 0) ||
	    nla_put_string(msg, VDPA_ATTR_DEV_NAME, name) < 0)
		goto out;
	nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, keep_errno, &err);
	ret = nl_send_auto(sk, msg);
	if (ret >= 0)
		ret = nl_wait_for_ack(sk);
	if (err)
		ret = err;
	else if (ret < 0)
		ret = -EIO;
out:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return ret < 0 ? ret : 0;
}

int vb_vdpa_dev_add(const char *mgmtdev, const char *name)
{
	return vdpa_request(VDPA_CMD_DEV_NEW, mgmtdev, name);
}

int vb_vdpa_dev_del(const char *name)
{
	return vdpa_request(VDPA_CMD_DEV_DEL, NULL, name);
}
