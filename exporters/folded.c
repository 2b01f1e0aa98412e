#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/folded.h"

struct line {
	char *stack;
	uint64_t count;
};

/* ';' separates frames and the last ' ' the count, so a name must not
 * hold a ';' (spaces are fine). */
static void put_name(FILE *f, const char *s)
{
	for (size_t n; *s; s += n) {
		n = strcspn(s, ";");
		fwrite(s, 1, n, f);
		if (s[n] == ';') {
			fputc(':', f);
			n++;
		}
	}
}

static int format(const struct profile_sample *s, const char *root_label, char **out)
{
	size_t len = 0;
	FILE *f = open_memstream(out, &len);
	int first = 1;

	if (!f)
		return -errno;
	for (uint32_t i = 0; i < s->nlabels; i++) {
		if (s->labels[i].str && strcmp(s->labels[i].key, root_label) == 0) {
			put_name(f, s->labels[i].str);
			first = 0;
			break;
		}
	}
	for (uint32_t i = s->nframes; i-- > 0;) {
		if (!first)
			fputc(';', f);
		put_name(f, s->frames[i].function);
		first = 0;
	}
	if (fclose(f))
		return -ENOMEM;
	return 0;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->stack, ((const struct line *)b)->stack);
}

static int write_lines(const struct profile *p, const char *root_label, int by_value, FILE *out)
{
	size_t n = profile__sample_count(p), m = 0;
	struct line *lines = calloc(n ? n : 1, sizeof(*lines));
	int err = 0;

	if (!lines)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct profile_sample *s = profile__sample(p, i);

		err = format(s, root_label, &lines[i].stack);
		if (err)
			goto cleanup;
		lines[i].count = by_value ? s->value : s->count;
	}
	qsort(lines, n, sizeof(*lines), cmp_line);
	for (size_t i = 0; i < n; i = m) {
		uint64_t count = 0;

		for (m = i; m < n && strcmp(lines[m].stack, lines[i].stack) == 0; m++)
			count += lines[m].count;
		if (fprintf(out, "%s %" PRIu64 "\n", lines[i].stack, count) < 0) {
			err = -EIO;
			goto cleanup;
		}
	}
	if (fflush(out))
		err = -errno;
cleanup:
	for (size_t i = 0; i < n; i++)
		free(lines[i].stack);
	free(lines);
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
