/* Flame graph SVG: built from small profiles made by hand, then read back
 * by string search (the elements are written one frame per line, in a
 * fixed shape), checking geometry, text and colours. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/utf8.h"
#include "exporters/flamegraph.h"
#include "exporters/profile.h"
#include "tests/unit/support.h"

#define add(p, mapping, labels, nlabels, count, n, ...)                                     \
	assert_int_equal(support__add_named_sample(p, mapping, labels, nlabels, count, true, n, \
						   (const char *const[]){ __VA_ARGS__ }),         \
			 0)

#define PLOTW (FLAMEGRAPH_WIDTH - 20.0)

/* One frame as the SVG has it. */
struct box {
	char cls;              /* r, p, u, k, o */
	uint64_t dx, n;        /* data-x, data-n */
	char title[2048];
	char name[2048];       /* the title without " (N samples, P%)" */
	double x, y, w;
	int r, g, b;
	char text[1024];
};

static char *render(const struct profile *p, const struct flamegraph_opts *o,
		    struct flamegraph_stats *st, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	static const struct flamegraph_opts by_comm = { .root_label = "comm" };

	assert_non_null(f);
	assert_int_equal(flamegraph__write(p, o ? o : &by_comm, f, st), 0);
	assert_int_equal(fclose(f), 0);
	assert_non_null(buf);
	if (len)
		*len = n;
	return buf;
}

/* Copies what lies between from and to, starting at s; NULL when absent. */
static const char *between(const char *s, const char *from, const char *to, char *out,
			   size_t len)
{
	const char *a = strstr(s, from), *b;

	if (!a)
		return NULL;
	a += strlen(from);
	b = strstr(a, to);
	if (!b || (size_t)(b - a) >= len)
		return NULL;
	memcpy(out, a, b - a);
	out[b - a] = 0;
	return b + strlen(to);
}

/* All frames, in document order. */
static size_t parse(const char *svg, struct box *boxes, size_t max)
{
	const char *s = strstr(svg, "<g id=\"frames\">");
	size_t n = 0;
	char tmp[64];

	assert_non_null(s);
	while ((s = strstr(s, "<g class=\"f ")) && n < max) {
		struct box *b = &boxes[n++];
		const char *end = strstr(s, "</g>");
		char *paren;

		assert_non_null(end);
		memset(b, 0, sizeof(*b));
		b->cls = s[strlen("<g class=\"f ")];
		assert_non_null(between(s, "data-x=\"", "\"", tmp, sizeof(tmp)));
		b->dx = strtoull(tmp, NULL, 10);
		assert_non_null(between(s, "data-n=\"", "\"", tmp, sizeof(tmp)));
		b->n = strtoull(tmp, NULL, 10);
		assert_non_null(between(s, "<title>", "</title>", b->title, sizeof(b->title)));
		strcpy(b->name, b->title);
		paren = strrchr(b->name, '(');
		assert_non_null(paren);
		assert_true(paren > b->name && paren[-1] == ' ');
		paren[-1] = 0;
		assert_non_null(between(s, "<rect x=\"", "\"", tmp, sizeof(tmp)));
		b->x = strtod(tmp, NULL);
		assert_non_null(between(s, "\" y=\"", "\"", tmp, sizeof(tmp)));
		b->y = strtod(tmp, NULL);
		assert_non_null(between(s, "width=\"", "\"", tmp, sizeof(tmp)));
		b->w = strtod(tmp, NULL);
		assert_non_null(between(s, "fill=\"rgb(", ")\"", tmp, sizeof(tmp)));
		assert_int_equal(sscanf(tmp, "%d,%d,%d", &b->r, &b->g, &b->b), 3);
		assert_non_null(strstr(s, "<text"));
		assert_non_null(between(strstr(s, "<text"), "\">", "</text>", b->text,
					sizeof(b->text)));
		s = end;
	}
	return n;
}

static const struct box *find(const struct box *boxes, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(boxes[i].name, name) == 0)
			return &boxes[i];
	return NULL;
}

static size_t count_of(const char *s, const char *what)
{
	size_t n = 0;

	while ((s = strstr(s, what))) {
		n++;
		s += strlen(what);
	}
	return n;
}

/* app: main → {work → {hot ×30, warm ×10}, idle ×20}, and main → work →
 * syscall in the kernel ×5; total 65. */
static struct profile *sample_profile(void)
{
	static const struct profile_label app[] = { { .key = "comm", .str = "app" } };
	struct profile *p = profile__new(10000000, 0, 0);
	struct profile_mapping user = { .start = 0, .limit = 0x10000, .file = "/bin/app" };
	struct profile_mapping kern = { .start = 0xffff800000000000ULL, .limit = UINT64_MAX,
					.file = "[kernel.kallsyms]" };
	struct profile_frame mixed[4] = {
		{ .mapping = 2, .address = 0xffff800000001000ULL, .function = "do_syscall_64" },
		{ .mapping = 1, .address = 0x1200, .function = "syscall" },
		{ .mapping = 1, .address = 0x1100, .function = "work" },
		{ .mapping = 1, .address = 0x1000, .function = "main" },
	};

	assert_non_null(p);
	assert_int_equal(profile__add_mapping(p, &user), 1);
	assert_int_equal(profile__add_mapping(p, &kern), 2);
	add(p, 1, app, 1, 30, 3, "main", "work", "hot");
	add(p, 1, app, 1, 10, 3, "main", "work", "warm");
	add(p, 1, app, 1, 20, 2, "main", "idle");
	assert_int_equal(profile__add_sample(p, mixed, 4, app, 1, 5), 0);
	return p;
}

static void test_geometry(void **state)
{
	struct profile *p = sample_profile();
	struct flamegraph_stats st;
	static struct box b[32];
	const struct box *all, *proc, *main_, *work, *hot, *warm, *idle, *sys, *k;
	char *svg = render(p, NULL, &st, NULL);
	size_t n = parse(svg, b, 32);
	double scale = PLOTW / 65;

	(void)state;
	assert_int_equal(n, 9);
	assert_int_equal(st.frames, 9);
	assert_int_equal(st.omitted, 0);
	assert_int_equal(st.samples, 65);
	assert_int_equal(st.depth, 5);
	all = find(b, n, "all");
	proc = find(b, n, "app");
	main_ = find(b, n, "main");
	work = find(b, n, "work");
	hot = find(b, n, "hot");
	warm = find(b, n, "warm");
	idle = find(b, n, "idle");
	sys = find(b, n, "syscall");
	k = find(b, n, "do_syscall_64");
	assert_true(all && proc && main_ && work && hot && warm && idle && sys && k);
	/* The root first, the document in pre-order. */
	assert_ptr_equal(all, &b[0]);
	assert_ptr_equal(proc, &b[1]);
	assert_ptr_equal(main_, &b[2]);

	/* Widths proportional to counts; the root spans the plot. */
	for (size_t i = 0; i < n; i++) {
		assert_true(fabs(b[i].w - b[i].n * scale) < 0.006);
		assert_true(fabs(b[i].x - (10 + b[i].dx * scale)) < 0.006);
	}
	assert_true(fabs(all->w - PLOTW) < 0.006);
	assert_int_equal(hot->n, 30);
	assert_int_equal(warm->n, 10);
	assert_int_equal(work->n, 45);
	assert_int_equal(main_->n, 65);
	assert_true(fabs(hot->w / warm->w - 3.0) < 0.01);
	assert_string_equal(hot->title, "hot (30 samples, 46.15%)");
	assert_string_equal(all->title, "all (65 samples, 100.00%)");

	/* Root at the bottom, one frame height per level. */
	assert_true(all->y > proc->y && proc->y > main_->y && main_->y > work->y);
	assert_true(fabs((all->y - proc->y) - 16) < 0.01);
	assert_true(fabs(hot->y - warm->y) < 0.01 && fabs(hot->y - sys->y) < 0.01);
	assert_true(k->y < sys->y);

	/* Parents span their children, who sit side by side in name order:
	 * main → idle, work; work → hot, syscall, warm. */
	assert_true(work->x >= main_->x && work->x + work->w <= main_->x + main_->w + 0.01);
	assert_true(idle->x + idle->w <= work->x + 0.01);
	assert_true(fabs(hot->x - work->x) < 0.01);
	assert_true(hot->x + hot->w <= sys->x + 0.01 && sys->x + sys->w <= warm->x + 0.01);
	assert_true(fabs(warm->x + warm->w - (work->x + work->w)) < 0.02);
	assert_true(k->x >= sys->x && k->x + k->w <= sys->x + sys->w + 0.01);

	/* Names that fit are written on the box. */
	assert_string_equal(hot->text, "hot");
	free(svg);
	profile__free(p);
}

static void test_colours(void **state)
{
	static const struct profile_label app[] = { { .key = "comm", .str = "app" } };
	struct profile *p = sample_profile();
	static struct box b[32];
	const struct box *proc, *hot, *k, *unk, *trunc;
	char *svg;
	size_t n;

	(void)state;
	add(p, 1, app, 1, 4, 3, "[truncated]", "[unknown] 0xdead", "leafy");
	svg = render(p, NULL, NULL, NULL);
	n = parse(svg, b, 32);
	proc = find(b, n, "app");
	hot = find(b, n, "hot");
	k = find(b, n, "do_syscall_64");
	unk = find(b, n, "[unknown] 0xdead");
	trunc = find(b, n, "[truncated]");
	assert_true(proc && hot && k && unk && trunc);
	assert_int_equal(proc->cls, 'p');
	assert_int_equal(hot->cls, 'u');
	assert_int_equal(k->cls, 'k');
	assert_int_equal(unk->cls, 'o');
	assert_int_equal(trunc->cls, 'o');
	assert_int_equal(find(b, n, "leafy")->cls, 'u');
	/* user red (green = blue), kernel orange (no blue), unknown grey. */
	for (size_t i = 0; i < n; i++) {
		switch (b[i].cls) {
		case 'u':
			assert_true(b[i].r >= 205 && b[i].g == b[i].b && b[i].g <= 130);
			break;
		case 'k':
			assert_true(b[i].r >= 215 && b[i].g >= 100 && b[i].g <= 150 && b[i].b == 0);
			break;
		case 'o':
			assert_true(b[i].r == b[i].g && b[i].g == b[i].b);
			break;
		case 'p':
			assert_true(b[i].r == b[i].g && b[i].b < 100);
			break;
		}
	}
	/* A function keeps its colour wherever it appears. */
	free(svg);
	svg = render(p, NULL, NULL, NULL);
	assert_int_equal(parse(svg, b + 16, 16), n);
	assert_int_equal(find(b + 16, n, "hot")->r, hot->r);
	assert_int_equal(find(b + 16, n, "hot")->g, hot->g);
	free(svg);
	profile__free(p);
}

static void test_escaping(void **state)
{
	static const struct profile_label weird[] = { { .key = "comm", .str = "a<b>&\"c'" } };
	struct profile *p = profile__new(10000000, 0, 0);
	struct flamegraph_opts o = { .title = "T & <T>", .subtitle = "bad \xc3 utf8",
				     .root_label = "comm" };
	static struct box b[16];
	char *svg, *frames;
	size_t len, n;

	(void)state;
	assert_non_null(p);
	add(p, 0, weird, 1, 3, 2, "std::vector<int>::push_back(int&&)", "jit_\xff\xfe_bad\xc3");
	add(p, 0, weird, 1, 1, 1, "ctl\x01x\xef\xbf\xbe");
	svg = render(p, &o, NULL, &len);
	/* The whole file is UTF-8 whatever the names held. */
	assert_true(utf8__valid(svg, len));
	assert_non_null(strstr(svg, "<text id=\"title\" x=\"600.00\" y=\"24\">T &amp; &lt;T&gt;</text>"));
	assert_non_null(strstr(svg, "bad \xef\xbf\xbd utf8"));
	frames = strstr(svg, "<g id=\"frames\">");
	assert_non_null(frames);
	n = parse(svg, b, 16);
	assert_int_equal(n, 5);
	assert_non_null(find(b, n, "a&lt;b&gt;&amp;&quot;c&#39;"));
	assert_non_null(find(b, n, "std::vector&lt;int&gt;::push_back(int&amp;&amp;)"));
	/* Bytes that are not UTF-8 become U+FFFD, one each. */
	assert_non_null(find(b, n, "jit_\xef\xbf\xbd\xef\xbf\xbd_bad\xef\xbf\xbd"));
	/* So do characters XML forbids: a control, U+FFFE. */
	assert_non_null(find(b, n, "ctl\xef\xbf\xbdx\xef\xbf\xbd"));
	/* No raw markup characters from the names: every '<' opens a tag. */
	for (const char *s = frames; (s = strchr(s, '<')); s++)
		assert_true(s[1] == '/' || s[1] == 'g' || s[1] == 't' || s[1] == 'r');
	assert_int_equal(count_of(frames, "<g "), count_of(frames, "</g>"));
	free(svg);
	profile__free(p);
}

static void test_long_names(void **state)
{
	static const struct profile_label app[] = { { .key = "comm", .str = "app" } };
	struct profile *p = profile__new(10000000, 0, 0);
	static struct box b[8];
	char *name = malloc(5001), *svg;
	const struct box *x;
	size_t n, xi = SIZE_MAX;

	(void)state;
	assert_non_null(p);
	assert_non_null(name);
	memset(name, '&', 5000);
	name[5000] = 0;
	add(p, 0, app, 1, 1, 2, "main", name);
	svg = render(p, NULL, NULL, NULL);
	n = parse(svg, b, 8);
	for (size_t i = 0; i < n; i++)
		if (b[i].name[0] == '&')
			xi = i;
	assert_true(xi < n);
	x = &b[xi];
	/* The title holds at most FLAMEGRAPH_NAME_BYTES of it, then "..";
	 * the box's text what fits its width. */
	assert_true(strlen(x->name) <= FLAMEGRAPH_NAME_BYTES + 2);
	assert_true(strlen(x->name) >= FLAMEGRAPH_NAME_BYTES - 5);
	assert_memory_equal(x->name + strlen(x->name) - 2, "..", 2);
	assert_true(strlen(x->text) / 5 * 7.08 <= x->w);
	assert_memory_equal(x->text + strlen(x->text) - 2, "..", 2);
	free(svg);
	free(name);
	profile__free(p);
}

/* A profile of many thin stacks: what min_width and max_frames leave. */
static void test_bounds(void **state)
{
	static const struct profile_label app[] = { { .key = "comm", .str = "app" } };
	struct profile *p = profile__new(10000000, 0, 0);
	struct flamegraph_opts o = { .max_frames = 1000, .root_label = "comm" };
	struct flamegraph_stats st;
	static struct box b[1100];
	char name[32], *svg;
	size_t len, n;

	(void)state;
	assert_non_null(p);
	add(p, 0, app, 1, 1000000, 2, "main", "heavy");
	/* 30,000 leaves of 1 sample: 0.001 px each, under the 0.1 px default. */
	for (int i = 0; i < 30000; i++) {
		snprintf(name, sizeof(name), "thin_%05d", i);
		add(p, 0, app, 1, 1, 3, "main", "spread", name);
	}
	svg = render(p, NULL, &st, &len);
	assert_int_equal(st.frames, 5);  /* all, app, main, heavy, spread */
	assert_int_equal(st.omitted, 30000);
	assert_null(strstr(svg, "thin_"));
	free(svg);

	/* With no width limit to speak of, max_frames keeps the widest. */
	o.min_width = 1e-9;
	svg = render(p, &o, &st, &len);
	n = parse(svg, b, 1100);
	assert_int_equal(n, st.frames);
	assert_true(st.frames <= 1000);
	assert_true(len < 1000 * 2560 + 16384);
	assert_non_null(find(b, n, "heavy"));
	assert_non_null(find(b, n, "spread"));
	free(svg);

	/* Some thin ones fit under the cap: all ties at the cut are left out
	 * together, so 10 + 5 frames or fewer, never part of a tie. */
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "wider_%d", i);
		add(p, 0, app, 1, 2, 3, "main", "spread", name);
	}
	o.max_frames = 100;
	svg = render(p, &o, &st, &len);
	n = parse(svg, b, 1100);
	assert_int_equal(n, 15);
	assert_non_null(find(b, n, "wider_9"));
	free(svg);
	profile__free(p);
}

static void test_empty_and_bad_options(void **state)
{
	struct profile *p = profile__new(10000000, 0, 0);
	struct flamegraph_opts o = { .width = 50 };
	struct flamegraph_stats st;
	static struct box b[4];
	char *svg;
	FILE *f;

	(void)state;
	assert_non_null(p);
	svg = render(p, NULL, &st, NULL);
	assert_int_equal(parse(svg, b, 4), 1);
	assert_string_equal(b[0].name, "all");
	assert_int_equal(st.samples, 0);
	assert_non_null(strstr(svg, "no samples"));
	assert_non_null(strstr(svg, "</svg>\n"));
	free(svg);
	f = fopen("/dev/null", "w");
	assert_non_null(f);
	assert_int_equal(flamegraph__write(p, &o, f, NULL), -EINVAL);
	fclose(f);
	profile__free(p);
}

/* The page is self-contained: no URL it would load. */
static void test_self_contained(void **state)
{
	struct profile *p = sample_profile();
	char *svg = render(p, NULL, NULL, NULL);

	(void)state;
	assert_null(strstr(svg, "href"));
	assert_null(strstr(svg, "http://www.w3.org/1999/xlink"));
	assert_null(strstr(svg, "https://"));
	assert_null(strstr(svg, "src="));
	assert_null(strstr(svg, "@import"));
	/* The only http:// is the SVG namespace. */
	assert_int_equal(count_of(svg, "http://"), 1);
	assert_non_null(strstr(svg, "<script type=\"text/ecmascript\"><![CDATA["));
	assert_int_equal(count_of(svg, "]]>"), 1);
	free(svg);
	profile__free(p);
}

/* Samples are merged by what their boxes show: the same names at other
 * addresses or under other pids share boxes; the same name in the kernel
 * and in user code, or as the process and as a frame, does not; samples
 * of no count draw nothing. */
static void test_merged_samples(void **state)
{
	static const struct profile_label app[] = { { .key = "comm", .str = "app" } };
	static const struct profile_label app2[] = { { .key = "comm", .str = "app" },
						     { .key = "pid", .num = 2 } };
	struct profile *p = profile__new(1, 0, 0);
	struct profile_mapping user = { .start = 0, .limit = 0x10000, .file = "/bin/app" };
	struct profile_mapping kern = { .start = 0xffff800000000000ULL, .limit = UINT64_MAX,
					.file = "[kernel.kallsyms]" };
	const struct profile_frame a[] = { { .mapping = 1, .address = 0x10, .function = "f" },
					   { .mapping = 1, .address = 0x1, .function = "main" } };
	const struct profile_frame b[] = { { .mapping = 1, .address = 0x20, .function = "f" },
					   { .mapping = 1, .address = 0x2, .function = "main" } };
	const struct profile_frame k[] = { { .mapping = 2, .address = 0xffff800000000010ULL,
					     .function = "f" },
					   { .mapping = 1, .address = 0x1, .function = "main" } };
	const struct profile_frame zero[] = { { .mapping = 1, .address = 0x30, .function = "zero" },
					      { .mapping = 1, .address = 0x1, .function = "main" } };
	const struct profile_frame self[] = { { .mapping = 1, .address = 0x40, .function = "app" } };
	struct flamegraph_stats st;
	struct box boxes[16];
	const struct box *all, *proc = NULL, *fn_app = NULL, *fu = NULL, *fk = NULL;
	char *svg;
	size_t n;

	(void)state;
	assert_non_null(p);
	assert_int_equal(profile__add_mapping(p, &user), 1);
	assert_int_equal(profile__add_mapping(p, &kern), 2);
	assert_int_equal(profile__add_sample(p, a, 2, app, 1, 3), 0);
	assert_int_equal(profile__add_sample(p, b, 2, app2, 2, 4), 0);
	assert_int_equal(profile__add_sample(p, k, 2, app, 1, 5), 0);
	assert_int_equal(profile__add_sample(p, zero, 2, app, 1, 0), 0);
	assert_int_equal(profile__add_sample(p, self, 1, NULL, 0, 2), 0);
	svg = render(p, NULL, &st, NULL);
	n = parse(svg, boxes, 16);
	assert_int_equal(n, 6);
	assert_int_equal(st.frames, 6);
	assert_int_equal(st.samples, 14);
	all = find(boxes, n, "all");
	assert_non_null(all);
	assert_int_equal(all->n, 14);
	assert_null(find(boxes, n, "zero"));
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(boxes[i].name, "app"))
			*(boxes[i].cls == 'p' ? &proc : &fn_app) = &boxes[i];
		if (!strcmp(boxes[i].name, "f"))
			*(boxes[i].cls == 'k' ? &fk : &fu) = &boxes[i];
	}
	assert_non_null(proc);
	assert_int_equal(proc->n, 12);
	assert_non_null(fn_app);
	assert_int_equal(fn_app->cls, 'u');
	assert_int_equal(fn_app->n, 2);
	assert_int_equal(find(boxes, n, "main")->n, 12);
	assert_non_null(fu);
	assert_int_equal(fu->cls, 'u');
	assert_int_equal(fu->n, 7);
	assert_non_null(fk);
	assert_int_equal(fk->n, 5);
	free(svg);
	profile__free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_colours),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_empty_and_bad_options),
		cmocka_unit_test(test_self_contained),
		cmocka_unit_test(test_merged_samples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
