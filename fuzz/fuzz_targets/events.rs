//! A decompressed Events block payload, decoded whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use memscope_format::BlockKind;

fuzz_target!(|data: &[u8]| {
    let _ = memscope_format::fuzzing::decode(BlockKind::Events, data);
});
