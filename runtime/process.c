/* The guest program as a process: the name of its file, the runtime's own environment variables,
 * execve of other programs, and the /proc files that describe the guest rather than the runtime.
 *
 * The runtime learns the guest's file name from AOTBUILDER_GUEST (set by `aotbuilder run` and by
 * the runtime's own execve); it and the other runtime settings (AOTBUILDER_STRACE,
 * AOTBUILDER_SEED, AOTBUILDER_PERF_MAP, AOTBUILDER_STATS_JSON, AOTBUILDER_CODE_CACHE_SIZE,
 * AOTBUILDER_JIT_CACHE_DIR) are taken out of the guest's environment and passed on across execve. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mmu.h"

static const char *const runtime_variables[] = { "AOTBUILDER_GUEST", "AOTBUILDER_STRACE", "AOTBUILDER_SEED",
                                                 "AOTBUILDER_PERF_MAP", "AOTBUILDER_STATS_JSON",
                                                 "AOTBUILDER_CODE_CACHE_SIZE", "AOTBUILDER_JIT_CACHE_DIR" };
#define N_RUNTIME_VARIABLES (sizeof runtime_variables / sizeof runtime_variables[0])

static char *runtime_settings[N_RUNTIME_VARIABLES];  /* "NAME=value" from the runtime's environment */
static const char *execfn;                            /* AOTBUILDER_GUEST as given, or NULL */
static char exe_path[PATH_MAX];                        /* its absolute path, or "" */

static int runtime_variable(const char *entry)
{
    for (size_t i = 0; i < N_RUNTIME_VARIABLES; i++) {
        size_t len = strlen(runtime_variables[i]);
        if (!strncmp(entry, runtime_variables[i], len) && entry[len] == '=')
            return (int)i;
    }
    return -1;
}

char **runtime_environment_init(char **envp)
{
    size_t n = 0, kept = 0;
    while (envp[n])
        n++;
    char **guest = calloc(n + 1, sizeof *guest);
    if (!guest)
        fatal_error("out of memory for the guest environment");
    for (size_t i = 0; i < n; i++) {
        int var = runtime_variable(envp[i]);
        if (var < 0)
            guest[kept++] = envp[i];
        else
            runtime_settings[var] = envp[i];
    }
    if (runtime_settings[0]) {
        execfn = runtime_settings[0] + strlen("AOTBUILDER_GUEST=");
        if (!realpath(execfn, exe_path))
            exe_path[0] = 0;
        runtime_settings[0] = NULL;  /* an execve names its own program */
    }
    return guest;
}

const char *guest_execfn(void) { return execfn; }
const char *guest_exe_path(void) { return exe_path[0] ? exe_path : NULL; }

/* "/proc/self/<name>" or "/proc/<our pid>/<name>" */
static bool is_own_proc_file(const char *path, const char *name)
{
    char own[64];
    snprintf(own, sizeof own, "/proc/%d/%s", (int)getpid(), name);
    return !strcmp(path, own) || (!strncmp(path, "/proc/self/", 11) && !strcmp(path + 11, name));
}

const char *guest_path(const char *path)
{
    if (exe_path[0] && is_own_proc_file(path, "exe"))
        return exe_path;
    return path;
}

/* ---- /proc files ---- */

static uint64_t saved_auxv[64][2];
static size_t saved_auxv_len;

void remember_guest_auxv(const uint64_t (*auxv)[2], size_t n)
{
    saved_auxv_len = n < 64 ? n : 64;
    memcpy(saved_auxv, auxv, saved_auxv_len * sizeof auxv[0]);
}

static int memfd_with(const char *name, const void *data, size_t len)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, (const char *)data + done, len - done);
        if (n <= 0) {
            close(fd);
            return -EIO;
        }
        done += (size_t)n;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* Files of /proc that must describe the guest: its auxv, and its executable when the runtime
 * does not know the guest's file (then the embedded image stands for it).  Returns a descriptor,
 * or -1 when path is none of them. */
int open_guest_proc_file(const char *path, int flags)
{
    int fd;
    if (is_own_proc_file(path, "auxv"))
        fd = memfd_with("auxv", saved_auxv, saved_auxv_len * sizeof saved_auxv[0]);
    else if (!exe_path[0] && is_own_proc_file(path, "exe"))
        fd = memfd_with("exe", aot_guest_image, aot_guest_image_size);
    else
        return -1;
    if (fd >= 0 && !(flags & O_CLOEXEC))
        fcntl(fd, F_SETFD, 0);
    return fd;
}

/* ---- execve ---- */

static bool is_riscv64_elf(const unsigned char *head, size_t len)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)head;
    return len >= sizeof *eh && !memcmp(eh->e_ident, ELFMAG, SELFMAG) && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
           eh->e_machine == EM_RISCV;
}

/* The file is the guest this executable embeds: it can run as this executable. */
static bool is_own_guest(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != aot_guest_image_size)
        return false;
    unsigned char buf[1 << 16];
    for (uint64_t at = 0; at < aot_guest_image_size;) {
        ssize_t n = pread(fd, buf, sizeof buf, (off_t)at);
        if (n <= 0 || memcmp(buf, aot_guest_image + at, (size_t)n))
            return false;
        at += (uint64_t)n;
    }
    return true;
}

static size_t count(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* The guest's environment plus the runtime settings and extra (NULL-terminated) entries. */
static char **environment_for_exec(char *const *envp, char *const *extra)
{
    size_t n = count(envp), k = 0;
    char **env = calloc(n + N_RUNTIME_VARIABLES + count(extra) + 1, sizeof *env);
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (runtime_variable(envp[i]) < 0)
            env[k++] = envp[i];
    for (size_t i = 0; i < N_RUNTIME_VARIABLES; i++)
        if (runtime_settings[i])
            env[k++] = runtime_settings[i];
    for (size_t i = 0; extra && extra[i]; i++)
        env[k++] = extra[i];
    return env;
}

/* Another riscv64 program runs through `python -m aotbuilder run`, which builds it if needed,
 * with the interpreter and aotbuilder that built this executable. */
static const char launcher[] =
    "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'aotbuilder'; "
    "from aotbuilder.cli import app; app()";

static int64_t exec_translated(int fd, const char *path, char *const *argv, char *const *envp)
{
    size_t argc = count(argv);
    char name_var[PATH_MAX + 32], argv0_var[PATH_MAX + 32];
    if (is_own_guest(fd)) {
        snprintf(name_var, sizeof name_var, "AOTBUILDER_GUEST=%s", path);
        char *extra[] = { name_var, NULL };
        char **env = environment_for_exec(envp, extra);
        if (!env)
            return -ENOMEM;
        execve("/proc/self/exe", argv, env);
        free(env);
        return -errno;
    }
    snprintf(argv0_var, sizeof argv0_var, "AOTBUILDER_ARGV0=%s", argc ? argv[0] : path);
    /* Python would add LC_CTYPE to the environment in the C locale (PEP 538); `run` takes the
     * variables named in AOTBUILDER_ADDED out again. */
    bool coerce_set = false;
    for (char *const *e = envp; e && *e; e++)
        coerce_set |= !strncmp(*e, "PYTHONCOERCECLOCALE=", 20);
    char *extra[] = { argv0_var, coerce_set ? NULL : "PYTHONCOERCECLOCALE=0",
                      coerce_set ? NULL : "AOTBUILDER_ADDED=PYTHONCOERCECLOCALE", NULL };
    char **env = environment_for_exec(envp, extra);
    const char **args = calloc(argc + 8, sizeof *args);
    if (!env || !args) {
        free(env);
        free(args);
        return -ENOMEM;
    }
    size_t k = 0;
    args[k++] = aot_build_python;
    args[k++] = "-c";
    args[k++] = launcher;
    args[k++] = aot_build_root;
    args[k++] = "run";
    args[k++] = path;
    for (size_t i = 1; i < argc; i++)
        args[k++] = argv[i];
    execve(aot_build_python, (char *const *)args, env);
    int err = errno;
    free(env);
    free(args);
    return err == ENOENT ? -ENOEXEC : -err;  /* the program exists; what runs it does not */
}

/* "#!interpreter [argument]": the kernel would run a riscv64 interpreter natively. */
static int64_t exec_script(const char *path, const unsigned char *head, size_t len, char *const *argv,
                           char *const *envp, int depth)
{
    char line[256];
    size_t n = 0;
    for (size_t i = 2; i < len && head[i] != '\n' && n + 1 < sizeof line; i++)
        line[n++] = (char)head[i];
    line[n] = 0;
    char *interp = line + strspn(line, " \t");
    char *end = interp + strcspn(interp, " \t");
    char *arg = NULL;
    if (*end) {
        *end = 0;
        arg = end + 1 + strspn(end + 1, " \t");
        for (char *t = arg + strlen(arg); t > arg && (t[-1] == ' ' || t[-1] == '\t');)
            *--t = 0;
        if (!*arg)
            arg = NULL;
    }
    size_t argc = count(argv);
    char **args = calloc(argc + 3, sizeof *args);
    if (!args)
        return -ENOMEM;
    size_t k = 0;
    args[k++] = interp;
    if (arg)
        args[k++] = arg;
    args[k++] = (char *)path;
    for (size_t i = 1; i < argc; i++)
        args[k++] = argv[i];
    int64_t r = exec_program_depth(interp, args, envp, depth + 1);
    free(args);
    return r;
}

#define MAX_INTERPRETER_DEPTH 4  /* Linux's BINPRM_MAX_RECURSION */

int64_t exec_program_depth(const char *path, char *const *argv, char *const *envp, int depth)
{
    unsigned char head[256];
    if (depth > MAX_INTERPRETER_DEPTH)
        return -ELOOP;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0) {
        ssize_t len = pread(fd, head, sizeof head, 0);
        int64_t r = 0;
        if (len > 0 && is_riscv64_elf(head, (size_t)len))
            r = exec_translated(fd, path, argv, envp);
        else if (len > 2 && head[0] == '#' && head[1] == '!')
            r = exec_script(path, head, (size_t)len, argv, envp, depth);
        close(fd);
        if (r)
            return r;
    } else if (fd >= 0) {
        close(fd);
    }
    /* Anything else is the host's: native programs, errors (ENOENT, EACCES, ENOEXEC, ...).  The
     * statistics are written first: a native program never exits through this runtime. */
    stats_write();
    execve(path, argv, envp);
    return -errno;
}

int64_t exec_program(const char *path, char *const *argv, char *const *envp)
{
    return exec_program_depth(path, argv, envp, 0);
}
