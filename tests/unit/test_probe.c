/* The sampler's hash maps that the agent fills allocate their entries as
 * they are added where the kernel allows it (Linux 6.1 and later), and the
 * object still loads: the real programs, loaded as root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sys/probe.h"
#include "sampler.skel.h"

static uint32_t map_flags(const struct bpf_map *m)
{
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info);

	assert_int_equal(bpf_obj_get_info_by_fd(bpf_map__fd(m), &info, &len), 0);
	return info.map_flags;
}

static void test_unallocated_hashes_where_the_kernel_takes_them(void **state)
{
	struct sampler_bpf *skel;
	char release[128];
	unsigned major, minor;
	bool expect;

	(void)state;
	if (geteuid() != 0)
		skip();
	probe__kernel_release("/proc", release, sizeof(release));
	assert_int_equal(probe__parse_kernel(release, &major, &minor), 0);
	expect = major > 6 || (major == 6 && minor >= 1);
	skel = sampler_bpf__open();
	assert_non_null(skel);
	bpf_map__set_max_entries(skel->maps.events, 64 << 10);
	probe__offcpu_autoload(skel, PROBE_OFFCPU_NONE);
	assert_int_equal(probe__unallocated_hashes(skel), 0);
	assert_int_equal(sampler_bpf__load(skel), 0);
	print_message("kernel %s: unw_tables flags %#x, target_pids %#x\n", release,
		      map_flags(skel->maps.unw_tables), map_flags(skel->maps.target_pids));
	assert_int_equal(!!(map_flags(skel->maps.unw_tables) & BPF_F_NO_PREALLOC), expect);
	assert_int_equal(!!(map_flags(skel->maps.target_pids) & BPF_F_NO_PREALLOC), expect);
	assert_int_equal(!!(map_flags(skel->maps.interp_procs) & BPF_F_NO_PREALLOC), expect);
	assert_int_equal(!!(map_flags(skel->maps.go_procs) & BPF_F_NO_PREALLOC), expect);
	/* The rows stay an array the agent maps (BPF_F_MMAPABLE). */
	assert_true(map_flags(skel->maps.unw_rows) & BPF_F_MMAPABLE);
	sampler_bpf__destroy(skel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unallocated_hashes_where_the_kernel_takes_them),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
