/* The C side of bench_softdirty.py: a target process, and soft-dirty intervals done straight in C.
 *
 *   softdirty_c hold MIB      map MIB MiB of anonymous memory in 4 KiB pages and write every page,
 *                             print "ready", then per line read from stdin write a pattern of pages
 *                             ("all", "half": the first 1 MiB of every 2 MiB, "none") and print "ok";
 *                             exits when stdin closes
 *   softdirty_c serve PID     one interval per line read from stdin: read /proc/PID/maps, read
 *                             /proc/PID/pagemap per VMA in 64 Ki-entry chunks, count the written pages
 *                             (soft-dirty, present or swapped) and their runs (runs that touch join),
 *                             then write "4" to /proc/PID/clear_refs; prints
 *                             "rep SECONDS WRITTEN_PAGES RUNS"
 *
 * This is what numamove's soft-dirty tracker does in one sample(), in the same order; the program
 * exits 1 on any error.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536 /* pagemap entries per read (numamove's CHUNK_PAGES) */
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_HAS_PAGE ((1ULL << 63) | (1ULL << 62)) /* present or swapped */

struct vma {
    uint64_t start, end;
};

static long page_size;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The VMAs of /proc/PID/maps, without the kernel's own ([vdso] and the like), as numamove skips them. */
static struct vma *read_maps(const char *pid, size_t *count)
{
    char path[64], *line = NULL;
    size_t line_size = 0, capacity = 0;
    struct vma *vmas = NULL;
    snprintf(path, sizeof path, "/proc/%s/maps", pid);
    FILE *maps = fopen(path, "r");
    if (!maps)
        die(path);
    *count = 0;
    while (getline(&line, &line_size, maps) > 0) {
        unsigned long start, end;
        int name_at = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &name_at) < 2)
            continue;
        const char *name = line + name_at;
        if (!strncmp(name, "[vdso]", 6) || !strncmp(name, "[vsyscall]", 10) || !strncmp(name, "[vvar", 5))
            continue;
        if (*count == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            vmas = realloc(vmas, capacity * sizeof *vmas);
            if (!vmas)
                die("realloc");
        }
        vmas[(*count)++] = (struct vma){start, end};
    }
    free(line);
    fclose(maps);
    return vmas;
}

static void interval(const char *pid)
{
    static uint64_t entries[CHUNK];
    char path[64];
    double start = now();
    size_t count;
    struct vma *vmas = read_maps(pid, &count);
    snprintf(path, sizeof path, "/proc/%s/pagemap", pid);
    int pagemap = open(path, O_RDONLY);
    if (pagemap < 0)
        die(path);
    long written = 0, runs = 0;
    uint64_t run_end = 0; /* the page after the last written one: a run that starts there continues */
    for (size_t v = 0; v < count; v++) {
        uint64_t first = vmas[v].start / (uint64_t)page_size, end = vmas[v].end / (uint64_t)page_size;
        for (uint64_t page = first; page < end; page += CHUNK) {
            uint64_t want = end - page < CHUNK ? end - page : CHUNK;
            ssize_t got = pread(pagemap, entries, want * 8, (off_t)(page * 8));
            if (got < 0)
                die("pread pagemap");
            uint64_t entries_got = (uint64_t)got / 8;
            for (uint64_t i = 0; i < entries_got; i++) {
                uint64_t entry = entries[i];
                if ((entry & PM_SOFT_DIRTY) && (entry & PM_HAS_PAGE)) {
                    written++;
                    if (page + i != run_end)
                        runs++;
                    run_end = page + i + 1;
                }
            }
            if (entries_got < want)
                break; /* unmapped while we read */
        }
    }
    close(pagemap);
    free(vmas);
    snprintf(path, sizeof path, "/proc/%s/clear_refs", pid);
    int clear = open(path, O_WRONLY);
    if (clear < 0 || write(clear, "4", 1) != 1)
        die(path);
    close(clear);
    printf("rep %.9f %ld %ld\n", now() - start, written, runs);
    fflush(stdout);
}

static int hold(long mib)
{
    size_t size = (size_t)mib << 20, half = 1 << 20;
    char *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        die("mmap");
    /* 4 KiB pages: a clear then walks every PTE, rather than a few hundred THP entries. */
    madvise(memory, size, MADV_NOHUGEPAGE);
    for (size_t at = 0; at < size; at += (size_t)page_size)
        memory[at] = 1;
    printf("ready\n");
    fflush(stdout);
    char request[32];
    while (fgets(request, sizeof request, stdin)) {
        if (!strcmp(request, "all\n")) {
            for (size_t at = 0; at < size; at += (size_t)page_size)
                memory[at]++;
        } else if (!strcmp(request, "half\n")) {
            for (size_t block = 0; block < size; block += 2 * half)
                for (size_t at = block; at < block + half && at < size; at += (size_t)page_size)
                    memory[at]++;
        } else if (strcmp(request, "none\n")) {
            fprintf(stderr, "softdirty_c hold: unknown pattern %s", request);
            return 1;
        }
        printf("ok\n");
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    page_size = sysconf(_SC_PAGESIZE);
    if (argc == 3 && !strcmp(argv[1], "hold"))
        return hold(atol(argv[2]));
    if (argc != 3 || strcmp(argv[1], "serve")) {
        fprintf(stderr, "usage: softdirty_c hold MIB | softdirty_c serve PID\n");
        return 2;
    }
    char request[32];
    while (fgets(request, sizeof request, stdin))
        interval(argv[2]);
    return 0;
}
