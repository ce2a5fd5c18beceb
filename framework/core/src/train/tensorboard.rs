//! A minimal TensorBoard event-file writer for scalars: TFRecord framing (length, masked CRC-32C)
//! around `Event` protocol buffers, encoded by hand (fields: wall_time 1, step 2, file_version 3,
//! summary 5 → value 1 → tag 1, simple_value 2).

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::Path,
};

pub struct EventWriter {
    out: BufWriter<File>,
}

fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

fn masked(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(field: u32, wire: u32, out: &mut Vec<u8>) {
    varint(((field << 3) | wire) as u64, out);
}

fn bytes(field: u32, data: &[u8], out: &mut Vec<u8>) {
    key(field, 2, out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

impl EventWriter {
    /// Creates `dir/events.out.tfevents.<time>.lmmrotate` with its version record.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let file = File::create(dir.join(format!("events.out.tfevents.{}.lmmrotate", now.as_secs())))?;
        let mut w = Self { out: BufWriter::new(file) };
        let mut ev = Vec::new();
        key(1, 1, &mut ev);
        ev.extend_from_slice(&now.as_secs_f64().to_le_bytes());
        bytes(3, b"brain.Event:2", &mut ev);
        w.record(&ev)?;
        Ok(w)
    }

    fn record(&mut self, data: &[u8]) -> std::io::Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.out.write_all(&len)?;
        self.out.write_all(&masked(crc32c(&len)).to_le_bytes())?;
        self.out.write_all(data)?;
        self.out.write_all(&masked(crc32c(data)).to_le_bytes())
    }

    pub fn scalar(&mut self, tag: &str, step: u64, value: f64) -> std::io::Result<()> {
        let mut val = Vec::new();
        bytes(1, tag.as_bytes(), &mut val);
        key(2, 5, &mut val);
        val.extend_from_slice(&(value as f32).to_le_bytes());
        let mut summary = Vec::new();
        bytes(1, &val, &mut summary);
        let mut ev = Vec::new();
        key(1, 1, &mut ev);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        ev.extend_from_slice(&now.as_secs_f64().to_le_bytes());
        key(2, 0, &mut ev);
        varint(step, &mut ev);
        bytes(5, &summary, &mut ev);
        self.record(&ev)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_of_the_standard_check_string() {
        // CRC-32C("123456789") = 0xE3069283 (RFC 3720 check value).
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn records_are_framed_and_checksummed() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.scalar("train/loss", 7, 1.5).unwrap();
        w.flush().unwrap();
        let file = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
        let data = std::fs::read(file).unwrap();
        let mut pos = 0;
        let mut records = 0;
        while pos < data.len() {
            let len = u64::from_le_bytes(data[pos..pos + 8].try_into().unwrap()) as usize;
            assert_eq!(u32::from_le_bytes(data[pos + 8..pos + 12].try_into().unwrap()), masked(crc32c(&data[pos..pos + 8])));
            let body = &data[pos + 12..pos + 12 + len];
            assert_eq!(u32::from_le_bytes(data[pos + 12 + len..pos + 16 + len].try_into().unwrap()), masked(crc32c(body)));
            pos += 16 + len;
            records += 1;
        }
        assert_eq!(records, 2);
    }
}
