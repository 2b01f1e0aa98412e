#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "symbolizer/pycode.h"

#define NONE IGNIS_PY_NONE

/* Offsets of the fields the walker and the namer read, per minor version,
 * x86-64, release builds (not Py_DEBUG, not the free-threaded 3.13t).
 * Each row is offsetof() over CPython's own headers at that release
 * (Include/cpython/pystate.h, Include/internal/pycore_interp.h,
 * pycore_runtime.h, pycore_frame.h or Include/cpython/frameobject.h,
 * Include/cpython/code.h, Include/cpython/unicodeobject.h), printed by
 * scripts/python-offsets.c compiled against pyenv's v3.8.18, v3.9.18,
 * v3.10.13, v3.11.7, v3.12.1 and v3.13.0 headers; Debian bookworm's 3.11.2
 * headers give the same 3.11 row. */
static const struct pycode_layout layouts[] = {
	{
		/* v3.8.18: tstate->frame (PyFrameObject, f_lasti in bytes),
		 * co_lnotab; interp->tstate_head. */
		.minor = 8,
		.bpf = { .runtime_interpreters_head = 32, .interp_threads_head = 8,
			 .tstate_next = 8, .tstate_thread_id = 176, .tstate_frame = 24,
			 .cframe_current_frame = NONE, .frame_code = 32, .frame_previous = 24,
			 .frame_instr = 104, .frame_entry = NONE, .frame_owner = NONE,
			 .code_adaptive = NONE, .code_firstlineno = 40,
			 .cframe_previous = NONE },
		.code_name = 112, .code_qualname = NONE, .code_filename = 104,
		.code_linetable = 120, .code_firstlineno = 40,
		.unicode_length = 16, .unicode_state = 32, .ascii_data = 48, .compact_data = 72,
	},
	{
		/* v3.9.18: the same layout as 3.8. */
		.minor = 9,
		.bpf = { .runtime_interpreters_head = 32, .interp_threads_head = 8,
			 .tstate_next = 8, .tstate_thread_id = 176, .tstate_frame = 24,
			 .cframe_current_frame = NONE, .frame_code = 32, .frame_previous = 24,
			 .frame_instr = 104, .frame_entry = NONE, .frame_owner = NONE,
			 .code_adaptive = NONE, .code_firstlineno = 40,
			 .cframe_previous = NONE },
		.code_name = 112, .code_qualname = NONE, .code_filename = 104,
		.code_linetable = 120, .code_firstlineno = 40,
		.unicode_length = 16, .unicode_state = 32, .ascii_data = 48, .compact_data = 72,
	},
	{
		/* v3.10.13: f_lasti counts code units; co_linetable (PEP 626). */
		.minor = 10,
		.bpf = { .runtime_interpreters_head = 32, .interp_threads_head = 8,
			 .tstate_next = 8, .tstate_thread_id = 176, .tstate_frame = 24,
			 .cframe_current_frame = NONE, .frame_code = 32, .frame_previous = 24,
			 .frame_instr = 96, .frame_entry = NONE, .frame_owner = NONE,
			 .code_adaptive = NONE, .code_firstlineno = 40,
			 .cframe_previous = NONE },
		.code_name = 112, .code_qualname = NONE, .code_filename = 104,
		.code_linetable = 120, .code_firstlineno = 40,
		.unicode_length = 16, .unicode_state = 32, .ascii_data = 48, .compact_data = 72,
	},
	{
		/* v3.11.7: tstate->cframe->current_frame (_PyInterpreterFrame),
		 * prev_instr, is_entry; interp->threads.head; co_qualname and
		 * the location table. */
		.minor = 11,
		.bpf = { .runtime_interpreters_head = 40, .interp_threads_head = 16,
			 .tstate_next = 8, .tstate_thread_id = 152, .tstate_frame = 56,
			 .cframe_current_frame = 8, .frame_code = 32, .frame_previous = 48,
			 .frame_instr = 56, .frame_entry = 68, .frame_owner = 69,
			 .code_adaptive = 184, .code_firstlineno = 72,
			 .cframe_previous = 16 },
		.code_name = 120, .code_qualname = 128, .code_filename = 112,
		.code_linetable = 136, .code_firstlineno = 72,
		.unicode_length = 16, .unicode_state = 32, .ascii_data = 48, .compact_data = 72,
	},
	{
		/* v3.12.1: owner FRAME_OWNED_BY_CSTACK marks each eval call's
		 * entry frame; PyASCIIObject lost wstr. */
		.minor = 12,
		.bpf = { .runtime_interpreters_head = 40, .interp_threads_head = 72,
			 .tstate_next = 8, .tstate_thread_id = 136, .tstate_frame = 56,
			 .cframe_current_frame = 0, .frame_code = 0, .frame_previous = 8,
			 .frame_instr = 56, .frame_entry = NONE, .frame_owner = 70,
			 .code_adaptive = 192, .code_firstlineno = 68,
			 .cframe_previous = 8 },
		.code_name = 120, .code_qualname = 128, .code_filename = 112,
		.code_linetable = 136, .code_firstlineno = 68,
		.unicode_length = 16, .unicode_state = 32, .ascii_data = 40, .compact_data = 56,
	},
	{
		/* v3.13.0: tstate->current_frame, f_executable, instr_ptr;
		 * _Py_DebugOffsets at the start of _PyRuntime moved the rest. */
		.minor = 13,
		.bpf = { .runtime_interpreters_head = 632, .interp_threads_head = 7344,
			 .tstate_next = 8, .tstate_thread_id = 152, .tstate_frame = 72,
			 .cframe_current_frame = NONE, .frame_code = 0, .frame_previous = 8,
			 .frame_instr = 56, .frame_entry = NONE, .frame_owner = 70,
			 .code_adaptive = 200, .code_firstlineno = 68,
			 .cframe_previous = NONE },
		.code_name = 120, .code_qualname = 128, .code_filename = 112,
		.code_linetable = 136, .code_firstlineno = 68,
		.unicode_length = 16, .unicode_state = 32, .ascii_data = 40, .compact_data = 56,
	},
};

const struct pycode_layout *pycode__layout(int minor)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].minor == minor)
			return &layouts[i];
	return NULL;
}

static int rd_u64(pycode_read_fn rd, void *ctx, uint64_t addr, uint64_t *v)
{
	return rd(ctx, addr, v, sizeof(*v));
}

/* Appends code point cp to out as UTF-8 (out has room for 4 more). */
static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp >= 0xD800 && cp < 0xE000)
		cp = 0xFFFD;  /* a lone surrogate is no character */
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (cp > 0x10FFFF)
		cp = 0xFFFD;
	if (cp < 0x10000)
		return put_utf8(out, cp);
	out[0] = (char)(0xF0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* A str object as UTF-8: compact strings only (every identifier and file
 * name CPython makes), of at most PYCODE_MAX_STR characters. */
static int read_str(const struct pycode_layout *l, pycode_read_fn rd, void *ctx, uint64_t addr,
		    char **out)
{
	uint8_t raw[PYCODE_MAX_STR * 4];
	uint32_t state, kind;
	int64_t len;
	size_t n, o = 0;
	char *s;
	int err;

	*out = NULL;
	if (!addr)
		return -EINVAL;
	err = rd(ctx, addr + l->unicode_length, &len, sizeof(len));
	if (!err)
		err = rd(ctx, addr + l->unicode_state, &state, sizeof(state));
	if (err)
		return err;
	/* interned:2, kind:3, compact:1, ascii:1 in every supported version */
	kind = (state >> 2) & 7;
	if (!((state >> 5) & 1) || len < 0 || (kind != 1 && kind != 2 && kind != 4))
		return -EINVAL;
	n = len > PYCODE_MAX_STR ? PYCODE_MAX_STR : (size_t)len;
	if ((state >> 6) & 1) {
		if (kind != 1)
			return -EINVAL;
		err = rd(ctx, addr + l->ascii_data, raw, n);
	} else {
		err = rd(ctx, addr + l->compact_data, raw, n * kind);
	}
	if (err)
		return err;
	s = malloc(n * 4 + 1);
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint32_t cp;

		if (kind == 1) {
			cp = raw[i];
		} else if (kind == 2) {
			cp = raw[2 * i] | (uint32_t)raw[2 * i + 1] << 8;
		} else {
			memcpy(&cp, raw + 4 * i, 4);
		}
		if ((state >> 6) & 1 && cp >= 0x80) {
			free(s);
			return -EINVAL;  /* "ascii" that is not */
		}
		if (cp == 0)
			cp = '?';  /* names go into C strings */
		o += put_utf8(s + o, cp);
	}
	s[o] = 0;
	*out = s;
	return 0;
}

static int read_bytes(const struct pycode_layout *l, pycode_read_fn rd, void *ctx, uint64_t addr,
		      uint8_t **out, size_t *outlen)
{
	int64_t len;
	uint8_t *b;
	int err;

	(void)l;
	*out = NULL;
	*outlen = 0;
	if (!addr)
		return -EINVAL;
	/* PyBytesObject: ob_size at 16, ob_sval at 32 in every version. */
	err = rd(ctx, addr + 16, &len, sizeof(len));
	if (err)
		return err;
	if (len < 0 || len > PYCODE_MAX_LINETABLE)
		return -E2BIG;
	b = malloc(len ? (size_t)len : 1);
	if (!b)
		return -ENOMEM;
	err = rd(ctx, addr + 32, b, (size_t)len);
	if (err) {
		free(b);
		return err;
	}
	*out = b;
	*outlen = (size_t)len;
	return 0;
}

void pycode__clear(struct pycode *c)
{
	free(c->name);
	free(c->file);
	free(c->linetable);
	memset(c, 0, sizeof(*c));
}

int pycode__read(const struct pycode_layout *l, pycode_read_fn rd, void *ctx, uint64_t addr,
		 uint64_t type_addr, struct pycode *out)
{
	uint64_t type, name = 0, file = 0, table = 0;
	int32_t first;
	int err;

	memset(out, 0, sizeof(*out));
	if (type_addr) {
		err = rd_u64(rd, ctx, addr + 8, &type);  /* ob_type */
		if (err)
			return err;
		if (type != type_addr)
			return -EINVAL;
	}
	err = rd_u64(rd, ctx, addr + (l->code_qualname != NONE ? l->code_qualname : l->code_name),
		     &name);
	if (!err)
		err = rd_u64(rd, ctx, addr + l->code_filename, &file);
	if (!err)
		err = rd_u64(rd, ctx, addr + l->code_linetable, &table);
	if (!err)
		err = rd(ctx, addr + l->code_firstlineno, &first, sizeof(first));
	if (err)
		return err;
	out->firstlineno = first;
	err = read_str(l, rd, ctx, name, &out->name);
	if (!err)
		err = read_str(l, rd, ctx, file, &out->file);
	if (err) {
		pycode__clear(out);
		return err;
	}
	/* Lines are a bonus: a code object without a readable table keeps
	 * its name. */
	if (read_bytes(l, rd, ctx, table, &out->linetable, &out->linetable_len))
		out->linetable_len = 0;
	return 0;
}

/* co_lnotab (3.8, 3.9): (bytecode delta, signed line delta) pairs. */
/* Lines are added up in 64 bits: a table made up to overflow 32 cannot. */
static int64_t line_lnotab(const struct pycode *c, uint32_t addr)
{
	int64_t line = c->firstlineno;
	uint64_t a = 0;

	for (size_t i = 0; i + 1 < c->linetable_len; i += 2) {
		a += c->linetable[i];
		if (a > addr)
			break;
		line += (int8_t)c->linetable[i + 1];
	}
	return line;
}

/* co_linetable (3.10): (range length, signed line delta) pairs, -128 for
 * a range without a line (Objects/lnotab_notes.txt). */
static int64_t line_310(const struct pycode *c, uint32_t addr)
{
	int64_t line = c->firstlineno, computed = c->firstlineno;
	uint64_t start, end = 0;

	for (size_t i = 0; i + 1 < c->linetable_len; i += 2) {
		int8_t d = (int8_t)c->linetable[i + 1];

		start = end;
		end += c->linetable[i];
		if (d == -128) {
			line = 0;
		} else {
			computed += d;
			line = computed;
		}
		if (start <= addr && addr < end)
			return line;
	}
	return 0;
}

static bool varint(const uint8_t *t, size_t len, size_t *i, uint32_t *out)
{
	uint32_t v = 0;
	unsigned int shift = 0;
	uint8_t b;

	do {
		if (*i >= len || shift > 30)
			return false;
		b = t[(*i)++];
		v |= (uint32_t)(b & 63) << shift;
		shift += 6;
	} while (b & 64);
	*out = v;
	return true;
}

static bool svarint(const uint8_t *t, size_t len, size_t *i, int32_t *out)
{
	uint32_t v;

	if (!varint(t, len, i, &v))
		return false;
	*out = (v & 1) ? -(int32_t)(v >> 1) : (int32_t)(v >> 1);
	return true;
}

/* The location table (3.11+, Objects/locations.md): entries of a start
 * byte (1, code:4, length-1:3) and code-dependent varints; addresses in
 * code units. */
static int64_t line_311(const struct pycode *c, uint32_t addr)
{
	const uint8_t *t = c->linetable;
	size_t len = c->linetable_len, i = 0;
	int64_t line = c->firstlineno;
	int32_t delta;
	uint64_t unit = addr / 2, at = 0;
	uint32_t skip;

	while (i < len) {
		uint8_t b = t[i++];
		unsigned int code = (b >> 3) & 15, n = (b & 7) + 1;
		bool noline = false;

		if (!(b & 0x80))
			return 0;  /* not at an entry's start: a table we misread */
		delta = 0;
		switch (code) {
		case 15:
			noline = true;
			break;
		case 14:
			if (!svarint(t, len, &i, &delta) || !varint(t, len, &i, &skip) ||
			    !varint(t, len, &i, &skip) || !varint(t, len, &i, &skip))
				return 0;
			break;
		case 13:
			if (!svarint(t, len, &i, &delta))
				return 0;
			break;
		case 10:
		case 11:
		case 12:
			delta = (int32_t)code - 10;
			i += 2;
			break;
		default:
			i += 1;
			break;
		}
		if (!noline)
			line += delta;
		if (unit < at + n)
			return noline ? 0 : line;
		at += n;
	}
	return 0;
}

uint32_t pycode__line(const struct pycode_layout *l, const struct pycode *c, uint32_t off)
{
	int64_t line;

	/* An empty co_lnotab puts every instruction on the first line. */
	if (l->minor <= 9)
		line = line_lnotab(c, off);
	else if (!c->linetable_len)
		return 0;
	else if (l->minor == 10)
		line = line_310(c, off > UINT32_MAX / 2 ? UINT32_MAX : off * 2);
	else
		line = line_311(c, off);
	return line > 0 && line <= INT32_MAX ? (uint32_t)line : 0;
}
