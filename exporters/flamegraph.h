/* An interactive flame graph (SVG) of a profile, in the convention of
 * Brendan Gregg's flamegraph.pl: one box per frame of the merged stacks,
 * as wide as its samples, the root at the bottom; the name, count and
 * share on hover, click to zoom, search with highlight and the matched
 * share. Self-contained: its script and style are inline, it loads nothing.
 *
 * Colours tell frames apart: user code red, kernel orange, the process
 * (the root label) yellow, [unknown] and [truncated] grey, the search's
 * matches magenta.
 *
 * The size is bounded whatever the profile: frames narrower than
 * min_width pixels are left out (their time shows as an empty end of
 * their parent), and at most max_frames of the widest are drawn; a name is
 * cut at FLAMEGRAPH_NAME_BYTES bytes of XML. Each frame then costs at most
 * about 2.5 KiB, so the file stays under max_frames * 2.5 KiB (50 MiB with
 * the defaults), and is a few MiB for a typical profile.
 *
 * For scripts and tests, the page reads a URL fragment: #s=REGEX searches,
 * #z=NAME zooms on the widest frame called NAME (both: #s=a&z=b); and
 * window.ignisFlame has search(regex), zoom(name), unzoom(), clear(). */
#ifndef IGNIS_FLAMEGRAPH_H
#define IGNIS_FLAMEGRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "exporters/profile.h"

#define FLAMEGRAPH_WIDTH      1200    /* pixels */
#define FLAMEGRAPH_MIN_WIDTH  0.1     /* pixels, as flamegraph.pl's --minwidth default */
#define FLAMEGRAPH_MAX_FRAMES 20000
#define FLAMEGRAPH_NAME_BYTES 1024    /* of a name, escaped, in a frame's <title> */

struct flamegraph_opts {
	const char *title;        /* NULL: "Flame Graph" */
	const char *subtitle;     /* NULL: none */
	/* The value of this string label roots each stack, as in the folded
	 * format (e.g. "comm"); NULL, or a sample without it: no such frame. */
	const char *root_label;
	unsigned int width;       /* pixels, 0: FLAMEGRAPH_WIDTH; at least 200 */
	double min_width;         /* pixels, 0: FLAMEGRAPH_MIN_WIDTH */
	size_t max_frames;        /* 0: FLAMEGRAPH_MAX_FRAMES */
};

struct flamegraph_stats {
	uint64_t samples;         /* the width of the root frame "all" */
	size_t frames;            /* boxes drawn, "all" included */
	size_t omitted;           /* merged frames left out as too narrow */
	unsigned int depth;       /* of the highest box drawn ("all" is 0) */
};

/* Writes the SVG of p to out. opts and stats may be NULL. 0 or -errno. */
int flamegraph__write(const struct profile *p, const struct flamegraph_opts *opts, FILE *out,
		      struct flamegraph_stats *stats);

#endif
