/* The C baselines for bench_mover.py.
 *
 *   move_batches_c move NPAGES ROUNDS NODE_A NODE_B BATCH...
 *       Maps NPAGES 4 KiB pages (MADV_NOHUGEPAGE), writes every page, puts
 *       them on NODE_A untimed, then for ROUNDS rounds moves them all to
 *       NODE_B and back with move_pages(2), in calls of the given BATCH sizes
 *       in order (the last size repeats until every page is covered).
 *       Prints one "seconds S mismatches M" line per timed pass; M counts
 *       statuses that are not the target node.
 *   move_batches_c hold MIB
 *       Maps MIB MiB of 4 KiB pages, fills them with a pattern, prints
 *       "ready ADDRESS NPAGES" and waits on stdin: each line "check" answers
 *       "check M" (M pages whose contents changed); end of input exits.
 *
 * Exits 1 on a syscall error or any mismatch, 2 on bad arguments.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MPOL_MF_MOVE (1 << 1)
#define MAX_BATCH 65536 /* numamove.move.engine.MAX_BATCH */
#define MAX_SIZES 64

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

static char *map_pages(long count, long page)
{
    char *buffer = mmap(NULL, (size_t)(count * page), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer == MAP_FAILED)
        die("mmap");
    /* 4 KiB pages: a transparent huge page would move 512 addresses at once. */
    if (madvise(buffer, (size_t)(count * page), MADV_NOHUGEPAGE) != 0)
        die("madvise");
    return buffer;
}

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count, size);
    if (p == NULL)
        die("calloc");
    memset(p, 0, count * size); /* fault it in now, not inside a timed call */
    return p;
}

/* Move all pages to `node` in calls of sizes[0], sizes[1], ..., the last size repeating. */
static void move_all(long count, void **pages, int *target, int *status, int node,
                     const long *sizes, int nsizes)
{
    for (long i = 0; i < MAX_BATCH; i++)
        target[i] = node;
    long start = 0;
    for (int call = 0; start < count; call++) {
        long batch = sizes[call < nsizes ? call : nsizes - 1];
        long size = count - start < batch ? count - start : batch;
        if (syscall(SYS_move_pages, 0, size, pages + start, target, status + start, MPOL_MF_MOVE) < 0)
            die("move_pages");
        start += size;
    }
}

static long timed_pass(long count, void **pages, int *target, int *status, int node,
                       const long *sizes, int nsizes)
{
    double start = now();
    move_all(count, pages, target, status, node, sizes, nsizes);
    double seconds = now() - start;
    long bad = 0;
    for (long i = 0; i < count; i++) {
        if (status[i] != node && bad++ == 0)
            fprintf(stderr, "page %ld has status %d, not %d\n", i, status[i], node);
    }
    printf("seconds %.6f mismatches %ld\n", seconds, bad);
    fflush(stdout);
    return bad;
}

static int move_mode(int argc, char **argv)
{
    long count = atol(argv[2]), rounds = atol(argv[3]);
    int node_a = atoi(argv[4]), node_b = atoi(argv[5]);
    long sizes[MAX_SIZES];
    int nsizes = argc - 6;
    if (count < 1 || rounds < 1 || node_a < 0 || node_b < 0 || nsizes < 1 || nsizes > MAX_SIZES) {
        fprintf(stderr, "NPAGES and ROUNDS must be positive, nodes not negative, 1..%d sizes\n", MAX_SIZES);
        return 2;
    }
    for (int i = 0; i < nsizes; i++) {
        sizes[i] = atol(argv[6 + i]);
        if (sizes[i] < 1 || sizes[i] > MAX_BATCH) {
            fprintf(stderr, "batch sizes must be 1..%d\n", MAX_BATCH);
            return 2;
        }
    }
    long page = sysconf(_SC_PAGESIZE);
    char *buffer = map_pages(count, page);
    void **pages = xcalloc((size_t)count, sizeof *pages);
    int *status = xcalloc((size_t)count, sizeof *status);
    int *target = xcalloc(MAX_BATCH, sizeof *target);
    for (long i = 0; i < count; i++) {
        buffer[i * page] = 1; /* a page never written has no node */
        pages[i] = buffer + i * page;
    }
    move_all(count, pages, target, status, node_a, sizes, nsizes); /* start on NODE_A, untimed */
    long bad = 0;
    for (long round = 0; round < rounds; round++) {
        bad += timed_pass(count, pages, target, status, node_b, sizes, nsizes);
        bad += timed_pass(count, pages, target, status, node_a, sizes, nsizes);
    }
    return bad ? 1 : 0;
}

static uint64_t pattern(long page_index, long word)
{
    return (uint64_t)page_index * 0x9E3779B97F4A7C15ull + (uint64_t)word;
}

static int hold_mode(char **argv)
{
    long mib = atol(argv[2]);
    if (mib < 1) {
        fprintf(stderr, "MIB must be positive\n");
        return 2;
    }
    long page = sysconf(_SC_PAGESIZE);
    long count = mib * (1L << 20) / page;
    long words = page / (long)sizeof(uint64_t);
    char *buffer = map_pages(count, page);
    for (long i = 0; i < count; i++) {
        uint64_t *p = (uint64_t *)(buffer + i * page);
        for (long w = 0; w < words; w++)
            p[w] = pattern(i, w);
    }
    printf("ready %lu %ld\n", (unsigned long)(uintptr_t)buffer, count);
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin) != NULL) {
        if (strncmp(line, "check", 5) != 0)
            continue;
        long bad = 0;
        for (long i = 0; i < count; i++) {
            const uint64_t *p = (const uint64_t *)(buffer + i * page);
            for (long w = 0; w < words; w++) {
                if (p[w] != pattern(i, w)) {
                    bad++;
                    break;
                }
            }
        }
        printf("check %ld\n", bad);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 7 && strcmp(argv[1], "move") == 0)
        return move_mode(argc, argv);
    if (argc == 3 && strcmp(argv[1], "hold") == 0)
        return hold_mode(argv);
    fprintf(stderr, "usage: %s move NPAGES ROUNDS NODE_A NODE_B BATCH...\n"
                    "       %s hold MIB\n", argv[0], argv[0]);
    return 2;
}
