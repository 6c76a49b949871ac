/* SPDX-License-Identifier: MIT */
/*
 * Directory trees between the host and the guest agent (kiln cp -r):
 * libarchive turns a host tree into a tar stream and back, the agent's
 * upload / download ops (agent_client.h) carry it.  Each side runs in its
 * own thread joined to the agent connection by a socketpair, so the
 * stream flows with the socket's flow control and is never held whole.
 */
#ifndef KILN_LIB_COPY_DIR_H
#define KILN_LIB_COPY_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "lib/agent_client.h"

/*
 * Write host_dir as a tar archive to out_fd (members "./", "./a", ...;
 * regular files, directories and symlinks, not followed; other types are
 * counted in *skipped).  On failure nothing more is written and the
 * archive has no end marker, so a reader sees it as truncated.
 */
int copy_dir_pack(const char *host_dir, int out_fd, uint64_t *skipped,
		  char *err, size_t errlen);

/*
 * Caps on what one extraction on the host may create (the archive comes
 * from the guest): the sum of the regular files' sizes and the number of
 * archive members (skipped ones included).  0 in a field: its default.
 */
#define COPY_DIR_MAX_BYTES_DEFAULT (64ull << 30) /* 64 GiB */
#define COPY_DIR_MAX_ENTRIES_DEFAULT 1000000ull

struct copy_dir_limits {
	uint64_t max_bytes;
	uint64_t max_entries;
};

/*
 * Extract the tar archive read from in_fd into host_dir (created if
 * missing; its parent must exist).  Entry names are checked (no "..",
 * not absolute) and nothing is extracted through a symlink; files belong
 * to the caller, modes and mtimes are kept.  Hard links and special
 * files are counted in *skipped.  lim (NULL: the defaults) caps the
 * content bytes and members.  On failure everything this call created
 * (host_dir itself if it did not exist, files and directories that did
 * not exist before; never what was there already, though a file of the
 * archive may have replaced one) is removed again, without following
 * symlinks, and in_fd is shut down for reading (a socket: the writer gets
 * EPIPE) or else read to EOF.  Returns 0 or -1 with a message.
 */
int copy_dir_unpack(int in_fd, const char *host_dir,
		    const struct copy_dir_limits *lim, uint64_t *skipped,
		    char *err, size_t errlen);

/*
 * Whole copies over an agent connection.  Returns an AGENT_* status (the
 * agent's) or AGENT_ERR_LOCAL for a failure on the host side; err says
 * which.
 */
#define AGENT_ERR_LOCAL (-100)

int copy_dir_upload(struct agent_client *c, const char *host_dir,
		    const char *guest_dir, const struct agent_upload_opts *u,
		    int timeout_ms, struct agent_tar_stats *ts, char *err,
		    size_t errlen);
int copy_dir_download(struct agent_client *c, const char *guest_dir,
		      const char *host_dir, const struct copy_dir_limits *lim,
		      int timeout_ms, struct agent_tar_stats *ts, char *err,
		      size_t errlen);

#endif
