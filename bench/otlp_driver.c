/* Times the OTLP encoder (exporters/otlp.c) against the pprof encoder the
 * other destinations use, over the same synthetic interval: S series (one
 * profile each), N distinct stacks per series of depth D drawn from a pool
 * of F functions shared by every series (the shape of a node's interval:
 * the same libraries in many workloads), with pid/comm labels.
 *
 *   otlp_driver [--series S] [--stacks N] [--depth D] [--functions F] [--passes P]
 *
 * Prints, per encoder, the best of P passes in ms and the bytes it made
 * (uncompressed, and gzipped): the pprof figures are summed over the S
 * profiles, since every other destination sends one pprof per series. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "exporters/destination.h"
#include "exporters/otlp.h"
#include "exporters/pprof.h"
#include "exporters/profile.h"

static uint64_t arg(int argc, char **argv, const char *name, uint64_t def)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return strtoull(argv[i + 1], NULL, 10);
	return def;
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

int main(int argc, char **argv)
{
	uint64_t S = arg(argc, argv, "--series", 20), N = arg(argc, argv, "--stacks", 2000);
	uint64_t D = arg(argc, argv, "--depth", 24), F = arg(argc, argv, "--functions", 5000);
	uint64_t P = arg(argc, argv, "--passes", 5), seed = 88172645463325252ULL, samples = 0;
	const struct profile_mapping m = { .start = 0x400000, .limit = 0x900000,
					   .file = "/usr/lib/libbench.so", .build_id = "deadbeef" };
	struct profile **profs = calloc(S, sizeof(*profs));
	struct series *ser = calloc(S, sizeof(*ser));
	struct profile_frame *fr = calloc(D, sizeof(*fr));
	char (*names)[32] = calloc(F, sizeof(*names));
	double best_otlp = 1e30, best_pprof = 1e30;
	size_t otlp_bytes = 0, otlp_gz = 0, pprof_bytes = 0, pprof_gz = 0;

	if (!profs || !ser || !fr || !names)
		return 1;
	for (uint64_t f = 0; f < F; f++)
		snprintf(names[f], sizeof(names[f]), "function_%" PRIu64, f);
	for (uint64_t s = 0; s < S; s++) {
		struct profile_label l[2] = { { .key = "pid", .num = 1000 + (int64_t)s },
					      { .key = "comm", .str = "bench" } };

		profs[s] = profile__new(10000000, 1700000000000000000LL, 1000000000);
		if (!profs[s] || profile__add_mapping(profs[s], &m) != 1)
			return 1;
		for (uint64_t n = 0; n < N; n++) {
			for (uint64_t d = 0; d < D; d++) {
				uint64_t f = rnd(&seed) % F;

				fr[d] = (struct profile_frame){ .mapping = 1, .address = 0x400000 + f * 16,
								.function = names[f], .file = "bench.c",
								.line = (int64_t)f };
			}
			if (profile__add_sample(profs[s], fr, D, l, 2, 1 + rnd(&seed) % 5))
				return 1;
		}
		for (size_t i = 0; i < profile__sample_count(profs[s]); i++)
			samples += profile__sample(profs[s], i)->count;
		ser[s] = (struct series){ NULL, 0, profs[s] };
	}
	for (uint64_t p = 0; p < P; p++) {
		const char *asked[] = { "pid", "comm" };
		struct otlp_opts o = { .url = "http://x", .sample_labels = asked, .nsample_labels = 2 };
		struct interval iv = { 1700000000000000000LL, 1700000001000000000LL, ser, S };
		uint8_t **bodies, *gz;
		size_t *lens, nb, gzlen;
		int64_t t0 = clock__ns(CLOCK_MONOTONIC);
		double ms;

		if (otlp__encode(&o, &iv, &bodies, &lens, &nb, NULL) || nb != 1)
			return 1;
		ms = (double)(clock__ns(CLOCK_MONOTONIC) - t0) / 1e6;
		best_otlp = ms < best_otlp ? ms : best_otlp;
		otlp_bytes = lens[0];
		if (pprof__gzip(bodies[0], lens[0], &gz, &gzlen))
			return 1;
		otlp_gz = gzlen;
		free(gz);
		free(bodies[0]);
		free(bodies);
		free(lens);

		t0 = clock__ns(CLOCK_MONOTONIC);
		pprof_bytes = pprof_gz = 0;
		for (uint64_t s = 0; s < S; s++) {
			uint8_t *raw;
			size_t len;

			if (pprof__encode(profs[s], &pprof_style_default, &raw, &len))
				return 1;
			pprof_bytes += len;
			if (p + 1 == P) {
				if (pprof__gzip(raw, len, &gz, &gzlen))
					return 1;
				pprof_gz += gzlen;
				free(gz);
			}
			free(raw);
		}
		ms = (double)(clock__ns(CLOCK_MONOTONIC) - t0) / 1e6;
		best_pprof = ms < best_pprof ? ms : best_pprof;
	}
	printf("interval: %" PRIu64 " series x %" PRIu64 " stacks of %" PRIu64 " frames from %"
	       PRIu64 " functions, %" PRIu64 " samples; best of %" PRIu64 " passes\n",
	       S, N, D, F, samples, P);
	printf("%-28s %10s %14s %14s\n", "encoder", "ms", "bytes", "gzipped");
	printf("%-28s %10.2f %14zu %14zu\n", "otlp (one request)", best_otlp, otlp_bytes, otlp_gz);
	printf("%-28s %10.2f %14zu %14zu\n", "pprof (one per series)", best_pprof, pprof_bytes,
	       pprof_gz);
	for (uint64_t s = 0; s < S; s++)
		profile__free(profs[s]);
	free(profs);
	free(ser);
	free(fr);
	free(names);
	return 0;
}
