// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tbprof: a TCG plugin that counts, for every translation block, how many
 * times it ran; at exit it writes "vaddr insns count" lines to out=FILE.
 * harness/profile/tbprof.py turns two such files into instructions per
 * call by kernel function (README.md, "vSMMU invalidation").
 *
 * Written against the version-4 plugin API (Debian's QEMU 10.0, whose
 * package ships no plugin header), so the few prototypes are declared here:
 *   gcc -O2 -shared -fPIC -o tbprof.so tbprof.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;

__attribute__((visibility("default"))) int qemu_plugin_version = 4;

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
	void (*cb)(unsigned int, void *), int flags, void *udata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id,
	void (*cb)(qemu_plugin_id_t, void *), void *udata);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);

struct tbrec {
	uint64_t vaddr;
	uint64_t count;
	uint32_t insns;
	struct tbrec *next;
};

static struct tbrec *recs;
static const char *out = "tbprof.out";

static void tb_exec(unsigned int vcpu, void *udata)
{
	struct tbrec *r = udata;

	__atomic_fetch_add(&r->count, 1, __ATOMIC_RELAXED);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	struct tbrec *r = calloc(1, sizeof(*r));

	r->vaddr = qemu_plugin_tb_vaddr(tb);
	r->insns = qemu_plugin_tb_n_insns(tb);
	/* translation is serialised: a plain list push is enough */
	r->next = recs;
	recs = r;
	qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, 0, r);
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
	FILE *f = fopen(out, "w");
	struct tbrec *r;

	if (!f)
		return;
	for (r = recs; r; r = r->next)
		if (r->count)
			fprintf(f, "%llx %u %llu\n", (unsigned long long)r->vaddr,
				r->insns, (unsigned long long)r->count);
	fclose(f);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
			int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			out = argv[i] + 4;
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
