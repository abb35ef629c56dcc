/* AOTBUILDER_STRACE: each system call as one line on stderr, in the style of qemu -strace:
 *     openat(-100,"/etc/passwd",0x0,0x0) = 3
 *     read(3,0x3ffffef000,4096) = -1 errno=14 (Bad address)
 * Argument letters in the table: d int, l long, u unsigned decimal, x hex, o octal, s string. */
#include <stdarg.h>
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

static void append_arg(struct trace_line *line, char kind, uint64_t value)
{
    switch (kind) {
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
    if (d && (d->flags & SC_NORETURN))
        report("%s\n", line->text);
}

void trace_result(struct trace_line *line, const struct syscall_desc *d, int64_t result)
{
    if (result < 0 && result >= -4095)
        append(line, " = -1 errno=%d (%s)\n", (int)-result, strerror((int)-result));
    else if (d && (d->flags & SC_HEX_RESULT))
        append(line, " = 0x%llx\n", (unsigned long long)result);
    else
        append(line, " = %lld\n", (long long)result);
    report("%s", line->text);
}
