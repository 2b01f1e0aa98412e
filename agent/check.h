/* `ignis check`: a preflight that says, one line per item, whether this
 * machine and this configuration can profile, and when not, exactly what
 * to change. It proves rather than guesses where it can: the sampler's own
 * BPF programs are loaded and attached, and every configured destination
 * gets a request that changes nothing.
 *
 *   OK   kernel: 6.1.0 (5.17 or later needed: bpf_find_vma)
 *   FAIL capabilities: missing CAP_BPF (load BPF programs): grant ...
 *
 * Exit status: 0 when nothing FAILs (WARN allowed), 1 when something does,
 * 2 on usage or configuration errors. */
#ifndef IGNIS_CHECK_H
#define IGNIS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct config;

enum check_status { CHECK_OK, CHECK_WARN, CHECK_FAIL };

struct check_item {
	char name[48];        /* "kernel", "destination pyroscope", ... */
	enum check_status status;
	char detail[512];     /* what was found */
	char fix[512];        /* how to fix it; "" when there is nothing to do */
};

struct check_opts {
	const char *proc_root;      /* NULL: cfg's, else "/proc" */
	const char *sys_root;       /* NULL: cfg's, else "/sys" */
	const struct config *cfg;   /* NULL: machine checks only */
	/* Load and attach the sampler's BPF programs (the real test). Off
	 * for unit tests on fixture trees. */
	bool load_bpf;
};

struct check_report;

/* Runs every check. NULL with errno ENOMEM only: a check that cannot
 * decide is itself a WARN or FAIL item. */
struct check_report *check__run(const struct check_opts *o);
void check__free(struct check_report *r);   /* accepts NULL */
size_t check__count(const struct check_report *r);
const struct check_item *check__item(const struct check_report *r, size_t i);
/* The first item with this name, or NULL. */
const struct check_item *check__find(const struct check_report *r, const char *name);
/* No FAIL. */
bool check__ok(const struct check_report *r);

/* "OK   name: detail[: fix]" per line. */
void check__print_text(const struct check_report *r, FILE *f);
/* {"ok": bool, "checks": [{"name", "status", "detail", "fix"}, ...]} and a
 * newline. 0 or -ENOMEM. */
int check__print_json(const struct check_report *r, FILE *f);

/* "6.1.0-18-amd64" -> 6, 1. 0, or -EINVAL. */
int check__parse_kernel(const char *release, unsigned *major, unsigned *minor);

/* `ignis check [--config FILE] [--output text|json]`: argv[0] is "check".
 * The exit status. */
int check__cmd(int argc, char **argv);

#endif
