/* Times the three writers `ignis record` runs at the end of a recording
 * (pprof__encode, pprof__gzip, folded__write, flamegraph__write) on a real
 * profile: it reads a profile.pb.gz, rebuilds the neutral profile from it
 * through exporters/profile.h (mappings, frames with their inline chains,
 * the comm/pid labels, counts and values), then runs each writer P times.
 *
 *   encode_driver PROFILE.pb.gz [--passes P]
 *
 * Prints per writer the fastest and the median pass in process CPU
 * (CLOCK_PROCESS_CPUTIME_ID), the bytes written and a CRC-32 of them, so
 * two builds can be shown to write the same bytes. The rebuild itself (the
 * profile__add_mapping and profile__add_sample_value calls) is timed the
 * same way over P passes, each on a trimmed heap as the agent's flushes
 * are (it calls malloc_trim after each), and the heap a built profile holds
 * is printed (mallinfo2 uordblks + hblkhd, before and after one rebuild). */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "base/array.h"
#include "base/heap.h"
#include "exporters/flamegraph.h"
#include "exporters/folded.h"
#include "exporters/pprof.h"
#include "exporters/profile.h"
#include "proto/profile.pb-c.h"

enum { W_ENCODE, W_GZIP, W_FOLDED, W_FLAME, W_N };
static const char *const writer_name[W_N] = { "pprof encode", "pprof gzip", "folded",
					      "flamegraph" };

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The whole file, gunzipped. */
static int read_gz(const char *path, uint8_t **out, size_t *out_len)
{
	gzFile gz = gzopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int n;

	if (!gz)
		return -errno ? -errno : -ENOMEM;
	do {
		if (ARRAY_RESERVE_FROM(buf, &cap, len + 65536, 1 << 20)) {
			free(buf);
			gzclose(gz);
			return -ENOMEM;
		}
		n = gzread(gz, buf + len, (unsigned)(cap - len));
		if (n > 0)
			len += (size_t)n;
	} while (n > 0);
	gzclose(gz);
	if (n < 0) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

static const char *str_at(const Perftools__Profiles__Profile *pp, int64_t i)
{
	return i > 0 && (size_t)i < pp->n_string_table ? pp->string_table[i] : NULL;
}

/* The neutral profile pprof__encode would have made pp from: a location's
 * lines are its frames, innermost first, all but the last inlined. */
static struct profile *rebuild(const Perftools__Profiles__Profile *pp)
{
	struct profile *p = profile__new((uint64_t)pp->period, pp->time_nanos, pp->duration_nanos);
	struct profile_frame *frames = NULL;
	struct profile_label *labels = NULL;
	size_t cap = 0, labels_cap = 0;
	int err = 0;

	if (!p)
		return NULL;
	for (size_t i = 0; i < pp->n_mapping && !err; i++) {
		const Perftools__Profiles__Mapping *m = pp->mapping[i];
		struct profile_mapping pm = {
			.start = m->memory_start, .limit = m->memory_limit, .offset = m->file_offset,
			.file = str_at(pp, m->filename), .build_id = str_at(pp, m->build_id),
		};

		if (m->id != i + 1) {
			fprintf(stderr, "encode_driver: mapping ids are not 1..n\n");
			err = -EINVAL;
		} else if (profile__add_mapping(p, &pm) < 0) {
			err = -ENOMEM;
		}
	}
	for (size_t i = 0; i < pp->n_sample && !err; i++) {
		const Perftools__Profiles__Sample *s = pp->sample[i];
		size_t n = 0;

		err = ARRAY_RESERVE(labels, &labels_cap, s->n_label);
		if (err)
			break;
		for (size_t j = 0; j < s->n_location_id && !err; j++) {
			uint64_t id = s->location_id[j];
			const Perftools__Profiles__Location *l;

			if (id == 0 || id > pp->n_location || pp->location[id - 1]->id != id) {
				fprintf(stderr, "encode_driver: location ids are not 1..n\n");
				err = -EINVAL;
				break;
			}
			l = pp->location[id - 1];
			for (size_t k = 0; k < l->n_line; k++) {
				const Perftools__Profiles__Line *ln = l->line[k];
				const Perftools__Profiles__Function *fn;

				if (ln->function_id == 0 || ln->function_id > pp->n_function) {
					err = -EINVAL;
					break;
				}
				fn = pp->function[ln->function_id - 1];
				err = ARRAY_RESERVE(frames, &cap, n + 1);
				if (err)
					break;
				frames[n++] = (struct profile_frame){
					.mapping = (uint32_t)l->mapping_id,
					.address = l->address,
					.function = str_at(pp, fn->name) ? str_at(pp, fn->name) : "",
					.system_name = str_at(pp, fn->system_name),
					.file = str_at(pp, fn->filename),
					.line = ln->line,
					.start_line = fn->start_line,
					.inlined = k + 1 < l->n_line,
				};
			}
		}
		for (size_t j = 0; j < s->n_label; j++) {
			const Perftools__Profiles__Label *l = s->label[j];

			labels[j] = (struct profile_label){
				.key = str_at(pp, l->key) ? str_at(pp, l->key) : "",
				.str = str_at(pp, l->str),
				.num = l->num,
			};
		}
		if (!err && s->n_value != 2) {
			fprintf(stderr, "encode_driver: samples need count and cpu values\n");
			err = -EINVAL;
		}
		if (!err)
			err = profile__add_sample_value(p, frames, n, labels, s->n_label,
							(uint64_t)s->value[0], (uint64_t)s->value[1]);
	}
	free(labels);
	free(frames);
	if (err) {
		fprintf(stderr, "encode_driver: cannot rebuild the profile: %s\n", strerror(-err));
		profile__free(p);
		return NULL;
	}
	return p;
}

static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* P rebuilds of pp, each timed and freed; the last one is kept in *out.
 * The heap is trimmed before each so that each pays for the pages it
 * touches, as a flush of the agent does. */
static int time_rebuild(const Perftools__Profiles__Profile *pp, size_t passes, double *ms,
			size_t *heap, struct profile **out)
{
	struct profile *p = NULL;

	for (size_t i = 0; i < passes; i++) {
		size_t before;
		double t0;

		profile__free(p);
		malloc_trim(0);
		before = heap_used();
		t0 = cpu_ms();
		p = rebuild(pp);
		ms[i] = cpu_ms() - t0;
		if (!p)
			return -EINVAL;
		*heap = heap_used() - before;
	}
	*out = p;
	return 0;
}

/* One pass of writer w; its output's length and CRC-32 in *len and *crc. */
static int run(int w, const struct profile *p, double *ms, size_t *len, uint32_t *crc)
{
	const struct flamegraph_opts fo = {
		.title = "Flame Graph",
		.subtitle = "encode_driver: 20 s, all processes, 999 Hz",
		.root_label = "comm",
	};
	uint8_t *raw = NULL, *gz = NULL;
	size_t raw_len = 0, gz_len = 0;
	char *text = NULL;
	size_t text_len = 0;
	FILE *f = NULL;
	double t0;
	int err;

	/* gzip's input is made outside its timing. */
	if (w == W_GZIP) {
		err = pprof__encode(p, &pprof_style_default, &raw, &raw_len);
		if (err)
			return err;
	}
	if (w == W_FOLDED || w == W_FLAME) {
		f = open_memstream(&text, &text_len);
		if (!f)
			return -errno;
	}
	t0 = cpu_ms();
	switch (w) {
	case W_ENCODE:
		err = pprof__encode(p, &pprof_style_default, &raw, &raw_len);
		break;
	case W_GZIP:
		err = pprof__gzip(raw, raw_len, &gz, &gz_len);
		break;
	case W_FOLDED:
		err = folded__write(p, "comm", f);
		break;
	default:
		err = flamegraph__write(p, &fo, f, NULL);
		break;
	}
	*ms = cpu_ms() - t0;
	if (f && fclose(f) && !err)
		err = -ENOMEM;
	if (!err) {
		const uint8_t *out = w == W_ENCODE ? raw : w == W_GZIP ? gz : (uint8_t *)text;

		*len = w == W_ENCODE ? raw_len : w == W_GZIP ? gz_len : text_len;
		*crc = (uint32_t)crc32(0, out, (uInt)*len);
	}
	free(text);
	free(gz);
	free(raw);
	return err;
}

int main(int argc, char **argv)
{
	Perftools__Profiles__Profile *pp;
	struct profile *p;
	const char *path = NULL;
	uint8_t *buf;
	size_t buf_len, passes = 20;
	uint64_t samples = 0;
	int err;

	heap__keep_freed();
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--passes") && i + 1 < argc)
			passes = strtoul(argv[++i], NULL, 10);
		else
			path = argv[i];
	}
	if (!path || !passes) {
		fprintf(stderr, "usage: encode_driver PROFILE.pb.gz [--passes P]\n");
		return 2;
	}
	err = read_gz(path, &buf, &buf_len);
	if (err) {
		fprintf(stderr, "encode_driver: %s: %s\n", path, strerror(-err));
		return 1;
	}
	pp = perftools__profiles__profile__unpack(NULL, buf_len, buf);
	free(buf);
	if (!pp) {
		fprintf(stderr, "encode_driver: %s: not a pprof profile\n", path);
		return 1;
	}
	double *ms = calloc(passes, sizeof(*ms));
	size_t heap = 0;

	if (!ms)
		return 1;
	err = time_rebuild(pp, passes, ms, &heap, &p);
	perftools__profiles__profile__free_unpacked(pp, NULL);
	if (err)
		return 1;
	for (size_t i = 0; i < profile__sample_count(p); i++)
		samples += profile__sample(p, i)->count;
	printf("%s: %" PRIu64 " samples, %zu distinct stacks and label sets, %zu passes\n", path,
	       samples, profile__sample_count(p), passes);
	printf("%-14s %9s %9s %10s %10s\n", "writer", "best ms", "median ms", "bytes", "crc32");
	qsort(ms, passes, sizeof(*ms), cmp_double);
	printf("%-14s %9.3f %9.3f %10zu   (heap bytes held by the built profile)\n",
	       "profile build", ms[0], ms[passes / 2], heap);
	for (int w = 0; w < W_N; w++) {
		size_t len = 0, first_len = 0;
		uint32_t crc = 0, first_crc = 0;

		for (size_t i = 0; i < passes; i++) {
			err = run(w, p, &ms[i], &len, &crc);
			if (err) {
				fprintf(stderr, "encode_driver: %s: %s\n", writer_name[w],
					strerror(-err));
				return 1;
			}
			if (i == 0) {
				first_len = len;
				first_crc = crc;
			} else if (len != first_len || crc != first_crc) {
				fprintf(stderr, "encode_driver: %s: output differs between passes\n",
					writer_name[w]);
				return 1;
			}
		}
		qsort(ms, passes, sizeof(*ms), cmp_double);
		printf("%-14s %9.3f %9.3f %10zu   %08" PRIx32 "\n", writer_name[w], ms[0],
		       ms[passes / 2], len, crc);
	}
	free(ms);
	profile__free(p);
	return 0;
}
