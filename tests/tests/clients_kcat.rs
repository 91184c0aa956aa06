//! kcat (Debian's, librdkafka 2.0.2) producing and consuming through a real broker on a real
//! ZooKeeper: 1000 keyed records into a 3-partition topic, read back with `kcat -C -e`; every
//! partition must hold the records whose keys it got, byte for byte, in the order they were
//! sent, at offsets 0, 1, 2, ...; `kcat -Q` (ListOffsets) must give the same log end offsets.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use rafka_tests::{kcat_metadata, kcat_partitions, poll_until, run_bounded, ClientBroker, KCAT};

const RECORDS: usize = 1000;
const KEYS: usize = 40;
const PARTITIONS: usize = 3;
const TIMEOUT: Duration = Duration::from_secs(60);

/// Record i as kcat's producer reads it (`key:value`, one per line): `KEYS` keys, values of
/// 0 to ~2000 bytes of UTF-8 text (multi-byte characters, ':' inside), no newline.
fn record(i: usize) -> (Vec<u8>, Vec<u8>) {
    let key = format!("key-{:02}", i % KEYS).into_bytes();
    let len = (i * 131) % 2000;
    let alphabet = ["a", "Z", "9", ":", " ", "é", "€", "|", "\t", "~"];
    let mut value = format!("#{i}:").into_bytes();
    let mut k = i;
    while value.len() < len {
        value.extend_from_slice(alphabet[k % alphabet.len()].as_bytes());
        k = k.wrapping_mul(31).wrapping_add(7);
    }
    (key, value)
}

/// One consumed record: partition, offset, key, value.
type Consumed = (i64, i64, Vec<u8>, Vec<u8>);

/// Parses kcat's `-f '%p %o %K %S|%k%s\n'` output; lengths make it exact for any bytes.
fn parse_consumed(mut out: &[u8]) -> Result<Vec<Consumed>, String> {
    let mut recs = Vec::new();
    while !out.is_empty() {
        let bar = out
            .iter()
            .position(|&b| b == b'|')
            .ok_or("no '|' after the header")?;
        let header = std::str::from_utf8(&out[..bar]).map_err(|e| e.to_string())?;
        let f: Vec<i64> = header
            .split(' ')
            .map(|x| x.parse::<i64>().map_err(|e| format!("{header:?}: {e}")))
            .collect::<Result<_, _>>()?;
        let [p, o, klen, vlen] = f[..] else {
            return Err(format!("bad header {header:?}"));
        };
        let (klen, vlen) = (klen.max(0) as usize, vlen.max(0) as usize);
        let rest = &out[bar + 1..];
        if rest.len() < klen + vlen + 1 || rest[klen + vlen] != b'\n' {
            return Err(format!("record {header:?} is cut short"));
        }
        recs.push((
            p,
            o,
            rest[..klen].to_vec(),
            rest[klen..klen + vlen].to_vec(),
        ));
        out = &rest[klen + vlen + 1..];
    }
    Ok(recs)
}

fn kcat_produce_consume(codec: &str) {
    let c = ClientBroker::start(|b| b.prop("num.partitions", PARTITIONS));
    let bootstrap = c.bootstrap();
    let topic = format!("kcat-{codec}");

    // Metadata auto-creation (num.partitions=3), then wait for three led partitions.
    let _ = kcat_metadata(&bootstrap, Some(&topic));
    poll_until(TIMEOUT, Duration::from_millis(250), || {
        kcat_partitions(&bootstrap, &topic)
            .filter(|p| p.len() == PARTITIONS && p.iter().all(|p| p.leader == 1))
    })
    .unwrap_or_else(|| panic!("{topic} never got {PARTITIONS} partitions\n{}", c.logs()));

    // Produce: librdkafka's default partitioner hashes the key, so a key's records share a
    // partition and keep their order there.
    let mut input = Vec::new();
    for i in 0..RECORDS {
        let (k, v) = record(i);
        input.extend_from_slice(&k);
        input.push(b':');
        input.extend_from_slice(&v);
        input.push(b'\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.txt");
    std::fs::write(&file, &input).unwrap();
    let produced = run_bounded(
        Command::new(KCAT)
            .args(["-P", "-b", &bootstrap, "-t", &topic, "-K", ":", "-z", codec])
            .args(["-X", "acks=all", "-X", "linger.ms=5", "-l"])
            .arg(&file),
        None,
        TIMEOUT,
    );
    produced.assert_success(&c.logs());

    let consumed = run_bounded(
        Command::new(KCAT)
            .args([
                "-C",
                "-b",
                &bootstrap,
                "-t",
                &topic,
                "-o",
                "beginning",
                "-e",
            ])
            .args(["-f", "%p %o %K %S|%k%s\\n"]),
        None,
        TIMEOUT,
    );
    consumed.assert_success(&c.logs());
    let recs = parse_consumed(&consumed.stdout)
        .unwrap_or_else(|e| panic!("kcat -C output: {e}\n{}", consumed.describe()));
    assert_eq!(recs.len(), RECORDS, "{}\n{}", consumed.describe(), c.logs());

    // Group by partition, in consumed order.
    let mut by_partition: BTreeMap<i64, Vec<&Consumed>> = BTreeMap::new();
    for r in &recs {
        by_partition.entry(r.0).or_default().push(r);
    }
    assert_eq!(
        by_partition.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2],
        "every partition gets some of the {KEYS} keys"
    );
    let mut partition_of_key: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for (&p, list) in &by_partition {
        let offsets: Vec<i64> = list.iter().map(|r| r.1).collect();
        assert_eq!(
            offsets,
            (0..list.len() as i64).collect::<Vec<_>>(),
            "offsets of partition {p}"
        );
        for r in list {
            let prev = partition_of_key.insert(r.2.clone(), p);
            assert!(
                prev.is_none_or(|q| q == p),
                "key {:?} in partitions {prev:?} and {p}",
                String::from_utf8_lossy(&r.2)
            );
        }
    }
    // Per partition: exactly the sent records with its keys, same bytes, same order.
    for (&p, list) in &by_partition {
        let want: Vec<(Vec<u8>, Vec<u8>)> = (0..RECORDS)
            .map(record)
            .filter(|(k, _)| partition_of_key.get(k) == Some(&p))
            .collect();
        let got: Vec<(Vec<u8>, Vec<u8>)> =
            list.iter().map(|r| (r.2.clone(), r.3.clone())).collect();
        assert_eq!(got.len(), want.len(), "records in partition {p}");
        for (n, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                g == w,
                "partition {p} offset {n}: got key {:?} value {:?}, want key {:?} value {:?}",
                String::from_utf8_lossy(&g.0),
                String::from_utf8_lossy(&g.1),
                String::from_utf8_lossy(&w.0),
                String::from_utf8_lossy(&w.1),
            );
        }
    }

    // ListOffsets through kcat -Q (timestamp -1 = latest): the log end offsets.
    let mut q = Command::new(KCAT);
    q.args(["-Q", "-b", &bootstrap]);
    for p in 0..PARTITIONS {
        q.args(["-t", &format!("{topic}:{p}:-1")]);
    }
    let queried = run_bounded(&mut q, None, TIMEOUT);
    queried.assert_success(&c.logs());
    let text = queried.stdout_str();
    for (&p, list) in &by_partition {
        let line = format!("{topic} [{p}] offset {}", list.len());
        assert!(
            text.lines().any(|l| l.trim() == line),
            "kcat -Q: no line {line:?} in:\n{text}"
        );
    }
}

#[test]
fn kcat_1000_keyed_records_round_trip_uncompressed() {
    kcat_produce_consume("none");
}

#[test]
fn kcat_1000_keyed_records_round_trip_snappy() {
    kcat_produce_consume("snappy");
}

#[test]
fn parse_consumed_reads_lengths_not_delimiters() {
    let out = b"0 0 2 3|k:a|\n\n1 5 -1 0|\n";
    let recs = parse_consumed(out).unwrap();
    assert_eq!(
        recs,
        vec![
            (0, 0, b"k:".to_vec(), b"a|\n".to_vec()),
            (1, 5, vec![], vec![])
        ]
    );
    assert!(parse_consumed(b"0 0 5 5|abc\n").is_err());
}
