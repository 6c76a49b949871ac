/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART (see serial.h).  Transmission is instantaneous: THR is
 * always empty again by the time the guest looks, which Linux handles
 * fine.  The THRE interrupt follows the chip: raised when THR becomes empty
 * with ETBEI set, or when ETBEI is switched on while THR is empty; cleared
 * by reading IIR while it is the reported source, or by writing THR.
 *
 * Locking: s->lock covers everything; register accesses come from vCPU
 * threads, input and the flush timer from the event loop thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "vmm/dev/serial.h"
#include "vmm/evloop.h"
#include "vmm/io.h"
#include "vmm/snapshot.h"
#include "vmm/vm.h"

/* Register offsets */
#define UART_RBR 0 /* read, DLAB = 0 */
#define UART_THR 0 /* write, DLAB = 0 */
#define UART_DLL 0 /* DLAB = 1 */
#define UART_IER 1 /* DLAB = 0 */
#define UART_DLM 1 /* DLAB = 1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI 0x01 /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI 0x08 /* modem status */

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_FIFO_ENABLED 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

#define SERIAL_RX_SIZE 1024
#define SERIAL_OUT_SIZE 4096
#define SERIAL_FLUSH_DELAY_NS (20 * 1000 * 1000)
/* A console reader that takes no bytes for this long is given up on. */
#define SERIAL_STALL_MS 30000

struct serial {
	struct vm *vm;
	pthread_mutex_t lock;

	/* registers */
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	uint8_t msr_delta; /* MSR bits 0-3 */
	bool overrun;
	bool thri_pending;
	bool irq_level;

	/* receive FIFO (host input) */
	uint8_t rx[SERIAL_RX_SIZE];
	size_t rx_head, rx_len;

	/* output */
	int out_fd; /* -1: none */
	bool out_owned; /* we opened it */
	bool out_broken;
	uint8_t obuf[SERIAL_OUT_SIZE];
	size_t olen;
	int timer_fd;
	bool timer_armed;

	/* input: bytes read from in_fd that did not fit rx yet */
	int in_fd; /* -1: none */
	bool in_paused;
	uint8_t in_buf[SERIAL_RX_SIZE];
	size_t in_off, in_len;
	bool tty_raw;
	struct termios saved_tty;

	/* console tail */
	char tail[SERIAL_TAIL_LINES][SERIAL_TAIL_COLS];
	int tail_next, tail_count;
	char cur[SERIAL_TAIL_COLS];
	size_t cur_len;
	bool panic;
};

static void serial_update_irq(struct serial *s);
static void serial_stdin_event(void *opaque, uint32_t events);

static uint8_t serial_iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO_ENABLED : 0;

	/* in priority order */
	if ((s->ier & IER_RLSI) && s->overrun)
		return fifo | IIR_RLSI;
	if ((s->ier & IER_RDI) && s->rx_len)
		return fifo | IIR_RDI;
	if ((s->ier & IER_THRI) && s->thri_pending)
		return fifo | IIR_THRI;
	if ((s->ier & IER_MSI) && s->msr_delta)
		return fifo | IIR_MSI;
	return fifo | IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
	bool level = !(serial_iir(s) & IIR_NO_INT);
	struct kvm_irq_level irq = {.irq = SERIAL_COM1_IRQ};

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	if (s->vm->vm_fd < 0)
		return;
	irq.level = level;
	ioctl(s->vm->vm_fd, KVM_IRQ_LINE, &irq);
}

/* Write out the buffer; called with the lock held. */
static void serial_flush_locked(struct serial *s)
{
	size_t done = 0;
	int stalled_ms = 0;

	while (done < s->olen && !s->out_broken) {
		ssize_t n = write(s->out_fd, s->obuf + done, s->olen - done);

		if (n > 0) {
			done += (size_t)n;
			stalled_ms = 0;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && stalled_ms < SERIAL_STALL_MS) {
			/* Non-blocking stdout: wait for room, with a bound. */
			struct pollfd p = {.fd = s->out_fd, .events = POLLOUT};

			if (poll(&p, 1, 1000) == 0)
				stalled_ms += 1000;
			continue;
		}
		fprintf(stderr,
			"kiln-vmm: console output failed (%s); further guest "
			"output is dropped\n",
			n < 0 ? strerror(errno) : "stalled");
		s->out_broken = true;
	}
	s->olen = 0;
}

void serial_flush(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	serial_flush_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_timer_event(void *opaque, uint32_t events)
{
	struct serial *s = opaque;
	uint64_t ticks;

	(void)events;
	if (read(s->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&s->lock);
	s->timer_armed = false;
	serial_flush_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_tail_commit(struct serial *s)
{
	s->cur[s->cur_len] = '\0';
	if (!s->panic && strstr(s->cur, SERIAL_PANIC_MARKER)) {
		s->panic = true;
		__atomic_store_n(&s->vm->guest_panicked, true,
				 __ATOMIC_RELEASE);
	}
	memcpy(s->tail[s->tail_next], s->cur, s->cur_len + 1);
	s->tail_next = (s->tail_next + 1) % SERIAL_TAIL_LINES;
	if (s->tail_count < SERIAL_TAIL_LINES)
		s->tail_count++;
	s->cur_len = 0;
}

static void serial_tail_byte(struct serial *s, uint8_t c)
{
	if (c == '\n') {
		serial_tail_commit(s);
		return;
	}
	if (c != '\t' && (c < 0x20 || c > 0x7e))
		return; /* \r, escapes: not useful in a report */
	s->cur[s->cur_len++] = (char)c;
	if (s->cur_len == SERIAL_TAIL_COLS - 1)
		serial_tail_commit(s);
}

static void serial_arm_timer(struct serial *s)
{
	struct itimerspec its = {.it_value = {0, SERIAL_FLUSH_DELAY_NS}};

	if (s->timer_armed || s->timer_fd < 0)
		return;
	if (timerfd_settime(s->timer_fd, 0, &its, NULL) == 0)
		s->timer_armed = true;
}

static void serial_transmit(struct serial *s, uint8_t c)
{
	serial_tail_byte(s, c);
	if (s->out_fd < 0 || s->out_broken)
		return;
	s->obuf[s->olen++] = c;
	if (c == '\n' || s->olen == sizeof(s->obuf) || s->timer_fd < 0)
		serial_flush_locked(s);
	else
		serial_arm_timer(s);
}

static bool serial_rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_len == SERIAL_RX_SIZE) {
		s->overrun = true;
		return false;
	}
	s->rx[(s->rx_head + s->rx_len) % SERIAL_RX_SIZE] = c;
	s->rx_len++;
	return true;
}

/*
 * Is a driver listening?  Linux probes the UART (briefly setting IER to
 * 0x0f, looping back) and flushes the FIFO when it opens the port, so host
 * input handed over before that (a script piped to stdin) would be lost.
 * It is held back until the port is open: receive interrupt enabled, OUT2
 * (the PC's interrupt gate) set, not in loopback.
 */
static bool serial_rx_open(const struct serial *s)
{
	return (s->ier & IER_RDI) && (s->mcr & MCR_OUT2) &&
	       !(s->mcr & MCR_LOOP);
}

/*
 * Move pending host input into the FIFO; poll for more once all of it
 * fits.  Called with the lock held whenever the FIFO shrinks or IER/MCR
 * change.
 */
static void serial_input_resume(struct serial *s)
{
	while (s->in_len && s->rx_len < SERIAL_RX_SIZE && serial_rx_open(s)) {
		serial_rx_push(s, s->in_buf[s->in_off++]);
		s->in_len--;
	}
	if (s->in_fd >= 0 && s->in_paused && !s->in_len && s->vm->loop) {
		if (evloop_add(s->vm->loop, s->in_fd, EPOLLIN,
			       serial_stdin_event, s) == 0)
			s->in_paused = false;
	}
}

static uint8_t serial_msr(const struct serial *s)
{
	uint8_t m;

	if (s->mcr & MCR_LOOP) {
		/* Loopback: the modem outputs feed the modem inputs. */
		m = ((s->mcr & MCR_DTR) ? MSR_DSR : 0) |
		    ((s->mcr & MCR_RTS) ? MSR_CTS : 0) |
		    ((s->mcr & MCR_OUT1) ? MSR_RI : 0) |
		    ((s->mcr & MCR_OUT2) ? MSR_DCD : 0);
	} else {
		m = MSR_DCD | MSR_DSR | MSR_CTS; /* a cable, a peer */
	}
	return m | s->msr_delta;
}

static void serial_set_mcr(struct serial *s, uint8_t v)
{
	uint8_t before = serial_msr(s) & 0xf0, after;

	s->mcr = v & 0x1f;
	after = serial_msr(s) & 0xf0;
	if ((before ^ after) & MSR_CTS)
		s->msr_delta |= MSR_DCTS;
	if ((before ^ after) & MSR_DSR)
		s->msr_delta |= MSR_DDSR;
	if ((before & MSR_RI) && !(after & MSR_RI))
		s->msr_delta |= MSR_TERI;
	if ((before ^ after) & MSR_DCD)
		s->msr_delta |= MSR_DDCD;
}

static uint8_t serial_read(struct serial *s, uint64_t off)
{
	uint8_t v;

	switch (off) {
	case UART_RBR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (!s->rx_len)
			return 0;
		v = s->rx[s->rx_head];
		s->rx_head = (s->rx_head + 1) % SERIAL_RX_SIZE;
		s->rx_len--;
		serial_input_resume(s);
		return v;
	case UART_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case UART_IIR:
		v = serial_iir(s);
		if ((v & 0x0f) == IIR_THRI)
			s->thri_pending = false;
		return v;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = LSR_THRE | LSR_TEMT | (s->rx_len ? LSR_DR : 0) |
		    (s->overrun ? LSR_OE : 0);
		s->overrun = false;
		return v;
	case UART_MSR:
		v = serial_msr(s);
		s->msr_delta = 0;
		return v;
	default:
		return s->scr;
	}
}

static void serial_write(struct serial *s, uint64_t off, uint8_t v)
{
	switch (off) {
	case UART_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			break;
		}
		if (s->mcr & MCR_LOOP)
			serial_rx_push(s, v);
		else
			serial_transmit(s, v);
		s->thri_pending = true; /* sent at once: THR empty again */
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		/* Enabling ETBEI with THR empty raises THRE at once. */
		if ((v & IER_THRI) && !(s->ier & IER_THRI))
			s->thri_pending = true;
		s->ier = v & 0x0f; /* bits 4-7 read as 0 on a 16550A */
		serial_input_resume(s);
		break;
	case UART_FCR:
		if (v & FCR_CLEAR_RX) {
			s->rx_len = 0;
			serial_input_resume(s);
		}
		s->fcr = v & (FCR_ENABLE | 0xc0);
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		serial_set_mcr(s, v);
		serial_input_resume(s);
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* factory test registers: ignored */
	default:
		s->scr = v;
		break;
	}
}

void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
	       bool is_write)
{
	struct serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	/* 8-bit registers; a wider access touches the first one only. */
	if (is_write) {
		serial_write(s, offset, data[0]);
	} else {
		data[0] = serial_read(s, offset);
		memset(data + 1, 0, len - 1);
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

size_t serial_input(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	while (n < len && s->rx_len < SERIAL_RX_SIZE)
		serial_rx_push(s, buf[n++]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool serial_irq_level(struct serial *s)
{
	bool v;

	pthread_mutex_lock(&s->lock);
	v = s->irq_level;
	pthread_mutex_unlock(&s->lock);
	return v;
}

static void serial_stdin_event(void *opaque, uint32_t events)
{
	struct serial *s = opaque;
	bool idle;
	ssize_t n;

	(void)events;
	pthread_mutex_lock(&s->lock);
	idle = s->in_len == 0;
	pthread_mutex_unlock(&s->lock);
	if (!idle)
		return; /* paused; serial_input_resume() restarts polling */

	/* Only this thread fills in_buf, and only while in_len == 0. */
	n = read(s->in_fd, s->in_buf, sizeof(s->in_buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* EOF or error: the console has no more input. */
		evloop_del(s->vm->loop, s->in_fd);
		pthread_mutex_lock(&s->lock);
		s->in_fd = -1;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->in_off = 0;
	s->in_len = (size_t)n;
	serial_input_resume(s);
	if (s->in_len && !s->in_paused) {
		/* The guest is not reading fast enough: stop polling (even
		 * for hangups, which epoll always reports) until it drains
		 * the FIFO, so no byte is dropped. */
		if (evloop_del(s->vm->loop, s->in_fd) == 0)
			s->in_paused = true;
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_setup_stdin(struct serial *s)
{
	struct stat st;
	struct termios raw;

	if (!s->vm->loop || fstat(STDIN_FILENO, &st) < 0)
		return;
	/* Regular files and /dev/null cannot be polled; a terminal, pipe or
	 * socket can. */
	if (!(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
	      (S_ISCHR(st.st_mode) && isatty(STDIN_FILENO))))
		return;
	if (isatty(STDIN_FILENO) &&
	    tcgetattr(STDIN_FILENO, &s->saved_tty) == 0) {
		raw = s->saved_tty;
		cfmakeraw(&raw);
		raw.c_lflag |= ISIG; /* Ctrl-C still stops the VMM */
		raw.c_oflag |= OPOST | ONLCR;
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
			s->tty_raw = true;
	}
	if (evloop_add(s->vm->loop, STDIN_FILENO, EPOLLIN, serial_stdin_event,
		       s) == 0)
		s->in_fd = STDIN_FILENO;
}

int serial_create(struct vm *vm, enum console_mode mode, const char *path,
		  struct serial **out, char *err, size_t errlen)
{
	struct serial *s = calloc(1, sizeof(*s));
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->vm = vm;
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = -1;
	s->in_fd = -1;
	s->timer_fd = -1;
	if (mode == CONSOLE_STDOUT) {
		s->out_fd = STDOUT_FILENO;
	} else if (mode == CONSOLE_FILE) {
		s->out_fd = open(path,
				 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
					 O_NOCTTY,
				 0600);
		if (s->out_fd < 0) {
			snprintf(err, errlen, "cannot open console file %s: %s",
				 path, strerror(errno));
			goto fail;
		}
		s->out_owned = true;
	}
	if (vm->loop && s->out_fd >= 0) {
		s->timer_fd = timerfd_create(CLOCK_MONOTONIC,
					     TFD_CLOEXEC | TFD_NONBLOCK);
		if (s->timer_fd >= 0 &&
		    evloop_add(vm->loop, s->timer_fd, EPOLLIN,
			       serial_timer_event, s)) {
			close(s->timer_fd);
			s->timer_fd = -1; /* flush at every byte instead */
		}
	}
	rc = io_register(&vm->pio, SERIAL_COM1_PORT, 8, serial_io, s);
	if (rc) {
		snprintf(err, errlen, "cannot claim COM1 ports: %s",
			 strerror(-rc));
		goto fail;
	}
	if (mode == CONSOLE_STDOUT)
		serial_setup_stdin(s);
	*out = s;
	return 0;
fail:
	serial_destroy(s);
	return -1;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	serial_flush(s);
	if (s->in_fd >= 0 && !s->in_paused && s->vm->loop)
		evloop_del(s->vm->loop, s->in_fd);
	if (s->tty_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &s->saved_tty);
	if (s->timer_fd >= 0) {
		if (s->vm->loop)
			evloop_del(s->vm->loop, s->timer_fd);
		close(s->timer_fd);
	}
	if (s->out_owned)
		close(s->out_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void serial_dump_tail(struct serial *s, FILE *f, const char *prefix)
{
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->tail_count; i++) {
		int idx =
			(s->tail_next - s->tail_count + i + SERIAL_TAIL_LINES) %
			SERIAL_TAIL_LINES;

		fprintf(f, "%s%s\n", prefix, s->tail[idx]);
	}
	if (s->cur_len) {
		s->cur[s->cur_len] = '\0';
		fprintf(f, "%s%s\n", prefix, s->cur);
	}
	pthread_mutex_unlock(&s->lock);
}

bool serial_panic_seen(struct serial *s)
{
	bool v;

	pthread_mutex_lock(&s->lock);
	v = s->panic;
	pthread_mutex_unlock(&s->lock);
	return v;
}

/* --- snapshots --- */

/* Register values the chip can hold (what serial_write() stores). */
#define SERIAL_IER_MASK 0x0f
#define SERIAL_MCR_MASK 0x1f
#define SERIAL_FCR_MASK (FCR_ENABLE | 0xc0)
#define SERIAL_MSR_DELTA_MASK 0x0f

struct serial_state {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr, msr_delta;
	uint8_t overrun, thri_pending, irq_level;
	uint32_t rx_len;
	uint8_t rx[SERIAL_RX_SIZE];
};

int serial_save(struct serial *s, struct snap_buf *b)
{
	pthread_mutex_lock(&s->lock);
	snap_put_u8(b, s->ier);
	snap_put_u8(b, s->lcr);
	snap_put_u8(b, s->mcr);
	snap_put_u8(b, s->scr);
	snap_put_u8(b, s->dll);
	snap_put_u8(b, s->dlm);
	snap_put_u8(b, s->fcr);
	snap_put_u8(b, s->msr_delta);
	snap_put_u8(b, s->overrun);
	snap_put_u8(b, s->thri_pending);
	snap_put_u8(b, s->irq_level);
	snap_put_u32(b, (uint32_t)s->rx_len);
	for (size_t i = 0; i < s->rx_len; i++)
		snap_put_u8(b, s->rx[(s->rx_head + i) % SERIAL_RX_SIZE]);
	pthread_mutex_unlock(&s->lock);
	return b->oom ? -ENOMEM : 0;
}

static const char *serial_state_read(struct snap_reader *r,
				     struct serial_state *st)
{
	st->ier = snap_get_u8(r);
	st->lcr = snap_get_u8(r);
	st->mcr = snap_get_u8(r);
	st->scr = snap_get_u8(r);
	st->dll = snap_get_u8(r);
	st->dlm = snap_get_u8(r);
	st->fcr = snap_get_u8(r);
	st->msr_delta = snap_get_u8(r);
	st->overrun = snap_get_u8(r);
	st->thri_pending = snap_get_u8(r);
	st->irq_level = snap_get_u8(r);
	st->rx_len = snap_get_u32(r);
	if (r->bad)
		return "truncated";
	if (st->rx_len > SERIAL_RX_SIZE)
		return "receive FIFO longer than the UART's";
	snap_get(r, st->rx, st->rx_len);
	if (r->bad)
		return "truncated";
	if ((st->ier & ~SERIAL_IER_MASK) || (st->mcr & ~SERIAL_MCR_MASK) ||
	    (st->fcr & ~SERIAL_FCR_MASK) ||
	    (st->msr_delta & ~SERIAL_MSR_DELTA_MASK))
		return "register value a 16550A cannot hold";
	if (st->overrun > 1 || st->thri_pending > 1 || st->irq_level > 1)
		return "flag is neither 0 nor 1";
	return NULL;
}

int serial_restore(struct serial *s, struct snap_reader *r, char *err,
		   size_t errlen)
{
	struct serial_state *st = calloc(1, sizeof(*st));
	const char *why;
	bool level;

	if (!st) {
		snprintf(err, errlen, "serial: out of memory");
		return -1;
	}
	why = serial_state_read(r, st);
	if (why) {
		snprintf(err, errlen,
			 "serial console state in the snapshot: %s; the "
			 "snapshot is corrupt",
			 why);
		free(st);
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	s->ier = st->ier;
	s->lcr = st->lcr;
	s->mcr = st->mcr;
	s->scr = st->scr;
	s->dll = st->dll;
	s->dlm = st->dlm;
	s->fcr = st->fcr;
	s->msr_delta = st->msr_delta;
	s->overrun = st->overrun;
	s->thri_pending = st->thri_pending;
	memcpy(s->rx, st->rx, st->rx_len);
	s->rx_head = 0;
	s->rx_len = st->rx_len;
	/* Drive the line to what the registers say, whatever the saved
	 * level or the interrupt controller believe: flipping our copy makes
	 * serial_update_irq() set it unconditionally. */
	level = !(serial_iir(s) & IIR_NO_INT);
	s->irq_level = !level;
	serial_update_irq(s);
	serial_input_resume(s);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	free(st);
	return 0;
}
