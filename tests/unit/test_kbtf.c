/* The kernel's BTF cut for a BPF object (sys/kbtf.c): what a cut holds,
 * built from BTF written here; malformed BTF refused, never read past; and,
 * as root, every relocated instruction of the sampler's programs the same
 * against the cut as against the kernel's whole BTF. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/btf.h>

#include "sys/kbtf.h"
#include "sys/probe.h"
#include "sampler.skel.h"

/* A small "kernel": what a cut of {"task", "flavoured", "ops"} holds and
 * leaves out. */
static struct btf *small_kernel(void)
{
	struct btf *b = btf__new_empty();
	int u32, u64, inner, inner_td, arr, task, other, ptr, e, fl;

	assert_non_null(b);
	u32 = btf__add_int(b, "unsigned int", 4, 0);                       /* 1 */
	u64 = btf__add_int(b, "long long unsigned int", 8, 0);             /* 2 */
	inner = btf__add_struct(b, "inner", 8);                            /* 3 */
	assert_int_equal(btf__add_field(b, "a", u32, 0, 0), 0);
	assert_int_equal(btf__add_field(b, "bits", u32, 35, 3), 0);
	inner_td = btf__add_typedef(b, "inner_t", inner);                  /* 4 */
	arr = btf__add_array(b, u32, u64, 4);                              /* 5 */
	other = btf__add_struct(b, "unrelated", 8);                        /* 6 */
	assert_int_equal(btf__add_field(b, "x", u64, 0, 0), 0);
	ptr = btf__add_ptr(b, other);                                      /* 7 */
	task = btf__add_struct(b, "task", 48);                             /* 8 */
	assert_int_equal(btf__add_field(b, "flags", u32, 0, 0), 0);
	assert_int_equal(btf__add_field(b, "in", inner_td, 64, 0), 0);
	assert_int_equal(btf__add_field(b, "ptr", ptr, 128, 0), 0);
	assert_int_equal(btf__add_field(b, "arr", arr, 192, 0), 0);
	e = btf__add_enum(b, "ops", 4);                                    /* 9 */
	assert_int_equal(btf__add_enum_value(b, "OP_A", 1), 0);
	assert_int_equal(btf__add_enum_value(b, "OP_B", 7), 0);
	fl = btf__add_struct(b, "flavoured___v2", 4);                      /* 10 */
	assert_int_equal(btf__add_field(b, "f", u32, 0, 0), 0);
	assert_true(u32 > 0 && u64 > 0 && task > 0 && e > 0 && fl > 0);
	return b;
}

static const struct btf_type *find(const struct btf *b, const char *name, int kind)
{
	int id = btf__find_by_name_kind(b, name, kind);

	return id > 0 ? btf__type_by_id(b, id) : NULL;
}

static struct btf *cut_of(const struct btf *kernel, char *const *names, size_t n)
{
	uint32_t len;
	const void *raw = btf__raw_data(kernel, &len);
	void *out;
	size_t out_len;
	struct btf *cut;

	assert_int_equal(kbtf__cut_mem(raw, len, names, n, &out, &out_len), 0);
	cut = btf__new(out, out_len);
	assert_non_null(cut);
	free(out);
	return cut;
}

static void test_cut_holds_the_named_types_and_what_they_hold(void **state)
{
	char *names[] = { "task", "ops", "flavoured", "not_in_the_kernel" };
	struct btf *k = small_kernel(), *c = cut_of(k, names, 4);
	const struct btf_type *t, *in, *m;
	const struct btf_member *mm;

	(void)state;
	t = find(c, "task", BTF_KIND_STRUCT);
	assert_non_null(t);
	assert_int_equal(t->size, 48);
	assert_int_equal(btf_vlen(t), 4);
	mm = btf_members(t);
	assert_string_equal(btf__name_by_offset(c, mm[1].name_off), "in");
	assert_int_equal(btf_member_bit_offset(t, 1), 64);
	/* the typedef and the struct it names, bitfield and all */
	m = btf__type_by_id(c, mm[1].type);
	assert_true(btf_is_typedef(m));
	assert_string_equal(btf__name_by_offset(c, m->name_off), "inner_t");
	in = btf__type_by_id(c, m->type);
	assert_true(btf_is_struct(in) && btf_kflag(in));
	assert_int_equal(btf_member_bit_offset(in, 1), 35);
	assert_int_equal(btf_member_bitfield_size(in, 1), 3);
	/* the pointer leads to void: what it pointed to is not in the cut */
	m = btf__type_by_id(c, mm[2].type);
	assert_true(btf_is_ptr(m));
	assert_int_equal(m->type, 0);
	assert_null(find(c, "unrelated", BTF_KIND_STRUCT));
	/* the array, its element and index types */
	m = btf__type_by_id(c, mm[3].type);
	assert_true(btf_is_array(m));
	assert_int_equal(btf_array(m)->nelems, 4);
	assert_int_equal(btf__type_by_id(c, btf_array(m)->type)->size, 8);
	assert_int_equal(btf__type_by_id(c, btf_array(m)->index_type)->size, 4);
	/* the enum with its values; the kernel's flavoured name, as libbpf
	 * matches them */
	t = find(c, "ops", BTF_KIND_ENUM);
	assert_non_null(t);
	assert_int_equal(btf_vlen(t), 2);
	assert_string_equal(btf__name_by_offset(c, btf_enum(t)[1].name_off), "OP_B");
	assert_int_equal(btf_enum(t)[1].val, 7);
	assert_non_null(find(c, "flavoured___v2", BTF_KIND_STRUCT));
	btf__free(c);
	btf__free(k);
}

/* A kernel without any of the names: no cut (libbpf then reads the whole). */
static void test_no_cut_without_the_names(void **state)
{
	char *names[] = { "not_in_the_kernel", "inner___v2" };
	struct btf *k = small_kernel();
	uint32_t len;
	const void *raw = btf__raw_data(k, &len);
	void *out = (void *)1;
	size_t out_len = 1;

	(void)state;
	assert_int_equal(kbtf__cut_mem(raw, len, names, 2, &out, &out_len), -ENOENT);
	assert_null(out);
	assert_int_equal(out_len, 0);
	btf__free(k);
}

/* Every prefix of a BTF, and words of it overwritten: refused or cut,
 * never read past (the sanitizer run checks the reads). */
static void test_malformed_btf_is_refused(void **state)
{
	char *names[] = { "task", "ops" };
	struct btf *k = small_kernel();
	uint32_t len;
	const uint8_t *raw = btf__raw_data(k, &len);
	uint8_t *copy = malloc(len);
	struct btf_header *h = (struct btf_header *)copy;
	void *out;
	size_t out_len;
	unsigned refused = 0;

	(void)state;
	assert_non_null(copy);
	for (uint32_t n = 0; n < len; n++) {
		memcpy(copy, raw, n);
		if (kbtf__cut_mem(copy, n, names, 2, &out, &out_len))
			refused++;
		free(out);
	}
	/* a prefix holds no whole string section: all refused */
	assert_int_equal(refused, len);
	for (uint32_t at = 0; at + 4 <= len; at += 4) {
		uint32_t junk[] = { 0xffffffffu, 0x7fff0000u, 0x1f000000u | 0xffff, 1u << 31 };

		for (size_t j = 0; j < 4; j++) {
			memcpy(copy, raw, len);
			memcpy(copy + at, &junk[j], 4);
			if (!kbtf__cut_mem(copy, len, names, 2, &out, &out_len)) {
				struct btf *c = btf__new(out, out_len);

				/* what comes out is BTF libbpf reads */
				assert_non_null(c);
				btf__free(c);
			}
			free(out);
		}
	}
	/* the cases by name */
	memcpy(copy, raw, len);
	h->magic = 0x9feb;
	assert_int_equal(kbtf__cut_mem(copy, len, names, 2, &out, &out_len), -EINVAL);
	memcpy(copy, raw, len);
	h->str_len += 1;  /* past the end */
	assert_int_equal(kbtf__cut_mem(copy, len, names, 2, &out, &out_len), -EINVAL);
	memcpy(copy, raw, len);
	copy[len - 1] = 'x';  /* the last string not terminated */
	out = NULL;
	kbtf__cut_mem(copy, len, names, 2, &out, &out_len);
	free(out);
	assert_int_equal(kbtf__cut(__FILE__ ".none", names, 2, &out, &out_len), -ENOENT);
	assert_null(out);
	free(copy);
	btf__free(k);
}

static void test_names_of_the_sampler(void **state)
{
	size_t len, n;
	const void *obj = sampler_bpf__elf_bytes(&len);
	char **names;
	bool task = false, regs = false, mm = false;

	(void)state;
	assert_int_equal(kbtf__names(obj, len, &names, &n), 0);
	for (size_t i = 0; i < n; i++) {
		task |= !strcmp(names[i], "task_struct");
		regs |= !strcmp(names[i], "pt_regs");
		mm |= !strcmp(names[i], "mm_struct");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(names[i], names[j]);
		assert_null(strstr(names[i], "___"));
	}
	assert_true(task && regs && mm);
	kbtf__free_names(names, n);
	/* not an ELF */
	assert_int_equal(kbtf__names("nothing", 8, &names, &n), -EINVAL);
}

/* Loads the sampler with every program the kernel takes (the off-CPU ones
 * on the path it has), against the cut or the whole BTF. */
static struct sampler_bpf *load(bool use_cut)
{
	struct sampler_bpf *skel;
	bool cut = false;

	skel = use_cut ? probe__open_sampler(&cut) : sampler_bpf__open();
	assert_non_null(skel);
	assert_int_equal(cut, use_cut);
	bpf_map__set_max_entries(skel->maps.events, 64 << 10);
	skel->rodata->walk_tables = true;
	skel->rodata->stack_size = 0;
	probe__offcpu_autoload(skel, probe__offcpu_path());
	assert_int_equal(sampler_bpf__load(skel), 0);
	return skel;
}

static void test_relocations_against_the_cut_are_those_against_the_whole(void **state)
{
	struct sampler_bpf *a, *b;
	struct bpf_program *pa, *pb;
	unsigned progs = 0, insns = 0;
	struct timespec t0, t1;
	bool cut = true;
	size_t len;
	const void *obj = sampler_bpf__elf_bytes(&len);

	(void)state;
	if (geteuid() != 0 || access(KBTF_VMLINUX, R_OK))
		skip();
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	assert_non_null(kbtf__path(obj, len));
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	print_message("cut made in %.1f ms of CPU\n",
		      (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	a = load(true);
	b = load(false);
	pb = bpf_object__next_program(b->obj, NULL);
	bpf_object__for_each_program(pa, a->obj) {
		const struct bpf_insn *ia, *ib;
		size_t n;

		assert_non_null(pb);
		assert_string_equal(bpf_program__name(pa), bpf_program__name(pb));
		assert_int_equal(bpf_program__autoload(pa), bpf_program__autoload(pb));
		if (bpf_program__autoload(pa)) {
			n = bpf_program__insn_cnt(pa);
			assert_int_equal(n, bpf_program__insn_cnt(pb));
			ia = bpf_program__insns(pa);
			ib = bpf_program__insns(pb);
			for (size_t i = 0; i < n; i++) {
				struct bpf_insn x = ia[i], y = ib[i];

				/* a map's fd differs between the two loads */
				if (x.code == (BPF_LD | BPF_IMM | BPF_DW) && x.src_reg &&
				    x.src_reg == y.src_reg)
					x.imm = y.imm = 0;
				if (memcmp(&x, &y, sizeof(x)))
					fail_msg("%s: instruction %zu differs", bpf_program__name(pa),
						 i);
			}
			progs++;
			insns += n;
		}
		pb = bpf_object__next_program(b->obj, pb);
	}
	print_message("%u programs, %u instructions alike\n", progs, insns);
	assert_true(progs >= 4);
	sampler_bpf__destroy(a);
	sampler_bpf__destroy(b);
	/* after a failed load with it (sampling/sampler.c): never again */
	kbtf__disable();
	assert_null(kbtf__path(obj, len));
	a = probe__open_sampler(&cut);
	assert_non_null(a);
	assert_false(cut);
	sampler_bpf__destroy(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_holds_the_named_types_and_what_they_hold),
		cmocka_unit_test(test_no_cut_without_the_names),
		cmocka_unit_test(test_malformed_btf_is_refused),
		cmocka_unit_test(test_names_of_the_sampler),
		cmocka_unit_test(test_relocations_against_the_cut_are_those_against_the_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
