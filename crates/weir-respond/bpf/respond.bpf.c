// SPDX-License-Identifier: GPL-2.0
// Weir response, kernel side: network isolation and destination blocks
// (cgroup connect/sendmsg hooks) and in-kernel enforcement of exec
// predicates (a BTF tracepoint on sched_process_exec that sends SIGKILL).
//
// Map value layouts are mirrored in src/kernel.rs; change both together.
// vmlinux.h is shared with the sensor (crates/weir-sensor/bpf).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define SIGKILL_ 9
#define MAX_PREDS 64
#define MAX_NEEDLES 32
#define NEEDLE_MAX 64
#define ARGV_WINDOW 1024
#define KEY_LEN 256

#define DENY_ISOLATION 0
#define DENY_BLOCK 1
#define DENY_KINDS 2

// Set by the loader before the object is loaded.
const volatile u32 self_tgid = 0;

// ---------------------------------------------------------------- network

// An IPv6 address (IPv4 as ::ffff:a.b.c.d) and a port in host order; port 0
// means every port of the address.
struct addr_key {
	u8 addr[16];
	u16 port;
	u16 pad;
};

// Written by userspace whenever isolation or the block list changes, so a
// connect/send on a host with neither active costs one array lookup.
struct settings {
	u32 isolated;
	u32 blocks; // entries in `blocked`
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct settings);
} settings SEC(".maps");

// Destinations that stay reachable while isolated (the collector).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct addr_key);
	__type(value, u8);
} allow SEC(".maps");

// Blocked destinations; the value counts denied attempts.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct addr_key);
	__type(value, u64);
} blocked SEC(".maps");

// Denied connects/sends by reason (DENY_*).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DENY_KINDS);
	__type(key, u32);
	__type(value, u64);
} denied SEC(".maps");

static __always_inline void count_denied(u32 kind)
{
	u64 *n = bpf_map_lookup_elem(&denied, &kind);
	if (n)
		*n += 1;
}

static __always_inline int in_allow(struct addr_key *k)
{
	if (bpf_map_lookup_elem(&allow, k))
		return 1;
	u16 port = k->port;
	k->port = 0;
	int hit = bpf_map_lookup_elem(&allow, k) != 0;
	k->port = port;
	return hit;
}

// 1 lets the connect/send through, 0 refuses it with EPERM. Settings first:
// with no isolation and no block (the usual case) that is the only lookup.
// Blocks next, then the allow list only while isolated; a block never
// overlaps the allow list (userspace refuses such a block), so checking
// blocks before the allow list gives the same verdict.
static __always_inline int decide(struct addr_key *k)
{
	u32 zero = 0;
	struct settings *s = bpf_map_lookup_elem(&settings, &zero);
	if (!s)
		return 1;
	u32 isolated = s->isolated;
	if (!isolated && !s->blocks)
		return 1;
	if (s->blocks) {
		u64 *hits = bpf_map_lookup_elem(&blocked, k);
		if (!hits) {
			u16 port = k->port;
			k->port = 0;
			hits = bpf_map_lookup_elem(&blocked, k);
			k->port = port;
		}
		if (hits) {
			__sync_fetch_and_add(hits, 1);
			count_denied(DENY_BLOCK);
			return 0;
		}
	}
	if (!isolated)
		return 1;
	if (in_allow(k))
		return 1;
	count_denied(DENY_ISOLATION);
	return 0;
}

static __always_inline int decide4(struct bpf_sock_addr *ctx)
{
	struct addr_key k = {};
	k.addr[10] = 0xff;
	k.addr[11] = 0xff;
	u32 ip = ctx->user_ip4;
	__builtin_memcpy(&k.addr[12], &ip, 4);
	k.port = bpf_ntohs((u16)ctx->user_port);
	return decide(&k);
}

static __always_inline int decide6(struct bpf_sock_addr *ctx)
{
	struct addr_key k = {};
	u32 w0 = ctx->user_ip6[0];
	u32 w1 = ctx->user_ip6[1];
	u32 w2 = ctx->user_ip6[2];
	u32 w3 = ctx->user_ip6[3];
	__builtin_memcpy(&k.addr[0], &w0, 4);
	__builtin_memcpy(&k.addr[4], &w1, 4);
	__builtin_memcpy(&k.addr[8], &w2, 4);
	__builtin_memcpy(&k.addr[12], &w3, 4);
	k.port = bpf_ntohs((u16)ctx->user_port);
	return decide(&k);
}

SEC("cgroup/connect4")
int guard_connect4(struct bpf_sock_addr *ctx)
{
	return decide4(ctx);
}

SEC("cgroup/sendmsg4")
int guard_sendmsg4(struct bpf_sock_addr *ctx)
{
	return decide4(ctx);
}

SEC("cgroup/connect6")
int guard_connect6(struct bpf_sock_addr *ctx)
{
	return decide6(ctx);
}

SEC("cgroup/sendmsg6")
int guard_sendmsg6(struct bpf_sock_addr *ctx)
{
	return decide6(ctx);
}

// ---------------------------------------------------------------- enforce

// The active predicate set. Bit i of a mask is predicate i.
struct enforce_state {
	u64 active;
	u64 has_exe;
	u64 has_name;
	u32 generation;
	u32 pad;
	// Needles (bit j = needles[j]) that predicate i needs in its argv.
	u32 pred_needles[MAX_PREDS];
};

struct needle {
	u32 len;
	u8 bytes[NEEDLE_MAX];
};

struct inode_key {
	u64 dev;
	u64 ino;
};

struct kill_rec {
	u32 pid;
	u32 rule;
	u32 generation;
	u32 pad;
	u64 start_boottime;
	char filename[KEY_LEN];
};

struct scratch {
	char key[KEY_LEN] __attribute__((aligned(8)));
	char args[ARGV_WINDOW] __attribute__((aligned(8)));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct enforce_state);
} enforce SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_NEEDLES);
	__type(key, u32);
	__type(value, struct needle);
} needles SEC(".maps");

// First two bytes of a needle (b0 << 8 | b1) -> needles starting with them,
// so the argv scan compares only where a needle can start.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, u32);
} needle_pairs SEC(".maps");

// Path as passed to execve -> predicates naming it.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PREDS);
	__type(key, char[KEY_LEN]);
	__type(value, u64);
} exe_paths SEC(".maps");

// Executable file identity -> predicates naming it.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PREDS);
	__type(key, struct inode_key);
	__type(value, u64);
} exe_inodes SEC(".maps");

// Base name (of the file run, or of the path passed to execve) -> predicates.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PREDS);
	__type(key, char[KEY_LEN]);
	__type(value, u64);
} names SEC(".maps");

// Executables never killed, by base name.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[KEY_LEN]);
	__type(value, u8);
} protected_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} kills SEC(".maps");

// Kill reports lost because the ring was full (the kill still happened).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} kill_report_drops SEC(".maps");

// Every loop below runs through bpf_loop, so the verifier checks each body
// once instead of once per iteration.

struct match_ctx {
	struct enforce_state *st;
	struct scratch *s;
	u64 cand;
	u32 need;
	u32 present;
	u32 window;
	u32 rule;
	u32 pos;
	u32 at;
};

// Needles wanted by predicate i, if it is still a candidate.
static long need_step(u32 i, void *data)
{
	struct match_ctx *m = data;
	if (i >= MAX_PREDS)
		return 1;
	if ((m->cand >> i) & 1)
		m->need |= m->st->pred_needles[i];
	return 0;
}

// Needle j against the argv window at m->pos, if j may start there.
static long cmp_step(u32 j, void *data)
{
	struct match_ctx *m = data;
	if (j >= MAX_NEEDLES)
		return 1;
	if (!((m->at >> j) & 1))
		return 0;
	u32 jj = j;
	struct needle *nd = bpf_map_lookup_elem(&needles, &jj);
	if (!nd)
		return 0;
	u32 len = nd->len;
	if (len == 0 || len > NEEDLE_MAX || m->pos + len > m->window)
		return 0;
	for (u32 k = 0; k < NEEDLE_MAX; k++) {
		if (k >= len)
			break;
		u32 idx = m->pos + k;
		if (idx >= ARGV_WINDOW)
			return 0;
		barrier_var(idx);
		idx &= ARGV_WINDOW - 1;
		if ((u8)m->s->args[idx] != nd->bytes[k])
			return 0;
	}
	m->present |= 1u << j;
	return 0;
}

// One position of the argv window: which wanted needles may start here.
static long pos_step(u32 pos, void *data)
{
	struct match_ctx *m = data;
	if (pos + 1 >= m->window || pos + 1 >= ARGV_WINDOW)
		return 1;
	u32 i0 = pos;
	u32 i1 = pos + 1;
	barrier_var(i0);
	barrier_var(i1);
	i0 &= ARGV_WINDOW - 1;
	i1 &= ARGV_WINDOW - 1;
	u32 pair = ((u32)(u8)m->s->args[i0] << 8) | (u8)m->s->args[i1];
	u32 *starts = bpf_map_lookup_elem(&needle_pairs, &pair);
	if (!starts)
		return 0;
	u32 at = *starts & m->need & ~m->present;
	if (!at)
		return 0;
	m->pos = pos;
	m->at = at;
	bpf_loop(MAX_NEEDLES, cmp_step, m, 0);
	// Stop once every wanted needle was seen.
	return (m->present & m->need) == m->need;
}

// The first candidate whose needles are all present.
static long rule_step(u32 i, void *data)
{
	struct match_ctx *m = data;
	if (i >= MAX_PREDS)
		return 1;
	if (!((m->cand >> i) & 1))
		return 0;
	u32 want = m->st->pred_needles[i];
	if ((want & m->present) == want) {
		m->rule = i;
		return 1;
	}
	return 0;
}

struct base_ctx {
	struct scratch *s;
	u32 base;
};

// Offset just past the last '/' of the NUL-terminated s->key.
static long base_step(u32 i, void *data)
{
	struct base_ctx *b = data;
	if (i >= KEY_LEN)
		return 1;
	char c = b->s->key[i & (KEY_LEN - 1)];
	if (c == 0)
		return 1;
	if (c == '/')
		b->base = i + 1;
	return 0;
}

static __always_inline u64 mask_of(void *map, void *key)
{
	u64 *m = bpf_map_lookup_elem(map, key);
	return m ? *m : 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(enforce_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	u32 zero = 0;
	struct enforce_state *st = bpf_map_lookup_elem(&enforce, &zero);
	if (!st || !st->active)
		return 0;
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == 1 || tgid == self_tgid)
		return 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;

	// The file that runs (for a script: its interpreter), by its own name.
	struct file *f = BPF_CORE_READ(bprm, file);
	__builtin_memset(s->key, 0, KEY_LEN);
	bpf_probe_read_kernel_str(s->key, KEY_LEN, BPF_CORE_READ(f, f_path.dentry, d_name.name));
	if (bpf_map_lookup_elem(&protected_names, s->key))
		return 0;
	u64 name_mask = mask_of(&names, s->key);

	struct inode_key ik = {};
	ik.dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	ik.ino = BPF_CORE_READ(f, f_inode, i_ino);
	u64 exe_mask = mask_of(&exe_inodes, &ik);

	// The path given to execve (for a script: the script).
	const char *fname = BPF_CORE_READ(bprm, filename);
	__builtin_memset(s->key, 0, KEY_LEN);
	long n = bpf_probe_read_kernel_str(s->key, KEY_LEN, fname);
	if (n > 0 && n < KEY_LEN) {
		exe_mask |= mask_of(&exe_paths, s->key);
		struct base_ctx b = { .s = s, .base = 0 };
		bpf_loop(KEY_LEN, base_step, &b, 0);
		u32 base = b.base;
		if (base > 0 && base < KEY_LEN) {
			__builtin_memset(s->key, 0, KEY_LEN);
			bpf_probe_read_kernel_str(s->key, KEY_LEN, fname + base);
			if (bpf_map_lookup_elem(&protected_names, s->key))
				return 0;
			name_mask |= mask_of(&names, s->key);
		}
	}

	struct match_ctx m = {
		.st = st,
		.s = s,
		.cand = st->active & (~st->has_exe | exe_mask) & (~st->has_name | name_mask),
		.rule = MAX_PREDS,
	};
	if (!m.cand)
		return 0;
	bpf_loop(MAX_PREDS, need_step, &m, 0);
	if (m.need) {
		unsigned long as = BPF_CORE_READ(p, mm, arg_start);
		unsigned long ae = BPF_CORE_READ(p, mm, arg_end);
		u64 len = ae > as ? ae - as : 0;
		if (len > ARGV_WINDOW)
			len = ARGV_WINDOW;
		barrier_var(len);
		if (len > ARGV_WINDOW)
			len = ARGV_WINDOW;
		if (len && bpf_probe_read_user(s->args, len, (void *)as) < 0)
			len = 0;
		m.window = len;
		bpf_loop(ARGV_WINDOW, pos_step, &m, 0);
	}
	bpf_loop(MAX_PREDS, rule_step, &m, 0);
	if (m.rule >= MAX_PREDS)
		return 0;

	bpf_send_signal(SIGKILL_);

	struct kill_rec *r = bpf_ringbuf_reserve(&kills, sizeof(*r), 0);
	if (!r) {
		u64 *d = bpf_map_lookup_elem(&kill_report_drops, &zero);
		if (d)
			*d += 1;
		return 0;
	}
	r->pid = tgid;
	r->rule = m.rule;
	r->generation = st->generation;
	r->pad = 0;
	r->start_boottime = BPF_CORE_READ(p, start_boottime);
	bpf_probe_read_kernel_str(r->filename, KEY_LEN, fname);
	bpf_ringbuf_submit(r, 0);
	return 0;
}
