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

typedef int (*exec_fn)(const char *target, char *const argv[], char *const envp[]);

static int run_execv(const char *path, char *const argv[], char *const envp[]) {
    (void)envp;
    return execv(path, argv);
}

static int run_execvp(const char *file, char *const argv[], char *const envp[]) {
    (void)envp;
    return execvp(file, argv);
}

/* Gathers `first` and the NULL-terminated arguments after it into argv, then (for
 * execle) the environment pointer that follows the NULL, and runs `run`. */
static int exec_list(exec_fn run, const char *target, int has_envp, const char *first, va_list ap) {
    va_list counting;
    va_copy(counting, ap);
    size_t n = 1;
    if (first != NULL)
        while (va_arg(counting, const char *) != NULL) n++;
    va_end(counting);
    char *argv[n + 1];
    argv[0] = (char *)first;
    for (size_t i = 1; first != NULL && i < n; i++) argv[i] = va_arg(ap, char *);
    argv[n] = NULL;
    char *const *envp = NULL;
    if (has_envp) {
        if (first != NULL) (void)va_arg(ap, const char *); /* the terminating NULL */
        envp = va_arg(ap, char *const *);
    }
    return run(target, argv, envp);
}

int memscope_execl(const char *path, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    int result = exec_list(run_execv, path, 0, arg, ap);
    va_end(ap);
    return result;
}

int memscope_execlp(const char *file, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    int result = exec_list(run_execvp, file, 0, arg, ap);
    va_end(ap);
    return result;
}

int memscope_execle(const char *path, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    int result = exec_list(execve, path, 1, arg, ap);
    va_end(ap);
    return result;
}
