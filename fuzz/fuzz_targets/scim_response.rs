#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sesame::fuzzing::scim_response(data);
});
