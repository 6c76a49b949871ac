/* SPDX-License-Identifier: MIT */
/*
 * Reading the guest console log for humans: its last line (boot progress)
 * and its last lines (failure reports).  The console is guest output, so
 * control characters are replaced before anything reaches a terminal.
 */
#ifndef KILN_LIB_CONSOLE_H
#define KILN_LIB_CONSOLE_H

#include <stddef.h>

#define CONSOLE_TAIL_BYTES 16384 /* how much of the file end is read */
#define CONSOLE_LINE_MAX 200 /* longer lines are cut, marked with "..." */

/*
 * The last n non-empty lines of buf[0..len), each sanitised, cut to
 * CONSOLE_LINE_MAX and written as "<prefix><line>\n" into out (always
 * NUL-terminated; whole lines only).  A first line that may have been cut
 * by the read window is dropped when partial is set.  Returns the number
 * of lines written.
 */
unsigned int console_tail_lines(const char *buf, size_t len, int partial,
				unsigned int n, const char *prefix, char *out,
				size_t outsz);

/* Read the last CONSOLE_TAIL_BYTES of path; *partial says if cut. */
int console_read_tail(const char *path, char *buf, size_t bufsz, size_t *len,
		      int *partial);

/*
 * Convenience: the last n lines of the console file at path, formatted as
 * console_tail_lines() does.  out is "" if there is no file or no output.
 */
unsigned int console_file_tail(const char *path, unsigned int n,
			       const char *prefix, char *out, size_t outsz);

#endif
