/* The C baseline for bench_move_pages.py: move_pages(2) called straight from C.
 *
 *   move_pages_c query NPAGES REPS BATCH       where are the pages (nodes = NULL)
 *   move_pages_c move NPAGES REPS NODE_A NODE_B move them to NODE_B and back
 *
 * Prints one "seconds S mismatches M" line per timed pass over all pages; M
 * counts statuses that are not what was asked (query: a negative errno, move:
 * not the target node). Exits 1 on a syscall error or any mismatch.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MPOL_MF_MOVE (1 << 1)
#define MOVE_BATCH 65536 /* numamove.BATCH_PAGES */

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        die("clock_gettime");
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Query (target NULL) or move all pages in calls of `batch`, as numamove does.
 * A positive result only counts pages left behind; their status says why. */
static void move_all(long count, void **pages, const int *target, int *status, long batch)
{
    for (long start = 0; start < count; start += batch) {
        long size = count - start < batch ? count - start : batch;
        if (syscall(SYS_move_pages, 0, size, pages + start, target, status + start, MPOL_MF_MOVE) < 0)
            die("move_pages");
    }
}

/* Statuses that are not `node` (for node < 0: negative errnos); the first goes to stderr. */
static long mismatches(const int *status, long count, int node)
{
    long bad = 0;
    for (long i = 0; i < count; i++) {
        if (node < 0 ? status[i] >= 0 : status[i] == node)
            continue;
        if (bad++ == 0)
            fprintf(stderr, "page %ld has status %d\n", i, status[i]);
    }
    return bad;
}

static void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (p == NULL)
        die("malloc");
    memset(p, 0, size); /* fault it in now, not inside the first timed call */
    return p;
}

/* One target array serves every call, as in numamove for a single node; NULL queries. */
static const int *target_for(int node)
{
    static int target[MOVE_BATCH];
    if (node < 0)
        return NULL;
    for (long i = 0; i < MOVE_BATCH; i++)
        target[i] = node;
    return target;
}

static long timed_pass(long count, void **pages, int node, int *status, long batch)
{
    const int *target = target_for(node);
    double start = now();
    move_all(count, pages, target, status, batch);
    double seconds = now() - start;
    long bad = mismatches(status, count, node);
    printf("seconds %.6f mismatches %ld\n", seconds, bad);
    return bad;
}

int main(int argc, char **argv)
{
    int query = argc == 5 && strcmp(argv[1], "query") == 0;
    int move = argc == 6 && strcmp(argv[1], "move") == 0;
    if (!query && !move) {
        fprintf(stderr, "usage: %s query NPAGES REPS BATCH\n"
                        "       %s move NPAGES REPS NODE_A NODE_B\n", argv[0], argv[0]);
        return 2;
    }
    long count = atol(argv[2]);
    long reps = atol(argv[3]);
    long batch = query ? atol(argv[4]) : MOVE_BATCH;
    if (count < 1 || reps < 1 || batch < 1 || batch > MOVE_BATCH) {
        fprintf(stderr, "NPAGES and REPS must be positive, BATCH 1..%d\n", MOVE_BATCH);
        return 2;
    }

    long page = sysconf(_SC_PAGESIZE);
    char *buffer = mmap(NULL, (size_t)(count * page), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer == MAP_FAILED)
        die("mmap");
    /* 4 KiB pages, as on the python side: moving a transparent huge page moves 512
     * addresses at once, and its next subpage then reports -EBUSY. */
    if (madvise(buffer, (size_t)(count * page), MADV_NOHUGEPAGE) != 0)
        die("madvise");
    void **pages = xmalloc((size_t)count * sizeof *pages);
    int *status = xmalloc((size_t)count * sizeof *status);
    for (long i = 0; i < count; i++) {
        buffer[i * page] = 1; /* a page that was never written has no node */
        pages[i] = buffer + i * page;
    }

    long bad = 0;
    if (query) {
        for (long rep = 0; rep < reps; rep++)
            bad += timed_pass(count, pages, -1, status, batch);
    } else {
        int node_a = atoi(argv[4]), node_b = atoi(argv[5]);
        if (node_a < 0 || node_b < 0) {
            fprintf(stderr, "nodes must not be negative\n");
            return 2;
        }
        /* Start on NODE_A untimed, so the first timed move really moves. */
        move_all(count, pages, target_for(node_a), status, batch);
        for (long rep = 0; rep < reps; rep++) {
            bad += timed_pass(count, pages, node_b, status, batch);
            bad += timed_pass(count, pages, node_a, status, batch);
        }
    }
    return bad ? 1 : 0;
}
