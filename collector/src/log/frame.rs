//! Record framing on disk: `[len: u32 LE][crc32 of payload: u32 LE][payload]`. A reader stops at
//! the first frame whose length runs past the end of the file or whose checksum is wrong: after
//! a crash that is a torn tail, elsewhere it is corruption.
//!
//! An erased record becomes a *tombstone*: a frame of the same length whose payload is
//! [`TOMBSTONE`] followed by zeros. Offsets and byte positions stay where they were; readers
//! skip tombstones.

use std::io::Read;

/// Bytes of a frame header.
pub const HEADER: u64 = 8;

/// Largest payload accepted (a hit is a few hundred bytes; this bounds allocations on reading
/// a corrupt length).
pub const MAX_PAYLOAD: u32 = 1 << 20;

/// First bytes of an erased record's payload (the rest is zeros). No stored record starts so:
/// both record kinds start with a receive time, whose encoding is never 0 followed by `ERASED`
/// for a time after 1970-01-01T00:00:00.000.
pub const TOMBSTONE: &[u8] = b"\0ERASED";

/// Whether a payload is a tombstone.
pub fn is_tombstone(payload: &[u8]) -> bool {
    payload.len() >= TOMBSTONE.len() && payload.starts_with(TOMBSTONE) && payload[TOMBSTONE.len()..].iter().all(|b| *b == 0)
}

/// Turns the frame at the start of `frame` (header and payload, as stored) into a tombstone of
/// the same length; `false` when its payload is too short to hold one.
pub fn entomb(frame: &mut [u8]) -> bool {
    let payload = &mut frame[usize::try_from(HEADER).expect("8 bytes")..];
    if payload.len() < TOMBSTONE.len() {
        return false;
    }
    payload.fill(0);
    payload[..TOMBSTONE.len()].copy_from_slice(TOMBSTONE);
    let crc = crc32fast::hash(payload);
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    true
}

/// Appends one framed payload to a buffer.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).expect("payload under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// What reading the next frame gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A good record.
    Record(Vec<u8>),
    /// Clean end of the data.
    End,
    /// A frame that fails its checks (torn or corrupt).
    Bad(String),
}

/// Reads the next frame.
pub fn read_next(reader: &mut impl Read) -> std::io::Result<Next> {
    let mut payload = Vec::new();
    Ok(match read_into(reader, &mut payload)? {
        Next::Record(_) => Next::Record(payload),
        other => other,
    })
}

/// Reads the next frame's payload into `payload` (what it held is replaced), so that a scan of
/// many records reuses one buffer: a good record gives `Next::Record` of an empty vector, its
/// payload being in `payload`.
pub fn read_into(reader: &mut impl Read, payload: &mut Vec<u8>) -> std::io::Result<Next> {
    let mut header = [0u8; 8];
    let mut filled = 0;
    while filled < header.len() {
        match reader.read(&mut header[filled..])? {
            0 if filled == 0 => return Ok(Next::End),
            0 => return Ok(Next::Bad(format!("truncated header ({filled} of 8 bytes)"))),
            n => filled += n,
        }
    }
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    if len > MAX_PAYLOAD {
        return Ok(Next::Bad(format!("length {len} over the {MAX_PAYLOAD}-byte limit")));
    }
    payload.clear();
    payload.resize(len as usize, 0);
    let mut got = 0;
    while got < payload.len() {
        match reader.read(&mut payload[got..])? {
            0 => return Ok(Next::Bad(format!("truncated payload ({got} of {len} bytes)"))),
            n => got += n,
        }
    }
    if crc32fast::hash(payload) != crc {
        return Ok(Next::Bad("checksum mismatch".into()));
    }
    Ok(Next::Record(Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_torn_tails() {
        let mut buf = Vec::new();
        encode(b"hello", &mut buf);
        encode(b"", &mut buf);
        let mut r = &buf[..];
        assert_eq!(read_next(&mut r).unwrap(), Next::Record(b"hello".to_vec()));
        assert_eq!(read_next(&mut r).unwrap(), Next::Record(Vec::new()));
        assert_eq!(read_next(&mut r).unwrap(), Next::End);
        for cut in 1..buf.len() - 8 {
            let mut r = &buf[..cut];
            if cut < 13 {
                assert!(matches!(read_next(&mut r).unwrap(), Next::Bad(_)), "cut {cut}");
            }
        }
        let mut tomb = Vec::new();
        encode(b"a stored record", &mut tomb);
        assert!(entomb(&mut tomb));
        match read_next(&mut &tomb[..]).unwrap() {
            Next::Record(payload) => assert!(is_tombstone(&payload) && payload.len() == 15),
            other => panic!("{other:?}"),
        }
        assert!(!is_tombstone(b"a stored record") && !is_tombstone(b"\0ERASEDx"));
        let mut short = Vec::new();
        encode(b"abc", &mut short);
        assert!(!entomb(&mut short));
        let mut flipped = buf.clone();
        flipped[9] ^= 1;
        assert_eq!(read_next(&mut &flipped[..]).unwrap(), Next::Bad("checksum mismatch".into()));
    }
}
