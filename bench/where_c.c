/* The C side of bench_where.py: a target process, and the per-page scans done straight in C.
 *
 *   where_c hold MIB [FILE...]  map MIB MiB of anonymous memory and write every page, read a few
 *                               MiB that map the zero pages, map each FILE read-only and read
 *                               every page, print "ready", then sleep until stdin closes
 *   where_c pagemap PID REPS    count PID's present pages per node from pagemap PFNs and the
 *                               memory-block -> node table of /sys
 *   where_c query PID REPS      the same, asking move_pages(2) (nodes = NULL) for the present pages
 *   where_c serve PID           one scan per line read from stdin ("pagemap" or "query"), so a
 *                               caller can alternate single scans with its own
 *
 * Each scan prints one line, "rep SECONDS NODE:PAGES ...", and the program exits 1 on any error.
 * A rep reads /proc/PID/comm, each thread's stat and /proc/PID/maps afresh, and keeps the
 * memory-block table while the set of blocks stays the same, as numamove's scan_process() does.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536 /* pages per pagemap read and per move_pages call (numamove.BATCH_PAGES) */
#define MAX_NODES 1024
#define MPOL_MF_MOVE (1 << 1)
#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_PFN ((1ULL << 55) - 1)
#define NODE_DIR "/sys/devices/system/node"

struct vma {
    uint64_t start, end;
};

static long page_size;
/* The zero pages (4 KiB and huge): present in pagemap, but no node's memory. Few runs of PFNs. */
static struct pfn_run {
    uint64_t first, count;
} zero_runs[8];
static int zero_run_count;

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

static void *grow(void *array, size_t *capacity, size_t used, size_t item)
{
    if (used < *capacity)
        return array;
    *capacity = *capacity ? *capacity * 2 : 64;
    array = realloc(array, *capacity * item);
    if (!array)
        die("realloc");
    return array;
}

/* pread all of [offset, offset + size) unless the file ends first; returns the bytes read. */
static size_t pread_all(int fd, void *buffer, size_t size, off_t offset)
{
    size_t done = 0;
    while (done < size) {
        ssize_t got = pread(fd, (char *)buffer + done, size - done, offset + (off_t)done);
        if (got < 0)
            die("pread pagemap");
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return done;
}

/* The VMAs of /proc/PID/maps, without the kernel's own ([vdso] and the like): nothing counts them. */
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
        vmas = grow(vmas, &capacity, *count, sizeof *vmas);
        vmas[(*count)++] = (struct vma){start, end};
    }
    free(line);
    fclose(maps);
    return vmas;
}

static unsigned long read_hex(const char *path)
{
    FILE *file = fopen(path, "r");
    unsigned long value = 0;
    if (!file || fscanf(file, "%lx", &value) != 1)
        die(path);
    fclose(file);
    return value;
}

/* The node of each memory block (-1: none), from NODE_DIR/nodeN/memoryM; sets the table's length. */
static int *block_table(size_t *length)
{
    size_t capacity = 0;
    int *table = NULL;
    DIR *nodes = opendir(NODE_DIR);
    struct dirent *node;
    if (!nodes)
        die(NODE_DIR);
    *length = 0;
    while ((node = readdir(nodes))) {
        char path[300];
        int id;
        if (sscanf(node->d_name, "node%d", &id) != 1)
            continue;
        snprintf(path, sizeof path, NODE_DIR "/%s", node->d_name);
        DIR *entries = opendir(path);
        struct dirent *entry;
        if (!entries)
            die(path);
        while ((entry = readdir(entries))) {
            size_t block;
            if (strncmp(entry->d_name, "memory", 6) || sscanf(entry->d_name + 6, "%zu", &block) != 1)
                continue;
            while (block >= *length) {
                table = grow(table, &capacity, *length, sizeof *table);
                table[(*length)++] = -1;
            }
            table[block] = id;
        }
        closedir(entries);
    }
    closedir(nodes);
    return table;
}

static int open_pagemap(const char *pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/pagemap", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die(path);
    return fd;
}

static int is_zero_page(uint64_t pfn)
{
    for (int i = 0; i < zero_run_count; i++)
        if (pfn - zero_runs[i].first < zero_runs[i].count)
            return 1;
    return 0;
}

static void add_zero_page(uint64_t pfn)
{
    struct pfn_run *last = zero_run_count ? &zero_runs[zero_run_count - 1] : NULL;
    if (is_zero_page(pfn))
        return;
    if (last && pfn == last->first + last->count)
        last->count++;
    else if (zero_run_count < 8)
        zero_runs[zero_run_count++] = (struct pfn_run){pfn, 1};
}

/* Read-fault fresh pages of our own: a one-page mapping gets the zero page, a 2 MiB-aligned
 * block with MADV_HUGEPAGE the huge zero page (when THP uses it). pagemap gives their PFNs. */
static void find_zero_pages(void)
{
    static uint64_t entries[1024];
    size_t huge = 2 << 20, lengths[] = {(size_t)page_size, 2 * huge};
    for (int l = 0; l < 2; l++) {
        size_t length = lengths[l];
        char *probe = mmap(NULL, length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (probe == MAP_FAILED)
            die("mmap");
        size_t first = length > huge ? -(uintptr_t)probe % huge : 0;
        if (length > huge)
            madvise(probe + first, huge, MADV_HUGEPAGE);
        (void)*(volatile char *)(probe + first);
        int fd = open_pagemap("self");
        size_t got = pread_all(fd, entries, length / (size_t)page_size * 8,
                               (off_t)((uintptr_t)probe / (uint64_t)page_size * 8)) / 8;
        close(fd);
        for (size_t i = 0; i < got; i++)
            if (entries[i] & PM_PRESENT)
                add_zero_page(entries[i] & PM_PFN);
        munmap(probe, length);
    }
}

/* One rep: present pages per node into counts[], by PFN (query == 0) or by move_pages(2). */
/* What numamove's scan reports besides the pages: the process's name, and the CPU each thread
 * last ran on (field 39 of /proc/PID/task/TID/stat, after the name in parentheses). */
static void read_name_and_threads(const char *pid)
{
    char path[300], text[1024];
    snprintf(path, sizeof path, "/proc/%s/comm", pid);
    FILE *comm = fopen(path, "r");
    if (!comm || !fgets(text, sizeof text, comm))
        die(path);
    fclose(comm);
    snprintf(path, sizeof path, "/proc/%s/task", pid);
    DIR *tasks = opendir(path);
    struct dirent *task;
    if (!tasks)
        die(path);
    while ((task = readdir(tasks))) {
        if (task->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/%s/task/%s/stat", pid, task->d_name);
        int fd = open(path, O_RDONLY);
        ssize_t got = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
        if (fd >= 0)
            close(fd);
        if (got <= 0)
            continue; /* the thread exited */
        text[got] = 0;
        char *field = strrchr(text, ')');
        int cpu = -1;
        for (int number = 2; field && number < 39; number++)
            field = strchr(field + 1, ' ');
        if (!field || sscanf(field, "%d", &cpu) != 1 || cpu < 0) {
            fprintf(stderr, "%s: no processor field\n", path);
            exit(1);
        }
    }
    closedir(tasks);
}

static void scan(const char *pid, int query, long *counts)
{
    static uint64_t entries[CHUNK];
    static void *addresses[CHUNK];
    static int status[CHUNK];
    size_t vma_count;
    read_name_and_threads(pid);
    struct vma *vmas = read_maps(pid, &vma_count);
    /* The block table is kept while /sys/devices/system/memory holds the same number of block
     * directories (its link count), as numamove keeps its PFN -> node map. */
    static uint64_t block_pages = 1;
    static int *table = NULL;
    static size_t blocks;
    static nlink_t block_dirs;
    struct stat memory_dir;
    if (!query) {
        if (stat("/sys/devices/system/memory", &memory_dir) != 0)
            die("/sys/devices/system/memory");
        if (!table || memory_dir.st_nlink != block_dirs) {
            free(table);
            block_pages = read_hex("/sys/devices/system/memory/block_size_bytes") / (uint64_t)page_size;
            table = block_table(&blocks);
            block_dirs = memory_dir.st_nlink;
        }
    }
    int pagemap = open_pagemap(pid);
    memset(counts, 0, MAX_NODES * sizeof *counts);
    for (size_t v = 0; v < vma_count; v++) {
        for (uint64_t low = vmas[v].start; low < vmas[v].end; low += CHUNK * (uint64_t)page_size) {
            uint64_t pages = (vmas[v].end - low) / (uint64_t)page_size;
            if (pages > CHUNK)
                pages = CHUNK;
            size_t got = pread_all(pagemap, entries, pages * 8, (off_t)(low / (uint64_t)page_size * 8)) / 8;
            long present = 0;
            for (size_t i = 0; i < got; i++) {
                uint64_t entry = entries[i];
                if ((entry & (PM_PRESENT | PM_SWAP)) != PM_PRESENT)
                    continue;
                if (query) {
                    addresses[present++] = (void *)(uintptr_t)(low + i * (uint64_t)page_size);
                    continue;
                }
                uint64_t pfn = entry & PM_PFN, block = pfn / block_pages;
                if (pfn && block < blocks && table[block] >= 0 && !is_zero_page(pfn))
                    counts[table[block]]++;
            }
            if (present) {
                if (syscall(SYS_move_pages, atoi(pid), present, addresses, NULL, status, MPOL_MF_MOVE) < 0)
                    die("move_pages");
                for (long i = 0; i < present; i++)
                    if (status[i] >= 0 && status[i] < MAX_NODES)
                        counts[status[i]]++;
            }
            if (got < pages)
                break; /* unmapped while we read */
        }
    }
    close(pagemap);
    free(vmas);
}

static void timed_scan(const char *pid, int query)
{
    long counts[MAX_NODES];
    double start = now();
    scan(pid, query, counts);
    double seconds = now() - start;
    printf("rep %.9f", seconds);
    for (int node = 0; node < MAX_NODES; node++)
        if (counts[node])
            printf(" %d:%ld", node, counts[node]);
    printf("\n");
    fflush(stdout);
}

static int hold(long mib, int file_count, char **files)
{
    size_t size = (size_t)mib << 20;
    char *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        die("mmap");
    /* 4 KiB pages, so every scan walks the full page table rather than a few hundred THP entries. */
    madvise(memory, size, MADV_NOHUGEPAGE);
    for (size_t at = 0; at < size; at += (size_t)page_size)
        memory[at] = 1; /* written: a page only gets a node when touched */
    /* Read faults map the zero pages, the huge one where THP may: no node's memory, and both
     * sides must skip them to agree. */
    for (int huge = 0; huge < 2; huge++) {
        size_t length = huge ? 8 << 20 : 64 << 10;
        volatile char *zero = mmap(NULL, length, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (zero == MAP_FAILED)
            die("mmap");
        madvise((void *)zero, length, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        for (size_t at = 0; at < length; at += (size_t)page_size)
            (void)zero[at];
    }
    for (int i = 0; i < file_count; i++) {
        struct stat info;
        int fd = open(files[i], O_RDONLY);
        if (fd < 0 || fstat(fd, &info) != 0)
            die(files[i]);
        volatile char *mapped = mmap(NULL, (size_t)info.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (mapped == MAP_FAILED)
            die(files[i]);
        close(fd);
        for (off_t at = 0; at < info.st_size; at += page_size)
            (void)mapped[at];
    }
    printf("ready\n");
    fflush(stdout);
    char buffer[256];
    while (read(0, buffer, sizeof buffer) > 0)
        continue;
    return 0;
}

int main(int argc, char **argv)
{
    page_size = sysconf(_SC_PAGESIZE);
    if (argc >= 3 && !strcmp(argv[1], "hold"))
        return hold(atol(argv[2]), argc - 3, argv + 3);
    if (!(argc == 3 && !strcmp(argv[1], "serve")) &&
        (argc != 4 || (strcmp(argv[1], "pagemap") && strcmp(argv[1], "query")))) {
        fprintf(stderr, "usage: where_c hold MIB [FILE...] | where_c pagemap|query PID REPS | where_c serve PID\n");
        return 2;
    }
    find_zero_pages(); /* once, as numamove caches them */
    if (!strcmp(argv[1], "serve")) {
        char request[32];
        while (fgets(request, sizeof request, stdin))
            timed_scan(argv[2], !strcmp(request, "query\n"));
        return 0;
    }
    for (long rep = 0; rep < atol(argv[3]); rep++)
        timed_scan(argv[2], !strcmp(argv[1], "query"));
    return 0;
}
