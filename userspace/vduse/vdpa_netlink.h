/* vDPA bus attachment over generic netlink: what `vdpa dev add/del` sends, without the tool. */
#ifndef VBRIDGE_VDPA_NETLINK_H
#define VBRIDGE_VDPA_NETLINK_H

/*
 * Adds the vDPA device NAME of management device mgmtdev ("vduse") to the
 * bus, or removes it. Both block until the kernel's drivers have bound or
 * unbound, which for VDUSE means until the device's own daemon has answered
 * the status changes: never call them from the thread that answers. Return 0
 * or the kernel's -errno (-ENOENT when the vdpa module is not loaded).
 */
int vb_vdpa_dev_add(const char *mgmtdev, const char *name);
int vb_vdpa_dev_del(const char *name);

#endif
