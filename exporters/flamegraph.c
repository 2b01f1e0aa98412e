#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "base/utf8.h"
#include "exporters/flamegraph.h"
#include "exporters/stackgroup.h"

#define FONT_SIZE    12
#define FONT_WIDTH   0.59   /* average glyph width per point of Verdana */
#define FRAME_HEIGHT 16
#define XPAD         10
#define YPAD_TOP     (FONT_SIZE * 5)
#define YPAD_BOTTOM  (FONT_SIZE * 2 + 10)
#define KERNEL_FILE  "[kernel.kallsyms]"

enum kind { K_ROOT, K_PROCESS, K_USER, K_KERNEL, K_OTHER, K_NKINDS };

/* Class names the script and the tests know the kinds by. */
static const char *const kind_class[K_NKINDS] = { "r", "p", "u", "k", "o" };

struct node {
	struct hashmap_node hnode;
	const struct node *parent;    /* key, with name and kind */
	const char *name;             /* owned by the profile */
	enum kind kind;
	unsigned int depth;
	uint64_t count;
	uint64_t x;                   /* samples to the left of it in the graph */
	struct node *child, *next;    /* children, then sorted by name */
	int drawn;
};

#define NODES_PER_BLOCK 4096

struct block {
	struct block *next;
	size_t used;
	struct node nodes[NODES_PER_BLOCK];
};

struct graph {
	struct hashmap index;         /* (parent, name, kind) → node */
	struct block *blocks;
	struct node *root;
	size_t nnodes;
};

struct key {
	const struct node *parent;
	const char *name;
	enum kind kind;
};

static uint64_t key_hash(const struct key *k)
{
	uint64_t h = hash_bytes(HASH_SEED, &k->parent, sizeof(k->parent));

	h = hash_bytes(h, &k->kind, sizeof(k->kind));
	return hash_bytes(h, k->name, strlen(k->name));
}

static int node_eq(const struct hashmap_node *n, const void *key)
{
	const struct node *a = (const struct node *)n;
	const struct key *k = key;

	return a->parent == k->parent && a->kind == k->kind && strcmp(a->name, k->name) == 0;
}

static struct node *node_alloc(struct graph *g)
{
	struct block *b = g->blocks;

	if (!b || b->used == NODES_PER_BLOCK) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return NULL;
		b->next = g->blocks;
		g->blocks = b;
	}
	g->nnodes++;
	return &b->nodes[b->used++];
}

static struct node *child_of(struct graph *g, struct node *parent, const char *name,
			     enum kind kind)
{
	struct key k = { parent, name, kind };
	uint64_t h = key_hash(&k);
	struct node *n = (struct node *)hashmap__find(&g->index, h, &k, node_eq);

	if (n)
		return n;
	n = node_alloc(g);
	if (!n)
		return NULL;
	n->parent = parent;
	n->name = name;
	n->kind = kind;
	n->depth = parent ? parent->depth + 1 : 0;
	if (hashmap__insert(&g->index, &n->hnode, h))
		return NULL;  /* the node stays in its block, unused */
	if (parent) {
		n->next = parent->child;
		parent->child = n;
	}
	return n;
}

static void graph_free(struct graph *g)
{
	struct block *b, *next;

	hashmap__clear(&g->index);
	for (b = g->blocks; b; b = next) {
		next = b->next;
		free(b);
	}
}

static enum kind frame_kind(const struct profile *p, const struct profile_frame *f)
{
	const struct profile_mapping *m;

	if (strcmp(f->function, "[truncated]") == 0 ||
	    strncmp(f->function, "[unknown]", strlen("[unknown]")) == 0)
		return K_OTHER;
	if (f->mapping && f->mapping <= profile__mapping_count(p)) {
		m = profile__mapping(p, f->mapping);
		if (m && m->file && strcmp(m->file, KERNEL_FILE) == 0)
			return K_KERNEL;
	}
	return K_USER;
}

/* The samples merged into a tree: each stack from "all" through the root
 * label's frame, then root to leaf. Samples that draw alike are gathered
 * first (exporters/stackgroup.h), so the tree is walked once a group, not
 * once a sample. */
static int build(struct graph *g, const struct profile *p, const char *root_label)
{
	const struct profile_frame *frames = profile__frames(p);
	struct stack_group *groups = NULL;
	size_t ngroups = 0;
	uint64_t total = 0;
	int err;

	g->root = child_of(g, NULL, "all", K_ROOT);
	if (!g->root)
		return -ENOMEM;
	for (size_t i = 0; i < profile__sample_count(p); i++) {
		uint64_t count = profile__sample(p, i)->count;

		if (UINT64_MAX - total < count)
			return -EOVERFLOW;
		total += count;
	}
	err = stack_group__collect(p, root_label, &groups, &ngroups);
	if (err)
		return err;
	for (size_t i = 0; i < ngroups && !err; i++) {
		const struct stack_group *gr = &groups[i];
		const struct profile_sample *s = gr->sample;
		struct node *n = g->root;

		if (!gr->count)
			continue;
		g->root->count += gr->count;
		if (gr->root) {
			n = child_of(g, n, gr->root, K_PROCESS);
			if (!n) {
				err = -ENOMEM;
				break;
			}
			n->count += gr->count;
		}
		for (uint32_t j = s->nframes; j-- > 0;) {
			const struct profile_frame *f = &frames[s->frame_ids[j]];

			n = child_of(g, n, f->function, frame_kind(p, f));
			if (!n) {
				err = -ENOMEM;
				break;
			}
			n->count += gr->count;
		}
	}
	free(groups);
	return err;
}

static int cmp_node(const void *a, const void *b)
{
	const struct node *x = *(const struct node *const *)a, *y = *(const struct node *const *)b;
	int c = strcmp(x->name, y->name);

	return c ? c : (int)x->kind - (int)y->kind;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Orders every node's children by name, as flamegraph.pl does with its
 * sorted input, and places them left to right inside their parent.
 * Iterative: a stack may be as deep as the profile says. */
static int layout(struct graph *g)
{
	struct node **stack, **kids = NULL;
	size_t top = 0, cap = 0;
	int err = 0;

	stack = malloc(g->nnodes * sizeof(*stack));
	if (!stack)
		return -ENOMEM;
	stack[top++] = g->root;
	while (top) {
		struct node *n = stack[--top], *c;
		uint64_t x = n->x;
		size_t k = 0;

		for (c = n->child; c; c = c->next)
			k++;
		if (k > cap) {
			struct node **t = realloc(kids, k * sizeof(*kids));

			if (!t) {
				err = -ENOMEM;
				break;
			}
			kids = t;
			cap = k;
		}
		k = 0;
		for (c = n->child; c; c = c->next)
			kids[k++] = c;
		if (k > 1)
			qsort(kids, k, sizeof(*kids), cmp_node);
		n->child = NULL;
		for (size_t i = k; i-- > 0;) {
			kids[i]->next = n->child;
			n->child = kids[i];
		}
		for (size_t i = 0; i < k; i++) {
			kids[i]->x = x;
			x += kids[i]->count;
			stack[top++] = kids[i];
		}
	}
	free(kids);
	free(stack);
	return err;
}

/* Marks the frames to draw: at least min_count samples wide, and no more
 * than max_frames of them (the widest; a parent is never narrower than its
 * child, so what is kept hangs together). */
static int choose(struct graph *g, uint64_t min_count, size_t max_frames, size_t *drawn)
{
	uint64_t *counts = NULL, threshold = min_count;
	size_t n = 0;

	for (struct block *b = g->blocks; b; b = b->next)
		for (size_t i = 0; i < b->used; i++)
			n += b->nodes[i].count >= min_count && b->nodes[i].count > 0;
	if (n > max_frames) {
		size_t k = 0;

		counts = malloc(n * sizeof(*counts));
		if (!counts)
			return -ENOMEM;
		for (struct block *b = g->blocks; b; b = b->next)
			for (size_t i = 0; i < b->used; i++)
				if (b->nodes[i].count >= min_count && b->nodes[i].count > 0)
					counts[k++] = b->nodes[i].count;
		qsort(counts, n, sizeof(*counts), cmp_desc);
		threshold = counts[max_frames - 1];
		/* Ties at the cut would go over: keep only what is wider. */
		if (counts[max_frames] == threshold)
			threshold++;
		free(counts);
	}
	*drawn = 0;
	for (struct block *b = g->blocks; b; b = b->next)
		for (size_t i = 0; i < b->used; i++) {
			struct node *x = &b->nodes[i];

			x->drawn = x == g->root || (x->count >= threshold && x->count > 0);
			*drawn += x->drawn;
		}
	return 0;
}

/* ---- text ------------------------------------------------------------ */

/* The next character of s as XML 1.0 may hold it: *len bytes of s make it
 * up, and it is written as out (NUL-terminated, at most 7 bytes). Bytes
 * that are not UTF-8, and characters XML forbids (controls, U+FFFE,
 * U+FFFF), become U+FFFD. */
static void next_char(const char *s, size_t *len, char out[8])
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = utf8__seq_len(u, strnlen(s, 4));
	int bad = n == 0 || (n == 1 && u[0] < 0x20) ||
		  (n == 3 && u[0] == 0xef && u[1] == 0xbf && (u[2] == 0xbe || u[2] == 0xbf));

	*len = n ? n : 1;
	if (bad) {
		strcpy(out, "\xef\xbf\xbd");
		return;
	}
	switch (u[0]) {
	case '&': strcpy(out, "&amp;"); return;
	case '<': strcpy(out, "&lt;"); return;
	case '>': strcpy(out, "&gt;"); return;
	case '"': strcpy(out, "&quot;"); return;
	case '\'': strcpy(out, "&#39;"); return;
	}
	memcpy(out, s, n);
	out[n] = 0;
}

static size_t char_count(const char *s)
{
	size_t n = 0, len;
	char c[8];

	for (; *s; s += len, n++)
		next_char(s, &len, c);
	return n;
}

/* Writes s escaped, at most max_chars characters and about max_bytes
 * bytes of it; what is cut off becomes "..". */
static void put_text(FILE *f, const char *s, size_t max_chars, size_t max_bytes)
{
	size_t total = char_count(s), chars = 0, bytes = 0, len;
	int cut = total > max_chars;
	char c[8];

	if (cut)
		max_chars = max_chars > 2 ? max_chars - 2 : 0;
	for (; *s && chars < max_chars; s += len, chars++) {
		next_char(s, &len, c);
		if (bytes + strlen(c) > max_bytes) {
			cut = 1;
			break;
		}
		fputs(c, f);
		bytes += strlen(c);
	}
	if (cut)
		fputs("..", f);
}

/* 1234567 as "1,234,567", as flamegraph.pl writes counts. */
static void put_count(FILE *f, uint64_t v)
{
	char digits[24];
	int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);

	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			fputc(',', f);
		fputc(digits[i], f);
	}
}

/* ---- colours --------------------------------------------------------- */

/* Two numbers in [0, 1) from the name, so a function keeps its colour from
 * one graph to the next. */
static void name_shades(const char *name, double *a, double *b)
{
	uint64_t h = hash_bytes(HASH_SEED, name, strlen(name));

	*a = (double)(h & 0xffff) / 65536.0;
	*b = (double)((h >> 16) & 0xffff) / 65536.0;
}

static void put_fill(FILE *f, const struct node *n)
{
	double a, b;
	int r, g, bl;

	name_shades(n->name, &a, &b);
	switch (n->kind) {
	case K_KERNEL:   /* orange */
		r = 215 + 40 * a;
		g = 100 + 50 * b;
		bl = 0;
		break;
	case K_PROCESS:  /* yellow */
		r = 200 + 40 * a;
		g = 200 + 40 * a;
		bl = 50 + 30 * b;
		break;
	case K_OTHER:    /* grey */
		r = g = bl = 165 + 30 * a;
		break;
	case K_ROOT:
		r = 220;
		g = 180;
		bl = 110;
		break;
	default:         /* red */
		r = 205 + 50 * a;
		g = 50 + 80 * b;
		bl = g;
		break;
	}
	fprintf(f, "rgb(%d,%d,%d)", r, g, bl);
}

/* ---- the page -------------------------------------------------------- */

static const char style[] =
	"text { font-family: Verdana, sans-serif; font-size: 12px; fill: rgb(0,0,0); }\n"
	"#title { font-size: 17px; text-anchor: middle; }\n"
	"#subtitle { text-anchor: middle; fill: rgb(90,90,90); }\n"
	"#search, #unzoom { cursor: pointer; }\n"
	"#search { text-anchor: end; }\n"
	"#matched { text-anchor: end; }\n"
	"#search:hover, #unzoom:hover { fill: rgb(0,0,200); }\n"
	"#frames g { cursor: pointer; }\n"
	"#frames g:hover rect { stroke: rgb(0,0,0); stroke-width: 0.5; }\n"
	"#frames text { pointer-events: none; }\n"
	".hide { display: none; }\n"
	".parent { opacity: 0.5; }\n";

/* The page's behaviour, written for ignis after the conventions users know
 * from flamegraph.pl. Frames carry data-x (samples to their left) and
 * data-n (their samples), so zooming is exact integer arithmetic. */
static const char script[] =
	"\"use strict\";\n"
	"var frames = [], byDepth = {}, total = 1, plotw = 0, xpad = 0, fontw = 7;\n"
	"var details, matched, unzoomBtn, searchBtn, zoomed = null, searching = null;\n"
	"var kinds = { r: \"\", p: \" [process]\", u: \"\", k: \" [kernel]\", o: \" [unknown]\" };\n"
	"var HIGHLIGHT = \"rgb(230,0,230)\";\n"
	"function init(evt) {\n"
	"  var svg = document.documentElement;\n"
	"  total = parseFloat(svg.getAttribute(\"data-total\")) || 1;\n"
	"  plotw = parseFloat(svg.getAttribute(\"data-plotw\"));\n"
	"  xpad = parseFloat(svg.getAttribute(\"data-xpad\"));\n"
	"  fontw = parseFloat(svg.getAttribute(\"data-fontw\"));\n"
	"  details = document.getElementById(\"details\");\n"
	"  matched = document.getElementById(\"matched\");\n"
	"  unzoomBtn = document.getElementById(\"unzoom\");\n"
	"  searchBtn = document.getElementById(\"search\");\n"
	"  var gs = document.getElementById(\"frames\").getElementsByTagName(\"g\");\n"
	"  for (var i = 0; i < gs.length; i++) {\n"
	"    var g = gs[i], t = g.getElementsByTagName(\"title\")[0].textContent;\n"
	"    var f = { g: g, rect: g.getElementsByTagName(\"rect\")[0],\n"
	"              text: g.getElementsByTagName(\"text\")[0],\n"
	"              name: t.substring(0, t.lastIndexOf(\" (\")), label: t,\n"
	"              kind: g.getAttribute(\"class\").split(\" \")[1],\n"
	"              x: parseFloat(g.getAttribute(\"data-x\")),\n"
	"              n: parseFloat(g.getAttribute(\"data-n\")) };\n"
	"    f.y = parseFloat(f.rect.getAttribute(\"y\"));\n"
	"    f.fill = f.rect.getAttribute(\"fill\");\n"
	"    frames.push(f);\n"
	"    g.addEventListener(\"click\", clicked.bind(null, f));\n"
	"    g.addEventListener(\"mouseover\", hovered.bind(null, f));\n"
	"    g.addEventListener(\"mouseout\", function () { say(details, \" \"); });\n"
	"  }\n"
	"  unzoomBtn.addEventListener(\"click\", unzoom);\n"
	"  searchBtn.addEventListener(\"click\", function () {\n"
	"    if (searching !== null) clear(); else ask();\n"
	"  });\n"
	"  window.addEventListener(\"keydown\", function (e) {\n"
	"    if (e.key === \"F3\" || ((e.ctrlKey || e.metaKey) && e.key === \"f\")) {\n"
	"      e.preventDefault(); ask();\n"
	"    } else if (e.key === \"Escape\") { clear(); }\n"
	"  });\n"
	"  fromUrl();\n"
	"}\n"
	"function say(el, s) { el.textContent = s; }\n"
	"function hovered(f) { say(details, f.label + kinds[f.kind]); }\n"
	"function clicked(f) { if (f.kind === \"r\") unzoom(); else zoom(f); }\n"
	"function place(f, x, w) {\n"
	"  f.rect.setAttribute(\"x\", x.toFixed(2));\n"
	"  f.rect.setAttribute(\"width\", w.toFixed(2));\n"
	"  f.text.setAttribute(\"x\", (x + 3).toFixed(2));\n"
	"  var room = Math.floor((w - 6) / fontw);\n"
	"  if (room < 3) say(f.text, \"\");\n"
	"  else if (f.name.length <= room) say(f.text, f.name);\n"
	"  else say(f.text, f.name.substring(0, room - 2) + \"..\");\n"
	"}\n"
	"function show(f, on) { f.g.classList.toggle(\"hide\", !on); }\n"
	"function zoom(z) {\n"
	"  var lo = z.x, hi = z.x + z.n, scale = plotw / z.n;\n"
	"  zoomed = z;\n"
	"  frames.forEach(function (f) {\n"
	"    if (f.y > z.y && f.x <= lo && f.x + f.n >= hi) {\n"
	"      f.g.classList.add(\"parent\"); place(f, xpad, plotw); show(f, true);\n"
	"    } else if (f.y <= z.y && f.x >= lo && f.x + f.n <= hi) {\n"
	"      f.g.classList.remove(\"parent\");\n"
	"      place(f, xpad + (f.x - lo) * scale, f.n * scale);\n"
	"      show(f, f.n * scale >= 0.1);\n"
	"    } else { show(f, false); }\n"
	"  });\n"
	"  unzoomBtn.classList.remove(\"hide\");\n"
	"}\n"
	"function unzoom() {\n"
	"  zoomed = null;\n"
	"  var scale = plotw / total;\n"
	"  frames.forEach(function (f) {\n"
	"    f.g.classList.remove(\"parent\");\n"
	"    place(f, xpad + f.x * scale, f.n * scale); show(f, true);\n"
	"  });\n"
	"  unzoomBtn.classList.add(\"hide\");\n"
	"}\n"
	"function ask() {\n"
	"  var re = window.prompt(\"Search for (a regular expression):\", searching || \"\");\n"
	"  if (re) search(re);\n"
	"}\n"
	"/* The matched share counts a sample once, however many of its frames\n"
	" * match: the union of the matches' sample ranges. */\n"
	"function search(re) {\n"
	"  var rx;\n"
	"  try { rx = new RegExp(re); } catch (e) { say(matched, \"Bad regular expression\"); return -1; }\n"
	"  clear();\n"
	"  var spans = [];\n"
	"  frames.forEach(function (f) {\n"
	"    if (f.kind !== \"r\" && rx.test(f.name)) {\n"
	"      f.rect.setAttribute(\"fill\", HIGHLIGHT); f.g.classList.add(\"match\");\n"
	"      spans.push([f.x, f.x + f.n]);\n"
	"    }\n"
	"  });\n"
	"  spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });\n"
	"  var sum = 0, end = -1;\n"
	"  spans.forEach(function (s) {\n"
	"    if (s[0] >= end) { sum += s[1] - s[0]; end = s[1]; }\n"
	"    else if (s[1] > end) { sum += s[1] - end; end = s[1]; }\n"
	"  });\n"
	"  var pct = 100 * sum / total;\n"
	"  searching = re;\n"
	"  say(matched, \"Matched: \" + pct.toFixed(1) + \"%\");\n"
	"  say(searchBtn, \"Reset Search\");\n"
	"  return pct;\n"
	"}\n"
	"function clear() {\n"
	"  frames.forEach(function (f) {\n"
	"    f.rect.setAttribute(\"fill\", f.fill); f.g.classList.remove(\"match\");\n"
	"  });\n"
	"  searching = null;\n"
	"  say(matched, \" \");\n"
	"  say(searchBtn, \"Search\");\n"
	"}\n"
	"function zoomName(name) {\n"
	"  var best = null;\n"
	"  frames.forEach(function (f) { if (f.name === name && (!best || f.n > best.n)) best = f; });\n"
	"  if (best) zoom(best);\n"
	"  return best !== null;\n"
	"}\n"
	"function fromUrl() {\n"
	"  var h = window.location.hash.replace(/^#/, \"\");\n"
	"  if (!h) return;\n"
	"  h.split(\"&\").forEach(function (kv) {\n"
	"    var i = kv.indexOf(\"=\"), k = kv.substring(0, i), v;\n"
	"    try { v = decodeURIComponent(kv.substring(i + 1)); } catch (e) { return; }\n"
	"    if (i < 0 || !v) return;\n"
	"    if (k === \"s\") search(v);\n"
	"    else if (k === \"z\") zoomName(v);\n"
	"  });\n"
	"}\n"
	"window.ignisFlame = { search: search, zoom: zoomName, unzoom: unzoom, clear: clear };\n";

static void put_legend(FILE *f, double y)
{
	static const struct { const char *label, *fill; } items[] = {
		{ "user", "rgb(230,90,90)" },
		{ "kernel", "rgb(235,140,0)" },
		{ "process", "rgb(220,220,65)" },
		{ "unknown", "rgb(180,180,180)" },
	};
	double x = XPAD;

	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\" fill=\"%s\"/>"
			"<text x=\"%.0f\" y=\"%.0f\">%s</text>\n", x, y - 9, items[i].fill, x + 14, y,
			items[i].label);
		x += 14 + strlen(items[i].label) * FONT_SIZE * FONT_WIDTH + 16;
	}
}

/* Pre-order, children left to right, so a parent's <g> comes before its
 * children's and the page reads like the graph. */
static int put_frames(FILE *f, const struct graph *g, unsigned int height, double scale,
		      unsigned int *max_depth)
{
	const struct node **stack = malloc(g->nnodes * sizeof(*stack));
	size_t top = 0;

	if (!stack)
		return -ENOMEM;
	stack[top++] = g->root;
	while (top) {
		const struct node *n = stack[--top], *c;
		double x = XPAD + n->x * scale, w = n->count * scale;
		double y = height - YPAD_BOTTOM - (n->depth + 1.0) * FRAME_HEIGHT;
		size_t room = w > 6 ? (size_t)((w - 6) / (FONT_SIZE * FONT_WIDTH)) : 0;
		size_t k = 0;

		if (n->depth > *max_depth)
			*max_depth = n->depth;
		fprintf(f, "<g class=\"f %s\" data-x=\"%" PRIu64 "\" data-n=\"%" PRIu64 "\"><title>",
			kind_class[n->kind], n->x, n->count);
		put_text(f, n->name, SIZE_MAX, FLAMEGRAPH_NAME_BYTES);
		fputs(" (", f);
		put_count(f, n->count);
		fprintf(f, " sample%s, %.2f%%)</title><rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" "
			"height=\"%d\" rx=\"2\" ry=\"2\" fill=\"", n->count == 1 ? "" : "s",
			100.0 * n->count / (double)(g->root->count ? g->root->count : 1), x, y, w,
			FRAME_HEIGHT - 1);
		put_fill(f, n);
		fprintf(f, "\"/><text x=\"%.2f\" y=\"%.0f\">", x + 3, y + 11);
		if (room >= 3)
			put_text(f, n->name, room, SIZE_MAX);
		fputs("</text></g>\n", f);

		/* Children pushed right to left, so the leftmost comes out first. */
		k = top;
		for (c = n->child; c; c = c->next)
			if (c->drawn)
				stack[top++] = c;
		for (size_t i = k, j = top; i + 1 < j; i++, j--) {
			const struct node *t = stack[i];

			stack[i] = stack[j - 1];
			stack[j - 1] = t;
		}
	}
	free(stack);
	return 0;
}

int flamegraph__write(const struct profile *p, const struct flamegraph_opts *opts, FILE *out,
		      struct flamegraph_stats *stats)
{
	struct flamegraph_opts o = opts ? *opts : (struct flamegraph_opts){ 0 };
	struct graph g = { 0 };
	unsigned int height, depth = 0, max_depth = 0;
	uint64_t min_count;
	double plotw, scale;
	size_t drawn = 0;
	int err;

	if (!o.width)
		o.width = FLAMEGRAPH_WIDTH;
	if (!(o.min_width > 0))
		o.min_width = FLAMEGRAPH_MIN_WIDTH;
	if (!o.max_frames)
		o.max_frames = FLAMEGRAPH_MAX_FRAMES;
	if (!o.title)
		o.title = "Flame Graph";
	if (o.width < 200 || o.width > 100000)
		return -EINVAL;
	plotw = o.width - 2.0 * XPAD;

	err = build(&g, p, o.root_label);
	if (!err)
		err = layout(&g);
	if (err)
		goto cleanup;
	scale = plotw / (double)(g.root->count ? g.root->count : 1);
	/* The smallest whole count at least min_width pixels wide. */
	min_count = (uint64_t)(o.min_width / scale);
	if ((double)min_count * scale < o.min_width)
		min_count++;
	err = choose(&g, min_count, o.max_frames, &drawn);
	if (err)
		goto cleanup;
	for (struct block *b = g.blocks; b; b = b->next)
		for (size_t i = 0; i < b->used; i++)
			if (b->nodes[i].drawn && b->nodes[i].depth > depth)
				depth = b->nodes[i].depth;
	height = YPAD_TOP + (depth + 1) * FRAME_HEIGHT + YPAD_BOTTOM;

	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" "
		"height=\"%u\" viewBox=\"0 0 %u %u\" onload=\"init(evt)\" data-total=\"%" PRIu64
		"\" data-plotw=\"%.2f\" data-xpad=\"%d\" data-fontw=\"%.2f\">\n",
		o.width, height, o.width, height, g.root->count, plotw, XPAD,
		FONT_SIZE * FONT_WIDTH);
	fprintf(out, "<!-- ignis flame graph: %zu frames drawn, %zu left out as narrower than "
		"%.2f px -->\n", drawn, g.nnodes - drawn, o.min_width);
	fprintf(out, "<defs><linearGradient id=\"background\" x1=\"0\" y1=\"0\" x2=\"0\" "
		"y2=\"1\"><stop offset=\"5%%\" stop-color=\"#f4f4f4\"/><stop offset=\"95%%\" "
		"stop-color=\"#eeeeb8\"/></linearGradient></defs>\n");
	fprintf(out, "<style type=\"text/css\">\n%s</style>\n", style);
	fprintf(out, "<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n", script);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%u\" height=\"%u\" "
		"fill=\"url(#background)\"/>\n", o.width, height);
	fprintf(out, "<text id=\"title\" x=\"%.2f\" y=\"24\">", o.width / 2.0);
	put_text(out, o.title, 100, 1024);
	fprintf(out, "</text>\n<text id=\"subtitle\" x=\"%.2f\" y=\"44\">", o.width / 2.0);
	if (o.subtitle)
		put_text(out, o.subtitle, (size_t)(o.width * 0.5 / (FONT_SIZE * FONT_WIDTH)), 2048);
	else if (!g.root->count)
		fputs("no samples", out);
	fprintf(out, "</text>\n<text id=\"unzoom\" class=\"hide\" x=\"%d\" y=\"24\">"
		"Reset Zoom</text>\n<text id=\"search\" x=\"%d\" y=\"24\">Search</text>\n",
		XPAD, o.width - XPAD);
	put_legend(out, 44);
	fprintf(out, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n"
		"<text id=\"matched\" x=\"%d\" y=\"%d\"> </text>\n", XPAD, height - 17,
		o.width - XPAD, height - 17);
	fputs("<g id=\"frames\">\n", out);
	err = put_frames(out, &g, height, scale, &max_depth);
	if (err)
		goto cleanup;
	fputs("</g>\n</svg>\n", out);
	if (ferror(out) || fflush(out))
		err = -EIO;
	if (stats) {
		stats->samples = g.root->count;
		stats->frames = drawn;
		stats->omitted = g.nnodes - drawn;
		stats->depth = max_depth;
	}
cleanup:
	graph_free(&g);
	return err;
}
