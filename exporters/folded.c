/* Lines are made per group of samples (exporters/stackgroup.h), not per
 * sample, and sorted without being formatted: the comparison walks two
 * groups' names as the text they would make, so what strcmp on the lines
 * would order is what comes out, and names two lines share (the same
 * pointer) are skipped whole. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/folded.h"
#include "exporters/stackgroup.h"

/* Element k of a group's line: its root, then its frames root to leaf. An
 * empty line is one empty element, as its text is. */
static size_t elem_count(const struct stack_group *g)
{
	size_t n = (g->root != NULL) + g->sample->nframes;

	return n ? n : 1;
}

static const char *elem(const struct profile_frame *frames, const struct stack_group *g,
			size_t k)
{
	size_t nframes = g->sample->nframes;

	if (g->root) {
		if (k == 0)
			return g->root;
		k--;
	} else if (!nframes) {
		return "";
	}
	return frames[g->sample->frame_ids[nframes - 1 - k]].function;
}

/* ';' separates frames and the last ' ' the count, so a name must not
 * hold a ';' (spaces are fine): it is written as ':'. */
static unsigned char text_char(char c)
{
	return c == ';' ? ':' : (unsigned char)c;
}

/* strcmp of the lines a and b would make (the counts aside). Both have
 * made the same text up to element k. */
static int cmp_text(const struct profile_frame *frames, const struct stack_group *a,
		    const struct stack_group *b)
{
	size_t na = elem_count(a), nb = elem_count(b);

	for (size_t k = 0;; k++) {
		const char *x, *y;

		if (k > 0) {
			/* Both are past a name: next is ';' or the end. */
			if (k == na || k == nb)
				return (k < na) - (k < nb);
		}
		x = elem(frames, a, k);
		y = elem(frames, b, k);
		if (x == y)
			continue;
		for (;; x++, y++) {
			if (!*x || !*y) {
				/* A name ended: its line goes on with ';' or ends,
				 * neither of which the other name's text holds. */
				unsigned char cx = *x ? text_char(*x) : k + 1 < na ? ';' : 0;
				unsigned char cy = *y ? text_char(*y) : k + 1 < nb ? ';' : 0;

				if (!*x && !*y)
					break;
				return cx - cy;
			}
			if (text_char(*x) != text_char(*y))
				return text_char(*x) - text_char(*y);
		}
	}
}

static int cmp_group(const void *a, const void *b, void *frames)
{
	return cmp_text(frames, a, b);
}

static void put_name(FILE *f, const char *s)
{
	for (size_t n; *s; s += n) {
		n = strcspn(s, ";");
		fwrite_unlocked(s, 1, n, f);
		if (s[n] == ';') {
			fputc_unlocked(':', f);
			n++;
		}
	}
}

static void put_line(FILE *f, const struct profile_frame *frames, const struct stack_group *g,
		     uint64_t count)
{
	size_t n = elem_count(g);
	char num[24], *end = num + sizeof(num), *d = end;

	for (size_t k = 0; k < n; k++) {
		if (k)
			fputc_unlocked(';', f);
		put_name(f, elem(frames, g, k));
	}
	*--d = '\n';
	do
		*--d = (char)('0' + count % 10);
	while (count /= 10);
	*--d = ' ';
	fwrite_unlocked(d, 1, (size_t)(end - d), f);
}

static int write_lines(const struct profile *p, const char *root_label, int by_value, FILE *out)
{
	const struct profile_frame *frames = profile__frames(p);
	struct stack_group *groups = NULL;
	size_t n = 0, m;
	int err;

	err = stack_group__collect(p, root_label, &groups, &n);
	if (err)
		return err;
	qsort_r(groups, n, sizeof(*groups), cmp_group, (void *)frames);
	for (size_t i = 0; i < n; i = m) {
		uint64_t count = 0;

		for (m = i; m < n && (m == i || cmp_text(frames, &groups[m], &groups[i]) == 0); m++)
			count += by_value ? groups[m].value : groups[m].count;
		put_line(out, frames, &groups[i], count);
	}
	if (ferror(out))
		err = -EIO;
	else if (fflush(out))
		err = -errno;
	free(groups);
	return err;
}

int folded__write(const struct profile *p, const char *root_label, FILE *out)
{
	return write_lines(p, root_label, 0, out);
}

int folded__write_values(const struct profile *p, const char *root_label, FILE *out)
{
	return write_lines(p, root_label, 1, out);
}
