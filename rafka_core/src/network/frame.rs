//! Size-prefixed framing: a 4-byte big-endian length, then that many payload bytes.
//!
//! The length is checked as soon as its four bytes arrive (like Kafka's `NetworkReceive`), so a
//! client announcing an oversized or negative frame is dropped before we buffer anything.

use bytes::{Buf, Bytes, BytesMut};

/// Bytes of the size prefix.
pub const SIZE_PREFIX_LEN: usize = 4;

/// A frame the connection must not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("invalid receive (size = {0})")]
    NegativeSize(i32),
    #[error("invalid receive (size = {size} larger than {max})")]
    TooLarge { size: usize, max: usize },
}

/// The size announced by a complete prefix at the head of `buf`, validated against `max`;
/// `Ok(None)` until four bytes are buffered.
pub fn announced_size(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..SIZE_PREFIX_LEN) else {
        return Ok(None);
    };
    let mut raw = [0u8; SIZE_PREFIX_LEN];
    raw.copy_from_slice(prefix);
    let size = i32::from_be_bytes(raw);
    let size = usize::try_from(size).map_err(|_| FrameError::NegativeSize(size))?;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    Ok(Some(size))
}

/// Splits one complete frame's payload off the head of `buf`; `Ok(None)` when more bytes are
/// needed. Never allocates for the announced size: the caller's reads grow `buf`.
pub fn try_split_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, FrameError> {
    let Some(size) = announced_size(buf, max)? else {
        return Ok(None);
    };
    let total = SIZE_PREFIX_LEN + size;
    if buf.len() < total {
        return Ok(None);
    }
    let mut frame = buf.split_to(total);
    frame.advance(SIZE_PREFIX_LEN);
    Ok(Some(frame.freeze()))
}

/// The size prefix for a payload of `len` bytes, or `None` when it exceeds the 2 GiB the
/// protocol can express.
pub fn size_prefix(len: usize) -> Option<[u8; SIZE_PREFIX_LEN]> {
    i32::try_from(len).ok().map(i32::to_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_complete_frames_only() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 1, 2][..]);
        assert_eq!(try_split_frame(&mut buf, 10), Ok(None));
        buf.extend_from_slice(&[3, 0, 0, 0, 0]);
        assert_eq!(
            try_split_frame(&mut buf, 10),
            Ok(Some(Bytes::from_static(&[1, 2, 3])))
        );
        // An empty frame is a valid frame (its parse fails later, as in Kafka).
        assert_eq!(try_split_frame(&mut buf, 10), Ok(Some(Bytes::new())));
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_bad_sizes_from_the_prefix_alone() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 11][..]);
        assert_eq!(
            try_split_frame(&mut buf, 10),
            Err(FrameError::TooLarge { size: 11, max: 10 })
        );
        let mut buf = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
        assert_eq!(
            try_split_frame(&mut buf, 10),
            Err(FrameError::NegativeSize(-1))
        );
    }

    #[test]
    fn prefix() {
        assert_eq!(size_prefix(258), Some([0, 0, 1, 2]));
        assert_eq!(size_prefix(usize::MAX), None);
    }
}
