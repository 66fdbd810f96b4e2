//! Lazily decoded events agree with whole-block decoding, and errors name the block.

use memscope_format::{
    Event, EventKind, FormatError, Meta, Record, SegmentStart, StackDef, StackId, ThreadId, Trace,
    TraceWriter,
};

fn events() -> Vec<Event> {
    (0..1000u64)
        .map(|i| Event {
            time_ns: 1_000 + i * 37,
            size: i % 300,
            stack: StackId((i % 7) as u32),
            kind: if i % 3 == 0 { EventKind::Free } else { EventKind::Alloc },
        })
        .collect()
}

fn trace_bytes() -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer = TraceWriter::new(&mut bytes, &Meta::default(), 1).unwrap();
    writer.write_segment_start(&SegmentStart::default()).unwrap();
    writer.write_stacks(&[StackDef { id: StackId(1), frames: vec![0x1000] }]).unwrap();
    writer.write_events(ThreadId(9), &events()).unwrap();
    bytes
}

#[test]
fn reader_yields_the_events_of_the_block_in_order() {
    let bytes = trace_bytes();
    let trace = Trace::parse(&bytes).unwrap();
    let block = trace.blocks()[3];

    let reader = trace.events(&block).unwrap();

    assert_eq!(reader.thread(), ThreadId(9));
    assert_eq!(reader.remaining(), 1000);
    let lazy: Vec<Event> = reader.map(Result::unwrap).collect();
    let Record::Events(batch) = trace.decode_block(&block).unwrap() else { panic!("events") };
    assert_eq!(lazy, batch.events);
    assert_eq!(lazy, events());
}

#[test]
fn asking_a_stacks_block_for_events_names_its_offset() {
    let bytes = trace_bytes();
    let trace = Trace::parse(&bytes).unwrap();
    let stacks = trace.blocks()[2];

    let err = trace.events(&stacks).err().expect("not an events block");

    assert!(matches!(err, FormatError::NotEvents { offset } if offset == stacks.offset));
}
