/*
 * tools/trace/elf.c - just enough ELF to know, before running a program,
 * whether LD_PRELOAD can reach its socket calls.
 *
 * A program without PT_INTERP is not started by the dynamic loader
 * (statically linked, or static-pie), so nothing is preloaded into it.  A
 * Go program makes its system calls itself, even when dynamically linked;
 * its section .note.go.buildid gives it away.  And a program built with a
 * sanitizer whose runtime is a shared library (gcc's libasan.so) wants that
 * runtime first in the list of libraries, before ours: we read its
 * DT_NEEDED entries to put it there.
 */
#include "trace.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Does the (bounded) range off..off+len lie within a file of size size? */
static int within(size_t size, uint64_t off, uint64_t len)
{
    return off <= size && len <= size - off;
}

/* The file offset of virtual address addr, from the PT_LOAD segments. */
static int vaddr_offset(const Elf64_Phdr *ph, int n, uint64_t addr, uint64_t *off)
{
    for (int i = 0; i < n; i++)
        if (ph[i].p_type == PT_LOAD && addr >= ph[i].p_vaddr &&
            addr - ph[i].p_vaddr < ph[i].p_filesz) {
            *off = ph[i].p_offset + (addr - ph[i].p_vaddr);
            return 0;
        }
    return -1;
}

static int sanitizer_name(const char *name)
{
    static const char *const runtimes[] = {"libasan.so", "libubsan.so", "libtsan.so",
                                           "liblsan.so", "libhwasan.so"};
    for (size_t i = 0; i < sizeof runtimes / sizeof runtimes[0]; i++)
        if (strncmp(name, runtimes[i], strlen(runtimes[i])) == 0)
            return 1;
    return 0;
}

static void needed(const unsigned char *m, size_t size, const Elf64_Phdr *ph, int n,
                   const Elf64_Phdr *dyn, struct elf_info *info)
{
    if (!within(size, dyn->p_offset, dyn->p_filesz))
        return;
    const Elf64_Dyn *d = (const void *)(m + dyn->p_offset);
    size_t nd = dyn->p_filesz / sizeof *d;
    uint64_t strtab = 0, stroff;
    for (size_t i = 0; i < nd && d[i].d_tag != DT_NULL; i++)
        if (d[i].d_tag == DT_STRTAB)
            strtab = d[i].d_un.d_ptr;
    if (!strtab || vaddr_offset(ph, n, strtab, &stroff) != 0)
        return;
    for (size_t i = 0; i < nd && d[i].d_tag != DT_NULL; i++) {
        if (d[i].d_tag != DT_NEEDED || !within(size, stroff + d[i].d_un.d_val, 1))
            continue;
        const char *name = (const char *)m + stroff + d[i].d_un.d_val;
        size_t max = size - (stroff + d[i].d_un.d_val);
        if (strnlen(name, max) == max || !sanitizer_name(name))
            continue;
        size_t used = strlen(info->sanitizers);
        if (used + strlen(name) + 2 < sizeof info->sanitizers)
            snprintf(info->sanitizers + used, sizeof info->sanitizers - used, "%s%s",
                     used ? " " : "", name);
    }
}

static void go_sections(const unsigned char *m, size_t size, const Elf64_Ehdr *eh,
                        struct elf_info *info)
{
    if (!eh->e_shoff || eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shstrndx >= eh->e_shnum ||
        !within(size, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
        return;
    const Elf64_Shdr *sh = (const void *)(m + eh->e_shoff);
    const Elf64_Shdr *names = &sh[eh->e_shstrndx];
    if (!within(size, names->sh_offset, names->sh_size))
        return;
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_name >= names->sh_size)
            continue;
        const char *nm = (const char *)m + names->sh_offset + sh[i].sh_name;
        size_t max = names->sh_size - sh[i].sh_name;
        if (strnlen(nm, max) < max &&
            (strcmp(nm, ".note.go.buildid") == 0 || strcmp(nm, ".go.buildinfo") == 0))
            info->go = 1;
    }
}

static void inspect64(const unsigned char *m, size_t size, struct elf_info *info)
{
    const Elf64_Ehdr *eh = (const void *)m;
    if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
        !within(size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
        return;
    const Elf64_Phdr *ph = (const void *)(m + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_INTERP)
            info->dynamic = 1;
        if (ph[i].p_type == PT_DYNAMIC)
            needed(m, size, ph, eh->e_phnum, &ph[i], info);
    }
    go_sections(m, size, eh, info);
}

static void inspect32(const unsigned char *m, size_t size, struct elf_info *info)
{
    const Elf32_Ehdr *eh = (const void *)m;
    if (eh->e_phentsize != sizeof(Elf32_Phdr) ||
        !within(size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf32_Phdr)))
        return;
    const Elf32_Phdr *ph = (const void *)(m + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_INTERP)
            info->dynamic = 1;
}

int trace_elf_inspect(const char *path, struct elf_info *info)
{
    memset(info, 0, sizeof *info);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t)EI_NIDENT) {
        close(fd);
        return 0;
    }
    size_t size = (size_t)st.st_size;
    unsigned char *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED)
        return -e;
    if (memcmp(m, ELFMAG, SELFMAG) == 0) {
        info->is_elf = 1;
        if (m[EI_CLASS] == ELFCLASS64 && size >= sizeof(Elf64_Ehdr))
            inspect64(m, size, info);
        else if (m[EI_CLASS] == ELFCLASS32 && size >= sizeof(Elf32_Ehdr))
            inspect32(m, size, info);
    }
    munmap(m, size);
    return 0;
}
