/* The execl family, forwarded to the execv family so that the memscope hooks on
 * execv, execvp and execve see every exec (glibc's own execl calls its internal
 * execve, which no hook sees). The argument lists are copied into a stack array:
 * exec must not allocate.
 *
 * These are named memscope_execl and so on: a Rust cdylib exports only Rust symbols,
 * so exec.rs exports execl, execlp and execle as jumps to these. */
#include <stdarg.h>
#include <stddef.h>

/* Declared here rather than through <unistd.h>, whose nonnull attributes would make
 * the NULL checks below look redundant to the compiler. */
int execv(const char *path, char *const argv[]);
int execvp(const char *file, char *const argv[]);
int execve(const char *path, char *const argv[], char *const envp[]);

static size_t count_args(const char *first, va_list ap) {
    size_t n = 1;
    if (first == NULL) return 1;
    while (va_arg(ap, const char *) != NULL) n++;
    return n + 1;
}

#define COLLECT(argv, first, ap)                          \
    do {                                                  \
        size_t i = 0;                                     \
        argv[i++] = (char *)(first);                      \
        if (first != NULL) {                              \
            const char *next;                             \
            while ((next = va_arg(ap, const char *)) != NULL) \
                argv[i++] = (char *)next;                 \
            argv[i] = NULL;                               \
        }                                                 \
    } while (0)

int memscope_execl(const char *path, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    size_t n = count_args(arg, ap);
    va_end(ap);
    char *argv[n];
    va_start(ap, arg);
    COLLECT(argv, arg, ap);
    va_end(ap);
    return execv(path, argv);
}

int memscope_execlp(const char *file, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    size_t n = count_args(arg, ap);
    va_end(ap);
    char *argv[n];
    va_start(ap, arg);
    COLLECT(argv, arg, ap);
    va_end(ap);
    return execvp(file, argv);
}

int memscope_execle(const char *path, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    size_t n = count_args(arg, ap);
    va_end(ap);
    char *argv[n];
    va_start(ap, arg);
    COLLECT(argv, arg, ap);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}
