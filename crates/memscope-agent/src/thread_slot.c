/* The agent's per-thread state, in the initial-exec TLS model.
 *
 * Rust's thread-locals in a shared library use the general-dynamic model: every
 * access calls __tls_get_addr, several times per hooked malloc. The preload library
 * is always loaded at start-up (LD_PRELOAD), so its TLS sits in the static block and
 * one thread-pointer-relative address is enough. Stable Rust cannot choose the model;
 * C can. */

struct memscope_thread_slot {
    void *state;
    unsigned char active;
    unsigned char exited;
};

static __thread struct memscope_thread_slot slot __attribute__((tls_model("initial-exec")));

/* Hidden: called directly, not through the GOT. */
__attribute__((visibility("hidden"))) struct memscope_thread_slot *memscope_thread_slot(void) { return &slot; }
