//! A version 4 block header: only one whose checksum verifies is taken, and it writes
//! back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = memscope_format::fuzzing::block_header(data);
});
