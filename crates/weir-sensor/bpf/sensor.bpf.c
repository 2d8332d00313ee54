// SPDX-License-Identifier: GPL-2.0
// Weir sensor, kernel side: process, file, network and privilege telemetry
// from tracepoints and BTF tracepoints, written to one ring buffer.
//
// Layouts of the records below are mirrored in src/probe/record.rs; change
// both together. Every record starts with `struct hdr`.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

// ---------------------------------------------------------------- constants

#define K_EXEC 1
#define K_FORK 2
#define K_EXIT 3
#define K_FILE 4
#define K_NET 5
#define K_PRIV 6
#define K_PTRACE 7
#define K_MEMFD 8
#define K_BPF 9
#define K_MODULE 10
#define K_MAX 16

#define F_ARGS_TRUNC 1
#define F_EXE_TRUNC 2
#define F_CWD_TRUNC 4
#define F_EXE_DELETED 8
#define F_PATH_TRUNC 16
#define F_RESOLVED 32

#define ARGS_MAX 4096
#define PATH_BUF 768
#define NAME_READ 256
#define PATH_DEPTH 24
#define FPATH 256

#define O_WRONLY_ 01
#define O_RDWR_ 02
#define O_CREAT_ 0100
#define O_TRUNC_ 01000
#define AT_FDCWD_ -100
#define AF_INET_ 2
#define AF_INET6_ 10
#define EINPROGRESS_ 115
#define S_IFMT_ 00170000
#define S_IFSOCK_ 0140000

// Set by the loader before the object is loaded.
const volatile u32 self_tgid = 0;
const volatile u64 wake_bytes = 65536;
// Identical file operations inside this window are folded into one event
// and a count; 0 sends every one.
const volatile u64 agg_window_ns = 1000000000;
// 1: a successful write-open whose name did not look watched is checked
// again on the opened file's real path (symlinks); costs a walk at exit.
const volatile u32 resolve_opens = 1;

// ---------------------------------------------------------------- records

struct hdr {
	u32 kind;
	u32 flags;
	u64 ktime_ns;
	u32 tgid;
	u32 tid;
	u32 ppid;
	u32 uid;
	u32 gid;
	u32 euid;
	u32 egid;
	u32 loginuid;
	u32 sessionid;
	u32 pad;
	u64 start_ns;
	char comm[16];
};

struct exec_rec {
	struct hdr h;
	u64 cgroup_id;
	u32 pid_ns;
	u32 mnt_ns;
	u32 net_ns;
	u32 args_len;
	u32 exe_len;
	u32 cwd_len;
	char tty[32];
	u32 exe_nlink;
	u32 pad;
	char exe[PATH_BUF];
	char cwd[PATH_BUF];
	char args[ARGS_MAX];
};

struct fork_rec {
	struct hdr h;
	u32 child_pid;
	u32 pad;
	u64 child_start_ns;
};

struct exit_rec {
	struct hdr h;
	u32 exit_code;
	u32 pad;
};

// An LPM trie key laid out so the record's own path buffer is the key.
struct path_key {
	u32 prefixlen;
	char data[FPATH];
};

struct file_rec {
	struct hdr h;
	u32 op;
	u32 oflags;
	u32 mode;
	u32 uid_arg;
	u32 gid_arg;
	s32 dfd;
	u32 path_len;
	u32 path2_len;
	// 0 on success, else -errno; known once the syscall returned.
	s32 result;
	// (4 bytes of padding: agg_total is 8-aligned, at offset 120.)
	// Occurrences of this record's aggregation key so far (0: not
	// aggregated), and the key's path hash.
	u64 agg_total;
	u64 agg_hash;
	struct path_key path;
	struct path_key path2;
};

struct net_rec {
	struct hdr h;
	u32 op;
	s32 ret;
	u16 family;
	u16 protocol;
	u16 sport;
	u16 dport;
	u8 saddr[16];
	u8 daddr[16];
};

struct priv_rec {
	struct hdr h;
	u32 op;
	s32 ret;
	u32 old_ids[3];
	u32 pad;
	s64 new_ids[3];
	u64 cap_eff;
	u64 cap_perm;
};

struct ptrace_rec {
	struct hdr h;
	u64 request;
	u32 target;
	s32 ret;
};

struct memfd_rec {
	struct hdr h;
	u32 mflags;
	u32 pad;
	char name[64];
};

struct bpf_rec {
	struct hdr h;
	u32 cmd;
	u32 prog_type;
	char name[16];
};

struct module_rec {
	struct hdr h;
	u32 which;
	u32 pad;
	char args[128];
};

// Arguments kept between a syscall's entry and its exit, per thread.
struct pending {
	u32 kind;
	u32 op;
	u64 args[4];
	u32 old_ids[3];
	u32 pad;
	u8 sa[28];
	u32 pad2;
};

union scratch {
	struct exec_rec exec;
	struct file_rec file;
	struct net_rec net;
	struct priv_rec priv;
	struct memfd_rec memfd;
	struct module_rec module;
};

// ---------------------------------------------------------------- maps

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

// Ring reserve/output failures, per CPU, indexed by record kind.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, K_MAX);
	__type(key, u32);
	__type(value, u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, union scratch);
} scratch SEC(".maps");

// Watched path prefixes: key = bit length + bytes, value unused.
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct path_key);
	__type(value, u8);
} watched SEC(".maps");

// Quick pre-filter in front of the trie: bit (path[1] << 8 | path[2]) is set
// when some watched prefix can start with those two bytes.
struct first2 {
	u64 bits[1024];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct first2);
} first2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, struct pending);
} inflight SEC(".maps");

// ---------------------------------------------------------------- helpers

static __always_inline void *scratch_buf(void)
{
	u32 zero = 0;
	return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline void count_drop(u32 kind)
{
	u64 *n = bpf_map_lookup_elem(&drops, &kind);
	if (n)
		*n += 1;
}

static __always_inline void emit(void *rec, u64 size, u32 kind)
{
	u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	u64 flags = avail >= wake_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, rec, size, flags) < 0)
		count_drop(kind);
}

static __always_inline int is_self(void)
{
	return (u32)(bpf_get_current_pid_tgid() >> 32) == self_tgid;
}

static __always_inline void fill_hdr(struct hdr *h, struct task_struct *t, u32 kind)
{
	const struct cred *cred = BPF_CORE_READ(t, cred);
	h->kind = kind;
	h->flags = 0;
	h->ktime_ns = bpf_ktime_get_boot_ns();
	h->tgid = BPF_CORE_READ(t, tgid);
	h->tid = BPF_CORE_READ(t, pid);
	h->ppid = BPF_CORE_READ(t, real_parent, tgid);
	h->uid = BPF_CORE_READ(cred, uid.val);
	h->gid = BPF_CORE_READ(cred, gid.val);
	h->euid = BPF_CORE_READ(cred, euid.val);
	h->egid = BPF_CORE_READ(cred, egid.val);
	h->loginuid = BPF_CORE_READ(t, loginuid.val);
	h->sessionid = BPF_CORE_READ(t, sessionid);
	h->pad = 0;
	h->start_ns = BPF_CORE_READ(t, group_leader, start_boottime);
	bpf_probe_read_kernel_str(h->comm, sizeof(h->comm), &t->comm);
}

static __always_inline void fill_current(struct hdr *h, u32 kind)
{
	fill_hdr(h, (struct task_struct *)bpf_get_current_task(), kind);
}

// One step up from a mount's root to where it is mounted. Returns 1 at the
// root of the mount tree (the walk is done), 0 after crossing.
static __always_inline int cross_mount(struct mount **m, struct vfsmount **vm, struct dentry **d)
{
	struct mount *mp = BPF_CORE_READ(*m, mnt_parent);
	if (mp == *m)
		return 1;
	*d = BPF_CORE_READ(*m, mnt_mountpoint);
	*m = mp;
	*vm = &mp->mnt;
	return 0;
}

struct walk_ctx {
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *m;
	char *buf;
	u32 off;
	u32 done;
};

static long walk_step(u64 i, struct walk_ctx *w)
{
	struct dentry *d = w->d;
	struct vfsmount *vm = w->vm;
	struct mount *m = w->m;
	struct dentry *mroot = BPF_CORE_READ(vm, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == mroot) {
		if (cross_mount(&w->m, &w->vm, &w->d)) {
			w->done = 1;
			return 1;
		}
		return 0;
	}
	int pseudo = 0;
	if (d == parent) {
		w->done = 1;
		if (w->off != 0)
			return 1;
		// A file that never had a place in a tree (memfd, anon inode): the
		// kernel names it "/<name>"; so do we.
		pseudo = 1;
	}
	u32 off = w->off;
	if (off > PATH_BUF - NAME_READ)
		return 1;
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	long n = bpf_probe_read_kernel_str(w->buf + off, NAME_READ, name);
	if (n <= 0) {
		w->done = 1;
		return 1;
	}
	w->off = off + n;
	w->d = parent;
	return pseudo;
}

// Writes the path's components leaf first, each NUL-terminated; userspace
// reverses them. Bounded by PATH_DEPTH steps and PATH_BUF bytes.
static __always_inline u32 walk_path(struct dentry *d, struct vfsmount *vm, char *buf, u32 *flags, u32 trunc)
{
	struct walk_ctx w = {
		.d = d,
		.vm = vm,
		.m = container_of(vm, struct mount, mnt),
		.buf = buf,
		.off = 0,
		.done = 0,
	};
	bpf_loop(PATH_DEPTH, walk_step, &w, 0);
	if (!w.done)
		*flags |= trunc;
	return w.off;
}

// ---------------------------------------------------------------- process

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (is_self())
		return 0;
	struct exec_rec *e = scratch_buf();
	if (!e)
		return 0;
	fill_hdr(&e->h, p, K_EXEC);
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid_ns = BPF_CORE_READ(p, nsproxy, pid_ns_for_children, ns.inum);
	e->mnt_ns = BPF_CORE_READ(p, nsproxy, mnt_ns, ns.inum);
	e->net_ns = BPF_CORE_READ(p, nsproxy, net_ns, ns.inum);
	e->tty[0] = 0;
	struct tty_struct *tty = BPF_CORE_READ(p, signal, tty);
	if (tty)
		bpf_probe_read_kernel_str(e->tty, sizeof(e->tty), &tty->name);

	struct file *f = BPF_CORE_READ(bprm, file);
	e->exe_nlink = BPF_CORE_READ(f, f_inode, __i_nlink);
	// Unhashed dentry: the file was deleted, or never had a name (memfd);
	// the kernel's d_path says " (deleted)" for both.
	struct dentry *exe_d = BPF_CORE_READ(f, f_path.dentry);
	if (!BPF_CORE_READ(exe_d, d_hash.pprev) && exe_d != BPF_CORE_READ(exe_d, d_parent))
		e->h.flags |= F_EXE_DELETED;
	e->exe_len = walk_path(BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), e->exe, &e->h.flags,
			       F_EXE_TRUNC);
	e->cwd_len = walk_path(BPF_CORE_READ(p, fs, pwd.dentry), BPF_CORE_READ(p, fs, pwd.mnt), e->cwd, &e->h.flags,
			       F_CWD_TRUNC);

	unsigned long as = BPF_CORE_READ(p, mm, arg_start);
	unsigned long ae = BPF_CORE_READ(p, mm, arg_end);
	u64 len = ae > as ? ae - as : 0;
	if (len > ARGS_MAX) {
		len = ARGS_MAX;
		e->h.flags |= F_ARGS_TRUNC;
	}
	barrier_var(len);
	if (len > ARGS_MAX)
		len = ARGS_MAX;
	if (len && bpf_probe_read_user(e->args, len, (void *)as) < 0)
		len = 0;
	e->args_len = len;
	u64 size = offsetof(struct exec_rec, args) + len;
	barrier_var(size);
	if (size > sizeof(*e))
		size = sizeof(*e);
	emit(e, size, K_EXEC);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	if (is_self())
		return 0;
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0; // a new thread, not a new process
	struct fork_rec r = {};
	fill_current(&r.h, K_FORK);
	r.child_pid = BPF_CORE_READ(child, tgid);
	r.child_start_ns = BPF_CORE_READ(child, start_boottime);
	emit(&r, sizeof(r), K_FORK);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p, bool group_dead)
{
	if (is_self())
		return 0;
	if (!group_dead)
		return 0;
	struct exit_rec r = {};
	fill_hdr(&r.h, p, K_EXIT);
	r.exit_code = BPF_CORE_READ(p, exit_code);
	emit(&r, sizeof(r), K_EXIT);
	return 0;
}

// ---------------------------------------------------------------- files

#define OP_OPEN_WRITE 1
#define OP_CREATE 2
#define OP_TRUNCATE 3
#define OP_UNLINK 4
#define OP_RENAME 5
#define OP_CHMOD 6
#define OP_CHOWN 7
#define OP_LINK 8
#define OP_SYMLINK 9

// Scratch for turning a relative or unnormalised name into an absolute,
// normalised one: the directory's names (leaf first), the joined path, and
// where each kept segment starts in the output.
#define JOIN_BUF 1024
#define NORM_DEPTH 64

struct pathbuf {
	char in[JOIN_BUF];
	u64 names[32];
	u32 seg[NORM_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct pathbuf);
} pathbuf SEC(".maps");

// Bit (b1 << 8 | b2) of the first2 pre-filter, for a path "/<b1><b2>...".
static __always_inline int first2_bits(u8 b1, u8 b2)
{
	u32 zero = 0;
	struct first2 *f = bpf_map_lookup_elem(&first2, &zero);
	if (!f)
		return 1;
	u32 idx = ((u32)b1 << 8) | b2;
	return (f->bits[(idx >> 6) & 1023] >> (idx & 63)) & 1;
}

static __always_inline int first2_hit(const char *data)
{
	return first2_bits((u8)data[1], (u8)data[2]);
}

#define ONES 0x0101010101010101ULL
#define LOWS 0x7f7f7f7f7f7f7f7fULL

// 0x80 in each byte of `v` that is zero, nothing elsewhere (exact: no borrow
// runs into the next byte).
static __always_inline u64 zero_bytes(u64 v)
{
	return ~(((v & LOWS) + LOWS) | v | LOWS);
}

// 1 when the absolute name may hold something normalising changes: "//", or
// a "." or ".." segment ("/." or "/.." followed by '/' or the end). Plain
// dotfile names ("/.cache", "/..x") are left alone. Word at a time on
// overlapping words, 5 bytes apart, so each start position sees its 4 bytes
// in one word; may say 1 wrongly (bytes after the NUL), never 0 wrongly for
// names shorter than 253 bytes.
static __always_inline int needs_norm(const char *data, long n)
{
	if (n > 252)
		return 1;
#pragma unroll
	for (int i = 0; i < 50; i++) {
		if (i * 5 >= n)
			break;
		// little endian: byte j of the name is bits 8j..8j+7 of x
		u64 x = *(const u64 *)(data + i * 5);
		u64 slash = zero_bytes(x ^ (0x2fULL * ONES));
		u64 dot = zero_bytes(x ^ (0x2eULL * ONES));
		u64 end = slash | zero_bytes(x);
		u64 two_slashes = slash & (slash >> 8);
		u64 dot_seg = slash & (dot >> 8) & (end >> 16);
		u64 dotdot_seg = slash & (dot >> 8) & (dot >> 16) & (end >> 24);
		if (two_slashes | dot_seg | dotdot_seg)
			return 1;
	}
	return 0;
}

struct nwalk {
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *m;
	struct pathbuf *pb;
	u32 n;
	u32 done;
};

// Like walk_step, but keeps only each name's address: no copying on the way up.
static long nwalk_step(u64 i, struct nwalk *w)
{
	struct dentry *d = w->d;
	struct vfsmount *vm = w->vm;
	struct mount *m = w->m;
	struct dentry *mroot = BPF_CORE_READ(vm, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == mroot) {
		if (cross_mount(&w->m, &w->vm, &w->d)) {
			w->done = 1;
			return 1;
		}
		return 0;
	}
	if (d == parent) {
		w->done = 1;
		return 1;
	}
	u32 n = w->n;
	if (n >= PATH_DEPTH)
		return 1;
	w->pb->names[n & 31] = (u64)BPF_CORE_READ(d, d_name.name);
	w->n = n + 1;
	w->d = parent;
	return 0;
}

struct jctx {
	struct pathbuf *pb;
	u32 n;
	u32 off;
	u32 bad;
};

// Appends "/<name>" for the directory's names, root first.
static long join_step(u64 i, struct jctx *c)
{
	if (i >= c->n)
		return 1;
	u32 j = c->n - 1 - (u32)i;
	u32 off = c->off;
	if (j >= PATH_DEPTH || off > 512) {
		c->bad = 1;
		return 1;
	}
	barrier_var(j);
	c->pb->in[off] = '/';
	long k = bpf_probe_read_kernel_str(c->pb->in + off + 1, NAME_READ, (const void *)c->pb->names[j & 31]);
	if (k <= 0) {
		c->bad = 1;
		return 1;
	}
	c->off = off + k;
	return 0;
}

struct nctx {
	struct pathbuf *pb;
	char *out;
	u32 o;
	u32 seglen;
	u32 depth;
	u32 trunc;
};

// One input byte: drops empty and "." segments, and ".." with the segment
// before it (never above the root).
static long norm_step(u64 i, struct nctx *c)
{
	char ch = c->pb->in[i & (JOIN_BUF - 1)];
	if (ch == '/' || ch == 0) {
		u32 len = c->seglen;
		u32 o = c->o;
		u32 d = c->depth;
		u32 start = c->pb->seg[d & (NORM_DEPTH - 1)];
		if (len == 1 && o >= 1 && c->out[(o - 1) & (FPATH - 1)] == '.') {
			c->o = start;
		} else if (len == 2 && o >= 2 && c->out[(o - 1) & (FPATH - 1)] == '.' &&
			   c->out[(o - 2) & (FPATH - 1)] == '.') {
			c->o = start;
			if (d > 0) {
				d--;
				c->depth = d;
				c->o = c->pb->seg[d & (NORM_DEPTH - 1)];
			}
		} else if (len > 0) {
			if (d + 1 >= NORM_DEPTH) {
				c->trunc = 1;
				return 1;
			}
			c->depth = d + 1;
		}
		c->seglen = 0;
		return ch == 0;
	}
	u32 o = c->o;
	if (o + 2 >= FPATH) {
		c->trunc = 1;
		return 1;
	}
	if (c->seglen == 0) {
		c->pb->seg[c->depth & (NORM_DEPTH - 1)] = o;
		c->out[o & (FPATH - 1)] = '/';
		o++;
	}
	c->out[o & (FPATH - 1)] = ch;
	c->o = o + 1;
	c->seglen++;
	return 0;
}

// The file open on descriptor `fd` of the current task, or NULL. Typed
// (BTF) loads down to the descriptor array: no helper call until the slot.
static __always_inline struct file *file_of_fd(long fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct files_struct *files = t->files;
	if (!files)
		return NULL;
	struct fdtable *fdt = files->fdt;
	if (!fdt || fd < 0 || (u64)fd >= fdt->max_fds)
		return NULL;
	struct file **fds = fdt->fd;
	struct file *f = NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) < 0)
		return NULL;
	return f;
}

// The directory `dfd` names for the current task: cwd for AT_FDCWD, else the
// file open on that descriptor.
static __always_inline int dir_of(s32 dfd, struct dentry **d, struct vfsmount **vm)
{
	if (dfd == AT_FDCWD_) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		*d = BPF_CORE_READ(t, fs, pwd.dentry);
		*vm = BPF_CORE_READ(t, fs, pwd.mnt);
		return *d && *vm;
	}
	struct file *f = file_of_fd(dfd);
	if (!f)
		return 0;
	*d = BPF_CORE_READ(f, f_path.dentry);
	*vm = BPF_CORE_READ(f, f_path.mnt);
	return *d && *vm;
}

// Slow path, for relative names and absolute ones holding ".", ".." or "//":
// joins the directory (when relative) and the name in the per-CPU buffer,
// then writes the normalised absolute path back into k->data. Symlinks are
// not followed. Returns the new length, or -1 when the path cannot be known.
static __noinline long resolve_slow(char *data, s32 dfd, u32 n, u32 *flags)
{
	u32 zero = 0;
	struct pathbuf *pb = bpf_map_lookup_elem(&pathbuf, &zero);
	if (!pb || n >= FPATH)
		return -1;
	u32 off = 0;
	if (data[0] != '/') {
		struct nwalk w = {};
		if (!dir_of(dfd, &w.d, &w.vm))
			return -1;
		w.m = container_of(w.vm, struct mount, mnt);
		w.pb = pb;
		bpf_loop(PATH_DEPTH * 2, nwalk_step, &w, 0);
		if (!w.done)
			return -1;
		struct jctx j = {.pb = pb, .n = w.n, .off = 0, .bad = 0};
		bpf_loop(PATH_DEPTH, join_step, &j, 0);
		off = j.off;
		if (j.bad || off > 760)
			return -1;
		pb->in[off] = '/';
		off++;
	}
	if (off > 761)
		return -1;
	long k = bpf_probe_read_kernel_str(pb->in + off, FPATH, data);
	if (k <= 0)
		return -1;
	struct nctx c = {.pb = pb, .out = data, .o = 0, .seglen = 0, .depth = 0, .trunc = 0};
	pb->seg[0] = 0;
	bpf_loop(off + k, norm_step, &c, 0);
	u32 o = c.o;
	if (c.trunc)
		*flags |= F_PATH_TRUNC;
	if (o == 0) {
		data[0] = '/';
		o = 1;
	}
	if (o >= FPATH)
		return -1;
	data[o & (FPATH - 1)] = 0;
	return o;
}

// Reads the name `upath` (relative to `dfd`) into `k` as an absolute,
// normalised path; returns 1 when it is under a watched prefix, or when that
// cannot be decided (then F_PATH_TRUNC is set and `k` holds what is known:
// the name as given, or its first FPATH - 1 bytes): unsure means reported.
// Known limits: symlinks inside the name are not followed here (opens are
// checked again on the opened file at exit, see open_exit); a name of 252
// bytes or more that needs normalising, a directory deeper than PATH_DEPTH
// or a joined path longer than FPATH - 1 is reported unresolved; absolute
// names holding "//", "/./" or "/../" (or ending "/." or "/..") take the
// slow path.
static __always_inline int read_watched(struct path_key *k, s32 dfd, const char *upath, u32 *len, u32 *flags)
{
	long n = bpf_probe_read_user_str(k->data, sizeof(k->data), upath);
	*len = 0;
	if (n <= 1)
		return 0;
	if (n >= FPATH && k->data[0] == '/' && !needs_norm(k->data, 252)) {
		// Longer than the buffer but plain in the bytes held: the prefix
		// test is exact on them; report with the flag.
		*len = FPATH - 1;
		*flags |= F_PATH_TRUNC;
		return 1;
	}
	// Fast path, nearly every call: absolute and already normal.
	if (k->data[0] != '/' || needs_norm(k->data, n)) {
		long m = resolve_slow(k->data, dfd, n - 1, flags);
		if (m <= 0) {
			*len = n - 1 < FPATH - 1 ? n - 1 : FPATH - 1;
			*flags |= F_PATH_TRUNC;
			return 1;
		}
		n = m;
	} else {
		n = n - 1;
	}
	*len = n;
	if (!first2_hit(k->data))
		return 0;
	k->prefixlen = n * 8;
	return bpf_map_lookup_elem(&watched, k) != NULL;
}

// A watched file syscall between its entry and its exit, kept with the
// thread (task storage: created only for threads that touch watched paths,
// freed with them). `syscall` 0: none pending; `send` 0: a folded repeat,
// nothing to send at exit.
struct file_pending {
	u32 syscall;
	u32 send;
	struct file_rec rec;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct file_pending);
} file_pending SEC(".maps");

// In-kernel aggregation of identical file operations: the first in a window
// is sent, repeats only count; the next record of the key (or userspace,
// reading `total` once the window is over) carries the count.
struct agg_key {
	u32 tgid;
	u32 op;
	u32 oflags;
	u32 zero;
	u64 hash;
};

struct agg_val {
	u64 window_start;
	u64 total;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct agg_key);
	__type(value, struct agg_val);
} file_agg SEC(".maps");

// Per-CPU file counters, read by userspace for the heartbeat.
#define FS_FOLDED 0	  // repeats folded into a count instead of sent
#define FS_UNRESOLVED 1	  // opened files whose path was too deep to check at exit
#define FS_STALE 2	  // pending records dropped: exit of another syscall
#define FS_MAX 4

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FS_MAX);
	__type(key, u32);
	__type(value, u64);
} file_stats SEC(".maps");

static __always_inline void file_count(u32 which)
{
	u64 *n = bpf_map_lookup_elem(&file_stats, &which);
	if (n)
		*n += 1;
}

// FNV-style hash of the path's `len` bytes, a word at a time.
static __always_inline u64 path_hash(const char *data, u32 len)
{
	u64 h = 0xcbf29ce484222325ULL ^ len;
#pragma unroll
	for (int i = 0; i < FPATH / 8; i++) {
		if (i * 8 >= len)
			break;
		u64 w = *(const u64 *)(data + i * 8);
		u32 rem = len - i * 8;
		if (rem < 8)
			w &= (1ULL << (rem * 8)) - 1;
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h;
}

// Returns 1 when the record is a repeat inside its key's window (counted,
// not sent); else fills agg_total/agg_hash and returns 0. Runs at entry, so
// the key holds no result: repeats are counted on the first one's event.
static __always_inline int aggregate(struct file_rec *r)
{
	r->agg_total = 0;
	r->agg_hash = 0;
	if (!agg_window_ns || r->path2_len)
		return 0;
	u32 len = r->path_len;
	if (len > FPATH - 1)
		len = FPATH - 1;
	struct agg_key key = {
		.tgid = (u32)(bpf_get_current_pid_tgid() >> 32),
		.op = r->op,
		.oflags = r->oflags,
		.zero = 0,
		.hash = path_hash(r->path.data, len),
	};
	u64 now = bpf_ktime_get_boot_ns();
	struct agg_val *v = bpf_map_lookup_elem(&file_agg, &key);
	if (!v) {
		struct agg_val nv = {.window_start = now, .total = 1};
		bpf_map_update_elem(&file_agg, &key, &nv, BPF_NOEXIST);
		r->agg_total = 1;
		r->agg_hash = key.hash;
		return 0;
	}
	u64 total = __sync_fetch_and_add(&v->total, 1) + 1;
	if (now - v->window_start < agg_window_ns) {
		file_count(FS_FOLDED);
		return 1;
	}
	v->window_start = now;
	r->agg_total = total;
	r->agg_hash = key.hash;
	return 0;
}

static __always_inline struct file_rec *file_start(u32 op)
{
	struct file_rec *r = scratch_buf();
	if (!r)
		return NULL;
	r->op = op;
	r->oflags = 0;
	r->mode = 0;
	r->uid_arg = 0;
	r->gid_arg = 0;
	r->dfd = AT_FDCWD_;
	r->path_len = 0;
	r->path2_len = 0;
	r->result = 0;
	r->agg_total = 0;
	r->agg_hash = 0;
	r->path2.data[0] = 0;
	return r;
}

// Sends only the bytes in use: a one-path record ends after its path.
static __always_inline void file_send(struct file_rec *r)
{
	u64 size = sizeof(*r);
	if (r->path2_len == 0) {
		size = offsetof(struct file_rec, path.data) + r->path_len + 1;
		barrier_var(size);
		if (size > sizeof(*r))
			size = sizeof(*r);
	}
	emit(r, size, K_FILE);
}

// Keeps a watched record with the thread until its syscall returns (a
// repeat inside its window keeps only the mark that it was seen). The entry
// flags travel in h.flags (fill_current at exit keeps them).
static __always_inline void file_stash(struct file_rec *r, u32 flags, u32 syscall)
{
	r->h.flags = flags;
	int folded = aggregate(r);
	struct file_pending *p =
		bpf_task_storage_get(&file_pending, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p) {
		count_drop(K_FILE);
		return;
	}
	if (p->syscall)
		file_count(FS_STALE);
	p->syscall = syscall;
	p->send = !folded;
	if (!folded)
		bpf_probe_read_kernel(&p->rec, sizeof(p->rec), r);
}

// Completes and sends a record with the syscall's return value.
static __always_inline void file_finish(struct file_rec *r, long ret)
{
	u32 flags = r->h.flags;
	fill_current(&r->h, K_FILE);
	r->h.flags = flags;
	r->result = ret < 0 ? (s32)ret : 0;
	file_send(r);
}

// Exit of a file syscall: sends the record its entry kept. Returns 1 when
// the entry handled the syscall (watched), 0 when it did not.
static __always_inline int file_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct file_pending *p = bpf_task_storage_get(&file_pending, bpf_get_current_task_btf(), 0, 0);
	if (!p || !p->syscall)
		return 0;
	u32 sc = p->syscall;
	p->syscall = 0;
	if (sc != (u32)ctx->id) {
		file_count(FS_STALE);
		return 0;
	}
	if (p->send)
		file_finish(&p->rec, ctx->ret);
	return 1;
}

#define ARG(i) ((ctx)->args[i])

static __always_inline int one_path(struct trace_event_raw_sys_enter *ctx, u32 op, s32 dfd, const char *upath,
				    u32 oflags, u32 mode, u32 uid, u32 gid)
{
	if (is_self())
		return 0;
	struct file_rec *r = file_start(op);
	if (!r)
		return 0;
	u32 fl = 0;
	if (!read_watched(&r->path, dfd, upath, &r->path_len, &fl))
		return 0;
	r->dfd = dfd;
	r->oflags = oflags;
	r->mode = mode;
	r->uid_arg = uid;
	r->gid_arg = gid;
	file_stash(r, fl, (u32)ctx->id);
	return 0;
}

// Rename and link: watched when either name is.
static __always_inline int two_paths(struct trace_event_raw_sys_enter *ctx, u32 op, s32 olddfd, s32 dfd,
				     const char *oldp, const char *newp, u32 flags)
{
	if (is_self())
		return 0;
	struct file_rec *r = file_start(op);
	if (!r)
		return 0;
	u32 fl = 0;
	int hit = read_watched(&r->path, dfd, newp, &r->path_len, &fl);
	hit |= read_watched(&r->path2, olddfd, oldp, &r->path2_len, &fl);
	if (!hit)
		return 0;
	r->dfd = dfd;
	r->oflags = flags;
	file_stash(r, fl, (u32)ctx->id);
	return 0;
}

static __always_inline int write_intent(u64 flags)
{
	return (flags & (O_WRONLY_ | O_RDWR_ | O_CREAT_ | O_TRUNC_)) != 0;
}

static __always_inline u32 open_op(u64 flags)
{
	if (flags & O_CREAT_)
		return OP_CREATE;
	if (flags & O_TRUNC_)
		return OP_TRUNCATE;
	return OP_OPEN_WRITE;
}

static __always_inline int open_common(struct trace_event_raw_sys_enter *ctx, s32 dfd, const char *upath, u64 flags,
				       u32 mode)
{
	// Read-only opens are not a change: out before touching the name.
	if (!write_intent(flags))
		return 0;
	return one_path(ctx, open_op(flags), dfd, upath, (u32)flags, mode, 0, 0);
}

// Walk from an opened file up to the root, keeping only the entry just
// below the root (the path's top directory): one read per level, so an
// opened file far from any watched prefix is dismissed cheaply.
struct topwalk {
	struct dentry *d;
	struct dentry *top;
	struct dentry *mroot;
	struct vfsmount *vm;
	struct mount *m;
	u32 done;
};

static long top_step(u64 i, struct topwalk *w)
{
	struct dentry *d = w->d;
	if (d == w->mroot) {
		if (cross_mount(&w->m, &w->vm, &w->d)) {
			w->done = 1;
			return 1;
		}
		struct vfsmount *vm = w->vm;
		w->mroot = BPF_CORE_READ(vm, mnt_root);
		return 0;
	}
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (parent == d) {
		w->done = 1;
		return 1;
	}
	w->top = d;
	w->d = parent;
	return 0;
}

// Directories (by dentry) whose top directory misses the prefix filter,
// with when that verdict expires: repeated writes into one directory skip
// the walk. A directory moved under a watched prefix keeps its verdict for
// at most DIR_VERDICT_JIFFIES (64 jiffies: 64 ms at HZ=1000, 256 ms at
// HZ=250; the move itself is a watched rename).
#define DIR_VERDICT_JIFFIES 64

// Per CPU and direct-mapped (a slot per dentry hash, last writer wins):
// the lookup is an array index the verifier inlines, with no hashing helper
// or lock on the hot path of every write-open.
#define DIR_SLOTS 128

struct dir_verdicts {
	u64 dir[DIR_SLOTS];
	u64 until[DIR_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct dir_verdicts);
} dir_unwatched SEC(".maps");

static __always_inline u32 dir_slot(u64 dir)
{
	// dentries are 192-byte slab objects: the low bits carry no information.
	return (u32)((dir >> 6) ^ (dir >> 13)) & (DIR_SLOTS - 1);
}

// Exit of a successful open whose name was not watched: the name may have
// gone through a symlink (or a bind mount) to a watched file. Rebuilds the
// opened file's real path from its dentry and tests that instead; a hit is
// sent with F_RESOLVED. `flags`/`mode`/`dfd` are the syscall's arguments.
static __noinline int opened_watched(long fd, u64 flags, u32 mode, s32 dfd)
{
	u32 zero = 0;
	struct pathbuf *pb = bpf_map_lookup_elem(&pathbuf, &zero);
	struct file *f = file_of_fd(fd);
	if (!pb || !f)
		return 0;
	struct path fp = {};
	if (bpf_probe_read_kernel(&fp, sizeof(fp), &f->f_path) < 0 || !fp.dentry || !fp.mnt)
		return 0;
	u64 dir = (u64)BPF_CORE_READ(fp.dentry, d_parent);
	u64 now = bpf_jiffies64();
	struct dir_verdicts *dv = bpf_map_lookup_elem(&dir_unwatched, &zero);
	u32 slot = dir_slot(dir);
	if (dv && dv->dir[slot] == dir && now < dv->until[slot])
		return 0;
	// First two bytes of the top directory's name, before copying anything.
	struct topwalk t = {
		.d = fp.dentry,
		.top = NULL,
		.mroot = BPF_CORE_READ(fp.mnt, mnt_root),
		.vm = fp.mnt,
		.m = container_of(fp.mnt, struct mount, mnt),
		.done = 0,
	};
	bpf_loop(PATH_DEPTH * 4, top_step, &t, 0);
	if (!t.done || !t.top) {
		if (!t.done)
			file_count(FS_UNRESOLVED);
		return 0;
	}
	u8 two[2] = {};
	struct dentry *top = t.top;
	bpf_probe_read_kernel(two, sizeof(two), BPF_CORE_READ(top, d_name.name));
	u8 b2 = two[1] ? two[1] : (t.top != fp.dentry ? '/' : 0);
	if (!first2_bits(two[0], b2)) {
		if (t.top != fp.dentry && dv) {
			dv->dir[slot] = dir;
			dv->until[slot] = now + DIR_VERDICT_JIFFIES;
		}
		return 0;
	}
	struct nwalk w = {};
	w.d = fp.dentry;
	w.vm = fp.mnt;
	w.m = container_of(fp.mnt, struct mount, mnt);
	w.pb = pb;
	bpf_loop(PATH_DEPTH * 2, nwalk_step, &w, 0);
	if (!w.done || w.n == 0) {
		if (!w.done)
			file_count(FS_UNRESOLVED);
		return 0;
	}
	struct jctx j = {.pb = pb, .n = w.n, .off = 0, .bad = 0};
	bpf_loop(PATH_DEPTH, join_step, &j, 0);
	if (j.bad || j.off >= FPATH) {
		file_count(FS_UNRESOLVED);
		return 0;
	}
	struct file_rec *r = file_start(open_op(flags));
	if (!r)
		return 0;
	long n = bpf_probe_read_kernel_str(r->path.data, sizeof(r->path.data), pb->in);
	if (n <= 1)
		return 0;
	r->path_len = n - 1;
	r->path.prefixlen = (n - 1) * 8;
	if (!bpf_map_lookup_elem(&watched, &r->path))
		return 0;
	r->oflags = (u32)flags;
	r->mode = mode;
	r->dfd = dfd;
	r->h.flags = F_RESOLVED;
	if (!aggregate(r))
		file_finish(r, 0);
	return 0;
}

#define OPEN_OPEN 1
#define OPEN_OPENAT 2
#define OPEN_CREAT 3
#define OPEN_OPENAT2 4

static __always_inline int open_exit(struct trace_event_raw_sys_exit *ctx, int which)
{
	if (file_exit(ctx))
		return 0;
	long ret = ctx->ret;
	if (!resolve_opens || ret < 0 || is_self())
		return 0;
	// The arguments are still in the saved user registers.
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return 0;
	u64 flags = 0;
	u32 mode = 0;
	s32 dfd = AT_FDCWD_;
	if (which == OPEN_OPENAT) {
		flags = regs->dx;
		if (!write_intent(flags))
			return 0;
		dfd = (s32)regs->di;
		mode = (u32)regs->r10;
	} else if (which == OPEN_OPEN) {
		flags = regs->si;
		if (!write_intent(flags))
			return 0;
		mode = (u32)regs->dx;
	} else if (which == OPEN_CREAT) {
		flags = O_CREAT_ | O_WRONLY_ | O_TRUNC_;
		mode = (u32)regs->si;
	} else {
		struct open_how how = {};
		if (bpf_probe_read_user(&how, sizeof(how), (void *)regs->dx) < 0)
			return 0;
		flags = how.flags;
		if (!write_intent(flags))
			return 0;
		dfd = (s32)regs->di;
		mode = (u32)how.mode;
	}
	return opened_watched(ret, flags, mode, dfd);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int sys_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return open_common(ctx, (s32)ARG(0), (const char *)ARG(1), ARG(2), (u32)ARG(3));
}

SEC("tracepoint/syscalls/sys_exit_openat")
int sys_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx, OPEN_OPENAT);
}

SEC("tracepoint/syscalls/sys_enter_open")
int sys_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	return open_common(ctx, AT_FDCWD_, (const char *)ARG(0), ARG(1), (u32)ARG(2));
}

SEC("tracepoint/syscalls/sys_exit_open")
int sys_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx, OPEN_OPEN);
}

SEC("tracepoint/syscalls/sys_enter_creat")
int sys_enter_creat(struct trace_event_raw_sys_enter *ctx)
{
	return open_common(ctx, AT_FDCWD_, (const char *)ARG(0), O_CREAT_ | O_WRONLY_ | O_TRUNC_, (u32)ARG(1));
}

SEC("tracepoint/syscalls/sys_exit_creat")
int sys_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx, OPEN_CREAT);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int sys_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};
	if (bpf_probe_read_user(&how, sizeof(how), (void *)ARG(2)) < 0)
		return 0;
	return open_common(ctx, (s32)ARG(0), (const char *)ARG(1), how.flags, (u32)how.mode);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int sys_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx, OPEN_OPENAT2);
}

// The other file syscalls: the exit only completes what the entry kept.
#define FILE_EXIT(name)                                                       \
	SEC("tracepoint/syscalls/sys_exit_" #name)                            \
	int sys_exit_##name(struct trace_event_raw_sys_exit *ctx)             \
	{                                                                     \
		file_exit(ctx);                                               \
		return 0;                                                     \
	}

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int sys_enter_unlinkat(struct trace_event_raw_sys_enter *ctx)
{
	return one_path(ctx, OP_UNLINK, (s32)ARG(0), (const char *)ARG(1), (u32)ARG(2), 0, 0, 0);
}
FILE_EXIT(unlinkat)

SEC("tracepoint/syscalls/sys_enter_unlink")
int sys_enter_unlink(struct trace_event_raw_sys_enter *ctx)
{
	return one_path(ctx, OP_UNLINK, AT_FDCWD_, (const char *)ARG(0), 0, 0, 0, 0);
}
FILE_EXIT(unlink)

SEC("tracepoint/syscalls/sys_enter_rmdir")
int sys_enter_rmdir(struct trace_event_raw_sys_enter *ctx)
{
	return one_path(ctx, OP_UNLINK, AT_FDCWD_, (const char *)ARG(0), 0x200, 0, 0, 0);
}
FILE_EXIT(rmdir)

SEC("tracepoint/syscalls/sys_enter_renameat2")
int sys_enter_renameat2(struct trace_event_raw_sys_enter *ctx)
{
	return two_paths(ctx, OP_RENAME, (s32)ARG(0), (s32)ARG(2), (const char *)ARG(1), (const char *)ARG(3),
			 (u32)ARG(4));
}
FILE_EXIT(renameat2)

SEC("tracepoint/syscalls/sys_enter_renameat")
int sys_enter_renameat(struct trace_event_raw_sys_enter *ctx)
{
	return two_paths(ctx, OP_RENAME, (s32)ARG(0), (s32)ARG(2), (const char *)ARG(1), (const char *)ARG(3), 0);
}
FILE_EXIT(renameat)

SEC("tracepoint/syscalls/sys_enter_rename")
int sys_enter_rename(struct trace_event_raw_sys_enter *ctx)
{
	return two_paths(ctx, OP_RENAME, AT_FDCWD_, AT_FDCWD_, (const char *)ARG(0), (const char *)ARG(1), 0);
}
FILE_EXIT(rename)

SEC("tracepoint/syscalls/sys_enter_linkat")
int sys_enter_linkat(struct trace_event_raw_sys_enter *ctx)
{
	return two_paths(ctx, OP_LINK, (s32)ARG(0), (s32)ARG(2), (const char *)ARG(1), (const char *)ARG(3),
			 (u32)ARG(4));
}
FILE_EXIT(linkat)

SEC("tracepoint/syscalls/sys_enter_link")
int sys_enter_link(struct trace_event_raw_sys_enter *ctx)
{
	return two_paths(ctx, OP_LINK, AT_FDCWD_, AT_FDCWD_, (const char *)ARG(0), (const char *)ARG(1), 0);
}
FILE_EXIT(link)

// symlink(target, linkpath): only the new name is a path on this system.
static __always_inline int symlink_enter(struct trace_event_raw_sys_enter *ctx, s32 dfd, const char *linkp,
					 const char *target)
{
	if (is_self())
		return 0;
	struct file_rec *r = file_start(OP_SYMLINK);
	if (!r)
		return 0;
	u32 fl = 0;
	if (!read_watched(&r->path, dfd, linkp, &r->path_len, &fl))
		return 0;
	long n = bpf_probe_read_user_str(r->path2.data, sizeof(r->path2.data), target);
	r->path2_len = n > 1 ? n - 1 : 0;
	r->dfd = dfd;
	file_stash(r, fl, (u32)ctx->id);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_symlinkat")
int sys_enter_symlinkat(struct trace_event_raw_sys_enter *ctx)
{
	return symlink_enter(ctx, (s32)ARG(1), (const char *)ARG(2), (const char *)ARG(0));
}
FILE_EXIT(symlinkat)

SEC("tracepoint/syscalls/sys_enter_symlink")
int sys_enter_symlink(struct trace_event_raw_sys_enter *ctx)
{
	return symlink_enter(ctx, AT_FDCWD_, (const char *)ARG(1), (const char *)ARG(0));
}
FILE_EXIT(symlink)

SEC("tracepoint/syscalls/sys_enter_fchmodat")
int sys_enter_fchmodat(struct trace_event_raw_sys_enter *ctx)
{
	return one_path(ctx, OP_CHMOD, (s32)ARG(0), (const char *)ARG(1), 0, (u32)ARG(2), 0, 0);
}
FILE_EXIT(fchmodat)

SEC("tracepoint/syscalls/sys_enter_fchmodat2")
int sys_enter_fchmodat2(struct trace_event_raw_sys_enter *ctx)
{
	return one_path(ctx, OP_CHMOD, (s32)ARG(0), (const char *)ARG(1), (u32)ARG(3), (u32)ARG(2), 0, 0);
}
FILE_EXIT(fchmodat2)

SEC("tracepoint/syscalls/sys_enter_chmod")
int sys_enter_chmod(struct trace_event_raw_sys_enter *ctx)
{
	return one_path(ctx, OP_CHMOD, AT_FDCWD_, (const char *)ARG(0), 0, (u32)ARG(1), 0, 0);
}
FILE_EXIT(chmod)

SEC("tracepoint/syscalls/sys_enter_fchownat")
int sys_enter_fchownat(struct trace_event_raw_sys_enter *ctx)
{
	return one_path(ctx, OP_CHOWN, (s32)ARG(0), (const char *)ARG(1), (u32)ARG(4), 0, (u32)ARG(2), (u32)ARG(3));
}
FILE_EXIT(fchownat)

SEC("tracepoint/syscalls/sys_enter_chown")
int sys_enter_chown(struct trace_event_raw_sys_enter *ctx)
{
	return one_path(ctx, OP_CHOWN, AT_FDCWD_, (const char *)ARG(0), 0, 0, (u32)ARG(1), (u32)ARG(2));
}
FILE_EXIT(chown)

SEC("tracepoint/syscalls/sys_enter_lchown")
int sys_enter_lchown(struct trace_event_raw_sys_enter *ctx)
{
	return one_path(ctx, OP_CHOWN, AT_FDCWD_, (const char *)ARG(0), 0x100, 0, (u32)ARG(1), (u32)ARG(2));
}
FILE_EXIT(lchown)

// ---------------------------------------------------------------- network

#define NET_CONNECT 1
#define NET_ACCEPT 2
#define NET_LISTEN 3
#define NET_BIND 4

static __always_inline u32 cur_tid(void)
{
	return (u32)bpf_get_current_pid_tgid();
}

// The socket behind descriptor `fd` of the current task, or NULL.
static __always_inline struct sock *sock_of_fd(u64 fd)
{
	struct file *f = file_of_fd(fd);
	if (!f)
		return NULL;
	u16 mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT_) != S_IFSOCK_)
		return NULL;
	struct socket *s = BPF_CORE_READ(f, private_data);
	return s ? BPF_CORE_READ(s, sk) : NULL;
}

// Fills family, protocol and both ends from the socket; returns 0 if not IP.
static __always_inline int fill_from_sock(struct net_rec *r, struct sock *sk)
{
	if (!sk)
		return 0;
	u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (fam != AF_INET_ && fam != AF_INET6_)
		return 0;
	r->family = fam;
	r->protocol = BPF_CORE_READ(sk, sk_protocol);
	r->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (fam == AF_INET_) {
		u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(r->saddr, &s, 4);
		__builtin_memcpy(r->daddr, &d, 4);
	} else {
		BPF_CORE_READ_INTO(&r->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&r->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
	return 1;
}

// Address from a sockaddr_in / sockaddr_in6 copied from userspace.
static __always_inline int fill_from_sa(const u8 *sa, u8 *addr, u16 *port, u16 *family)
{
	u16 fam = *(const u16 *)sa;
	if (fam != AF_INET_ && fam != AF_INET6_)
		return 0;
	*family = fam;
	*port = ((u16)sa[2] << 8) | sa[3];
	if (fam == AF_INET_)
		__builtin_memcpy(addr, sa + 4, 4);
	else
		__builtin_memcpy(addr, sa + 8, 16);
	return 1;
}

static __always_inline int stash_sockaddr(u32 op, u64 fd, const void *usa, u64 len)
{
	if (is_self())
		return 0;
	struct pending p = {};
	p.kind = K_NET;
	p.op = op;
	p.args[0] = fd;
	if (usa) {
		if (len > sizeof(p.sa))
			len = sizeof(p.sa);
		if (len < 8)
			return 0;
		barrier_var(len);
		if (len > sizeof(p.sa))
			len = sizeof(p.sa);
		if (bpf_probe_read_user(p.sa, len, usa) < 0)
			return 0;
		u16 fam = *(u16 *)p.sa;
		if (fam != AF_INET_ && fam != AF_INET6_)
			return 0;
	}
	u32 tid = cur_tid();
	bpf_map_update_elem(&inflight, &tid, &p, BPF_ANY);
	return 0;
}

static __always_inline struct net_rec *net_start(u32 op, s32 ret)
{
	struct net_rec *r = scratch_buf();
	if (!r)
		return NULL;
	__builtin_memset(r, 0, sizeof(*r));
	r->op = op;
	r->ret = ret;
	return r;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int sys_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return stash_sockaddr(NET_CONNECT, ARG(0), (const void *)ARG(1), ARG(2));
}

SEC("tracepoint/syscalls/sys_enter_bind")
int sys_enter_bind(struct trace_event_raw_sys_enter *ctx)
{
	return stash_sockaddr(NET_BIND, ARG(0), (const void *)ARG(1), ARG(2));
}

SEC("tracepoint/syscalls/sys_enter_listen")
int sys_enter_listen(struct trace_event_raw_sys_enter *ctx)
{
	return stash_sockaddr(NET_LISTEN, ARG(0), NULL, 0);
}

static __always_inline int net_exit(struct trace_event_raw_sys_exit *ctx, u32 op)
{
	u32 tid = cur_tid();
	struct pending *p = bpf_map_lookup_elem(&inflight, &tid);
	if (!p)
		return 0;
	if (p->kind != K_NET || p->op != op) {
		bpf_map_delete_elem(&inflight, &tid);
		return 0;
	}
	s32 ret = (s32)ctx->ret;
	struct net_rec *r = net_start(op, ret);
	if (!r) {
		bpf_map_delete_elem(&inflight, &tid);
		return 0;
	}
	struct sock *sk = sock_of_fd(p->args[0]);
	int ok = 0;
	if (op == NET_LISTEN) {
		ok = fill_from_sock(r, sk);
	} else if (op == NET_BIND && ret == 0) {
		// bound: the socket holds the address, with the port it was given.
		ok = fill_from_sock(r, sk);
		__builtin_memset(r->daddr, 0, sizeof(r->daddr));
		r->dport = 0;
	} else {
		// connect: destination as asked; failed bind: local address as asked.
		fill_from_sock(r, sk);
		u8 *addr = op == NET_CONNECT ? r->daddr : r->saddr;
		u16 *port = op == NET_CONNECT ? &r->dport : &r->sport;
		ok = fill_from_sa(p->sa, addr, port, &r->family);
		if (ok && op == NET_CONNECT && ret != 0 && ret != -EINPROGRESS_) {
			__builtin_memset(r->saddr, 0, sizeof(r->saddr));
			r->sport = 0;
		}
	}
	bpf_map_delete_elem(&inflight, &tid);
	if (!ok)
		return 0;
	fill_current(&r->h, K_NET);
	emit(r, sizeof(*r), K_NET);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return net_exit(ctx, NET_CONNECT);
}

SEC("tracepoint/syscalls/sys_exit_bind")
int sys_exit_bind(struct trace_event_raw_sys_exit *ctx)
{
	return net_exit(ctx, NET_BIND);
}

SEC("tracepoint/syscalls/sys_exit_listen")
int sys_exit_listen(struct trace_event_raw_sys_exit *ctx)
{
	return net_exit(ctx, NET_LISTEN);
}

static __always_inline int accept_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (is_self())
		return 0;
	long ret = ctx->ret;
	if (ret < 0)
		return 0;
	struct net_rec *r = net_start(NET_ACCEPT, 0);
	if (!r)
		return 0;
	// On the accepted socket, the peer is the remote end.
	if (!fill_from_sock(r, sock_of_fd(ret)))
		return 0;
	r->ret = (s32)ret;
	fill_current(&r->h, K_NET);
	emit(r, sizeof(*r), K_NET);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int sys_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int sys_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx);
}

// ---------------------------------------------------------------- privilege

#define P_SETUID 1
#define P_SETGID 2
#define P_SETREUID 3
#define P_SETREGID 4
#define P_SETRESUID 5
#define P_SETRESGID 6
#define P_CAPSET 7

// `nargs`: how many arguments the syscall has; reading past them makes the
// kernel refuse the attachment.
static __always_inline int priv_enter(struct trace_event_raw_sys_enter *ctx, u32 op, int gids, int nargs)
{
	if (is_self())
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	const struct cred *c = BPF_CORE_READ(t, cred);
	struct pending p = {};
	p.kind = K_PRIV;
	p.op = op;
	if (gids) {
		p.old_ids[0] = BPF_CORE_READ(c, gid.val);
		p.old_ids[1] = BPF_CORE_READ(c, egid.val);
		p.old_ids[2] = BPF_CORE_READ(c, sgid.val);
	} else {
		p.old_ids[0] = BPF_CORE_READ(c, uid.val);
		p.old_ids[1] = BPF_CORE_READ(c, euid.val);
		p.old_ids[2] = BPF_CORE_READ(c, suid.val);
	}
	if (op == P_CAPSET) {
		struct __user_cap_data_struct d[2] = {};
		bpf_probe_read_user(&d, sizeof(d), (void *)ARG(1));
		p.args[0] = (u64)d[0].effective | ((u64)d[1].effective << 32);
		p.args[1] = (u64)d[0].permitted | ((u64)d[1].permitted << 32);
	} else {
		p.args[0] = ARG(0);
		if (nargs > 1)
			p.args[1] = ARG(1);
		if (nargs > 2)
			p.args[2] = ARG(2);
	}
	u32 tid = cur_tid();
	bpf_map_update_elem(&inflight, &tid, &p, BPF_ANY);
	return 0;
}

static __always_inline int priv_exit(struct trace_event_raw_sys_exit *ctx, u32 op)
{
	u32 tid = cur_tid();
	struct pending *p = bpf_map_lookup_elem(&inflight, &tid);
	if (!p)
		return 0;
	if (p->kind != K_PRIV || p->op != op) {
		bpf_map_delete_elem(&inflight, &tid);
		return 0;
	}
	struct priv_rec *r = scratch_buf();
	if (r) {
		__builtin_memset(r, 0, sizeof(*r));
		r->op = op;
		r->ret = (s32)ctx->ret;
		r->old_ids[0] = p->old_ids[0];
		r->old_ids[1] = p->old_ids[1];
		r->old_ids[2] = p->old_ids[2];
		int n = (op == P_SETUID || op == P_SETGID) ? 1 : (op == P_SETREUID || op == P_SETREGID) ? 2 : 3;
		r->new_ids[0] = (s32)p->args[0];
		r->new_ids[1] = n > 1 ? (s64)(s32)p->args[1] : -1;
		r->new_ids[2] = n > 2 ? (s64)(s32)p->args[2] : -1;
		if (op == P_CAPSET) {
			r->new_ids[0] = r->new_ids[1] = r->new_ids[2] = -1;
			r->cap_eff = p->args[0];
			r->cap_perm = p->args[1];
		}
		fill_current(&r->h, K_PRIV);
		emit(r, sizeof(*r), K_PRIV);
	}
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

#define PRIV_PAIR(name, op, gids, nargs)                                               \
	SEC("tracepoint/syscalls/sys_enter_" #name)                               \
	int sys_enter_##name(struct trace_event_raw_sys_enter *ctx)               \
	{                                                                         \
		return priv_enter(ctx, op, gids, nargs);                                \
	}                                                                         \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                \
	int sys_exit_##name(struct trace_event_raw_sys_exit *ctx)                 \
	{                                                                         \
		return priv_exit(ctx, op);                                        \
	}

PRIV_PAIR(setuid, P_SETUID, 0, 1)
PRIV_PAIR(setgid, P_SETGID, 1, 1)
PRIV_PAIR(setreuid, P_SETREUID, 0, 2)
PRIV_PAIR(setregid, P_SETREGID, 1, 2)
PRIV_PAIR(setresuid, P_SETRESUID, 0, 3)
PRIV_PAIR(setresgid, P_SETRESGID, 1, 3)
PRIV_PAIR(capset, P_CAPSET, 0, 2)

// ---------------------------------------------------------------- ptrace, memfd, bpf, modules

#define PTRACE_TRACEME_ 0
#define PTRACE_POKETEXT_ 4
#define PTRACE_POKEDATA_ 5
#define PTRACE_POKEUSR_ 6
#define PTRACE_SETREGS_ 13
#define PTRACE_ATTACH_ 16
#define PTRACE_SEIZE_ 0x4206

SEC("tracepoint/syscalls/sys_enter_ptrace")
int sys_enter_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	if (is_self())
		return 0;
	u64 req = ARG(0);
	if (req != PTRACE_ATTACH_ && req != PTRACE_SEIZE_ && req != PTRACE_TRACEME_ && req != PTRACE_POKETEXT_ &&
	    req != PTRACE_POKEDATA_ && req != PTRACE_POKEUSR_ && req != PTRACE_SETREGS_)
		return 0;
	struct pending p = {};
	p.kind = K_PTRACE;
	p.args[0] = req;
	p.args[1] = ARG(1);
	u32 tid = cur_tid();
	bpf_map_update_elem(&inflight, &tid, &p, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int sys_exit_ptrace(struct trace_event_raw_sys_exit *ctx)
{
	u32 tid = cur_tid();
	struct pending *p = bpf_map_lookup_elem(&inflight, &tid);
	if (!p)
		return 0;
	if (p->kind == K_PTRACE) {
		struct ptrace_rec r = {};
		r.request = p->args[0];
		r.target = (u32)p->args[1];
		r.ret = (s32)ctx->ret;
		fill_current(&r.h, K_PTRACE);
		emit(&r, sizeof(r), K_PTRACE);
	}
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_memfd_create")
int sys_enter_memfd_create(struct trace_event_raw_sys_enter *ctx)
{
	if (is_self())
		return 0;
	struct memfd_rec *r = scratch_buf();
	if (!r)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));
	bpf_probe_read_user_str(r->name, sizeof(r->name), (const char *)ARG(0));
	r->mflags = (u32)ARG(1);
	fill_current(&r->h, K_MEMFD);
	emit(r, sizeof(*r), K_MEMFD);
	return 0;
}

#define BPF_PROG_LOAD_ 5

SEC("tracepoint/syscalls/sys_enter_bpf")
int sys_enter_bpf(struct trace_event_raw_sys_enter *ctx)
{
	if (is_self())
		return 0;
	if (ARG(0) != BPF_PROG_LOAD_)
		return 0;
	struct bpf_rec r = {};
	r.cmd = BPF_PROG_LOAD_;
	union bpf_attr *attr = (union bpf_attr *)ARG(1);
	bpf_probe_read_user(&r.prog_type, sizeof(r.prog_type), &attr->prog_type);
	bpf_probe_read_user(&r.name, sizeof(r.name), &attr->prog_name);
	r.name[15] = 0;
	fill_current(&r.h, K_BPF);
	emit(&r, sizeof(r), K_BPF);
	return 0;
}

// Attached only where the kernel has loadable modules.
SEC("tracepoint/syscalls/sys_enter_init_module")
int sys_enter_init_module(struct trace_event_raw_sys_enter *ctx)
{
	if (is_self())
		return 0;
	struct module_rec *r = scratch_buf();
	if (!r)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));
	r->which = 0;
	bpf_probe_read_user_str(r->args, sizeof(r->args), (const char *)ARG(2));
	fill_current(&r->h, K_MODULE);
	emit(r, sizeof(*r), K_MODULE);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_finit_module")
int sys_enter_finit_module(struct trace_event_raw_sys_enter *ctx)
{
	if (is_self())
		return 0;
	struct module_rec *r = scratch_buf();
	if (!r)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));
	r->which = 1;
	bpf_probe_read_user_str(r->args, sizeof(r->args), (const char *)ARG(1));
	fill_current(&r->h, K_MODULE);
	emit(r, sizeof(*r), K_MODULE);
	return 0;
}
