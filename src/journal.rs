//! The audit journal: an append-only file of every registration and every transition, one
//! JSON object per line, chained by SM3 hashes (GB/T 32905) so that any edit, deletion,
//! reordering or truncation is detected.
//!
//! # Byte layout
//! Each record is one line:
//!
//! ```text
//! {BODY-MEMBERS,"prev":"<64 hex>","hash":"<64 hex>"}\n
//! ```
//!
//! where `BODY = {BODY-MEMBERS}` is the record's content as compact JSON with its keys in
//! sorted order (a `"kind"` of `register`, `deregister`, `update_profile` or `transition`,
//! then the fields of that record; a transition's are its DESIGN.md JSON form), `prev` is the
//! previous record's `hash` (64 zeros for the first record) and
//!
//! ```text
//! hash = lowercase_hex( SM3( prev_hex_ascii ‖ BODY_bytes ) )
//! ```
//!
//! So anyone can re-verify a line with standard tools: strip the 149-byte
//! `,"prev":"…","hash":"…"}` suffix, append `}`, prefix the previous hash, and hash with
//! `openssl dgst -sm3` (see the README for a shell one-liner).
//!
//! # Crash safety
//! Each record is written with one `write` call. A crash can leave a torn last line (bytes
//! without the final newline): [`Journal::open`] detects it, reports it and truncates it,
//! keeping every complete record before it. Any other inconsistency (an edited, deleted or
//! reordered line) makes `open` fail; [`verify`] names the first broken line.

use crate::error::{Error, Result};
use serde_json::{Map, Value};
use sm3::{Digest, Sm3};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// When the journal forces its records to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fsync` after every record (slowest, loses nothing on power loss).
    EveryRecord,
    /// `fsync` after every N records (and when the journal is closed).
    EveryN(u32),
    /// Never `fsync` explicitly; the OS writes back when it likes.
    Never,
}

impl Durability {
    /// From the C ABI's integer: 0 never, 1 every record, N ≥ 2 every N records.
    pub fn from_u32(v: u32) -> Durability {
        match v {
            0 => Durability::Never,
            1 => Durability::EveryRecord,
            n => Durability::EveryN(n),
        }
    }
}

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const SUFFIX_LEN: usize = 149;

/// What [`Journal::open`] found in an existing file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Complete, verified records already in the file.
    pub records: u64,
    /// Bytes of a torn last line that were truncated (0 if none).
    pub truncated_bytes: u64,
}

/// An open journal. Appends are serialised by the engine.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    prev: String,
    records: u64,
    durability: Durability,
    unsynced: u32,
    line: Vec<u8>,
}

/// SM3 of `prev ‖ body`, as lowercase hex.
pub fn chain_hash(prev: &str, body: &[u8]) -> String {
    let mut h = Sm3::new();
    h.update(prev.as_bytes());
    h.update(body);
    let d = h.finalize();
    let mut s = String::with_capacity(64);
    for b in d.iter() {
        s.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('0'));
        s.push(char::from_digit((b & 15) as u32, 16).unwrap_or('0'));
    }
    s
}

/// A broken journal: the first bad line (1-based) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks one complete line (without its newline) against `prev`; returns its hash.
fn check_line(line: &[u8], prev: &str) -> std::result::Result<String, String> {
    if line.len() < SUFFIX_LEN + 2 {
        return Err("line too short to be a record".into());
    }
    let (body_members, suffix) = line.split_at(line.len() - SUFFIX_LEN);
    let suffix = std::str::from_utf8(suffix).map_err(|_| "suffix is not UTF-8")?;
    let p = suffix
        .strip_prefix(",\"prev\":\"")
        .and_then(|s| s.get(..64).map(|h| (h, &s[64..])))
        .ok_or("missing \"prev\"")?;
    let (p_hex, rest) = p;
    let h_hex = rest
        .strip_prefix("\",\"hash\":\"")
        .and_then(|s| s.strip_suffix("\"}"))
        .ok_or("missing \"hash\"")?;
    if p_hex != prev {
        return Err(format!(
            "prev {p_hex} does not match the previous record's hash {prev} (a record was deleted, inserted or reordered)"
        ));
    }
    if body_members.first() != Some(&b'{') {
        return Err("record is not a JSON object".into());
    }
    let mut body = body_members.to_vec();
    body.push(b'}');
    let v: Value =
        serde_json::from_slice(&body).map_err(|e| format!("record body is not JSON: {e}"))?;
    if !v.is_object() {
        return Err("record is not a JSON object".into());
    }
    let h = chain_hash(prev, &body);
    if h != h_hex {
        return Err(format!(
            "hash {h_hex} does not match the content (computed {h}): the record was edited"
        ));
    }
    Ok(h)
}

/// Result of scanning a journal file.
struct Scan {
    records: u64,
    prev: String,
    /// Byte offset just after the last complete line.
    good_len: u64,
    /// Bytes after the last newline.
    torn: u64,
}

fn scan(file: &mut File) -> std::result::Result<Scan, Broken> {
    file.seek(SeekFrom::Start(0)).map_err(|e| Broken {
        line: 0,
        reason: e.to_string(),
    })?;
    let mut r = BufReader::new(file);
    let mut prev = GENESIS.to_owned();
    let mut records = 0;
    let mut good_len = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(|e| Broken {
            line: records + 1,
            reason: e.to_string(),
        })?;
        if n == 0 {
            return Ok(Scan {
                records,
                prev,
                good_len,
                torn: 0,
            });
        }
        if buf.last() != Some(&b'\n') {
            return Ok(Scan {
                records,
                prev,
                good_len,
                torn: n as u64,
            });
        }
        let line = &buf[..buf.len() - 1];
        prev = check_line(line, &prev).map_err(|reason| Broken {
            line: records + 1,
            reason,
        })?;
        records += 1;
        good_len += n as u64;
    }
}

/// Verifies a journal file end to end.
///
/// Returns the number of records, or the first broken line. A torn last line (no final
/// newline) counts as broken here (it is repaired only by [`Journal::open`]).
pub fn verify(path: &Path) -> std::result::Result<u64, Broken> {
    let mut f = File::open(path).map_err(|e| Broken {
        line: 0,
        reason: e.to_string(),
    })?;
    let s = scan(&mut f)?;
    if s.torn > 0 {
        return Err(Broken {
            line: s.records + 1,
            reason: format!("torn last record: {} bytes without a final newline", s.torn),
        });
    }
    Ok(s.records)
}

impl Journal {
    /// Opens (creating if absent) a journal for appending. An existing file is verified
    /// first; a torn last line is truncated and reported.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened, read or truncated; [`Error::State`]
    /// naming the first broken line when the existing content does not verify.
    pub fn open(path: &Path, durability: Durability) -> Result<(Journal, OpenReport)> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        let s = scan(&mut file).map_err(|b| {
            Error::State(format!(
                "journal {} is broken at line {}: {}",
                path.display(),
                b.line,
                b.reason
            ))
        })?;
        if s.torn > 0 {
            file.set_len(s.good_len).map_err(|e| {
                Error::Io(format!("{}: truncating a torn record: {e}", path.display()))
            })?;
            file.sync_all().map_err(|e| Error::Io(e.to_string()))?;
        }
        let mut rest = Vec::new();
        file.seek(SeekFrom::Start(s.good_len))
            .map_err(|e| Error::Io(e.to_string()))?;
        file.read_to_end(&mut rest)
            .map_err(|e| Error::Io(e.to_string()))?;
        debug_assert!(rest.is_empty());
        Ok((
            Journal {
                file,
                path: path.to_owned(),
                prev: s.prev,
                records: s.records,
                durability,
                unsynced: 0,
                line: Vec::with_capacity(512),
            },
            OpenReport {
                records: s.records,
                truncated_bytes: s.torn,
            },
        ))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records in the file (including those found on open).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The last record's hash (the chain head).
    pub fn head(&self) -> &str {
        &self.prev
    }

    /// Appends one record whose content is the JSON object `body` (keys sorted).
    ///
    /// # Errors
    /// [`Error::Io`]; the chain head does not advance when the write fails.
    pub fn append(&mut self, body: &Map<String, Value>) -> Result<()> {
        let body = serde_json::to_vec(body).map_err(|e| Error::Io(e.to_string()))?;
        let hash = chain_hash(&self.prev, &body);
        self.line.clear();
        self.line.extend_from_slice(&body[..body.len() - 1]);
        self.line.extend_from_slice(b",\"prev\":\"");
        self.line.extend_from_slice(self.prev.as_bytes());
        self.line.extend_from_slice(b"\",\"hash\":\"");
        self.line.extend_from_slice(hash.as_bytes());
        self.line.extend_from_slice(b"\"}\n");
        self.file
            .write_all(&self.line)
            .map_err(|e| Error::Io(format!("{}: {e}", self.path.display())))?;
        self.prev = hash;
        self.records += 1;
        self.unsynced += 1;
        let sync = match self.durability {
            Durability::EveryRecord => true,
            Durability::EveryN(n) => self.unsynced >= n,
            Durability::Never => false,
        };
        if sync {
            self.sync()?;
        }
        Ok(())
    }

    /// Forces written records to stable storage.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn sync(&mut self) -> Result<()> {
        self.unsynced = 0;
        self.file
            .sync_data()
            .map_err(|e| Error::Io(format!("{}: {e}", self.path.display())))
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if self.unsynced > 0 && self.durability != Durability::Never {
            let _ = self.file.sync_data();
        }
    }
}
