//! A decompressed events payload read column by column, as reports read it; it must
//! agree with the whole-block decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = memscope_format::fuzzing::event_columns(data);
});
