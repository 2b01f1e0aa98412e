/* Helpers shared by the unit tests: see support.h. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tests/unit/support.h"

/* ---- files, commands, temp dirs ---------------------------------------- */

/* The command fmt and ap make, to free; NULL on allocation failure. */
static char *format_cmd(const char *fmt, va_list ap)
{
	char *s;

	return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

int support__run(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	cmd = format_cmd(fmt, ap);
	va_end(ap);
	if (!cmd)
		return -1;
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "%s: '%s' failed (%d)\n", program_invocation_short_name, cmd, rc);
	free(cmd);
	return rc;
}

char *support__read_cmd(const char *fmt, ...)
{
	char *cmd, *out = NULL, buf[4096];
	size_t len = 0, n;
	FILE *p, *o;
	va_list ap;

	va_start(ap, fmt);
	cmd = format_cmd(fmt, ap);
	va_end(ap);
	if (!cmd)
		return NULL;
	p = popen(cmd, "r");
	free(cmd);
	if (!p)
		return NULL;
	o = open_memstream(&out, &len);
	if (!o) {
		pclose(p);
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		fwrite(buf, 1, n, o);
	pclose(p);
	if (fclose(o) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

char *support__path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

int support__write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int err;

	if (!f)
		return -1;
	err = fputs(text, f) < 0;
	err |= fclose(f) != 0;
	return err ? -1 : 0;
}

void *support__read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc(n);
		if (buf && fread(buf, 1, n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = n;
	}
	fclose(f);
	return buf;
}

char *support__tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (asprintf(&dir, "%s/ignis-%s-XXXXXX", base && *base ? base : "/tmp", tag) < 0)
		return NULL;
	if (!mkdtemp(dir)) {
		free(dir);
		return NULL;
	}
	return dir;
}

void support__rmtree(const char *dir)
{
	if (dir)
		support__run("rm -rf '%s'", dir);
}

/* ---- programs built at test time --------------------------------------- */

char *support__build_program(const char *dir, const char *name, const char *source,
			     const char *flags)
{
	char *out = support__path(dir, name), *src = NULL;
	int err = -1;

	if (!out || asprintf(&src, "%s.c", out) < 0) {
		src = NULL;
		goto done;
	}
	if (support__write_text(src, source) ||
	    support__run("cc %s -o '%s' '%s'", flags, out, src))
		goto done;
	err = 0;
done:
	free(src);
	if (err) {
		free(out);
		out = NULL;
	}
	return out;
}

static const char prog_src[] =
	"volatile int sink;\n"
	"__attribute__((noinline, noreturn)) void die_slowly(void)\n"
	"{\n"
	"	for (;;)\n"
	"		sink++;\n"
	"}\n"
	"__attribute__((noinline)) void ends_in_call(int x)\n"
	"{\n"
	"	sink += x;\n"
	"	die_slowly();\n"
	"}\n"
	"__attribute__((noinline)) int hot_b(int x)\n"
	"{\n"
	"	int s = 1;\n"
	"	for (int i = 0; i < x; i++)\n"
	"		s ^= s * 31 + sink;\n"
	"	return s;\n"
	"}\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	(void)argv;\n"
	"	if (argc > 5)\n"
	"		ends_in_call(argc);\n"
	"	return hot_b(argc);\n"
	"}\n";

char *support__build_prog(const char *dir)
{
	return support__build_program(dir, "prog", prog_src,
				      "-O1 -fPIE -pie -fno-toplevel-reorder -fno-reorder-functions "
				      "-falign-functions=1 -Wl,--build-id");
}

/* ---- ELF files --------------------------------------------------------- */

Elf *support__elf_open(const char *path, int *fd)
{
	Elf *e;

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return NULL;
	e = elf_version(EV_CURRENT) == EV_NONE ? NULL : elf_begin(*fd, ELF_C_READ, NULL);
	if (!e) {
		close(*fd);
		*fd = -1;
	}
	return e;
}

void support__elf_close(Elf *e, int fd)
{
	if (e)
		elf_end(e);
	if (fd >= 0)
		close(fd);
}

/* The last line of "nm -S <opts>" that names the symbol. */
static int nm_symbol(const char *opts, const char *path, const char *name, uint64_t *vaddr,
		     uint64_t *size)
{
	char *out = support__read_cmd("nm -S %s '%s'", opts, path), *line, *save = NULL;
	unsigned long long a, sz;
	char sym[256], type;

	*vaddr = 0;
	if (!out)
		return -1;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%llx %llx %c %255s", &a, &sz, &type, sym) == 4 &&
		    strcmp(sym, name) == 0) {
			*vaddr = a;
			if (size)
				*size = sz;
		}
	}
	free(out);
	return *vaddr ? 0 : -1;
}

int support__symbol(const char *path, const char *name, uint64_t *vaddr, uint64_t *size)
{
	return nm_symbol("", path, name, vaddr, size);
}

int support__dynsym(const char *path, const char *name, uint64_t *vaddr, uint64_t *size)
{
	return nm_symbol("-D", path, name, vaddr, size);
}

int support__build_id(const char *path, char *out, size_t len)
{
	char *text = support__read_cmd("readelf -n '%s'", path), *line, *save = NULL, *p;

	out[0] = '\0';
	if (!text)
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		p = strstr(line, "Build ID: ");
		if (!p)
			continue;
		p += strlen("Build ID: ");
		p[strcspn(p, " \r\n")] = '\0';
		snprintf(out, len, "%s", p);
	}
	free(text);
	return out[0] ? 0 : -1;
}

char *support__system_debug_file(const char *name, char *id, size_t idlen)
{
	char *libc = support__read_cmd("awk '$6 ~ /\\/libc\\.so\\.6$/ {print $6; exit}' "
				       "/proc/%d/maps", (int)getpid());
	char lib[512], *p = NULL, *nl;

	if (!libc || !strchr(libc, '/')) {
		free(libc);
		return NULL;
	}
	nl = strchr(libc, '\n');
	if (nl)
		*nl = '\0';
	snprintf(lib, sizeof(lib), "%.*s/%s", (int)(strrchr(libc, '/') - libc), libc, name);
	free(libc);
	if (support__build_id(lib, id, idlen) != 0)
		return NULL;
	if (asprintf(&p, "/usr/lib/debug/.build-id/%.2s/%s.debug", id, id + 2) < 0)
		return NULL;
	if (access(p, R_OK) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

uint64_t support__vaddr_to_offset(const char *path, uint64_t vaddr)
{
	uint64_t off = UINT64_MAX;
	size_t i, phnum;
	GElf_Phdr ph;
	int fd;
	Elf *e = support__elf_open(path, &fd);

	if (!e)
		return UINT64_MAX;
	if (elf_getphdrnum(e, &phnum) == 0) {
		for (i = 0; i < phnum; i++) {
			if (!gelf_getphdr(e, i, &ph)) {
				off = UINT64_MAX;
				break;
			}
			if (ph.p_type == PT_LOAD && vaddr >= ph.p_vaddr &&
			    vaddr - ph.p_vaddr < ph.p_filesz)
				off = vaddr - ph.p_vaddr + ph.p_offset;
		}
	}
	support__elf_close(e, fd);
	return off;
}

/* ---- the executable segment as /proc/<pid>/maps shows it -------------- */

int support__exec_segment(const char *path, struct support_seg *out)
{
	size_t i, phnum;
	GElf_Phdr ph;
	int fd, found = -1;
	Elf *e = support__elf_open(path, &fd);

	if (!e)
		return -1;
	if (elf_getphdrnum(e, &phnum) == 0) {
		for (i = 0; i < phnum; i++) {
			if (!gelf_getphdr(e, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
				continue;
			out->vaddr = ph.p_vaddr;
			out->offset = ph.p_offset;
			out->memsz = ph.p_memsz;
			found = 0;
			break;
		}
	}
	support__elf_close(e, fd);
	return found;
}

uint64_t support__seg_file_offset(const struct support_seg *x, uint64_t vaddr)
{
	return vaddr - x->vaddr + x->offset;
}

uint64_t support__seg_start(const struct support_seg *x, uint64_t base)
{
	return base + (x->vaddr & ~(SUPPORT_PAGE - 1));
}

uint64_t support__seg_end(const struct support_seg *x, uint64_t base)
{
	return base + ((x->vaddr + x->memsz + SUPPORT_PAGE - 1) & ~(SUPPORT_PAGE - 1));
}

uint64_t support__seg_map_offset(const struct support_seg *x)
{
	return x->offset & ~(SUPPORT_PAGE - 1);
}

uint64_t support__seg_addr(const struct support_seg *x, uint64_t base, uint64_t vaddr)
{
	return support__seg_start(x, base) + support__seg_file_offset(x, vaddr) -
	       support__seg_map_offset(x);
}

char *support__seg_maps_line(const struct support_seg *x, uint64_t base,
			     const struct stat *st, const char *path)
{
	char *line;

	if (asprintf(&line, "%012llx-%012llx r-xp %08llx %02x:%02x %llu                 %s\n",
		     (unsigned long long)support__seg_start(x, base),
		     (unsigned long long)support__seg_end(x, base),
		     (unsigned long long)support__seg_map_offset(x), major(st->st_dev),
		     minor(st->st_dev), (unsigned long long)st->st_ino, path) < 0)
		return NULL;
	return line;
}

/* ---- fake /proc -------------------------------------------------------- */

int support__write_proc(const char *proc_root, int pid, const char *maps)
{
	char *dir = NULL, *path = NULL, *tmp = NULL, *root = NULL;
	int err = -1;

	if (asprintf(&dir, "%s/%d", proc_root, pid) < 0) {
		dir = NULL;
		goto out;
	}
	path = support__path(dir, "maps");
	tmp = support__path(dir, "maps.tmp");
	root = support__path(dir, "root");
	if (!path || !tmp || !root)
		goto out;
	if ((mkdir(dir, 0755) && errno != EEXIST) || (symlink("/", root) && errno != EEXIST))
		goto out;
	if (support__write_text(tmp, maps) || rename(tmp, path))
		goto out;
	err = 0;
out:
	free(dir);
	free(path);
	free(tmp);
	free(root);
	return err;
}

/* ---- profiles built by hand -------------------------------------------- */

int support__add_named_sample(struct profile *p, uint32_t mapping,
			      const struct profile_label *labels, size_t nlabels, uint64_t count,
			      bool root_first, size_t n, const char *const *names)
{
	struct profile_frame frames[SUPPORT_MAX_NAMES];

	if (n > SUPPORT_MAX_NAMES)
		return -1;
	memset(frames, 0, sizeof(frames));
	for (size_t i = 0; i < n; i++) {
		struct profile_frame *f = &frames[root_first ? n - 1 - i : i];

		f->function = names[i];
		f->mapping = mapping;
		f->address = 0x1000 + 0x10 * i;
	}
	return profile__add_sample(p, frames, n, labels, nlabels, count);
}

const struct profile_frame *support__frame(const struct profile *p,
					   const struct profile_sample *s, uint32_t i)
{
	const struct profile_frame *f = i < s->nframes ? profile__frame(p, s->frame_ids[i]) : NULL;

	if (!f) {
		fprintf(stderr, "support: sample has no frame %u\n", i);
		abort();
	}
	return f;
}
