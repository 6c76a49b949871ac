/* SPDX-License-Identifier: MIT */
/*
 * COM1: an 8250/16550A UART at I/O port 0x3f8, IRQ 4 — the guest console.
 *
 * Output goes to stdout, a file or nowhere, through a buffer flushed at
 * each newline, when full, and 20 ms after the last partial line (so a
 * shell prompt shows up), never dropped.  Input comes from stdin when the
 * console is stdout and stdin is a terminal (raw mode, but Ctrl-C still
 * stops the VMM), a pipe or a socket; it is read only when the UART has
 * room, so nothing is lost and nothing blocks.
 *
 * Whatever the destination, the last SERIAL_TAIL_LINES lines are kept for
 * error reports, and a "Kernel panic - not syncing" line marks the VM as
 * panicked (vm->guest_panicked) so the reset that follows is a crash.
 */
#ifndef KILN_VMM_DEV_SERIAL_H
#define KILN_VMM_DEV_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/config.h"

struct vm;
struct serial;
struct snap_buf;
struct snap_reader;

#define SERIAL_COM1_PORT 0x3f8
#define SERIAL_COM1_IRQ 4
#define SERIAL_TAIL_LINES 64
#define SERIAL_TAIL_COLS 200
#define SERIAL_PANIC_MARKER "Kernel panic - not syncing"

/*
 * Create the UART, register it on vm->pio and hook input and the flush
 * timer into vm->loop (if any).  mode/path as in struct vmm_config.
 * 0 or -1 with err.
 */
int serial_create(struct vm *vm, enum console_mode mode, const char *path,
		  struct serial **out, char *err, size_t errlen);
/* Flush output, restore the terminal, release everything. */
void serial_destroy(struct serial *s);
void serial_flush(struct serial *s);

/* Write the kept console lines (oldest first) to f, each after prefix. */
void serial_dump_tail(struct serial *s, FILE *f, const char *prefix);
bool serial_panic_seen(struct serial *s);

/* The register file (the trap handler; exposed for unit tests). */
void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
	       bool is_write);
/* Queue host input as if typed (unit tests; the stdin path uses it too).
 * Returns the bytes accepted (the rest does not fit now). */
size_t serial_input(struct serial *s, const uint8_t *buf, size_t len);
/*
 * Snapshots: the UART registers and the receive FIFO (bytes the guest has
 * not read yet).  Where output goes and host input not yet in the FIFO are
 * not guest state and stay as serial_create() set them.  serial_restore()
 * checks everything first and changes nothing on error (-1 with err); on
 * success it drives the interrupt line to what the registers say (call it
 * after the interrupt controller state is restored).  serial_save returns
 * 0 or -ENOMEM (b ran out of memory).
 */
int serial_save(struct serial *s, struct snap_buf *b);
int serial_restore(struct serial *s, struct snap_reader *r, char *err,
		   size_t errlen);

/* Current state of the interrupt line (unit tests). */
bool serial_irq_level(struct serial *s);

#endif
