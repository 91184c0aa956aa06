//! Compression codecs of the records section of a v2 batch (attribute bits 0–2), written the
//! way Kafka's Java producer writes them and read the way Kafka's broker reads them:
//!
//! * gzip: a gzip stream (members may be concatenated).
//! * snappy: the xerial `SnappyOutputStream` framing (magic `\x82SNAPPY\0`, two int32s
//!   version/compatible, then `[int32 length][raw snappy block]`… of ≤ 32 KiB input each).
//!   Decoding also accepts a bare raw snappy block, as xerial's `SnappyInputStream` does.
//! * lz4: the standard LZ4 frame format (`KafkaLZ4BlockOutputStream` for magic 2: 64 KiB
//!   independent blocks, correct header checksum).
//! * zstd: a zstd stream (content size not required).
//!
//! Decompression is bounded: every call takes the largest output the caller accepts, so a
//! small "decompression bomb" cannot exhaust memory.

use std::io::{Read, Write};

use super::batch::CompressionType;

/// Magic at the start of a xerial snappy stream.
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Xerial header: magic + int32 version + int32 minimum compatible version.
pub const XERIAL_HEADER_LEN: usize = 16;
/// Uncompressed bytes per xerial block (snappy-java's default, used by Kafka's producer).
pub const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
/// zstd level of Kafka's producer (zstd's default).
pub const ZSTD_LEVEL: i32 = 3;

/// Why data could not be (de)compressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    #[error("corrupt {codec} data: {message}")]
    Corrupt {
        codec: CompressionType,
        message: String,
    },
    #[error("decompressed {codec} data exceeds the limit of {limit} bytes")]
    TooLarge {
        codec: CompressionType,
        limit: usize,
    },
    #[error("{codec} compression failed: {message}")]
    Compress {
        codec: CompressionType,
        message: String,
    },
}

fn corrupt(codec: CompressionType, message: impl ToString) -> CompressionError {
    CompressionError::Corrupt {
        codec,
        message: message.to_string(),
    }
}

/// Decompresses `input` (a whole records section) and returns at most `max_output` bytes;
/// more is [`CompressionError::TooLarge`]. `CompressionType::None` returns a copy.
pub fn decompress(
    codec: CompressionType,
    input: &[u8],
    max_output: usize,
) -> Result<Vec<u8>, CompressionError> {
    match codec {
        CompressionType::None => {
            if input.len() > max_output {
                return Err(CompressionError::TooLarge {
                    codec,
                    limit: max_output,
                });
            }
            Ok(input.to_vec())
        }
        CompressionType::Gzip => {
            read_bounded(codec, flate2::read::MultiGzDecoder::new(input), max_output)
        }
        CompressionType::Snappy => snappy_decompress(input, max_output),
        CompressionType::Lz4 => {
            // lz4_flex accepts a frame cut off after a whole block; Kafka does not.
            check_lz4_frames(input).map_err(|m| corrupt(codec, m))?;
            read_bounded(codec, lz4_flex::frame::FrameDecoder::new(input), max_output)
        }
        CompressionType::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::with_buffer(input).map_err(|e| corrupt(codec, e))?;
            read_bounded(codec, decoder, max_output)
        }
    }
}

/// Compresses `input` as Kafka's Java producer does for `codec`.
pub fn compress(codec: CompressionType, input: &[u8]) -> Result<Vec<u8>, CompressionError> {
    let fail = |e: &dyn std::fmt::Display| CompressionError::Compress {
        codec,
        message: e.to_string(),
    };
    match codec {
        CompressionType::None => Ok(input.to_vec()),
        CompressionType::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(input.len() / 2 + 32),
                flate2::Compression::default(),
            );
            enc.write_all(input).map_err(|e| fail(&e))?;
            enc.finish().map_err(|e| fail(&e))
        }
        CompressionType::Snappy => xerial_compress(input).map_err(|e| fail(&e)),
        CompressionType::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(
                info,
                Vec::with_capacity(input.len() / 2 + 32),
            );
            enc.write_all(input).map_err(|e| fail(&e))?;
            enc.finish().map_err(|e| fail(&e))
        }
        CompressionType::Zstd => zstd::stream::encode_all(input, ZSTD_LEVEL).map_err(|e| fail(&e)),
    }
}

/// Reads `reader` to the end, failing once more than `max_output` bytes come out.
fn read_bounded(
    codec: CompressionType,
    reader: impl Read,
    max_output: usize,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    let limit = (max_output as u64).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(codec, e))?;
    if out.len() > max_output {
        return Err(CompressionError::TooLarge {
            codec,
            limit: max_output,
        });
    }
    Ok(out)
}

const LZ4_MAGIC: u32 = 0x184D_2204;

/// Walks the structure of concatenated LZ4 frames (headers, block sizes, end marks,
/// checksums) without decompressing: every frame must be complete and nothing may follow.
fn check_lz4_frames(input: &[u8]) -> Result<(), String> {
    let premature = |pos: usize| format!("lz4 stream ended prematurely at byte {pos}");
    let u32_at = |pos: usize| -> Result<u32, String> {
        input
            .get(pos..pos.saturating_add(4))
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| premature(pos))
    };
    let skip = |pos: usize, n: usize| -> Result<usize, String> {
        pos.checked_add(n)
            .filter(|&end| end <= input.len())
            .ok_or_else(|| premature(pos))
    };
    let mut pos = 0;
    loop {
        let magic = u32_at(pos)?;
        if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
            // Skippable frame.
            let size = u32_at(pos + 4)? as usize;
            pos = skip(pos + 8, size)?;
        } else if magic == LZ4_MAGIC {
            let flg = *input.get(pos + 4).ok_or_else(|| premature(pos + 4))?;
            let content_size = if flg & 0x08 != 0 { 8 } else { 0 };
            let dict_id = if flg & 0x01 != 0 { 4 } else { 0 };
            let block_checksum = if flg & 0x10 != 0 { 4 } else { 0 };
            pos = skip(pos, 7 + content_size + dict_id)?;
            loop {
                let block = u32_at(pos)?;
                pos += 4;
                if block == 0 {
                    break;
                }
                pos = skip(pos, (block & 0x7FFF_FFFF) as usize + block_checksum)?;
            }
            if flg & 0x04 != 0 {
                pos = skip(pos, 4)?;
            }
        } else {
            return Err(format!("bad lz4 frame magic {magic:#010x} at byte {pos}"));
        }
        if pos == input.len() {
            return Ok(());
        }
    }
}

/// Whether `input` starts with the xerial snappy magic (the version fields are ignored, as
/// some producers write them little-endian).
pub fn is_xerial(input: &[u8]) -> bool {
    input.len() >= XERIAL_HEADER_LEN && input[..XERIAL_MAGIC.len()] == XERIAL_MAGIC
}

fn snappy_decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, CompressionError> {
    let codec = CompressionType::Snappy;
    let mut out = Vec::new();
    if !is_xerial(input) {
        snappy_block_into(input, &mut out, max_output)?;
        return Ok(out);
    }
    let mut pos = 0;
    while pos < input.len() {
        // Concatenated xerial streams repeat the header; a block length is never negative,
        // so a 0x82 first byte is unambiguous.
        if is_xerial(&input[pos..]) {
            pos += XERIAL_HEADER_LEN;
            continue;
        }
        let Some(len_bytes) = input.get(pos..pos + 4) else {
            return Err(corrupt(
                codec,
                format!("truncated xerial block length at byte {pos}"),
            ));
        };
        let len = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        pos += 4;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|&end| end <= input.len())
            .ok_or_else(|| {
                corrupt(
                    codec,
                    format!(
                        "xerial block of {len} bytes at byte {} exceeds the {} bytes of input",
                        pos - 4,
                        input.len()
                    ),
                )
            })?;
        snappy_block_into(&input[pos..end], &mut out, max_output)?;
        pos = end;
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, keeping `out` within `max_output`.
fn snappy_block_into(
    block: &[u8],
    out: &mut Vec<u8>,
    max_output: usize,
) -> Result<(), CompressionError> {
    let codec = CompressionType::Snappy;
    let len = snap::raw::decompress_len(block).map_err(|e| corrupt(codec, e))?;
    if len > max_output.saturating_sub(out.len()) {
        return Err(CompressionError::TooLarge {
            codec,
            limit: max_output,
        });
    }
    let start = out.len();
    out.resize(start + len, 0);
    let n = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| corrupt(codec, e))?;
    out.truncate(start + n);
    Ok(())
}

fn xerial_compress(input: &[u8]) -> Result<Vec<u8>, snap::Error> {
    let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + input.len() / 2 + 16);
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes()); // version
    out.extend_from_slice(&1i32.to_be_bytes()); // minimum compatible version
    let mut encoder = snap::raw::Encoder::new();
    let mut block = Vec::new();
    for chunk in input.chunks(XERIAL_BLOCK_SIZE) {
        block.resize(snap::raw::max_compress_len(chunk.len()), 0);
        let n = encoder.compress(chunk, &mut block)?;
        out.extend_from_slice(&(n as i32).to_be_bytes());
        out.extend_from_slice(&block[..n]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [CompressionType; 5] = [
        CompressionType::None,
        CompressionType::Gzip,
        CompressionType::Snappy,
        CompressionType::Lz4,
        CompressionType::Zstd,
    ];

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        for codec in ALL {
            for len in [
                0,
                1,
                100,
                XERIAL_BLOCK_SIZE,
                3 * XERIAL_BLOCK_SIZE + 17,
                200_000,
            ] {
                let data = sample(len);
                let packed = compress(codec, &data).unwrap();
                let unpacked = decompress(codec, &packed, len).unwrap();
                assert_eq!(unpacked, data, "{codec} len {len}");
            }
        }
    }

    #[test]
    fn snappy_is_xerial_framed_like_the_java_producer() {
        let data = sample(XERIAL_BLOCK_SIZE + 10);
        let packed = compress(CompressionType::Snappy, &data).unwrap();
        assert_eq!(&packed[..8], b"\x82SNAPPY\0");
        assert_eq!(&packed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        // Two blocks: the first holds exactly 32 KiB of input.
        let first_len = i32::from_be_bytes(packed[16..20].try_into().unwrap()) as usize;
        let first = &packed[20..20 + first_len];
        assert_eq!(snap::raw::decompress_len(first).unwrap(), XERIAL_BLOCK_SIZE);
    }

    #[test]
    fn raw_snappy_is_accepted() {
        let data = sample(5000);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert!(!is_xerial(&raw));
        assert_eq!(
            decompress(CompressionType::Snappy, &raw, 5000).unwrap(),
            data
        );
    }

    #[test]
    fn lz4_is_a_standard_frame_with_64k_independent_blocks() {
        let packed = compress(CompressionType::Lz4, b"hello hello hello hello").unwrap();
        assert_eq!(&packed[..4], &[0x04, 0x22, 0x4d, 0x18]);
        // FLG: version 01, block independence; BD: 64 KiB.
        assert_eq!(packed[4] & 0xe0, 0x60);
        assert_eq!(packed[5], 0x40);
    }

    #[test]
    fn output_is_bounded() {
        let zeros = vec![0u8; 1 << 20];
        for codec in ALL {
            let packed = compress(codec, &zeros).unwrap();
            let err = decompress(codec, &packed, 1000).unwrap_err();
            assert_eq!(
                err,
                CompressionError::TooLarge { codec, limit: 1000 },
                "{codec}"
            );
            assert!(decompress(codec, &packed, 1 << 20).is_ok());
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let inputs: [&[u8]; 6] = [
            b"",
            b"\x00\x01\x02",
            b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\xff\xff\xff\xff",
            b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x09abc",
            b"\x04\x22\x4d\x18\x60\x40\x00",
            b"\x28\xb5\x2f\xfd\x00",
        ];
        for codec in ALL {
            for input in inputs {
                let _ = decompress(codec, input, 1 << 16);
            }
        }
        for codec in [
            CompressionType::Gzip,
            CompressionType::Lz4,
            CompressionType::Zstd,
        ] {
            let packed = compress(codec, &sample(10_000)).unwrap();
            for cut in [1, packed.len() / 2, packed.len() - 1] {
                assert!(
                    decompress(codec, &packed[..cut], 1 << 20).is_err(),
                    "{codec} truncated at {cut}"
                );
            }
        }
    }
}
