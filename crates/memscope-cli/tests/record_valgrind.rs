//! Issue 2, "Record any program": memscope's summary against valgrind's memcheck
//! (`--run-libc-freeres=no --run-cxx-freeres=no`), on the fixtures and on real
//! programs. Allocation, free and leaked-block counts must be equal, and so must
//! bytes: `common::compare_with_valgrind` gives both runs the same environment
//! text, apart from padding (see `Environments` there), so that nothing is left to
//! explain a difference.
//!
//! Each test prints its numbers (`cargo test ... -- --nocapture` shows them). Tests of
//! programs that are not installed print a note and pass.

mod common;

use std::path::Path;

use common::{build, build_plain, compare_with_valgrind, installed};

/// Requires memscope and valgrind to agree on every count.
fn assert_same_as_valgrind<S: AsRef<std::ffi::OsStr>>(
    name: &str,
    program: &Path,
    args: &[S],
    env: &[(&str, &str)],
) {
    if let Some(comparison) = compare_with_valgrind(name, program, args, env) {
        assert_eq!(comparison.memscope, comparison.valgrind, "{name}: memscope, then valgrind");
    }
}

#[test]
fn a_rust_program() {
    let hello = build("hello.rs", &["-O"]);
    assert_same_as_valgrind::<&str>("hello.rs", &hello, &[], &[]);
}

#[test]
fn c_allocation_functions() {
    // pvalloc is left out: valgrind 3.19 aborts on it.
    assert_same_as_valgrind("hooks.c", &build_plain("hooks.c"), &["memcheck"], &[]);
}

#[test]
fn cxx_new_and_delete() {
    assert_same_as_valgrind("cxx.cpp all", &build_plain("cxx.cpp"), &["all"], &[]);
}

#[test]
fn cxx_std_map_with_a_static_map_freed_at_exit() {
    assert_same_as_valgrind("cxx.cpp map", &build("cxx.cpp", &["-O2"]), &["map", "3000"], &[]);
}

#[test]
fn cxx_thread_locals_freed_as_threads_end() {
    assert_same_as_valgrind("cxx.cpp tls", &build("cxx.cpp", &["-O2"]), &["tls", "40"], &[]);
}

#[test]
fn threads_that_allocate_and_leak() {
    let endings = build_plain("endings.c");
    assert_same_as_valgrind("endings.c threads", &endings, &["threads", "100", "20"], &[]);
}

#[test]
fn a_single_threaded_start_handing_blocks_to_threads() {
    let endings = build_plain("endings.c");
    assert_same_as_valgrind("endings.c handoff", &endings, &["handoff", "2000"], &[]);
}

#[test]
fn threads_freeing_each_others_blocks() {
    let endings = build_plain("endings.c");
    assert_same_as_valgrind("endings.c swap", &endings, &["swap", "4", "20000"], &[]);
}

#[test]
fn a_library_constructor_and_dlopen() {
    let library = build("lib.c", &["-O0", "-shared", "-fPIC"]);
    let library_arg = library.to_str().expect("a UTF-8 path");
    let linked = build("loader.c", &["-O0", "-DLINKED", "-Wl,--no-as-needed", library_arg]);
    assert_same_as_valgrind("loader.c linked", &linked, &[] as &[&str], &[]);
    let loader = build_plain("loader.c");
    assert_same_as_valgrind("loader.c dlopen", &loader, &[library_arg], &[]);
    assert_same_as_valgrind("loader.c dlclose", &loader, &[library_arg, "close"], &[]);
}

#[test]
fn churn_benchmark() {
    let Some(churn) = common::churn() else { return };
    assert_same_as_valgrind("churn 20000 2", &churn, &["20000", "2"], &[]);
}

/// Python, with nothing set: memscope gives it PYTHONMALLOC=malloc, so that its small
/// objects reach malloc too (valgrind's run gets the same). Python turns thread ids
/// into integers, which valgrind's memory layout makes smaller (28 bytes, not 32), so
/// bytes are checked against a native count instead (`count_malloc.c`).
#[test]
fn python() {
    let Some(python) = installed("/usr/bin/python3") else { return };
    let script =
        "d = {i: str(i) * 200 for i in range(3000)}\nprint(len(d), sum(map(len, d.values())))";
    // `-P`: the working directory, where memscope's trace and the native count's file
    // come and go, is not searched for modules; Python's listing of it would differ
    // from run to run, and so would the sizes of its allocations.
    let args = ["-P", "-c", script];
    let env = [("PYTHONHASHSEED", "0")];
    let Some(comparison) = compare_with_valgrind("python3", &python, &args, &env) else { return };
    let (memscope, valgrind) = (comparison.memscope, comparison.valgrind);
    assert!(memscope.allocations > 30_000, "{memscope:?}: PYTHONMALLOC=malloc is not in effect");
    assert_eq!(memscope.allocations, valgrind.allocations);
    assert_eq!(memscope.frees, valgrind.frees);
    assert_eq!(
        (memscope.leaked_blocks, memscope.leaked_bytes),
        (valgrind.leaked_blocks, valgrind.leaked_bytes)
    );
    // A native count once came out 976 bytes over memscope's, in a full run of the
    // suite (same allocations, and memscope's equal to valgrind's; alone, the two
    // agree run after run): Python's start-up now and then allocates a little more.
    // The native count is taken again, up to three times in all, before memscope's is
    // called wrong; a recording that is off fails all three. Every count is shown.
    let recorded = (memscope.allocations, memscope.bytes_allocated);
    let mut native = Vec::new();
    while native.len() < 3 && !native.contains(&recorded) {
        native.push(common::native_counts(&python, &args, &env));
    }
    assert!(native.contains(&recorded), "memscope {recorded:?}, natively {native:?}");
}

#[test]
fn perl() {
    let Some(perl) = installed("/usr/bin/perl") else { return };
    let script = r#"my %h; $h{$_} = "x" x $_ for 1..2000; print scalar(keys %h), "\n""#;
    // Perl orders and splits its hashes by a random seed unless told not to.
    let env = [("PERL_HASH_SEED", "0"), ("PERL_PERTURB_KEYS", "0")];
    assert_same_as_valgrind("perl", &perl, &["-e", script], &env);
}

#[test]
fn sort() {
    let Some(sort) = installed("/usr/bin/sort") else { return };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let input = dir.path().join("input");
    let lines: String = (0..20_000u64).map(|i| format!("{}\n", i * 7919 % 20_011)).collect();
    std::fs::write(&input, lines).expect("write the input");
    let input = input.to_str().expect("a UTF-8 path");
    // A fixed buffer size: sort otherwise sizes it by the memory it sees.
    assert_same_as_valgrind("sort", &sort, &["-S", "1M", "--parallel=1", input], &[]);
    assert_same_as_valgrind(
        "sort -n, 4 threads",
        &sort,
        &["-n", "-S", "8M", "--parallel=4", input],
        &[],
    );
}

#[test]
fn sqlite3() {
    let Some(sqlite) = installed("/usr/bin/sqlite3") else { return };
    let sql = "create table t(a, b); \
               with recursive c(x) as (select 1 union all select x + 1 from c where x < 2000) \
               insert into t select x, printf('%040d', x) from c; \
               create index i on t(b); \
               select count(*), sum(length(b)) from t;";
    assert_same_as_valgrind("sqlite3", &sqlite, &[":memory:", sql], &[]);
}

#[test]
fn awk_ls_and_bash() {
    if let Some(awk) = installed("/usr/bin/awk") {
        let program = "BEGIN { for (i = 0; i < 20000; i++) s[i % 97] = s[i % 97] i; \
                       for (k in s) n += length(s[k]); print n }";
        assert_same_as_valgrind("awk", &awk, &[program], &[]);
    }
    if let Some(ls) = installed("/bin/ls") {
        assert_same_as_valgrind("ls -l", &ls, &["-l", "/usr/lib/x86_64-linux-gnu"], &[]);
    }
    if let Some(bash) = installed("/bin/bash") {
        let script = "x=; for i in {1..300}; do x=\"$x$i\"; done; declare -A h; \
                      for i in {1..300}; do h[$i]=$x; done; echo ${#x} ${#h[@]}";
        assert_same_as_valgrind("bash", &bash, &["-c", script], &[]);
    }
}
