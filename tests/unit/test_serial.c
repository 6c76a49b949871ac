/* SPDX-License-Identifier: MIT */
/*
 * The 16550A console: register behaviour Linux's 8250 driver depends on
 * (probe, THRE interrupt, FIFO), output to a file, input, loopback, the
 * console tail and kernel-panic detection.  No KVM: vm_fd is -1, so the
 * interrupt line is only tracked, not injected.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/dev/power.h"
#include "vmm/dev/serial.h"
#include "vmm/evloop.h"
#include "vmm/snapshot.h"
#include "vmm/vm.h"

#define RBR 0
#define THR 0
#define IER 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

struct fix {
	struct vm vm;
	struct serial *s;
	char path[64];
};

static int fix_setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	char err[256];
	int fd;

	if (!f)
		return -1;
	f->vm.vm_fd = -1;
	f->vm.kvm_fd = -1;
	pthread_mutex_init(&f->vm.exit_lock, NULL);
	snprintf(f->path, sizeof(f->path), "/tmp/kiln-test-console-XXXXXX");
	fd = mkstemp(f->path);
	if (fd < 0)
		return -1;
	close(fd);
	if (serial_create(&f->vm, CONSOLE_FILE, f->path, &f->s, err,
			  sizeof(err)))
		return -1;
	*state = f;
	return 0;
}

static int fix_teardown(void **state)
{
	struct fix *f = *state;

	serial_destroy(f->s);
	unlink(f->path);
	pthread_mutex_destroy(&f->vm.exit_lock);
	free(f);
	return 0;
}

static uint8_t rd(struct fix *f, int reg)
{
	uint8_t v = 0;

	assert_true(
		io_dispatch(&f->vm.pio, SERIAL_COM1_PORT + reg, &v, 1, false));
	return v;
}

static void wr(struct fix *f, int reg, uint8_t v)
{
	assert_true(
		io_dispatch(&f->vm.pio, SERIAL_COM1_PORT + reg, &v, 1, true));
}

static void wr_str(struct fix *f, const char *s)
{
	while (*s)
		wr(f, THR, (uint8_t)*s++);
}

static char *file_text(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static void test_registered(void **state)
{
	struct fix *f = *state;
	uint8_t v = 0;

	assert_int_equal(f->vm.pio.n, 1);
	assert_int_equal(f->vm.pio.ranges[0].base, 0x3f8);
	assert_int_equal(f->vm.pio.ranges[0].len, 8);
	/* COM2 is absent: reads float high */
	assert_false(io_dispatch(&f->vm.pio, 0x2f8 + LSR, &v, 1, false));
	assert_int_equal(v, 0xff);
}

static void test_output(void **state)
{
	struct fix *f = *state;

	wr_str(f, "hello\r\n");
	assert_string_equal(file_text(f->path), "hello\r\n");
	/* no event loop: partial lines are not held back */
	wr_str(f, "# ");
	assert_string_equal(file_text(f->path), "hello\r\n# ");
	assert_int_equal(rd(f, LSR) & 0x60, 0x60); /* THRE | TEMT */
}

static void test_probe_registers(void **state)
{
	struct fix *f = *state;

	wr(f, SCR, 0xa5);
	assert_int_equal(rd(f, SCR), 0xa5);
	/* IER keeps only its 4 bits (else Linux sees an XScale UART) */
	wr(f, IER, 0xff);
	assert_int_equal(rd(f, IER), 0x0f);
	wr(f, IER, 0);
	/* FIFO enabled: IIR bits 7:6 set, "no interrupt" */
	wr(f, FCR, 0x01);
	assert_int_equal(rd(f, IIR), 0xc1);
	/* DLAB: divisor latch, not THR/IER */
	wr(f, LCR, 0x80);
	wr(f, 0, 0x01);
	wr(f, 1, 0x00);
	assert_int_equal(rd(f, 0), 0x01);
	assert_int_equal(rd(f, 1), 0x00);
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, LCR), 0x03);
	assert_int_equal(rd(f, IER), 0);
	assert_string_equal(file_text(f->path), "");
	/* modem status without loopback: DCD DSR CTS */
	assert_int_equal(rd(f, MSR) & 0xf0, 0xb0);
}

static void test_thre_interrupt(void **state)
{
	struct fix *f = *state;

	assert_false(serial_irq_level(f->s));
	/* enabling ETBEI with THR empty raises THRE at once */
	wr(f, IER, 0x02);
	assert_true(serial_irq_level(f->s));
	assert_int_equal(rd(f, IIR) & 0x0f, 0x02);
	/* reading IIR while THRE is the source clears it */
	assert_false(serial_irq_level(f->s));
	assert_int_equal(rd(f, IIR) & 0x0f, 0x01);
	/* THR write: sent at once, empty again, interrupt again */
	wr(f, THR, 'x');
	assert_true(serial_irq_level(f->s));
	/* disabling ETBEI drops the line */
	wr(f, IER, 0);
	assert_false(serial_irq_level(f->s));
	/* re-enable: raised again (Linux's THRE test relies on this) */
	wr(f, IER, 0x02);
	assert_int_equal(rd(f, IIR) & 0x0f, 0x02);
	wr(f, IER, 0);
	wr(f, IER, 0x02);
	assert_int_equal(rd(f, IIR) & 0x0f, 0x02);
}

static void test_input(void **state)
{
	struct fix *f = *state;
	uint8_t big[2000];

	assert_int_equal(rd(f, LSR) & 0x01, 0);
	assert_int_equal(serial_input(f->s, (const uint8_t *)"ab", 2), 2);
	assert_int_equal(rd(f, LSR) & 0x01, 1);
	assert_false(serial_irq_level(f->s)); /* RDI not enabled yet */
	wr(f, IER, 0x01);
	assert_true(serial_irq_level(f->s));
	assert_int_equal(rd(f, IIR) & 0x0f, 0x04);
	assert_int_equal(rd(f, RBR), 'a');
	assert_int_equal(rd(f, RBR), 'b');
	assert_int_equal(rd(f, LSR) & 0x01, 0);
	assert_false(serial_irq_level(f->s));
	assert_int_equal(rd(f, RBR), 0); /* empty FIFO */

	/* the FIFO takes what fits and says so; nothing is dropped */
	memset(big, 'z', sizeof(big));
	assert_int_equal(serial_input(f->s, big, sizeof(big)), 1024);
	assert_int_equal(serial_input(f->s, big, 1), 0);
	wr(f, FCR, 0x03); /* clear RX */
	assert_int_equal(rd(f, LSR) & 0x01, 0);
	assert_int_equal(serial_input(f->s, big, 1), 1);
}

static void test_loopback(void **state)
{
	struct fix *f = *state;

	wr(f, MCR, 0x10 | 0x0a); /* loop, RTS, OUT2 */
	assert_int_equal(rd(f, MSR) & 0xf0, 0x90); /* CTS, DCD */
	wr(f, THR, 'q');
	assert_int_equal(rd(f, LSR) & 0x01, 1);
	assert_int_equal(rd(f, RBR), 'q');
	wr(f, MCR, 0x08);
	assert_string_equal(file_text(f->path), ""); /* not transmitted */
}

static void test_panic_and_tail(void **state)
{
	struct fix *f = *state;
	FILE *tail;
	char line[64], *text;
	size_t len;

	for (int i = 0; i < 70; i++) {
		snprintf(line, sizeof(line), "[    %d.000] line %d\r\n", i, i);
		wr_str(f, line);
	}
	assert_false(serial_panic_seen(f->s));
	assert_false(f->vm.guest_panicked);
	wr_str(f, "[   70.000] Kernel panic - not syncing: Attempted to kill "
		  "init!\r\n");
	assert_true(serial_panic_seen(f->s));
	assert_true(f->vm.guest_panicked);
	wr_str(f, "partial");

	tail = open_memstream(&text, &len);
	serial_dump_tail(f->s, tail, "> ");
	fclose(tail);
	/* 64 complete lines kept: lines 7..69 and the panic, then partial */
	assert_null(strstr(text, "line 6\n"));
	assert_non_null(strstr(text, "> [    7.000] line 7\n"));
	assert_non_null(strstr(text, "line 69\n> [   70.000] Kernel panic"));
	assert_non_null(strstr(text, "\n> partial\n"));
	assert_null(strchr(text, '\r'));
	free(text);
}

static void test_power_ports(void **state)
{
	struct fix *f = *state;
	uint8_t v = 0;

	assert_int_equal(power_create(&f->vm), 0);
	/* reads: no keyboard controller */
	assert_true(io_dispatch(&f->vm.pio, 0x64, &v, 1, false));
	assert_int_equal(v, 0xff);
	v = 0xaa; /* other i8042 commands do nothing */
	assert_true(io_dispatch(&f->vm.pio, 0x64, &v, 1, true));
	assert_false(f->vm.exiting);
	v = 0xfe;
	assert_true(io_dispatch(&f->vm.pio, 0x64, &v, 1, true));
	assert_true(f->vm.exiting);
	assert_int_equal(f->vm.exit_reason, VM_EXIT_REBOOT);

	/* the first reason sticks */
	v = 0;
	assert_true(io_dispatch(&f->vm.pio, 0x501, &v, 1, true));
	assert_int_equal(f->vm.exit_reason, VM_EXIT_REBOOT);

	f->vm.exiting = false;
	assert_true(io_dispatch(&f->vm.pio, 0x501, &v, 1, true));
	assert_int_equal(f->vm.exit_reason, VM_EXIT_POWEROFF);

	/* a reset after a kernel panic is a crash */
	f->vm.exiting = false;
	wr_str(f, "Kernel panic - not syncing: VFS\n");
	v = 0xfe;
	assert_true(io_dispatch(&f->vm.pio, 0x64, &v, 1, true));
	assert_int_equal(f->vm.exit_reason, VM_EXIT_CRASH);
}

static void test_bad_console_path(void **state)
{
	struct vm vm = {.vm_fd = -1};
	struct serial *s;
	char err[256];

	(void)state;
	assert_int_equal(serial_create(&vm, CONSOLE_FILE,
				       "/nonexistent/dir/console.log", &s, err,
				       sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "/nonexistent/dir/console.log"));
}

static void *loop_thread(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static double now_sec(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Poll (with a deadline) until the event loop has drained the pipe. */
static void wait_pipe_drained(int rfd)
{
	double deadline = now_sec() + 5;
	int avail = 1;

	while (now_sec() < deadline) {
		assert_int_equal(ioctl(rfd, FIONREAD, &avail), 0);
		if (!avail)
			return;
		poll(NULL, 0, 1);
	}
	fail_msg("the event loop did not read stdin within 5 s");
}

/*
 * stdin as console input: bytes that arrive before the guest driver has
 * enabled the receive interrupt are held back, not put in a FIFO the
 * driver flushes when it opens the port.
 */
static void test_stdin_held_until_rx_enabled(void **state)
{
	struct vm vm = {.vm_fd = -1};
	struct serial *s;
	char err[256];
	int p[2], saved_stdin = dup(STDIN_FILENO);
	pthread_t t;
	uint8_t v;

	(void)state;
	pthread_mutex_init(&vm.exit_lock, NULL);
	vm.loop = evloop_new();
	assert_non_null(vm.loop);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
	assert_int_equal(
		serial_create(&vm, CONSOLE_STDOUT, NULL, &s, err, sizeof(err)),
		0);
	assert_int_equal(pthread_create(&t, NULL, loop_thread, vm.loop), 0);

	assert_int_equal(write(p[1], "abc", 3), 3);
	wait_pipe_drained(p[0]);
	v = 0;
	io_dispatch(&vm.pio, SERIAL_COM1_PORT + LSR, &v, 1, false);
	assert_int_equal(v & 0x01, 0); /* held back */
	/* a probe that flips IER alone does not count as an open port */
	v = 0x0f;
	io_dispatch(&vm.pio, SERIAL_COM1_PORT + IER, &v, 1, true);
	io_dispatch(&vm.pio, SERIAL_COM1_PORT + LSR, &v, 1, false);
	assert_int_equal(v & 0x01, 0);
	v = 0;
	io_dispatch(&vm.pio, SERIAL_COM1_PORT + IER, &v, 1, true);
	/* open: DTR | RTS | OUT2, then the receive interrupt */
	v = 0x0b;
	io_dispatch(&vm.pio, SERIAL_COM1_PORT + MCR, &v, 1, true);
	v = 0x05; /* IER: receive data + line status */
	io_dispatch(&vm.pio, SERIAL_COM1_PORT + IER, &v, 1, true);
	assert_true(serial_irq_level(s));
	for (const char *c = "abc"; *c; c++) {
		io_dispatch(&vm.pio, SERIAL_COM1_PORT + RBR, &v, 1, false);
		assert_int_equal(v, *c);
	}
	io_dispatch(&vm.pio, SERIAL_COM1_PORT + LSR, &v, 1, false);
	assert_int_equal(v & 0x01, 0);

	/* later input flows straight through */
	assert_int_equal(write(p[1], "d", 1), 1);
	wait_pipe_drained(p[0]);
	{
		double deadline = now_sec() + 5;

		do {
			io_dispatch(&vm.pio, SERIAL_COM1_PORT + LSR, &v, 1,
				    false);
		} while (!(v & 1) && now_sec() < deadline);
	}
	io_dispatch(&vm.pio, SERIAL_COM1_PORT + RBR, &v, 1, false);
	assert_int_equal(v, 'd');

	evloop_stop(vm.loop, 0);
	pthread_join(t, NULL);
	serial_destroy(s);
	close(p[1]);
	close(p[0]);
	dup2(saved_stdin, STDIN_FILENO);
	close(saved_stdin);
	evloop_free(vm.loop);
	pthread_mutex_destroy(&vm.exit_lock);
}

/* A second, fresh UART in a VM of its own: the restore target. */
struct fresh {
	struct vm vm;
	struct serial *s;
};

static void fresh_init(struct fresh *n)
{
	char err[256];

	memset(n, 0, sizeof(*n));
	n->vm.vm_fd = n->vm.kvm_fd = -1;
	pthread_mutex_init(&n->vm.exit_lock, NULL);
	assert_int_equal(serial_create(&n->vm, CONSOLE_NONE, NULL, &n->s, err,
				       sizeof(err)),
			 0);
}

static void fresh_free(struct fresh *n)
{
	serial_destroy(n->s);
	pthread_mutex_destroy(&n->vm.exit_lock);
}

static uint8_t frd(struct fresh *n, int reg)
{
	uint8_t v = 0;

	assert_true(
		io_dispatch(&n->vm.pio, SERIAL_COM1_PORT + reg, &v, 1, false));
	return v;
}

static int restore_bytes(struct fresh *n, const uint8_t *p, size_t len,
			 char *err, size_t errlen)
{
	struct snap_reader r;

	snap_reader_init(&r, p, len);
	return serial_restore(n->s, &r, err, errlen);
}

static void test_snapshot_round_trip(void **state)
{
	struct fix *f = *state;
	struct snap_buf b;
	struct fresh n;
	char err[256];

	/* Linux's set-up: 115200 8N1, FIFO, RX interrupt, OUT2; then input
	 * the guest has only partly read, and a modem status change. */
	wr(f, LCR, 0x83);
	wr(f, THR, 0x01); /* DLL */
	wr(f, IER, 0x00); /* DLM */
	wr(f, LCR, 0x03);
	wr(f, FCR, 0xc1);
	wr(f, MCR, 0x0b);
	wr(f, SCR, 0x5a);
	wr(f, IER, 0x05);
	assert_int_equal(serial_input(f->s, (const uint8_t *)"hello", 5), 5);
	assert_int_equal(rd(f, RBR), 'h');
	assert_true(serial_irq_level(f->s));

	snap_buf_init(&b);
	assert_int_equal(serial_save(f->s, &b), 0);
	fresh_init(&n);
	assert_false(serial_irq_level(n.s));
	assert_int_equal(restore_bytes(&n, b.data, b.len, err, sizeof(err)), 0);
	/* the same registers, the same pending input, the line raised */
	assert_true(serial_irq_level(n.s));
	assert_int_equal(frd(&n, LCR), 0x03);
	assert_int_equal(frd(&n, MCR), 0x0b);
	assert_int_equal(frd(&n, SCR), 0x5a);
	assert_int_equal(frd(&n, IER), 0x05);
	assert_int_equal(frd(&n, IIR), 0xc4); /* FIFO on, RX data */
	{
		uint8_t v = 0x83;

		io_dispatch(&n.vm.pio, SERIAL_COM1_PORT + LCR, &v, 1, true);
		assert_int_equal(frd(&n, RBR), 0x01); /* DLL */
		assert_int_equal(frd(&n, IER), 0x00); /* DLM */
		v = 0x03;
		io_dispatch(&n.vm.pio, SERIAL_COM1_PORT + LCR, &v, 1, true);
	}
	assert_int_equal(frd(&n, RBR), 'e');
	assert_int_equal(frd(&n, RBR), 'l');
	assert_int_equal(frd(&n, RBR), 'l');
	assert_int_equal(frd(&n, RBR), 'o');
	assert_int_equal(frd(&n, LSR) & 0x01, 0);
	assert_false(serial_irq_level(n.s));
	/* and it keeps working: new input arrives after the old */
	assert_int_equal(serial_input(n.s, (const uint8_t *)"!", 1), 1);
	assert_true(serial_irq_level(n.s));
	assert_int_equal(frd(&n, RBR), '!');
	fresh_free(&n);
	snap_buf_free(&b);
}

static void test_snapshot_full_fifo(void **state)
{
	struct fix *f = *state;
	uint8_t big[1024];
	struct snap_buf b;
	struct fresh n;
	char err[256];

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	/* wrap the ring first so the saved bytes do not start at 0 */
	assert_int_equal(serial_input(f->s, big, 10), 10);
	for (int i = 0; i < 10; i++)
		rd(f, RBR);
	assert_int_equal(serial_input(f->s, big, sizeof(big)), 1024);
	snap_buf_init(&b);
	assert_int_equal(serial_save(f->s, &b), 0);
	fresh_init(&n);
	assert_int_equal(restore_bytes(&n, b.data, b.len, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(big); i++)
		assert_int_equal(frd(&n, RBR), big[i]);
	assert_int_equal(frd(&n, LSR) & 0x01, 0);
	fresh_free(&n);
	snap_buf_free(&b);
}

static void test_snapshot_corrupt(void **state)
{
	struct fix *f = *state;
	struct snap_buf b;
	struct fresh n;
	uint8_t *copy;
	char err[256];
	static const struct {
		size_t off;
		uint8_t v;
	} bad[] = {
		{0, 0x10}, /* IER bit 4 */
		{2, 0x20}, /* MCR bit 5 */
		{6, 0x02}, /* FCR clear bit is never stored */
		{7, 0x10}, /* MSR delta beyond bits 0-3 */
		{8, 2}, /* overrun flag */
		{10, 7}, /* irq level */
		{14, 0x04}, /* rx length 0x04000002 */
	};

	wr(f, IER, 0x01);
	assert_int_equal(serial_input(f->s, (const uint8_t *)"ab", 2), 2);
	snap_buf_init(&b);
	assert_int_equal(serial_save(f->s, &b), 0);
	assert_int_equal(b.len, 11 + 4 + 2);
	fresh_init(&n);

	/* every truncation is refused and changes nothing */
	for (size_t cut = 0; cut < b.len; cut++) {
		assert_int_equal(
			restore_bytes(&n, b.data, cut, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "truncated"));
		assert_int_equal(frd(&n, IER), 0);
		assert_int_equal(frd(&n, LSR) & 0x01, 0);
		assert_false(serial_irq_level(n.s));
	}
	copy = malloc(b.len);
	assert_non_null(copy);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(copy, b.data, b.len);
		copy[bad[i].off] = bad[i].v;
		assert_int_equal(
			restore_bytes(&n, copy, b.len, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "corrupt"));
		assert_int_equal(frd(&n, IER), 0);
		assert_int_equal(frd(&n, LSR) & 0x01, 0);
	}
	/* a FIFO longer than the UART's */
	memcpy(copy, b.data, b.len);
	copy[11] = 0x01;
	copy[12] = 0x04; /* 1025 */
	assert_int_equal(restore_bytes(&n, copy, b.len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "FIFO"));
	free(copy);
	fresh_free(&n);
	snap_buf_free(&b);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fix_setup, fix_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_registered),
		T(test_output),
		T(test_probe_registers),
		T(test_thre_interrupt),
		T(test_input),
		T(test_loopback),
		T(test_panic_and_tail),
		T(test_power_ports),
		T(test_snapshot_round_trip),
		T(test_snapshot_full_fifo),
		T(test_snapshot_corrupt),
		cmocka_unit_test(test_bad_console_path),
		cmocka_unit_test(test_stdin_held_until_rx_enabled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
