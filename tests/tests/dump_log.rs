//! `rafka dump-log` on segment files written with the record builders: the exact batch and
//! record lines of Kafka's `kafka-dump-log.sh`, CRC and torn-tail reporting, and index
//! verification against the log.

use std::path::PathBuf;
use std::process::Command;

use rafka_core::record::batch::set_base_offset;
use rafka_core::record::{
    build_batch, build_batch_with, BatchOptions, CompressionType, ProducerInfo, RecordBatch,
    SimpleRecord,
};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn dump_log(args: &[&str]) -> Run {
    let output = Command::new(rafka_tests::rafka_bin())
        .arg("dump-log")
        .args(args)
        .output()
        .expect("run rafka dump-log");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A segment of three batches at offsets 0–2 (uncompressed), 3–4 (gzip) and 5
/// (uncompressed, idempotent producer).
struct Segment {
    dir: tempfile::TempDir,
    bytes: Vec<u8>,
    /// (position, size, crc) of each batch.
    batches: Vec<(usize, usize, u32)>,
}

impl Segment {
    fn new() -> Segment {
        let a = build_batch(
            0,
            ProducerInfo::NONE,
            &[
                SimpleRecord::new(1000, Some(b"k0"), Some(b"v0")),
                SimpleRecord::new(1005, Some(b"k1"), Some(b"v1")),
                SimpleRecord::new(1002, None, Some(b"v2")),
            ],
        );
        let mut with_header = SimpleRecord::new(2001, Some(b"k4"), None);
        with_header.headers = vec![
            ("h1".to_string(), Some(b"x".to_vec())),
            ("h2".to_string(), None),
        ];
        let b = build_batch_with(
            CompressionType::Gzip,
            3,
            ProducerInfo::NONE,
            &[
                SimpleRecord::new(2000, Some(b"k3"), Some(b"v3")),
                with_header,
            ],
            &BatchOptions {
                partition_leader_epoch: 0,
                ..BatchOptions::default()
            },
        )
        .unwrap();
        let mut c = build_batch(
            0,
            ProducerInfo {
                producer_id: 42,
                producer_epoch: 1,
                base_sequence: 7,
            },
            &[SimpleRecord::new(3000, Some(b"k5"), Some(b"v5"))],
        );
        set_base_offset(&mut c, 5); // as the leader does: not covered by the CRC
        let mut bytes = Vec::new();
        let mut batches = Vec::new();
        for batch in [a, b, c] {
            let crc = RecordBatch::parse(&batch).unwrap().crc();
            batches.push((bytes.len(), batch.len(), crc));
            bytes.extend_from_slice(&batch);
        }
        let segment = Segment {
            dir: tempfile::tempdir().unwrap(),
            bytes,
            batches,
        };
        segment.write_log(&segment.bytes);
        segment
    }

    fn path(&self, suffix: &str) -> PathBuf {
        self.dir
            .path()
            .join(format!("00000000000000000000{suffix}"))
    }

    fn arg(&self, suffix: &str) -> String {
        self.path(suffix).display().to_string()
    }

    fn write_log(&self, bytes: &[u8]) {
        std::fs::write(self.path(".log"), bytes).unwrap();
    }

    /// Offset index entries (relative offset, position), plus `zeros` preallocated entries.
    fn write_index(&self, entries: &[(i32, usize)], zeros: usize) {
        let mut data = Vec::new();
        for &(offset, position) in entries {
            data.extend_from_slice(&offset.to_be_bytes());
            data.extend_from_slice(&(position as i32).to_be_bytes());
        }
        data.resize(data.len() + 8 * zeros, 0);
        std::fs::write(self.path(".index"), data).unwrap();
    }

    fn write_time_index(&self, entries: &[(i64, i32)]) {
        let mut data = Vec::new();
        for &(timestamp, offset) in entries {
            data.extend_from_slice(&timestamp.to_be_bytes());
            data.extend_from_slice(&offset.to_be_bytes());
        }
        std::fs::write(self.path(".timeindex"), data).unwrap();
    }

    fn position(&self, batch: usize) -> usize {
        self.batches[batch].0
    }

    /// The expected batch line, as Kafka 3.x prints it.
    #[allow(clippy::too_many_arguments)]
    fn batch_line(
        &self,
        batch: usize,
        base: i64,
        last: i64,
        count: i32,
        sequences: (i32, i32),
        producer: (i64, i16),
        leader_epoch: i32,
        max_timestamp: i64,
        codec: &str,
        valid: bool,
    ) -> String {
        let (position, size, crc) = self.batches[batch];
        format!(
            "baseOffset: {base} lastOffset: {last} count: {count} baseSequence: {} \
             lastSequence: {} producerId: {} producerEpoch: {} partitionLeaderEpoch: \
             {leader_epoch} isTransactional: false isControl: false deleteHorizonMs: \
             OptionalLong.empty position: {position} CreateTime: {max_timestamp} size: {size} \
             magic: 2 compresscodec: {codec} crc: {crc} isvalid: {valid}",
            sequences.0, sequences.1, producer.0, producer.1
        )
    }

    fn expected_batch_lines(&self) -> [String; 3] {
        [
            self.batch_line(0, 0, 2, 3, (-1, -1), (-1, -1), -1, 1005, "none", true),
            self.batch_line(1, 3, 4, 2, (-1, -1), (-1, -1), 0, 2001, "gzip", true),
            self.batch_line(2, 5, 5, 1, (7, 7), (42, 1), -1, 3000, "none", true),
        ]
    }
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn dumps_batches_in_kafka_format() {
    let seg = Segment::new();
    let log = seg.arg(".log");
    let run = dump_log(&[&log]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let [a, b, c] = seg.expected_batch_lines();
    assert_eq!(
        lines(&run.stdout),
        [
            format!("Dumping {log}"),
            "Log starting offset: 0".to_string(),
            a,
            b,
            c
        ]
    );
    assert_eq!(run.stderr, "");
    // Sizes as computed by hand: 61-byte header + records of 11, 11 and 9 (null key) bytes.
    assert_eq!(seg.batches[0].1, 61 + 11 + 11 + 9);
    assert_eq!(
        seg.bytes.len(),
        seg.batches.iter().map(|b| b.1).sum::<usize>()
    );
}

#[test]
fn print_data_prints_every_record() {
    let seg = Segment::new();
    let log = seg.arg(".log");
    for flag in ["--print-data", "--print-data-log"] {
        let run = dump_log(&[flag, &log]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let [a, b, c] = seg.expected_batch_lines();
        assert_eq!(
            lines(&run.stdout),
            [
                format!("Dumping {log}"),
                "Log starting offset: 0".to_string(),
                a,
                "| offset: 0 CreateTime: 1000 keySize: 2 valueSize: 2 sequence: -1 headerKeys: [] \
                 key: k0 payload: v0"
                    .to_string(),
                "| offset: 1 CreateTime: 1005 keySize: 2 valueSize: 2 sequence: -1 headerKeys: [] \
                 key: k1 payload: v1"
                    .to_string(),
                "| offset: 2 CreateTime: 1002 keySize: -1 valueSize: 2 sequence: -1 headerKeys: [] \
                 payload: v2"
                    .to_string(),
                b,
                "| offset: 3 CreateTime: 2000 keySize: 2 valueSize: 2 sequence: -1 headerKeys: [] \
                 key: k3 payload: v3"
                    .to_string(),
                "| offset: 4 CreateTime: 2001 keySize: 2 valueSize: -1 sequence: -1 \
                 headerKeys: [h1,h2] key: k4"
                    .to_string(),
                c,
                "| offset: 5 CreateTime: 3000 keySize: 2 valueSize: 2 sequence: 7 headerKeys: [] \
                 key: k5 payload: v5"
                    .to_string(),
            ]
        );
        assert_eq!(run.stderr, "");
    }
    // --deep-iteration prints record metadata without keys and values.
    let run = dump_log(&["--deep-iteration", &log]);
    assert_eq!(
        lines(&run.stdout)[3],
        "| offset: 0 CreateTime: 1000 keySize: 2 valueSize: 2 sequence: -1 headerKeys: []"
    );
}

#[test]
fn garbled_byte_is_reported_as_invalid_crc() {
    let seg = Segment::new();
    let mut bytes = seg.bytes.clone();
    // The first batch ends with its last record's value "v2" and header count 0: turn the
    // value into "V2" (covered by the CRC).
    let header_count = seg.position(1) - 1;
    assert_eq!(&bytes[header_count - 2..=header_count], b"v2\0");
    bytes[header_count - 2] = b'V';
    seg.write_log(&bytes);
    let run = dump_log(&[&seg.arg(".log")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = lines(&run.stdout);
    let (pos, size, crc) = seg.batches[0];
    assert_eq!(
        out[2],
        format!(
            "baseOffset: 0 lastOffset: 2 count: 3 baseSequence: -1 lastSequence: -1 \
             producerId: -1 producerEpoch: -1 partitionLeaderEpoch: -1 isTransactional: false \
             isControl: false deleteHorizonMs: OptionalLong.empty position: {pos} \
             CreateTime: 1005 size: {size} magic: 2 compresscodec: none crc: {crc} \
             isvalid: false"
        )
    );
    assert!(out[3].ends_with("isvalid: true") && out[4].ends_with("isvalid: true"));
    assert_eq!(out.len(), 5);
}

#[test]
fn truncated_tail_is_reported() {
    let seg = Segment::new();
    let cut = seg.position(2) + 20;
    seg.write_log(&seg.bytes[..cut]);
    let run = dump_log(&["--print-data", &seg.arg(".log")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = lines(&run.stdout);
    let [a, b, _] = seg.expected_batch_lines();
    assert!(out.contains(&a.as_str()) && out.contains(&b.as_str()));
    assert!(!out.iter().any(|l| l.starts_with("baseOffset: 5")));
    assert_eq!(
        *out.last().unwrap(),
        "Found 20 invalid bytes at the end of 00000000000000000000.log"
    );

    // A corrupt length field stops the dump too, with the rest counted as invalid.
    let mut bytes = seg.bytes.clone();
    let at = seg.position(1) + 8;
    bytes[at..at + 4].copy_from_slice(&3i32.to_be_bytes());
    seg.write_log(&bytes);
    let run = dump_log(&[&seg.arg(".log")]);
    let out = lines(&run.stdout);
    assert_eq!(out.len(), 4, "{}", run.stdout);
    assert_eq!(
        out[3],
        format!(
            "Found {} invalid bytes at the end of 00000000000000000000.log",
            seg.bytes.len() - seg.position(1)
        )
    );
    assert!(
        run.stderr
            .contains("Found record size 3 smaller than minimum record overhead"),
        "{}",
        run.stderr
    );
}

#[test]
fn offset_index_is_dumped_and_verified() {
    let seg = Segment::new();
    let index = seg.arg(".index");
    // Entries as the log writes them: last offset of a batch → its start position; the
    // trailing zero entries of a preallocated index are ignored.
    seg.write_index(&[(4, seg.position(1)), (5, seg.position(2))], 3);
    let run = dump_log(&[&index]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        lines(&run.stdout),
        [
            format!("Dumping {index}"),
            format!("offset: 4 position: {}", seg.position(1)),
            format!("offset: 5 position: {}", seg.position(2)),
        ]
    );
    assert_eq!(run.stderr, "");

    for flag in ["--verify-index-only", "--verify-index"] {
        let run = dump_log(&[flag, &index]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(lines(&run.stdout), [format!("Dumping {index}")]);
        assert_eq!(run.stderr, "");
    }

    // Offset 4 pointing at the first batch (whose last offset is 2); offset 5 past the end.
    seg.write_index(
        &[(4, 0), (5, seg.position(2)), (6, seg.bytes.len() + 100)],
        0,
    );
    let run = dump_log(&["--verify-index-only", &index]);
    assert_eq!(run.code, 0);
    assert_eq!(lines(&run.stdout), [format!("Dumping {index}")]);
    let abs = std::path::absolute(seg.path(".index")).unwrap();
    assert_eq!(
        lines(&run.stderr),
        [
            format!("Mismatches in :{}", abs.display()),
            "  Index offset: 4, log offset: 2".to_string(),
            "  Index offset: 6, log offset: -1".to_string(),
        ]
    );

    // An empty index.
    seg.write_index(&[], 0);
    let run = dump_log(&[&index]);
    assert_eq!(lines(&run.stdout)[1], format!("{index} is empty."));
}

#[test]
fn time_index_is_dumped_and_verified() {
    let seg = Segment::new();
    seg.write_index(&[(4, seg.position(1))], 0);
    let time_index = seg.arg(".timeindex");
    seg.write_time_index(&[(1005, 2), (2001, 4), (3000, 5)]);
    let run = dump_log(&["--files", &time_index]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        lines(&run.stdout),
        [
            format!("Dumping {time_index}"),
            "timestamp: 1005 offset: 2".to_string(),
            "timestamp: 2001 offset: 4".to_string(),
            "timestamp: 3000 offset: 5".to_string(),
        ]
    );
    assert_eq!(run.stderr, "");

    // Wrong timestamp, decreasing timestamp, offset not at the end of a batch.
    seg.write_time_index(&[(1005, 2), (999, 4), (3000, 3)]);
    let run = dump_log(&["--verify-index-only", &time_index]);
    assert_eq!(run.code, 0);
    let abs = std::path::absolute(seg.path(".timeindex")).unwrap();
    assert_eq!(
        lines(&run.stderr),
        [
            format!("Found timestamp mismatch in :{}", abs.display()),
            "  Index timestamp: 999, log timestamp: 2001".to_string(),
            format!("Found out of order timestamp in :{}", abs.display()),
            "  Index timestamp: 999, Previously indexed timestamp: 1005".to_string(),
            "The following indexed offsets are not found in the log.".to_string(),
            "Indexed offset: 3, found log offset: 4".to_string(),
        ]
    );
}

#[test]
fn several_files_and_unreadable_ones() {
    let seg = Segment::new();
    seg.write_index(&[(4, seg.position(1))], 0);
    let missing = seg.dir.path().join("00000000000000000099.log");
    let run = dump_log(&[
        &seg.arg(".log"),
        &missing.display().to_string(),
        &seg.arg(".index"),
    ]);
    assert_eq!(run.code, 1);
    let out = lines(&run.stdout);
    assert_eq!(out[0], format!("Dumping {}", seg.arg(".log")));
    assert!(out.contains(&format!("Dumping {}", missing.display()).as_str()));
    assert_eq!(
        *out.last().unwrap(),
        format!("offset: 4 position: {}", seg.position(1))
    );
    assert!(
        run.stderr
            .contains(&format!("Could not read {}", missing.display())),
        "{}",
        run.stderr
    );
}

#[test]
fn help_mentions_dump_log() {
    let output = Command::new(rafka_tests::rafka_bin())
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("rafka dump-log"), "{help}");
    assert!(help.contains("<CONFIG>"), "{help}");
    let run = dump_log(&["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("--print-data"));
    assert!(run.stdout.contains("--verify-index-only"));
}
