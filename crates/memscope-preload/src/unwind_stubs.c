/* The precompiled `core` and `alloc` carry unwinding code that names these two
 * symbols. With panic = "abort" nothing ever unwinds, so they are never called; they
 * are defined here, hidden, because an exported definition would interpose the
 * program's own: a Rust program's rust_eh_personality, or libgcc's _Unwind_Resume,
 * which C++ exceptions need. */
#include <stdlib.h>

__attribute__((visibility("hidden"))) void rust_eh_personality(void) { abort(); }
__attribute__((visibility("hidden"))) void _Unwind_Resume(void *exception) {
    (void)exception;
    abort();
}
