/* SPDX-License-Identifier: MIT */
/*
 * Guest-side test of patches/0003 (run a SYSCALL that faulted at
 * entry_SYSCALL_64 from the page-fault handler).  On kvm_pvm every system
 * call takes that path; under QEMU TCG or hardware KVM none does, so this
 * program reproduces the fault itself: it loads RCX (return address) and R11
 * (flags) the way the broken SYSCALL delivery does and jumps to the kernel's
 * entry_SYSCALL_64 (address in argv[1], from `nm vmlinux`).
 *
 * It checks that the system call ran with its arguments, returned to RCX
 * with RAX = result, that R11 could not raise IOPL or clear IF, that a
 * user-settable flag (CF) came through, and that a non-canonical return
 * address kills only the process (SIGSEGV), not the kernel.
 *
 * Static, no libc beyond the basics: it runs as a guest process of
 * guest/test-boot-qemu.sh.  Prints "syscall-fixup: ok" and exits 0 on
 * success; prints what failed and exits 1 otherwise.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define FLAG_CF 0x1UL
#define FLAG_IF 0x200UL
#define FLAG_IOPL 0x3000UL

struct fixup_result {
	unsigned long ret;
	unsigned long flags;
};

/*
 * Jump to @entry as if SYSCALL had left us there in user mode: RAX = @nr,
 * RDI/RSI/RDX = arguments, RCX = @ret_addr (0: the label after the jump),
 * R11 = @r11.  The kernel returns to RCX; the flags are read right there.
 */
static struct fixup_result fixup_call(unsigned long entry, unsigned long nr,
				      unsigned long a0, unsigned long a1,
				      unsigned long a2, unsigned long r11,
				      unsigned long ret_addr)
{
	struct fixup_result r;
	register unsigned long rdi asm("rdi") = a0;
	register unsigned long rsi asm("rsi") = a1;
	register unsigned long rdx asm("rdx") = a2;

	asm volatile(
		"lea 1f(%%rip), %%rcx\n\t"
		"test %[ret_addr], %[ret_addr]\n\t"
		"cmovnz %[ret_addr], %%rcx\n\t"
		"mov %[r11], %%r11\n\t"
		"jmp *%[entry]\n"
		"1:\n\t"
		"pushfq\n\t"
		"pop %[flags]\n\t"
		"cld\n\t"
		: "+a"(nr), [flags] "=&r"(r.flags), "+r"(rdi), "+r"(rsi),
		  "+r"(rdx)
		: [entry] "r"(entry), [r11] "r"(r11), [ret_addr] "r"(ret_addr)
		: "rcx", "r11", "cc", "memory");
	r.ret = nr;
	return r;
}

static int check_return_path(unsigned long entry)
{
	static const char msg[] = "syscall-fixup: write via fault path\n";
	/* IOPL 3 and IF clear requested: both must be refused; CF kept. */
	unsigned long r11 = FLAG_IOPL | FLAG_CF | 0x2;
	struct fixup_result r;

	r = fixup_call(entry, SYS_write, 1, (unsigned long)msg, sizeof(msg) - 1,
		       r11, 0);
	if (r.ret != sizeof(msg) - 1) {
		printf("syscall-fixup: FAIL write returned %ld, want %zu\n",
		       (long)r.ret, sizeof(msg) - 1);
		return -1;
	}
	if (r.flags & FLAG_IOPL) {
		printf("syscall-fixup: FAIL IOPL raised (flags %#lx)\n",
		       r.flags);
		return -1;
	}
	if (!(r.flags & FLAG_IF)) {
		printf("syscall-fixup: FAIL IF clear in user mode (flags "
		       "%#lx)\n",
		       r.flags);
		return -1;
	}
	if (!(r.flags & FLAG_CF)) {
		printf("syscall-fixup: FAIL CF from R11 lost (flags %#lx)\n",
		       r.flags);
		return -1;
	}
	r = fixup_call(entry, SYS_getpid, 0, 0, 0, 0x2, 0);
	if ((long)r.ret != getpid()) {
		printf("syscall-fixup: FAIL getpid gave %ld, want %ld\n",
		       (long)r.ret, (long)getpid());
		return -1;
	}
	/* An unknown system call number must give -ENOSYS, as SYSCALL does. */
	r = fixup_call(entry, 100000, 0, 0, 0, 0x2, 0);
	if ((long)r.ret != -ENOSYS) {
		printf("syscall-fixup: FAIL unknown syscall gave %ld, want "
		       "%d\n",
		       (long)r.ret, -ENOSYS);
		return -1;
	}
	return 0;
}

/* A non-canonical return address must cost the process, not the kernel. */
static int check_bad_return(unsigned long entry)
{
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		printf("syscall-fixup: FAIL fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		fixup_call(entry, SYS_getpid, 0, 0, 0, 0x2,
			   0x8000000000000000UL);
		_exit(0); /* returned to a non-canonical address: wrong */
	}
	if (waitpid(pid, &status, 0) != pid) {
		printf("syscall-fixup: FAIL waitpid: %s\n", strerror(errno));
		return -1;
	}
	if (!WIFSIGNALED(status) ||
	    (WTERMSIG(status) != SIGSEGV && WTERMSIG(status) != SIGBUS)) {
		printf("syscall-fixup: FAIL bad return address: status %#x, "
		       "want SIGSEGV\n",
		       status);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long entry;
	char *end;

	if (argc != 2) {
		fprintf(stderr, "usage: %s ENTRY_SYSCALL_64_ADDRESS (hex)\n",
			argv[0]);
		return 2;
	}
	errno = 0;
	entry = strtoul(argv[1], &end, 16);
	if (errno || *end || entry < 0xffff800000000000UL) {
		fprintf(stderr, "%s: '%s' is not a kernel address\n", argv[0],
			argv[1]);
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	if (check_return_path(entry) || check_bad_return(entry))
		return 1;
	printf("syscall-fixup: ok\n");
	return 0;
}
