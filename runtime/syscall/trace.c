/* AOTBUILDER_STRACE: each system call as one line on stderr, in the style of qemu -strace:
 *     openat(-100,"/etc/passwd",0x0,0x0) = 3
 *     read(3,0x3ffffef000,4096) = -1 errno=14 (Bad address)
 * Argument letters in the table: d int, l long, u unsigned decimal, x hex, o octal, s string,
 * a directory fd (AT_FDCWD), f open flags, p mmap protection, m mmap flags, k clone flags,
 * S signal, v string vector (argv, envp). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "syscall.h"

#define TRACE_STRING_MAX 64

static void append(struct trace_line *line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(struct trace_line *line, const char *fmt, ...)
{
    size_t room = sizeof line->text - line->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line->text + line->len, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        line->len += (size_t)n < room ? (size_t)n : room - 1;
}

static void append_string(struct trace_line *line, uint64_t addr)
{
    unsigned char c = 0;
    int i = 0;
    append(line, "\"");
    for (; i < TRACE_STRING_MAX; i++) {
        if (guest_read(addr + (uint64_t)i, &c, 1) != 0) {
            append(line, "\"<bad address 0x%llx>", (unsigned long long)addr);
            return;
        }
        if (!c)
            break;
        if (c == '"' || c == '\\')
            append(line, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            append(line, "%c", c);
        else
            append(line, "\\x%02x", c);
    }
    append(line, c ? "\"..." : "\"");
}

struct flag_name { uint64_t bit; const char *name; };

/* Named bits or-ed together (lowest first), then what is left in hex; empty_name for 0. */
static void append_flags(struct trace_line *line, uint64_t value, const struct flag_name *names, const char *empty_name)
{
    bool first = true;
    if (!value) {
        append(line, "%s", empty_name);
        return;
    }
    for (; names->name; names++)
        if ((value & names->bit) == names->bit && names->bit) {
            append(line, "%s%s", first ? "" : "|", names->name);
            value &= ~names->bit;
            first = false;
        }
    if (value || first)
        append(line, "%s0x%llx", first ? "" : "|", (unsigned long long)value);
}

static const struct flag_name open_flags[] = {
    { 01, "O_WRONLY" }, { 02, "O_RDWR" }, { 0100, "O_CREAT" }, { 0200, "O_EXCL" }, { 0400, "O_NOCTTY" },
    { 01000, "O_TRUNC" }, { 02000, "O_APPEND" }, { 04000, "O_NONBLOCK" }, { 010000, "O_DSYNC" },
    { 040000, "O_DIRECT" }, { 0200000, "O_DIRECTORY" }, { 0400000, "O_NOFOLLOW" }, { 01000000, "O_NOATIME" },
    { 02000000, "O_CLOEXEC" }, { 010000000, "O_PATH" }, { 020000000, "O_TMPFILE" }, { 0, NULL },
};
static const struct flag_name prot_flags[] = {
    { 1, "PROT_READ" }, { 2, "PROT_WRITE" }, { 4, "PROT_EXEC" }, { 0, NULL },
};
static const struct flag_name mmap_flags[] = {
    { 0x01, "MAP_SHARED" }, { 0x02, "MAP_PRIVATE" }, { 0x10, "MAP_FIXED" }, { 0x20, "MAP_ANONYMOUS" },
    { 0x100, "MAP_GROWSDOWN" }, { 0x4000, "MAP_NORESERVE" }, { 0x8000, "MAP_POPULATE" }, { 0x20000, "MAP_STACK" },
    { 0x100000, "MAP_FIXED_NOREPLACE" }, { 0, NULL },
};
static const struct flag_name clone_flags[] = {
    { 0x100, "CLONE_VM" }, { 0x200, "CLONE_FS" }, { 0x400, "CLONE_FILES" }, { 0x800, "CLONE_SIGHAND" },
    { 0x4000, "CLONE_VFORK" }, { 0x8000, "CLONE_PARENT" }, { 0x10000, "CLONE_THREAD" },
    { 0x80000, "CLONE_SETTLS" }, { 0x100000, "CLONE_PARENT_SETTID" }, { 0x200000, "CLONE_CHILD_CLEARTID" },
    { 0x1000000, "CLONE_CHILD_SETTID" }, { 0, NULL },
};

#define TRACE_VECTOR_MAX 32

static void append_vector(struct trace_line *line, uint64_t addr)
{
    append(line, "[");
    for (int i = 0;; i++) {
        uint64_t s;
        if (guest_read(addr + 8 * (uint64_t)i, &s, sizeof s) != 0) {
            append(line, "<bad address 0x%llx>", (unsigned long long)addr);
            break;
        }
        if (!s)
            break;
        if (i == TRACE_VECTOR_MAX) {
            append(line, ",...");
            break;
        }
        append(line, "%s", i ? "," : "");
        append_string(line, s);
    }
    append(line, "]");
}

static void append_arg(struct trace_line *line, char kind, uint64_t value)
{
    switch (kind) {
    case 'a':
        if ((int)value == -100)
            append(line, "AT_FDCWD");
        else
            append(line, "%d", (int)value);
        break;
    case 'f':
        append_flags(line, value & ~3ULL, open_flags, (value & 3) == 0 ? "O_RDONLY" : "");
        if ((value & 3) == 0 && (value & ~3ULL))
            append(line, "|O_RDONLY");
        break;
    case 'p': append_flags(line, value, prot_flags, "PROT_NONE"); break;
    case 'm': append_flags(line, value, mmap_flags, "0"); break;
    case 'k':
        append_flags(line, value & ~0xffULL, clone_flags, "0");
        if (value & 0xff)
            append(line, "|%s", signal_name((int)(value & 0xff)));
        break;
    case 'S': append(line, "%s", (int)value > 0 && (int)value <= GUEST_NSIG ? signal_name((int)value) : "0"); break;
    case 'v': append_vector(line, value); break;
    case 'd': append(line, "%d", (int)value); break;
    case 'l': append(line, "%lld", (long long)value); break;
    case 'u': append(line, "%llu", (unsigned long long)value); break;
    case 'o': append(line, "0%llo", (unsigned long long)value); break;
    case 's': append_string(line, value); break;
    default: append(line, "0x%llx", (unsigned long long)value); break;
    }
}

void trace_call(struct trace_line *line, const struct syscall_desc *d, uint64_t nr, const uint64_t *a)
{
    const char *args = d && d->args ? d->args : "xxxxxx";
    line->len = 0;
    if (d)
        append(line, "%s(", d->name);
    else
        append(line, "syscall_%llu(", (unsigned long long)nr);
    for (int i = 0; args[i]; i++)
        append_arg(line, args[i], a[i]), append(line, "%s", args[i + 1] ? "," : "");
    append(line, ")");
    if (d && (d->flags & (SC_NORETURN | SC_TRACE_BEFORE)))
        report("%s\n", line->text);
}

void trace_result(struct trace_line *line, const struct syscall_desc *d, int64_t result)
{
    if (d && (d->flags & SC_TRACE_BEFORE)) {  /* the call is on the line before */
        line->len = 0;
        append(line, "%s", d->name);
    }
    if (result < 0 && result >= -4095)
        append(line, " = -1 errno=%d (%s)\n", (int)-result, strerror((int)-result));
    else if (d && (d->flags & SC_HEX_RESULT))
        append(line, " = 0x%llx\n", (unsigned long long)result);
    else
        append(line, " = %lld\n", (long long)result);
    report("%s", line->text);
}
