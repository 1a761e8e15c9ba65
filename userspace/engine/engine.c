/* The engine table: --engine names an entry, and nothing else in the daemon names an engine. */
#include "engine.h"

#include <stdio.h>
#include <string.h>

/*
 * The engines, each a const struct vb_engine_ops vb_engine_NAME in a file of
 * its own. A new engine: its file, and one line here. The first is the default.
 */
#define ENGINES(X) \
	X(uring)   \
	X(null)    \
	X(delay)   \
	X(kabort)  \
	RBD(X)

#ifdef VB_NO_RBD	/* the static build: Debian has no static librbd */
#define RBD(X)
#else
#define RBD(X) X(rbd)
#endif

#define DECLARE(name) extern const struct vb_engine_ops vb_engine_##name;
ENGINES(DECLARE)
#define ENTRY(name) &vb_engine_##name,
static const struct vb_engine_ops *const engines[] = { ENGINES(ENTRY) };
#define NENGINES (sizeof(engines) / sizeof(engines[0]))

struct vb_engine vb_engine_default(void)
{
	return (struct vb_engine){ .ops = engines[0] };
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

		if (strlen(ops->name) != len || strncmp(spec, ops->name, len) != 0)
			continue;
		e->ops = ops;
		if (ops->parse)
			return ops->parse(colon ? colon + 1 : NULL, e, err, errlen);
		if (!colon)
			return 0;
		snprintf(err, errlen, "'%s': the %s engine takes no argument", spec, ops->name);
		return -1;
	}
	len = (size_t)snprintf(err, errlen, "'%s': expected one of", spec);
	for (size_t i = 0; i < NENGINES && len < errlen; i++)
		len += (size_t)snprintf(err + len, errlen - len, "%s %s%s", i ? "," : "",
					engines[i]->name, engines[i]->parse ? ":ARG" : "");
	return -1;
}

const char *vb_engine_describe(const struct vb_engine *e, char *buf, size_t len)
{
	if (!e->ops->describe)
		return e->ops->name;
	e->ops->describe(e, buf, len);
	return buf;
}
