/* SPDX-License-Identifier: MIT */
/*
 * boot_report: summarise boot_timer's JSON lines (docs/BENCHMARKS.md).
 *
 *   boot_report RESULTS.jsonl [--markdown FILE]
 *
 * For each VMM (in order of first appearance; the first is the base of
 * the ratios) and each metric: n, min, median, p99, max over the runs that
 * succeeded and were not warm-ups.  Prints one {"type":"summary"} line
 * per VMM and one {"type":"ratio"} line per other VMM on stdout, and a
 * Markdown table to FILE (default: stderr).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define MAX_VMMS 8
#define MAX_RUNS 10000

struct metric {
	const char *key;
	const char *label;
	double scale; /* table unit = value * scale */
	const char *unit;
};

static const struct metric metrics[] = {
	{"first_run_ms", "VMM start -> first KVM_RUN (restores; kiln's log)", 1,
	 "ms"},
	{"ready_ms", "VMM start -> agent answered (hello + ping)", 1, "ms"},
	{"console_first_ms", "VMM start -> first console byte", 1, "ms"},
	{"console_init_ms", "VMM start -> `Run /sbin/kiln-agent` on console", 1,
	 "ms"},
	{"console_ready_ms", "VMM start -> agent's ready line on console", 1,
	 "ms"},
	{"init_to_ready_ms",
	 "`Run /sbin/kiln-agent` -> agent's ready line (console, host clock)",
	 1, "ms"},
	{"guest_init_ms", "guest clock (printk) at `Run /sbin/kiln-agent`", 1,
	 "ms"},
	{"agent_uptime_ms", "agent start -> ping answered (guest clock)", 1,
	 "ms"},
	{"vmm_cpu_ms", "VMM process CPU time until answered (incl. guest vCPU)",
	 1, "ms"},
	{"rss_kib", "VMM RSS after boot", 1.0 / 1024, "MiB"},
	{"pss_kib", "VMM PSS (shared pages split between sharers)", 1.0 / 1024,
	 "MiB"},
	{"guest_rss_kib", "  of which guest RAM (resident part)", 1.0 / 1024,
	 "MiB"},
	{"guest_thp_kib", "    guest RAM in transparent huge pages", 1.0 / 1024,
	 "MiB"},
	{"vmm_own_rss_kib", "  VMM's own (RSS minus guest RAM)", 1.0 / 1024,
	 "MiB"},
	{"rss_anon_kib", "  RSS anonymous (incl. guest RAM)", 1.0 / 1024,
	 "MiB"},
	{"rss_file_kib", "  RSS file-backed (binary, libraries)", 1.0 / 1024,
	 "MiB"},
	{"rss_shmem_kib", "  RSS shared memory", 1.0 / 1024, "MiB"},
	{"threads", "VMM threads", 1, ""},
	{"stop_ms", "shutdown request -> VMM exited", 1, "ms"},
};
#define NMETRICS (sizeof(metrics) / sizeof(metrics[0]))

struct stat3 {
	int n;
	double min, median, p99, max;
};

struct vmm_group {
	char name[64];
	char ready_by[16];
	int ok, failed, warmups;
	double *vals[NMETRICS];
	int nvals[NMETRICS];
	struct stat3 st[NMETRICS];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct stat3 stat3_of(double *v, int n)
{
	struct stat3 s = {.n = n};

	if (n == 0)
		return s;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	/* nearest rank: the smallest value >= 99 % of the runs */
	s.p99 = v[(99 * n + 99) / 100 - 1];
	return s;
}

static struct vmm_group *group_get(struct vmm_group *g, int *ng,
				   const char *name)
{
	for (int i = 0; i < *ng; i++)
		if (strcmp(g[i].name, name) == 0)
			return &g[i];
	if (*ng == MAX_VMMS)
		return NULL;
	memset(&g[*ng], 0, sizeof(g[*ng]));
	snprintf(g[*ng].name, sizeof(g[*ng].name), "%s", name);
	for (size_t m = 0; m < NMETRICS; m++) {
		g[*ng].vals[m] = calloc(MAX_RUNS, sizeof(double));
		if (!g[*ng].vals[m])
			return NULL;
	}
	return &g[(*ng)++];
}

static int add_run(struct vmm_group *g, int *ng, json_t *run, int lineno)
{
	const char *vmm = NULL, *ready_by = "";
	int ok = 0, warmup = 0;
	struct vmm_group *grp;

	if (json_unpack(run, "{s:s,s:b,s?b,s?s}", "vmm", &vmm, "ok", &ok,
			"warmup", &warmup, "ready_by", &ready_by) < 0) {
		fprintf(stderr,
			"boot_report: line %d: a run without \"vmm\" or "
			"\"ok\"\n",
			lineno);
		return -1;
	}
	grp = group_get(g, ng, vmm);
	if (!grp) {
		fprintf(stderr,
			"boot_report: more than %d VMMs or out of "
			"memory\n",
			MAX_VMMS);
		return -1;
	}
	snprintf(grp->ready_by, sizeof(grp->ready_by), "%s", ready_by);
	if (warmup) {
		grp->warmups++;
		return 0;
	}
	if (!ok) {
		grp->failed++;
		return 0;
	}
	grp->ok++;
	for (size_t m = 0; m < NMETRICS; m++) {
		json_t *v = json_object_get(run, metrics[m].key);

		if (json_is_number(v) && grp->nvals[m] < MAX_RUNS)
			grp->vals[m][grp->nvals[m]++] = json_number_value(v);
	}
	return 0;
}

static void print_summary(const struct vmm_group *grp)
{
	json_t *ms = json_object(), *o;

	for (size_t m = 0; m < NMETRICS; m++) {
		const struct stat3 *s = &grp->st[m];

		if (s->n == 0)
			continue;
		json_object_set_new(ms, metrics[m].key,
				    json_pack("{s:i,s:f,s:f,s:f,s:f}", "n",
					      s->n, "min", s->min, "median",
					      s->median, "p99", s->p99, "max",
					      s->max));
	}
	o = json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:o}", "type", "summary", "vmm",
		      grp->name, "ready_by", grp->ready_by, "runs", grp->ok,
		      "failed", grp->failed, "warmups", grp->warmups, "metrics",
		      ms);
	json_dumpf(o, stdout,
		   JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
	fputc('\n', stdout);
	json_decref(o);
}

static void print_ratio(const struct vmm_group *base,
			const struct vmm_group *peer)
{
	json_t *r = json_object(), *o;

	for (size_t m = 0; m < NMETRICS; m++)
		if (base->st[m].n && peer->st[m].n && base->st[m].median > 0)
			json_object_set_new(r, metrics[m].key,
					    json_real(peer->st[m].median /
						      base->st[m].median));
	o = json_pack("{s:s,s:s,s:s,s:o}", "type", "ratio", "base", base->name,
		      "peer", peer->name, "median_peer_over_base", r);
	json_dumpf(o, stdout,
		   JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(4));
	fputc('\n', stdout);
	json_decref(o);
}

static void fmt_value(char *buf, size_t len, double v, const struct metric *m)
{
	double x = v * m->scale;

	if (m->scale != 1 || x < 100)
		snprintf(buf, len, "%.1f", x);
	else
		snprintf(buf, len, "%.0f", x);
}

static void print_table(FILE *f, const struct vmm_group *g, int ng)
{
	fprintf(f, "| metric |");
	for (int i = 0; i < ng; i++)
		fprintf(f, " %s (%s): min / median / p99 / max |", g[i].name,
			g[i].ready_by);
	for (int i = 1; i < ng; i++)
		fprintf(f, " %s / %s (median) |", g[i].name, g[0].name);
	fprintf(f, "\n|---|");
	for (int i = 0; i < ng * 2 - 1; i++)
		fprintf(f, "---|");
	fputc('\n', f);
	for (size_t m = 0; m < NMETRICS; m++) {
		bool any = false;

		for (int i = 0; i < ng; i++)
			any |= g[i].st[m].n > 0;
		if (!any)
			continue;
		fprintf(f, "| %s%s%s%s |", metrics[m].label,
			*metrics[m].unit ? " (" : "", metrics[m].unit,
			*metrics[m].unit ? ")" : "");
		for (int i = 0; i < ng; i++) {
			const struct stat3 *s = &g[i].st[m];
			char a[32], b[32], c[32], d[32];

			if (!s->n) {
				fprintf(f, " - |");
				continue;
			}
			fmt_value(a, sizeof(a), s->min, &metrics[m]);
			fmt_value(b, sizeof(b), s->median, &metrics[m]);
			fmt_value(c, sizeof(c), s->p99, &metrics[m]);
			fmt_value(d, sizeof(d), s->max, &metrics[m]);
			fprintf(f, " %s / **%s** / %s / %s |", a, b, c, d);
		}
		for (int i = 1; i < ng; i++) {
			if (g[0].st[m].n && g[i].st[m].n &&
			    g[0].st[m].median > 0)
				fprintf(f, " %.2fx |",
					g[i].st[m].median / g[0].st[m].median);
			else
				fprintf(f, " - |");
		}
		fputc('\n', f);
	}
	fprintf(f, "\nRuns counted:");
	for (int i = 0; i < ng; i++)
		fprintf(f, " %s %d ok, %d failed, %d warm-up%s", g[i].name,
			g[i].ok, g[i].failed, g[i].warmups,
			i + 1 < ng ? ";" : ".\n");
}

int main(int argc, char **argv)
{
	const char *in = NULL, *md = NULL;
	struct vmm_group g[MAX_VMMS];
	char *line = NULL;
	size_t cap = 0;
	int ng = 0, lineno = 0, bad = 0;
	FILE *f, *mdf = stderr;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--markdown") == 0 && i + 1 < argc)
			md = argv[++i];
		else if (!in && argv[i][0] != '-')
			in = argv[i];
		else {
			fprintf(stderr, "usage: boot_report RESULTS.jsonl "
					"[--markdown FILE]\n");
			return 2;
		}
	}
	if (!in) {
		fprintf(stderr, "usage: boot_report RESULTS.jsonl "
				"[--markdown FILE]\n");
		return 2;
	}
	f = fopen(in, "r");
	if (!f) {
		fprintf(stderr, "boot_report: %s: %s\n", in, strerror(errno));
		return 1;
	}
	while (getline(&line, &cap, f) > 0) {
		json_error_t je;
		json_t *o;
		const char *type = NULL;

		lineno++;
		o = json_loads(line, 0, &je);
		if (!o) {
			fprintf(stderr, "boot_report: %s:%d: %s\n", in, lineno,
				je.text);
			bad = 1;
			continue;
		}
		if (json_unpack(o, "{s:s}", "type", &type) == 0 &&
		    strcmp(type, "run") == 0 && add_run(g, &ng, o, lineno) < 0)
			bad = 1;
		json_decref(o);
	}
	free(line);
	fclose(f);
	if (ng == 0) {
		fprintf(stderr, "boot_report: no runs in %s\n", in);
		return 1;
	}
	for (int i = 0; i < ng; i++)
		for (size_t m = 0; m < NMETRICS; m++)
			g[i].st[m] = stat3_of(g[i].vals[m], g[i].nvals[m]);
	for (int i = 0; i < ng; i++)
		print_summary(&g[i]);
	for (int i = 1; i < ng; i++)
		print_ratio(&g[0], &g[i]);
	fflush(stdout);
	if (md && !(mdf = fopen(md, "w"))) {
		fprintf(stderr, "boot_report: %s: %s\n", md, strerror(errno));
		return 1;
	}
	print_table(mdf, g, ng);
	if (mdf != stderr)
		fclose(mdf);
	for (int i = 0; i < ng; i++)
		for (size_t m = 0; m < NMETRICS; m++)
			free(g[i].vals[m]);
	return bad;
}
