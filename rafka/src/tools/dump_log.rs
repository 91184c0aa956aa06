//! `rafka dump-log`: prints the contents of partition files the way Kafka's
//! `kafka-dump-log.sh` (`kafka.tools.DumpLogSegments`, Kafka 3.x) does, to debug a
//! seemingly corrupt segment.
//!
//! * `.log`: `Dumping <path>`, `Log starting offset: N`, one line per batch
//!   (`baseOffset: … isvalid: true`), with `--print-data`/`--deep-iteration` one `| offset: …`
//!   line per record; iteration stops at the first torn or corrupt batch with
//!   `Found N invalid bytes at the end of <name>`.
//! * `.index`: `offset: O position: P`; `.timeindex`: `timestamp: T offset: O`. Every entry is
//!   checked against the `.log` beside it; mismatches are reported on stderr at the end
//!   (`Mismatches in :<path>` / `  Index offset: O, log offset: L`, …).
//!   `--verify-index-only` checks without printing entries.
//! * `.txnindex` and producer `.snapshot` files are printed too.
//! * `--offsets-decoder` (implies `--print-data`): `__consumer_offsets` records are printed
//!   with Kafka's key and value schemas as JSON (`key: {"type":"1","data":{…}} payload:
//!   {"version":"3","data":{…}}`, `<DELETE>` for tombstones), like Kafka's
//!   `DumpLogSegments --offsets-decoder`.
//!
//! Index files are read directly (8-byte / 12-byte big-endian entries); the trailing zero
//! entries of a preallocated index are ignored, as Kafka does. Exit code 0, or 1 if a file
//! could not be read (or failed `--index-sanity-check`); mismatches do not change it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use rafka_core::coordinator::group::offsets_decoder;
use rafka_core::record::batch::{RecordBatch, LOG_OVERHEAD, MAGIC_V2};
use rafka_core::record::control::{ControlRecordKey, EndTransactionMarker};
use rafka_core::record::{decode_records, Record, TimestampType};

/// Dump Kafka/Rafka partition files (like kafka-dump-log.sh).
///
/// Parses .log, .index, .timeindex, .txnindex and producer .snapshot files and prints their
/// contents, for debugging a seemingly corrupt log segment.
#[derive(Parser, Debug, Clone)]
#[command(name = "rafka dump-log")]
pub struct DumpLogArgs {
    /// The data and index files to dump.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Comma separated list of files (kafka-dump-log.sh's option); adds to FILE.
    #[arg(long = "files", value_name = "FILE1,FILE2,...", value_delimiter = ',')]
    pub files_option: Vec<PathBuf>,

    /// Print the key and value of each record (implies --deep-iteration).
    #[arg(long = "print-data", visible_alias = "print-data-log")]
    pub print_data: bool,

    /// Print every record, not only batches.
    #[arg(long = "deep-iteration")]
    pub deep_iteration: bool,

    /// Verify index files against the log without printing their entries.
    #[arg(long = "verify-index-only", visible_alias = "verify-index")]
    pub verify_index_only: bool,

    /// Only run the index sanity check the broker runs on startup.
    #[arg(long = "index-sanity-check")]
    pub index_sanity_check: bool,

    /// Read at most this many bytes of each .log file.
    #[arg(long = "max-bytes", value_name = "SIZE", default_value_t = i32::MAX as u64)]
    pub max_bytes: u64,

    /// Do not print the metadata of each record (offset, timestamp, sizes…).
    #[arg(long = "skip-record-metadata")]
    pub skip_record_metadata: bool,

    /// Decode __consumer_offsets records (offset commits and group metadata) with Kafka's
    /// schemas; implies --print-data.
    #[arg(long = "offsets-decoder")]
    pub offsets_decoder: bool,
}

impl Default for DumpLogArgs {
    /// The command-line defaults, no file.
    fn default() -> DumpLogArgs {
        DumpLogArgs {
            files: Vec::new(),
            files_option: Vec::new(),
            print_data: false,
            deep_iteration: false,
            verify_index_only: false,
            index_sanity_check: false,
            max_bytes: i32::MAX as u64,
            skip_record_metadata: false,
            offsets_decoder: false,
        }
    }
}

/// Entry point of `rafka dump-log ARGS` (`args` without the program and tool names).
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let argv = std::iter::once(OsString::from("rafka dump-log")).chain(args);
    let args = match DumpLogArgs::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    if args.files.is_empty() && args.files_option.is_empty() {
        eprintln!("rafka dump-log: no file given (rafka dump-log --help)");
        return ExitCode::from(2);
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut err = io::stderr();
    match dump(&args, &mut out, &mut err) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        // Output closed (e.g. piped into `head`): nothing more to say.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "rafka dump-log: {e}");
            ExitCode::from(1)
        }
    }
}

/// Dumps every file of `args`; returns whether all could be read. `Err` only for failures to
/// write `out`/`err`.
pub fn dump(args: &DumpLogArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<bool> {
    let mut report = Report::default();
    let mut all_ok = true;
    for file in args.files.iter().chain(&args.files_option) {
        writeln!(out, "Dumping {}", file.display())?;
        let name = file_name(file);
        let suffix = name.rfind('.').map(|i| &name[i..]).unwrap_or("");
        let result = match suffix {
            ".log" => dump_log(file, args, out, err, &mut report),
            ".index" => dump_offset_index(file, args, out, err, &mut report),
            ".timeindex" => dump_time_index(file, args, out, err, &mut report),
            ".txnindex" => dump_txn_index(file, out, err),
            ".snapshot" => dump_producer_snapshot(file, out, err),
            _ => {
                writeln!(err, "Ignoring unknown file {}", file.display())?;
                Ok(true)
            }
        };
        match result {
            Ok(true) => {}
            Ok(false) => all_ok = false,
            Err(Failure::Write(e)) => return Err(e),
            Err(Failure::Read(path, e)) => {
                out.flush()?;
                writeln!(err, "Could not read {}: {e}", path.display())?;
                all_ok = false;
            }
        }
    }
    out.flush()?;
    report.print(err)?;
    Ok(all_ok)
}

/// Why dumping one file stopped.
enum Failure {
    /// The file (or a file it needs) could not be read.
    Read(PathBuf, io::Error),
    /// Writing the output failed.
    Write(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Write(e)
    }
}

/// `Ok(true)`: dumped; `Ok(false)`: dumped, but the file failed a check that Kafka's tool
/// treats as fatal.
type DumpResult = Result<bool, Failure>;

/// Problems found while dumping, printed on stderr after all files (as Kafka does), keyed by
/// absolute file path.
#[derive(Default)]
struct Report {
    index_mismatches: BTreeMap<String, Vec<(i64, i64)>>,
    time_mismatches: BTreeMap<String, Vec<(i64, i64)>>,
    time_out_of_order: BTreeMap<String, Vec<(i64, i64)>>,
    time_offset_not_found: BTreeMap<String, Vec<(i64, i64)>>,
    non_consecutive: BTreeMap<String, Vec<(i64, i64)>>,
}

impl Report {
    fn print(&self, err: &mut dyn Write) -> io::Result<()> {
        for (file, list) in &self.index_mismatches {
            writeln!(err, "Mismatches in :{file}")?;
            for (index_offset, log_offset) in list {
                writeln!(
                    err,
                    "  Index offset: {index_offset}, log offset: {log_offset}"
                )?;
            }
        }
        for (file, list) in &self.time_mismatches {
            writeln!(err, "Found timestamp mismatch in :{file}")?;
            for (index_ts, log_ts) in list {
                writeln!(
                    err,
                    "  Index timestamp: {index_ts}, log timestamp: {log_ts}"
                )?;
            }
        }
        for (file, list) in &self.time_out_of_order {
            writeln!(err, "Found out of order timestamp in :{file}")?;
            for (index_ts, prev_ts) in list {
                writeln!(
                    err,
                    "  Index timestamp: {index_ts}, Previously indexed timestamp: {prev_ts}"
                )?;
            }
        }
        for list in self.time_offset_not_found.values() {
            writeln!(
                err,
                "The following indexed offsets are not found in the log."
            )?;
            for (index_offset, log_offset) in list {
                writeln!(
                    err,
                    "Indexed offset: {index_offset}, found log offset: {log_offset}"
                )?;
            }
        }
        for (file, list) in &self.non_consecutive {
            writeln!(err, "Non-consecutive offsets in {file}")?;
            for (first, second) in list {
                writeln!(err, "  {first} is followed by {second}")?;
            }
        }
        Ok(())
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The segment base offset from a file name (`00000000000000000042.index` → 42).
fn base_offset_of(path: &Path) -> Option<i64> {
    let name = file_name(path);
    name.split('.').next()?.parse().ok()
}

/// The file of the same segment with another suffix (`….index` → `….log`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = file_name(path);
    let stem = name.split('.').next().unwrap_or_default();
    path.with_file_name(format!("{stem}{suffix}"))
}

fn read_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, Failure> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|f| f.take(max_bytes).read_to_end(&mut data))
        .map_err(|e| Failure::Read(path.to_path_buf(), e))?;
    Ok(data)
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

fn be_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}

fn optional_long(v: Option<i64>) -> String {
    match v {
        Some(v) => format!("OptionalLong[{v}]"),
        None => "OptionalLong.empty".to_string(),
    }
}

fn timestamp_type_name(t: TimestampType) -> &'static str {
    match t {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

/// Bytes up to and including the magic byte: what Kafka needs to frame a batch.
const HEADER_SIZE_UP_TO_MAGIC: usize = 17;
/// Kafka's smallest legal value of the length field (a v0 message).
const MIN_BATCH_LENGTH: i32 = 14;

/// Where the batch scan of a log stopped.
enum ScanEnd {
    /// End of data, or a torn batch at the end.
    Clean,
    /// A batch header that cannot be right; the message says why.
    Corrupt(String),
}

/// Iterates the v2 batches of `data` from `position` as Kafka's `FileLogInputStream` does:
/// stops at a batch that does not fit the data (torn write) or whose framing is corrupt.
fn scan_batches(
    data: &[u8],
    mut position: usize,
    mut each: impl FnMut(usize, RecordBatch<'_>) -> io::Result<bool>,
) -> io::Result<(usize, ScanEnd)> {
    while position < data.len() {
        let rest = &data[position..];
        if rest.len() < HEADER_SIZE_UP_TO_MAGIC {
            break;
        }
        let length = be_i32(&rest[8..12]);
        if length < MIN_BATCH_LENGTH {
            return Ok((
                position,
                ScanEnd::Corrupt(format!(
                    "Found record size {length} smaller than minimum record overhead \
                     ({MIN_BATCH_LENGTH}) at position {position}"
                )),
            ));
        }
        let size = LOG_OVERHEAD + length as usize;
        if size > rest.len() {
            break;
        }
        let magic = rest[16] as i8;
        if magic != MAGIC_V2 {
            return Ok((
                position,
                ScanEnd::Corrupt(format!(
                    "Unsupported magic {magic} at position {position} (only v2 record \
                     batches are supported)"
                )),
            ));
        }
        let batch = match RecordBatch::parse(rest) {
            Ok(b) => b,
            Err(e) => {
                return Ok((
                    position,
                    ScanEnd::Corrupt(format!("Corrupt batch at position {position}: {e}")),
                ))
            }
        };
        if !each(position, batch)? {
            return Ok((position, ScanEnd::Clean));
        }
        position += size;
    }
    Ok((position, ScanEnd::Clean))
}

fn dump_log(
    path: &Path,
    args: &DumpLogArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    report: &mut Report,
) -> DumpResult {
    match base_offset_of(path) {
        Some(base) => writeln!(out, "Log starting offset: {base}")?,
        None => writeln!(
            err,
            "Cannot parse a base offset from the file name of {}",
            path.display()
        )?,
    }
    let data = read_file(path, args.max_bytes)?;
    let deep = args.deep_iteration || args.print_data || args.offsets_decoder;
    let mut last_offset: Option<i64> = None;
    let mut non_consecutive = Vec::new();
    let (valid_bytes, end) = scan_batches(&data, 0, |position, batch| {
        writeln!(out, "{}", batch_line(&batch, position))?;
        if deep {
            match decode_records(&batch) {
                Ok(records) => {
                    for record in &records {
                        if let Some(last) = last_offset {
                            if record.offset != last + 1 {
                                non_consecutive.push((last, record.offset));
                            }
                        }
                        last_offset = Some(record.offset);
                        writeln!(out, "{}", record_line(&batch, record, args))?;
                    }
                }
                Err(e) => {
                    out.flush()?;
                    writeln!(
                        err,
                        "Cannot decode the records of the batch at position {position} of {}: {e}",
                        path.display()
                    )?;
                }
            }
        }
        Ok(true)
    })?;
    if !non_consecutive.is_empty() {
        report
            .non_consecutive
            .insert(absolute(path), non_consecutive);
    }
    if let ScanEnd::Corrupt(message) = end {
        out.flush()?;
        writeln!(err, "{message} in file {}", path.display())?;
    }
    let trailing = data.len() - valid_bytes;
    if trailing > 0 && args.max_bytes == i32::MAX as u64 {
        writeln!(
            out,
            "Found {trailing} invalid bytes at the end of {}",
            file_name(path)
        )?;
    }
    Ok(true)
}

/// One batch in Kafka 3.x's `printBatchLevel` format.
fn batch_line(batch: &RecordBatch<'_>, position: usize) -> String {
    let delete_horizon = batch.has_delete_horizon().then(|| batch.base_timestamp());
    let codec = match batch.compression() {
        Ok(c) => c.name().to_string(),
        Err(_) => format!("unknown({})", batch.attributes() & 0x07),
    };
    format!(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} \
         producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} \
         isControl: {} deleteHorizonMs: {} position: {} {}: {} size: {} magic: {} \
         compresscodec: {} crc: {} isvalid: {}",
        batch.base_offset(),
        batch.last_offset(),
        batch.records_count(),
        batch.base_sequence(),
        batch.last_sequence(),
        batch.producer_id(),
        batch.producer_epoch(),
        batch.partition_leader_epoch(),
        batch.is_transactional(),
        batch.is_control(),
        optional_long(delete_horizon),
        position,
        timestamp_type_name(batch.timestamp_type()),
        batch.max_timestamp(),
        batch.size_in_bytes(),
        batch.magic(),
        codec,
        batch.crc(),
        batch.is_valid(),
    )
}

/// One record in Kafka 3.x's `dumpLog` deep-iteration format.
fn record_line(batch: &RecordBatch<'_>, record: &Record, args: &DumpLogArgs) -> String {
    let mut line = String::new();
    let mut prefix = "| ";
    if !args.skip_record_metadata {
        let header_keys: Vec<&str> = record.headers.iter().map(|(k, _)| k.as_str()).collect();
        line.push_str(&format!(
            "{prefix}offset: {} {}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
            record.offset,
            timestamp_type_name(batch.timestamp_type()),
            record.timestamp,
            record.key_size(),
            record.value_size(),
            record.sequence,
            header_keys.join(","),
        ));
        prefix = " ";
        if batch.is_control() {
            line.push_str(&control_description(record));
        }
    }
    if args.offsets_decoder && !batch.is_control() {
        let (key, payload) = offsets_decoder::parse_record(
            record.offset,
            record.key.as_deref(),
            record.value.as_deref(),
        );
        if let Some(key) = key {
            line.push_str(&format!("{prefix}key: {key}"));
        }
        if let Some(payload) = payload {
            line.push_str(&format!(" payload: {payload}"));
        }
    } else if args.print_data && !batch.is_control() {
        if let Some(key) = &record.key {
            line.push_str(&format!("{prefix}key: {}", String::from_utf8_lossy(key)));
        }
        if let Some(value) = &record.value {
            line.push_str(&format!(" payload: {}", String::from_utf8_lossy(value)));
        }
    }
    line
}

fn control_description(record: &Record) -> String {
    let key = match ControlRecordKey::decode(record.key.as_deref().unwrap_or_default()) {
        Ok(k) => k,
        Err(e) => return format!(" controlType: invalid ({e})"),
    };
    let kind = key.record_type;
    if !kind.is_end_txn_marker() {
        return format!(" controlType: {}({})", kind.name(), kind.type_id());
    }
    match EndTransactionMarker::decode_value(kind, record.value.as_deref().unwrap_or_default()) {
        Ok(m) => format!(
            " endTxnMarker: {} coordinatorEpoch: {}",
            m.control_type, m.coordinator_epoch
        ),
        Err(e) => format!(" endTxnMarker: {kind} invalid ({e})"),
    }
}

/// Offset index entries `(absolute offset, position)` up to the first trailing zero entry.
fn offset_index_entries(data: &[u8], base: i64) -> Vec<(i64, i32)> {
    let mut entries = Vec::new();
    for (i, e) in data.chunks_exact(8).enumerate() {
        let relative = be_i32(&e[0..4]);
        if relative == 0 && i > 0 {
            break;
        }
        entries.push((base + relative as i64, be_i32(&e[4..8])));
    }
    entries
}

/// Time index entries `(timestamp, absolute offset)` up to the first trailing zero entry.
fn time_index_entries(data: &[u8], base: i64) -> Vec<(i64, i64)> {
    let mut entries = Vec::new();
    for (i, e) in data.chunks_exact(12).enumerate() {
        let relative = be_i32(&e[8..12]);
        if relative == 0 && i > 0 {
            break;
        }
        entries.push((be_i64(&e[0..8]), base + relative as i64));
    }
    entries
}

fn base_offset_or_fail(path: &Path) -> Result<i64, Failure> {
    base_offset_of(path).ok_or_else(|| {
        Failure::Read(
            path.to_path_buf(),
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the file name does not start with a segment base offset",
            ),
        )
    })
}

/// Reads the segment's `.log` for verification; `None` (with a message) if it can't.
fn read_companion_log(index: &Path, err: &mut dyn Write) -> Result<Option<Vec<u8>>, Failure> {
    let log = sibling(index, ".log");
    match std::fs::read(&log) {
        Ok(d) => Ok(Some(d)),
        Err(e) => {
            writeln!(
                err,
                "Could not read {}: {e}; the entries of {} are not verified",
                log.display(),
                index.display()
            )?;
            Ok(None)
        }
    }
}

fn dump_offset_index(
    path: &Path,
    args: &DumpLogArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    report: &mut Report,
) -> DumpResult {
    let base = base_offset_or_fail(path)?;
    let data = read_file(path, u64::MAX)?;
    if data.len() < 8 {
        writeln!(out, "{} is empty.", path.display())?;
        return Ok(true);
    }
    let entries = offset_index_entries(&data, base);
    if args.index_sanity_check {
        let problem = if data.len() % 8 > 0 {
            Some(format!(
                "Index file {} is corrupt, found {} bytes which is neither positive nor a \
                 multiple of 8.",
                absolute(path),
                data.len()
            ))
        } else {
            entries.last().filter(|(o, _)| *o < base).map(|(o, _)| {
                format!(
                    "Corrupt index found, index file ({}) has non-zero size but the last \
                     offset is {o} which is less than the base offset {base}.",
                    absolute(path)
                )
            })
        };
        return sanity_result(path, problem, out, err);
    }
    out.flush()?;
    let log = read_companion_log(path, err)?;
    let mut mismatches = Vec::new();
    for &(offset, position) in &entries {
        if let Some(log) = &log {
            let found = batch_at(log, position).map_or(-1, |b| b.last_offset());
            if found != offset {
                mismatches.push((offset, found));
            }
        }
        if !args.verify_index_only {
            writeln!(out, "offset: {offset} position: {position}")?;
        }
    }
    if !mismatches.is_empty() {
        report.index_mismatches.insert(absolute(path), mismatches);
    }
    Ok(log.is_some())
}

/// The whole batch starting at `position` of `log`, if there is one.
fn batch_at(log: &[u8], position: i32) -> Option<RecordBatch<'_>> {
    let rest = log.get(usize::try_from(position).ok()?..)?;
    RecordBatch::parse(rest).ok()
}

fn sanity_result(
    path: &Path,
    problem: Option<String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> DumpResult {
    match problem {
        None => {
            writeln!(out, "{} passed sanity check.", path.display())?;
            Ok(true)
        }
        Some(message) => {
            out.flush()?;
            writeln!(err, "{message}")?;
            Ok(false)
        }
    }
}

fn dump_time_index(
    path: &Path,
    args: &DumpLogArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    report: &mut Report,
) -> DumpResult {
    let base = base_offset_or_fail(path)?;
    let data = read_file(path, u64::MAX)?;
    let entries = time_index_entries(&data, base);
    if args.index_sanity_check {
        let problem = if data.len() % 12 > 0 {
            Some(format!(
                "Time index file {} is corrupt, found {} bytes which is neither positive nor \
                 a multiple of 12.",
                absolute(path),
                data.len()
            ))
        } else if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
            if last.0 < first.0 {
                Some(format!(
                    "Corrupt time index found, time index file ({}) has non-zero size but \
                     the last timestamp is {} which is less than the first timestamp {}",
                    absolute(path),
                    last.0,
                    first.0
                ))
            } else if last.1 < base {
                Some(format!(
                    "Corrupt time index found, time index file ({}) has non-zero size but \
                     the last offset is {} which is less than the first offset {base}",
                    absolute(path),
                    last.1
                ))
            } else {
                None
            }
        } else {
            None
        };
        return sanity_result(path, problem, out, err);
    }
    out.flush()?;
    let log = read_companion_log(path, err)?;
    // The offset index narrows where to start scanning; without it, scan from the start.
    let offset_index = std::fs::read(sibling(path, ".index"))
        .map(|d| offset_index_entries(&d, base))
        .unwrap_or_default();
    let mut mismatches = Vec::new();
    let mut out_of_order = Vec::new();
    let mut not_found = Vec::new();
    let mut prev_timestamp = -1i64;
    for &(timestamp, offset) in &entries {
        if let Some(log) = &log {
            let position = offset_index
                .iter()
                .take_while(|(o, _)| *o <= offset)
                .last()
                .map_or(0, |&(_, p)| usize::try_from(p).unwrap_or(usize::MAX));
            let mut found: Option<(i64, i64)> = None; // (last offset, max record timestamp)
            if position <= log.len() {
                scan_batches(log, position, |_, batch| {
                    if batch.last_offset() < offset {
                        return Ok(true);
                    }
                    let max_ts = match decode_records(&batch) {
                        Ok(records) => records.iter().map(|r| r.timestamp).fold(-1, i64::max),
                        Err(_) => batch.max_timestamp(),
                    };
                    found = Some((batch.last_offset(), max_ts));
                    Ok(false)
                })?;
            }
            match found {
                None => not_found.push((offset, -1)),
                Some((last, _)) if last != offset => not_found.push((offset, last)),
                Some((_, max_ts)) => {
                    if max_ts != timestamp {
                        mismatches.push((timestamp, max_ts));
                    }
                    if prev_timestamp >= timestamp {
                        out_of_order.push((timestamp, prev_timestamp));
                    }
                }
            }
        }
        if !args.verify_index_only {
            writeln!(out, "timestamp: {timestamp} offset: {offset}")?;
        }
        prev_timestamp = timestamp;
    }
    let key = absolute(path);
    for (map, list) in [
        (&mut report.time_mismatches, mismatches),
        (&mut report.time_out_of_order, out_of_order),
        (&mut report.time_offset_not_found, not_found),
    ] {
        if !list.is_empty() {
            map.insert(key.clone(), list);
        }
    }
    Ok(log.is_some())
}

/// `.txnindex`: 34-byte aborted-transaction entries.
fn dump_txn_index(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> DumpResult {
    const ENTRY: usize = 34;
    let data = read_file(path, u64::MAX)?;
    for e in data.chunks_exact(ENTRY) {
        writeln!(
            out,
            "version: {} producerId: {} firstOffset: {} lastOffset: {} lastStableOffset: {}",
            be_i16(&e[0..2]),
            be_i64(&e[2..10]),
            be_i64(&e[10..18]),
            be_i64(&e[18..26]),
            be_i64(&e[26..34]),
        )?;
    }
    let rest = data.len() % ENTRY;
    if rest != 0 {
        out.flush()?;
        writeln!(
            err,
            "Unexpected partial aborted transaction entry of {rest} bytes at the end of {}",
            path.display()
        )?;
        return Ok(false);
    }
    Ok(true)
}

/// Producer-state `.snapshot`: version 1, CRC-32C, then 46-byte producer entries.
fn dump_producer_snapshot(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> DumpResult {
    const ENTRY: usize = 46;
    let data = read_file(path, u64::MAX)?;
    let problem = if data.len() < 10 {
        Some(format!(
            "Snapshot is corrupt: {} bytes is too short",
            data.len()
        ))
    } else if be_i16(&data[0..2]) != 1 {
        Some(format!(
            "Snapshot contained an unknown file version {}",
            be_i16(&data[0..2])
        ))
    } else {
        let stored = be_i32(&data[2..6]) as u32;
        let computed = crc32c::crc32c(&data[6..]);
        let count = be_i32(&data[6..10]);
        if stored != computed {
            Some(format!(
                "Snapshot is corrupt (CRC is no longer valid). Stored crc: {stored}. \
                 Computed crc: {computed}"
            ))
        } else if count < 0 || data.len() - 10 != count as usize * ENTRY {
            Some(format!(
                "Snapshot is corrupt: {count} entries do not fill its {} bytes",
                data.len()
            ))
        } else {
            None
        }
    };
    if let Some(message) = problem {
        out.flush()?;
        writeln!(err, "{message}")?;
        return Ok(false);
    }
    for e in data[10..].chunks_exact(ENTRY) {
        let producer_id = be_i64(&e[0..8]);
        let epoch = be_i16(&e[8..10]);
        let last_sequence = be_i32(&e[10..14]);
        let last_offset = be_i64(&e[14..22]);
        let offset_delta = be_i32(&e[22..26]);
        let timestamp = be_i64(&e[26..34]);
        let coordinator_epoch = be_i32(&e[34..38]);
        let txn_first_offset = be_i64(&e[38..46]);
        let mut line = format!(
            "producerId: {producer_id} producerEpoch: {epoch} coordinatorEpoch: \
             {coordinator_epoch} currentTxnFirstOffset: {} lastTimestamp: {timestamp} ",
            optional_long((txn_first_offset >= 0).then_some(txn_first_offset)),
        );
        if last_offset >= 0 {
            line.push_str(&format!(
                "firstSequence: {} lastSequence: {last_sequence} lastOffset: {last_offset} \
                 offsetDelta: {offset_delta} timestamp: {timestamp}",
                decrement_sequence(last_sequence, offset_delta)
            ));
        }
        writeln!(out, "{line}")?;
    }
    Ok(true)
}

/// Kafka's `DefaultRecordBatch.decrementSequence`.
fn decrement_sequence(sequence: i32, decrement: i32) -> i32 {
    if sequence < decrement {
        (i32::MAX as i64 - (decrement as i64 - sequence as i64) + 1) as i32
    } else {
        sequence - decrement
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rafka_core::record::control::end_txn_marker_batch;
    use rafka_core::record::SimpleRecord;
    use rafka_core::record::{build_batch_with, BatchOptions, CompressionType, ProducerInfo};

    fn run(args: DumpLogArgs) -> (bool, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let ok = dump(&args, &mut out, &mut err).unwrap();
        (
            ok,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn offsets_decoder_prints_kafka_json() {
        use rafka_core::coordinator::group::offsets_schema::*;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("00000000000000000000.log");
        let key = encode_offset_commit_key(&OffsetCommitKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
        });
        let value = encode_offset_commit_value(
            &OffsetCommitValue {
                offset: 42,
                leader_epoch: -1,
                metadata: "".into(),
                commit_timestamp: 5,
                expire_timestamp: -1,
            },
            3,
        );
        let records = vec![
            SimpleRecord::new(5, Some(&key), Some(&value)),
            SimpleRecord::new(6, Some(&key), None),
        ];
        let bytes = build_batch_with(
            CompressionType::None,
            0,
            ProducerInfo::NONE,
            &records,
            &BatchOptions::default(),
        )
        .unwrap();
        std::fs::write(&log, &bytes).unwrap();
        let (ok, out, err) = run(DumpLogArgs {
            files: vec![log],
            offsets_decoder: true,
            ..DumpLogArgs::default()
        });
        assert!(ok, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[3],
            format!(
                "| offset: 0 CreateTime: 5 keySize: {} valueSize: {} sequence: -1 headerKeys: [] \
                 key: {{\"type\":\"1\",\"data\":{{\"group\":\"g\",\"topic\":\"t\",\"partition\":0}}}} \
                 payload: {{\"version\":\"3\",\"data\":{{\"offset\":42,\"leaderEpoch\":-1,\
                 \"metadata\":\"\",\"commitTimestamp\":5}}}}",
                key.len(),
                value.len()
            )
        );
        assert!(lines[4].ends_with(" payload: <DELETE>"), "{}", lines[4]);
    }

    #[test]
    fn control_and_compressed_batches() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("00000000000000000010.log");
        let records = vec![
            SimpleRecord {
                timestamp: 50,
                key: None,
                value: Some(b"a".to_vec()),
                headers: vec![("x".into(), None), ("y".into(), Some(b"1".to_vec()))],
            },
            SimpleRecord::new(60, Some(b"kk"), None),
        ];
        let options = BatchOptions {
            partition_leader_epoch: 2,
            transactional: true,
            ..BatchOptions::default()
        };
        let producer = ProducerInfo {
            producer_id: 9,
            producer_epoch: 1,
            base_sequence: 0,
        };
        let mut bytes =
            build_batch_with(CompressionType::Gzip, 10, producer, &records, &options).unwrap();
        let first = bytes.len();
        bytes.extend(end_txn_marker_batch(
            12,
            70,
            2,
            9,
            1,
            &EndTransactionMarker::commit(4),
        ));
        std::fs::write(&log, &bytes).unwrap();
        let (ok, out, err) = run(DumpLogArgs {
            files: vec![log.clone()],
            print_data: true,
            ..DumpLogArgs::default()
        });
        assert!(ok, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[1], "Log starting offset: 10",
            "out: {out}\nerr: {err}"
        );
        assert!(lines.len() > 2, "out: {out}\nerr: {err}");
        assert!(lines[2].starts_with(
            "baseOffset: 10 lastOffset: 11 count: 2 baseSequence: 0 lastSequence: 1 \
             producerId: 9 producerEpoch: 1 partitionLeaderEpoch: 2 isTransactional: true \
             isControl: false deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 60 "
        ));
        assert!(lines[2].contains(" magic: 2 compresscodec: gzip crc: "));
        assert!(lines[2].ends_with(" isvalid: true"));
        assert_eq!(
            lines[3],
            "| offset: 10 CreateTime: 50 keySize: -1 valueSize: 1 sequence: 0 \
             headerKeys: [x,y] payload: a"
        );
        assert_eq!(
            lines[4],
            "| offset: 11 CreateTime: 60 keySize: 2 valueSize: -1 sequence: 1 \
             headerKeys: [] key: kk"
        );
        assert!(lines[5].starts_with(&format!(
            "baseOffset: 12 lastOffset: 12 count: 1 baseSequence: -1 lastSequence: -1 \
             producerId: 9 producerEpoch: 1 partitionLeaderEpoch: 2 isTransactional: true \
             isControl: true deleteHorizonMs: OptionalLong.empty position: {first} \
             CreateTime: 70 "
        )));
        assert_eq!(
            lines[6],
            "| offset: 12 CreateTime: 70 keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] \
             endTxnMarker: COMMIT coordinatorEpoch: 4"
        );
        assert_eq!(lines.len(), 7);
        assert_eq!(err, "");
    }

    #[test]
    fn snapshot_and_txn_index() {
        let dir = tempfile::tempdir().unwrap();
        let txn = dir.path().join("00000000000000000000.txnindex");
        let mut t = Vec::new();
        t.extend(0i16.to_be_bytes());
        t.extend(5i64.to_be_bytes());
        t.extend(10i64.to_be_bytes());
        t.extend(20i64.to_be_bytes());
        t.extend(8i64.to_be_bytes());
        std::fs::write(&txn, &t).unwrap();
        let snap = dir.path().join("00000000000000000030.snapshot");
        let mut body = Vec::new();
        body.extend(1i32.to_be_bytes());
        body.extend(5i64.to_be_bytes());
        body.extend(2i16.to_be_bytes());
        body.extend(7i32.to_be_bytes());
        body.extend(29i64.to_be_bytes());
        body.extend(3i32.to_be_bytes());
        body.extend(1000i64.to_be_bytes());
        body.extend(0i32.to_be_bytes());
        body.extend((-1i64).to_be_bytes());
        let mut s = 1i16.to_be_bytes().to_vec();
        s.extend(crc32c::crc32c(&body).to_be_bytes());
        s.extend(&body);
        std::fs::write(&snap, &s).unwrap();
        let (ok, out, err) = run(DumpLogArgs {
            files: vec![txn, snap.clone()],
            ..DumpLogArgs::default()
        });
        assert!(ok, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[1],
            "version: 0 producerId: 5 firstOffset: 10 lastOffset: 20 lastStableOffset: 8"
        );
        assert_eq!(
            lines[3],
            "producerId: 5 producerEpoch: 2 coordinatorEpoch: 0 currentTxnFirstOffset: \
             OptionalLong.empty lastTimestamp: 1000 firstSequence: 4 lastSequence: 7 \
             lastOffset: 29 offsetDelta: 3 timestamp: 1000"
        );
        s[12] ^= 1;
        std::fs::write(&snap, &s).unwrap();
        let (ok, _, err) = run(DumpLogArgs {
            files: vec![snap],
            ..DumpLogArgs::default()
        });
        assert!(!ok);
        assert!(
            err.contains("Snapshot is corrupt (CRC is no longer valid)"),
            "{err}"
        );
    }

    #[test]
    fn sanity_check_and_unknown_files() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("00000000000000000100.index");
        let mut d = Vec::new();
        d.extend(0i32.to_be_bytes());
        d.extend(0i32.to_be_bytes());
        d.extend((-5i32).to_be_bytes());
        d.extend(80i32.to_be_bytes());
        std::fs::write(&index, &d).unwrap();
        let args = DumpLogArgs {
            files: vec![index.clone()],
            index_sanity_check: true,
            ..DumpLogArgs::default()
        };
        let (ok, _, err) = run(args.clone());
        assert!(!ok);
        assert!(err.contains("the last offset is 95 which is less than the base offset 100"));
        d.truncate(8);
        std::fs::write(&index, &d).unwrap();
        let (ok, out, _) = run(args);
        assert!(ok);
        assert!(out.contains("00000000000000000100.index passed sanity check."));

        let other = dir.path().join("leader-epoch-checkpoint");
        std::fs::write(&other, "0\n0\n").unwrap();
        let (ok, _, err) = run(DumpLogArgs {
            files: vec![other],
            ..DumpLogArgs::default()
        });
        assert!(ok);
        assert!(err.starts_with("Ignoring unknown file "));
    }

    #[test]
    fn sequences_wrap_like_kafka() {
        assert_eq!(decrement_sequence(7, 3), 4);
        assert_eq!(decrement_sequence(1, 3), i32::MAX - 1);
    }
}
