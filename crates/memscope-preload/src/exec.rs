//! Hooks on the ways a process image ends or changes without running destructors:
//! `_exit`, `exec`, and the loader's `dlopen`/`dlclose`. The real functions are found
//! with `dlsym(RTLD_NEXT)`, since calling them by name would call these hooks again.

use core::ffi::{c_char, c_int, c_void};

use crate::real::next;

type ExecvFn = unsafe extern "C" fn(*const c_char, *const *const c_char) -> c_int;
type ExecveFn =
    unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
type FexecveFn = unsafe extern "C" fn(c_int, *const *const c_char, *const *const c_char) -> c_int;
type DlopenFn = unsafe extern "C" fn(*const c_char, c_int) -> *mut c_void;
type DlcloseFn = unsafe extern "C" fn(*mut c_void) -> c_int;

/// Interposed `_exit`: completes the trace, which `_exit` would otherwise cut short.
#[no_mangle]
pub unsafe extern "C" fn _exit(status: c_int) -> ! {
    memscope_agent::before_immediate_exit();
    libc::syscall(libc::SYS_exit_group, status);
    unreachable_exit()
}

/// Interposed `_Exit`.
#[no_mangle]
pub unsafe extern "C" fn _Exit(status: c_int) -> ! {
    _exit(status)
}

fn unreachable_exit() -> ! {
    // exit_group does not return; if it somehow did, end the process the hard way.
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// Interposed `execve`.
#[no_mangle]
pub unsafe extern "C" fn execve(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    memscope_agent::before_exec();
    let result = next::<ExecveFn>(c"execve").map_or(-1, |real| real(path, argv, envp));
    memscope_agent::after_failed_exec();
    result
}

/// Interposed `execv`.
#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    memscope_agent::before_exec();
    let result = next::<ExecvFn>(c"execv").map_or(-1, |real| real(path, argv));
    memscope_agent::after_failed_exec();
    result
}

/// Interposed `execvp`.
#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    memscope_agent::before_exec();
    let result = next::<ExecvFn>(c"execvp").map_or(-1, |real| real(file, argv));
    memscope_agent::after_failed_exec();
    result
}

/// Interposed `execvpe`.
#[no_mangle]
pub unsafe extern "C" fn execvpe(
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    memscope_agent::before_exec();
    let result = next::<ExecveFn>(c"execvpe").map_or(-1, |real| real(file, argv, envp));
    memscope_agent::after_failed_exec();
    result
}

/// Interposed `fexecve`.
#[no_mangle]
pub unsafe extern "C" fn fexecve(
    fd: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    memscope_agent::before_exec();
    let result = next::<FexecveFn>(c"fexecve").map_or(-1, |real| real(fd, argv, envp));
    memscope_agent::after_failed_exec();
    result
}

extern "C" {
    fn memscope_execl();
    fn memscope_execlp();
    fn memscope_execle();
}

/// Interposed `execl`. Variadic functions cannot be defined in stable Rust, so this is a
/// bare jump into the C definition in execl.c: the caller's arguments, in registers
/// and on the stack, reach it untouched.
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn execl() {
    core::arch::naked_asm!("jmp {}", sym memscope_execl)
}

/// Interposed `execlp`; see [`execl`].
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn execlp() {
    core::arch::naked_asm!("jmp {}", sym memscope_execlp)
}

/// Interposed `execle`; see [`execl`].
#[unsafe(naked)]
#[no_mangle]
pub unsafe extern "C" fn execle() {
    core::arch::naked_asm!("jmp {}", sym memscope_execle)
}

/// Interposed `dlopen`: the new module's code must unwind from its first allocation.
#[no_mangle]
pub unsafe extern "C" fn dlopen(file: *const c_char, mode: c_int) -> *mut c_void {
    let handle = next::<DlopenFn>(c"dlopen").map_or(core::ptr::null_mut(), |real| real(file, mode));
    memscope_agent::modules_changed();
    handle
}

/// Interposed `dlclose`.
#[no_mangle]
pub unsafe extern "C" fn dlclose(handle: *mut c_void) -> c_int {
    let result = next::<DlcloseFn>(c"dlclose").map_or(-1, |real| real(handle));
    memscope_agent::modules_changed();
    result
}
