//! Every record survives a write and a read; traces of format versions 2 and 3 still
//! read.

mod common;

use memscope_format::*;

fn sample_records() -> Vec<Record> {
    let module = Module {
        path: "/usr/lib/libfoo.so".into(),
        load_bias: 0x7f00_0000_0000,
        build_id: vec![0xab, 0xcd],
        ranges: std::iter::once(0x7f00_0000_0000..0x7f00_0001_0000).collect(),
    };
    vec![
        Record::SegmentStart(SegmentStart {
            index: 3,
            time_ns: 1_000_000,
            temporary: 4,
            frees: 9,
            stacks: vec![StackTotals {
                stack: StackId(2),
                live_bytes: 100,
                live_blocks: 1,
                alloc_bytes: 300,
                alloc_blocks: 3,
            }],
        }),
        Record::Modules(ModuleMap { time_ns: 7, modules: vec![module] }),
        Record::Stacks(vec![StackDef {
            id: StackId(2),
            frames: vec![0x7f00_0000_1234, 0x55_0000, 1],
        }]),
        Record::Events(EventBatch {
            thread: ThreadId(42),
            events: vec![
                Event { time_ns: 10, size: 100, stack: StackId(2), kind: EventKind::Alloc },
                Event { time_ns: 8, size: 100, stack: StackId(2), kind: EventKind::FreeTemporary },
                Event {
                    time_ns: 30,
                    size: MAX_EVENT_SIZE,
                    stack: StackId(0),
                    kind: EventKind::Free,
                },
            ],
        }),
        Record::Rss(vec![
            RssSample { time_ns: 5, rss_bytes: 4096 },
            RssSample { time_ns: 15, rss_bytes: 8192 },
        ]),
        Record::End(End {
            time_ns: 99,
            reason: EndReason::Signal(11),
            peak_rss_bytes: 1 << 20,
            dropped_events: 2,
            totals: Some(RunTotals {
                allocations: 7,
                frees: 5,
                temporary: 1,
                bytes_allocated: 700,
                leaked_blocks: 2,
                leaked_bytes: 200,
                peak_bytes: 600,
                peak_time_ns: 42_000,
                threads: 3,
            }),
            threads: vec![
                ThreadName { thread: ThreadId(41), name: "main".into() },
                ThreadName { thread: ThreadId(42), name: "worker-1".into() },
            ],
        }),
    ]
}

fn meta() -> Meta {
    Meta {
        pid: 1234,
        start_unix_ms: 1_700_000_000_000,
        exe: "/bin/prog".into(),
        args: vec!["prog".into(), "--flag".into()],
        unwind: "dwarf".into(),
        max_frames: 64,
        sample_rate: 524_288,
    }
}

fn write(records: &[Record]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer = TraceWriter::new(&mut bytes, &meta(), 3).unwrap();
    for record in records {
        match record {
            Record::Meta(_) => unreachable!(),
            Record::SegmentStart(s) => writer.write_segment_start(s),
            Record::Modules(m) => writer.write_modules(m),
            Record::Stacks(s) => writer.write_stacks(s),
            Record::Events(b) => writer.write_events(b.thread, &b.events),
            Record::Rss(r) => writer.write_rss(r),
            Record::End(e) => writer.write_end(e),
        }
        .unwrap();
    }
    drop(writer);
    bytes
}

fn read_all(trace: &Trace) -> Vec<Record> {
    trace.blocks().iter().skip(1).map(|b| trace.decode_block(b).unwrap()).collect()
}

#[test]
fn every_record_round_trips() {
    let records = sample_records();
    let bytes = write(&records);
    let trace = Trace::parse(&bytes).unwrap();
    assert!(trace.damage().is_empty(), "{:?}", trace.damage());
    assert_eq!(trace.version(), 4);
    assert_eq!(trace.meta().unwrap(), meta());
    assert_eq!(read_all(&trace), records);
    assert_eq!(trace.segments().to_vec(), std::iter::once(1..7).collect::<Vec<_>>());
    let seqs: Vec<u64> = trace.blocks().iter().map(|b| b.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5, 6]);
}

/// The file header and the first block header, byte for byte.
#[test]
fn headers_are_laid_out_as_documented() {
    let bytes = write(&[]);
    assert_eq!(&bytes[..16], &common::file_header()[..]);
    let trace = Trace::parse(&bytes).unwrap();
    let meta = trace.blocks()[0];
    let payload = &bytes[16 + BLOCK_HEADER_LEN..];
    assert_eq!(bytes[16..], common::block_with(1, 0, meta.raw_len, payload)[..]);
    assert_eq!((meta.offset, meta.payload_offset(), meta.end()), (16, 45, bytes.len() as u64));
}

/// A batch longer than a block may hold is written as several blocks, read as one.
#[test]
fn long_batches_are_split_into_blocks() {
    let event = |i: u64| Event { time_ns: i, size: 8, stack: StackId(1), kind: EventKind::Alloc };
    let events: Vec<Event> = (0..MAX_BLOCK_EVENTS + 5).map(event).collect();
    let stacks: Vec<StackDef> =
        (1..=5000).map(|id| StackDef { id: StackId(id), frames: vec![u64::from(id)] }).collect();
    let bytes = write(&[
        Record::SegmentStart(SegmentStart::default()),
        Record::Stacks(stacks.clone()),
        Record::Events(EventBatch { thread: ThreadId(1), events: events.clone() }),
    ]);
    let trace = Trace::parse(&bytes).unwrap();
    let kinds: Vec<BlockKind> = trace.blocks().iter().map(|b| b.kind).collect();
    use BlockKind::{Events, Meta as M, SegmentStart as S, Stacks};
    assert_eq!(kinds, [M, S, Stacks, Stacks, Events, Events]);
    let (mut read_stacks, mut read_events) = (Vec::new(), Vec::new());
    for record in read_all(&trace) {
        match record {
            Record::Stacks(defs) => read_stacks.extend(defs),
            Record::Events(batch) => read_events.extend(batch.events),
            _ => {}
        }
    }
    assert_eq!((read_stacks, read_events), (stacks, events));
}

/// Rewrites a version 4 trace in the layout of versions 2 and 3: 13-byte headers that
/// check only the payload.
fn as_legacy(bytes: &[u8], version: u32) -> Vec<u8> {
    let trace = Trace::parse(bytes).unwrap();
    let mut out = b"MEMSCOPE".to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    for block in trace.blocks() {
        let payload = &bytes[block.payload_offset() as usize..block.end() as usize];
        out.push(block.kind as u8);
        out.extend_from_slice(&block.compressed_len.to_le_bytes());
        out.extend_from_slice(&block.raw_len.to_le_bytes());
        out.extend_from_slice(&common::crc32(payload).to_le_bytes());
        out.extend_from_slice(payload);
    }
    out
}

/// Version 2 wrote end records without totals: such a trace still reads, totals absent.
#[test]
fn a_version_2_trace_reads_without_totals() {
    let end = End { time_ns: 99, reason: EndReason::Exit, ..End::default() };
    let bytes = as_legacy(&write(&[Record::End(end.clone())]), 2);
    let trace = Trace::parse(&bytes).unwrap();
    assert_eq!((trace.version(), trace.damage().len()), (2, 0));
    assert_eq!(read_all(&trace), vec![Record::End(End { totals: None, ..end })]);
}

#[test]
fn a_version_3_trace_reads_every_record() {
    let records = sample_records();
    let bytes = as_legacy(&write(&records), 3);
    let trace = Trace::parse(&bytes).unwrap();
    assert_eq!((trace.version(), trace.damage().len()), (3, 0));
    assert_eq!(read_all(&trace), records);
    let seqs: Vec<u64> = trace.blocks().iter().map(|b| b.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5, 6]);
}

/// `small-v3.trace`, recorded by memscope's format version 3 from `small.c`.
#[test]
fn a_recorded_version_3_trace_reads() {
    let bytes =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/small-v3.trace"))
            .unwrap();
    let trace = Trace::parse(&bytes).unwrap();
    assert_eq!((trace.version(), trace.blocks().len()), (3, 7));
    assert!(trace.damage().is_empty(), "{:?}", trace.damage());
    assert_eq!(trace.meta().unwrap().args, ["./small"]);
    let records = read_all(&trace);
    let Some(Record::Events(batch)) = records.iter().find(|r| matches!(r, Record::Events(_)))
    else {
        panic!("no events in {records:?}")
    };
    let sizes: Vec<(EventKind, u64)> = batch.events.iter().map(|e| (e.kind, e.size)).collect();
    use EventKind::{Alloc, Free};
    assert_eq!(sizes, [(Alloc, 100), (Alloc, 200), (Alloc, 300), (Alloc, 400), (Free, 200)]);
    let Some(Record::End(end)) = records.last() else { panic!("no end") };
    let totals = end.totals.clone().unwrap();
    assert_eq!((totals.allocations, totals.frees, totals.leaked_bytes), (4, 1, 800));
}

/// Damage in a version 3 trace ends the reading: its headers have no marker to find
/// the next block by, nor a checksum to trust its lengths.
#[test]
fn damage_in_a_version_3_trace_ends_the_blocks() {
    let bytes = as_legacy(&write(&sample_records()), 3);
    let trace = Trace::parse(&bytes).unwrap();
    let third = trace.blocks()[3];
    let mut damaged = bytes.clone();
    damaged[third.payload_offset() as usize] ^= 0x10;
    let trace = Trace::parse(&damaged).unwrap();
    assert_eq!(trace.blocks().len(), 3);
    let damage = trace.damage();
    assert_eq!(damage.len(), 1);
    assert_eq!((damage[0].offset, damage[0].end()), (third.offset, bytes.len() as u64));
    assert_eq!(
        damage[0].error.to_string(),
        format!("checksum mismatch in block at byte {}", third.offset)
    );
    let cut = Trace::parse(&bytes[..third.end() as usize]).unwrap();
    let damage: Vec<String> = cut.damage().iter().map(|d| d.error.to_string()).collect();
    assert_eq!(damage, [format!("the trace ends at byte {} without an end record", third.end())]);
}

#[test]
fn header_errors_are_fatal_and_specific() {
    assert!(matches!(Trace::parse(&[]), Err(FormatError::Empty)));
    assert!(matches!(Trace::parse(b"hello world, not a trace"), Err(FormatError::NotATrace)));
    let mut bytes = write(&[]);
    bytes[8] = 9;
    let crc = common::crc32(&bytes[..12]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    let err = Trace::parse(&bytes).err().unwrap();
    assert_eq!(
        err.to_string(),
        "trace format version 9 is not supported (this memscope reads versions 2 to 4)"
    );
    assert!(matches!(Trace::parse(&bytes[..12]), Err(FormatError::Truncated { offset: 0 })));
}

/// A damaged version field does not hide a version 4 trace: its header checksum covers
/// the version the writer wrote.
#[test]
fn a_damaged_file_header_is_reported_and_read_past() {
    let records = sample_records();
    let bytes = write(&records);
    for at in [8, 10, 13] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        let trace = Trace::parse(&damaged).unwrap();
        let damage: Vec<(u64, u64, String)> =
            trace.damage().iter().map(|d| (d.offset, d.length, d.error.to_string())).collect();
        assert_eq!(damage, [(0, 16, "file header checksum mismatch".to_owned())], "byte {at}");
        assert_eq!(read_all(&trace), records, "byte {at}");
    }
}

/// The end record's thread names: a record without them (written before names were
/// recorded) reads with none, and a name longer than any kernel keeps is refused.
#[test]
fn thread_names_are_optional_and_bounded() {
    let totals = Some(RunTotals { allocations: 1, ..RunTotals::default() });
    let unnamed = End { time_ns: 9, totals: totals.clone(), ..End::default() };
    let trace_bytes = write(&[Record::End(unnamed.clone())]);
    let trace = Trace::parse(&trace_bytes).unwrap();
    assert_eq!(read_all(&trace), vec![Record::End(unnamed)]);

    let name = "x".repeat(MAX_THREAD_NAME_LEN as usize + 1);
    let threads = vec![ThreadName { thread: ThreadId(7), name }];
    let long = End { time_ns: 9, totals, threads, ..End::default() };
    let trace_bytes = write(&[Record::End(long)]);
    let trace = Trace::parse(&trace_bytes).unwrap();
    let err = trace.decode_block(&trace.blocks()[1]).unwrap_err();
    let FormatError::Decode { source, .. } = err else { panic!("{err:?}") };
    let max = MAX_THREAD_NAME_LEN;
    assert_eq!(source, DecodeError::OutOfRange { what: "thread name length", value: max + 1, max });
}
