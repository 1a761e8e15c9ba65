/* The engine table: --engine names an entry, and nothing else in the daemon names an engine. */
#include "engine.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * The engines, each a const struct vb_engine_ops vb_engine_NAME in a file of
 * its own. A new engine: its file, and one line here. The first is the default.
 */
#define ENGINES(X) \
	X(uring)   \
	X(null)    \
	X(delay)   \
	X(kabort)

/*
 * Engines built as a shared object of their own, vbridge-engine-NAME.so,
 * loaded when --engine names them: librbd and librados bring libceph-common,
 * whose start-up code alone took 17 MiB of resident memory and ran in every
 * daemon, rbd or not. With an argument or not, for the list in errors.
 */
#ifdef VB_NO_PLUGINS	/* the static build: no dlopen, and Debian has no static librbd */
#define PLUGINS(P)
#else
#define PLUGINS(P) \
	P(rbd, true)
#endif

#define DECLARE(name) extern const struct vb_engine_ops vb_engine_##name;
ENGINES(DECLARE)
#define ENTRY(name) &vb_engine_##name,
static const struct vb_engine_ops *const engines[] = { ENGINES(ENTRY) };
#define NENGINES (sizeof(engines) / sizeof(engines[0]))

struct plugin {
	const char *name;
	bool takes_arg;
};

#define PLUGIN(name, arg) { #name, arg },
static const struct plugin plugins[] = { PLUGINS(PLUGIN) { NULL, false } };

/* Where plugins are looked for after the daemon's own directory (make PLUGIN_DIR=...). */
#ifndef VB_PLUGIN_DIR
#define VB_PLUGIN_DIR "/usr/local/lib/vbridge"
#endif

struct vb_engine vb_engine_default(void)
{
	return (struct vb_engine){ .ops = engines[0] };
}

static int parse_arg(const struct vb_engine_ops *ops, const char *spec, const char *colon,
		     struct vb_engine *e, char *err, size_t errlen)
{
	e->ops = ops;
	if (ops->parse)
		return ops->parse(colon ? colon + 1 : NULL, e, err, errlen);
	if (!colon)
		return 0;
	snprintf(err, errlen, "'%s': the %s engine takes no argument", spec, ops->name);
	return -1;
}

/* Loads vbridge-engine-NAME.so from the daemon's directory, else VB_PLUGIN_DIR; never unloaded. */
static const struct vb_engine_ops *load_plugin(const char *name, char *err, size_t errlen)
{
	char exe[PATH_MAX], path[PATH_MAX + 64], symbol[64];
	const struct vb_engine_ops *ops;
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	void *handle;

	if (len > 0) {
		exe[len] = '\0';
		snprintf(path, sizeof(path), "%s/vbridge-engine-%s.so", dirname(exe), name);
	}
	if (len <= 0 || access(path, F_OK) != 0)
		snprintf(path, sizeof(path), "%s/vbridge-engine-%s.so", VB_PLUGIN_DIR, name);
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		snprintf(err, errlen, "'%s': cannot load the engine: %s", name, dlerror());
		return NULL;
	}
	snprintf(symbol, sizeof(symbol), "vb_engine_%s", name);
	ops = dlsym(handle, symbol);
	if (!ops) {
		snprintf(err, errlen, "%s has no %s", path, symbol);
		dlclose(handle);
	}
	return ops;
}

int vb_engine_parse(const char *spec, struct vb_engine *e, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);

	*e = vb_engine_default();
	/* The io_uring engine's old name. */
	if (strcmp(spec, "io_uring") == 0)
		return 0;
	for (size_t i = 0; i < NENGINES; i++) {
		const struct vb_engine_ops *ops = engines[i];

		if (strlen(ops->name) == len && strncmp(spec, ops->name, len) == 0)
			return parse_arg(ops, spec, colon, e, err, errlen);
	}
	for (const struct plugin *p = plugins; p->name; p++) {
		const struct vb_engine_ops *ops;

		if (strlen(p->name) != len || strncmp(spec, p->name, len) != 0)
			continue;
		ops = load_plugin(p->name, err, errlen);
		return ops ? parse_arg(ops, spec, colon, e, err, errlen) : -1;
	}
	len = (size_t)snprintf(err, errlen, "'%s': expected one of", spec);
	for (size_t i = 0; i < NENGINES && len < errlen; i++)
		len += (size_t)snprintf(err + len, errlen - len, "%s %s%s", i ? "," : "",
					engines[i]->name, engines[i]->parse ? ":ARG" : "");
	for (const struct plugin *p = plugins; p->name && len < errlen; p++)
		len += (size_t)snprintf(err + len, errlen - len, ", %s%s", p->name,
					p->takes_arg ? ":ARG" : "");
	return -1;
}

const char *vb_engine_describe(const struct vb_engine *e, char *buf, size_t len)
{
	if (!e->ops->describe)
		return e->ops->name;
	e->ops->describe(e, buf, len);
	return buf;
}
