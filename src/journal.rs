//! The audit journal: an append-only file of every registration and every transition, one
//! JSON object per line, chained by SM3 hashes (GB/T 32905) so that any edit, deletion or
//! reordering is detected, and truncation too when the head is anchored outside the file.
//!
//! # Byte layout
//! Each record is one line:
//!
//! ```text
//! {BODY-MEMBERS,"prev":"<64 hex>","hash":"<64 hex>"}\n
//! ```
//!
//! where `BODY = {BODY-MEMBERS}` is the record's content as compact JSON with its keys in
//! sorted order (a `"kind"` of `session`, `register`, `deregister`, `update_profile`,
//! `transition`, `incident`, `silence`, `unsilence` or `reload`, then the fields of that
//! record; a transition's and an incident event's are their JSON form; `docs/formats.md`
//! in the repository lists them),
//! `"record"` is the record's 1-based number in the file, `prev` is the previous record's
//! `hash` (64 zeros for the first record) and
//!
//! ```text
//! hash = lowercase_hex( SM3( prev_hex_ascii ‖ BODY_bytes ) )
//! ```
//!
//! So anyone can re-verify a line with standard tools: strip the 149-byte
//! `,"prev":"…","hash":"…"}` suffix, append `}`, prefix the previous hash, and hash with
//! `openssl dgst -sm3` (see the README for a shell one-liner).
//!
//! # Sessions
//! Every [`Journal::open`] starts a session: its first record is a marker
//! `{"kind":"session","record":N,"session":K,"writer":"airisk 0.1.0"}` (K counts the
//! sessions of the file from 1). Opening an existing journal continues it: record numbers go
//! on, the chain links to the previous head, and the marker says where the new session
//! begins, so a transition `seq` that starts again at 1 (it counts the transitions of one
//! engine) is never ambiguous: a record is named by its `record` number, or by its session
//! and `seq`. [`IfExists::Refuse`] makes opening an existing file that holds records an
//! error instead, and [`Journal::create`] (for an engine,
//! [`Engine::create_journal`](crate::Engine::create_journal)) one that exists at all.
//!
//! # Truncation
//! A hash chain cannot tell a journal cut at a record boundary from one that simply ended
//! there. [`verify_chain`] returns the record count and the head (the last record's hash):
//! keep them outside the file (a ticket, a regulator's system, a signed e-mail), and
//! [`Anchor`] checks a journal against them later: fewer records than anchored, or an
//! anchored hash that is no longer in the chain, means the journal was truncated.
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

/// What [`Journal::open_with`] does when the file already holds records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IfExists {
    /// Verify the existing records and continue the chain in a new session (the default).
    #[default]
    Continue,
    /// Refuse: [`Error::State`] if the file exists and is not empty.
    Refuse,
}

/// What [`Journal::open`] found in an existing file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Complete, verified records already in the file.
    pub records: u64,
    /// Bytes of a torn last line that were truncated (0 if none).
    pub truncated_bytes: u64,
    /// Number of the session this open started (1 for a new journal).
    pub session: u64,
}

/// An open journal. Appends are serialised by the engine.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    prev: String,
    records: u64,
    session: u64,
    durability: Durability,
    unsynced: u32,
    body: Vec<u8>,
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

/// Checks one complete line (without its newline) against `prev`, as record number `n`
/// after `sessions` session markers; returns its hash and whether it is a session marker.
fn check_line(
    line: &[u8],
    prev: &str,
    n: u64,
    sessions: u64,
) -> std::result::Result<(String, bool), String> {
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
    match v.get("record").and_then(Value::as_u64) {
        Some(r) if r == n => {}
        Some(r) => return Err(format!("record number {r} where {n} was expected")),
        None => {
            return Err(
                "no \"record\" number (not an airisk journal, or written before record numbers)"
                    .into(),
            );
        }
    }
    let marker = v.get("kind").and_then(Value::as_str) == Some("session");
    if marker {
        let k = v.get("session").and_then(Value::as_u64);
        if k != Some(sessions + 1) {
            return Err(format!(
                "session marker numbered {}, expected {}",
                v.get("session").map_or("nothing".into(), Value::to_string),
                sessions + 1
            ));
        }
    } else if n == 1 {
        return Err("the first record is not a session marker".into());
    }
    Ok((h, marker))
}

/// Result of scanning a journal file.
struct Scan {
    records: u64,
    sessions: u64,
    prev: String,
    /// Byte offset just after the last complete line.
    good_len: u64,
    /// Bytes after the last newline.
    torn: u64,
}

/// Scans a whole journal; `each(n, hash)` sees every verified record.
fn scan(file: &mut File, mut each: impl FnMut(u64, &str)) -> std::result::Result<Scan, Broken> {
    file.seek(SeekFrom::Start(0)).map_err(|e| Broken {
        line: 0,
        reason: e.to_string(),
    })?;
    let mut r = BufReader::new(file);
    let mut prev = GENESIS.to_owned();
    let mut records = 0;
    let mut sessions = 0;
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
                sessions,
                prev,
                good_len,
                torn: 0,
            });
        }
        if buf.last() != Some(&b'\n') {
            return Ok(Scan {
                records,
                sessions,
                prev,
                good_len,
                torn: n as u64,
            });
        }
        let line = &buf[..buf.len() - 1];
        let (h, marker) =
            check_line(line, &prev, records + 1, sessions).map_err(|reason| Broken {
                line: records + 1,
                reason,
            })?;
        prev = h;
        records += 1;
        sessions += u64::from(marker);
        each(records, &prev);
        good_len += n as u64;
    }
}

/// Verifies a journal file end to end.
///
/// Returns the number of records, or the first broken line. A torn last line (no final
/// newline) counts as broken here (it is repaired only by [`Journal::open`]).
pub fn verify(path: &Path) -> std::result::Result<u64, Broken> {
    verify_chain(path, None).map(|v| v.records)
}

/// A verified journal: what to keep outside the file to detect a later truncation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Records in the file.
    pub records: u64,
    /// Sessions (opens) recorded in the file.
    pub sessions: u64,
    /// The last record's hash ([`GENESIS`] for an empty file).
    pub head: String,
}

/// What a journal was known to hold at some time, kept outside the file: a record count,
/// a record's hash, or both (the hash of record `records`).
///
/// A journal may have grown since (later records, later sessions): the anchor holds as
/// long as the anchored records are still there, unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Anchor {
    /// The journal had at least this many records.
    pub records: Option<u64>,
    /// The hash of record `records` (or, without `records`, of any record): the head at
    /// the time the anchor was taken.
    pub head: Option<String>,
}

/// Verifies a journal file end to end and, with an anchor, checks that the anchored
/// records are still there (so a journal cut at a record boundary is detected).
///
/// ```no_run
/// use airisk::journal::{Anchor, verify_chain};
/// use std::path::Path;
///
/// let v = verify_chain(Path::new("audit.jsonl"), None).expect("intact");
/// println!("{} records, head {}", v.records, v.head); // keep these elsewhere
/// // Later:
/// let anchor = Anchor { records: Some(v.records), head: Some(v.head) };
/// if let Err(b) = verify_chain(Path::new("audit.jsonl"), Some(&anchor)) {
///     eprintln!("line {}: {}", b.line, b.reason);
/// }
/// ```
///
/// # Errors
/// The first broken line (1-based; 0 when the file cannot be read), or, when the chain is
/// intact but does not hold the anchor, [`Broken`] at the line after the last record with
/// the reason.
pub fn verify_chain(path: &Path, anchor: Option<&Anchor>) -> std::result::Result<Verified, Broken> {
    let mut f = File::open(path).map_err(|e| Broken {
        line: 0,
        reason: e.to_string(),
    })?;
    let want_n = anchor.and_then(|a| a.records);
    let want_h = anchor.and_then(|a| a.head.as_deref());
    // Where the anchored hash was found: (record number, hash at `want_n`).
    let mut found_at: Option<u64> = None;
    let mut hash_at_n: Option<String> = None;
    let s = scan(&mut f, |n, h| {
        if Some(n) == want_n {
            hash_at_n = Some(h.to_owned());
        }
        if found_at.is_none() && Some(h) == want_h {
            found_at = Some(n);
        }
    })?;
    if s.torn > 0 {
        return Err(Broken {
            line: s.records + 1,
            reason: format!("torn last record: {} bytes without a final newline", s.torn),
        });
    }
    let broken = |reason: String| Broken {
        line: s.records + 1,
        reason,
    };
    if let Some(n) = want_n {
        if s.records < n {
            return Err(broken(format!(
                "truncated: {} records where at least {n} were anchored ({} missing after record {})",
                s.records,
                n - s.records,
                s.records
            )));
        }
    }
    match (want_n, want_h) {
        (Some(n), Some(h)) if hash_at_n.as_deref() != Some(h) => {
            return Err(broken(format!(
                "record {n} has hash {}, not the anchored head {h}: the journal was truncated and rewritten, or it is another journal",
                hash_at_n.as_deref().unwrap_or("(none)")
            )));
        }
        (None, Some(h)) if found_at.is_none() && !(h == GENESIS && s.records == 0) => {
            return Err(broken(format!(
                "no record has the anchored head {h}: the journal was truncated before it, or it is another journal"
            )));
        }
        _ => {}
    }
    Ok(Verified {
        records: s.records,
        sessions: s.sessions,
        head: s.prev,
    })
}

impl Journal {
    /// Opens (creating if absent) a journal for appending, and starts a session: the
    /// first record written is a session marker. An existing file is verified first and
    /// its chain continues (record numbers go on, the marker links to the previous head);
    /// a torn last line is truncated and reported.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be opened, read, truncated or written;
    /// [`Error::State`] naming the first broken line when the existing content does not
    /// verify.
    pub fn open(path: &Path, durability: Durability) -> Result<(Journal, OpenReport)> {
        Journal::open_with(path, durability, IfExists::Continue)
    }

    /// [`Journal::open`], choosing what to do with a file that already holds records.
    ///
    /// # Errors
    /// As [`Journal::open`]; with [`IfExists::Refuse`], [`Error::State`] when the file
    /// exists and is not empty.
    pub fn open_with(
        path: &Path,
        durability: Durability,
        if_exists: IfExists,
    ) -> Result<(Journal, OpenReport)> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        if if_exists == IfExists::Refuse {
            let len = file
                .metadata()
                .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?
                .len();
            if len > 0 {
                return Err(Error::State(format!(
                    "journal {} already exists ({len} bytes); refusing to continue it",
                    path.display()
                )));
            }
        }
        Journal::start(file, path, durability)
    }

    /// Creates a new journal at `path` and starts its first session; a file already at
    /// `path` (even an empty one) is an error and is left untouched. Whether the file
    /// exists is decided by the file system when the file is created (`O_EXCL`), so two
    /// writers racing for one path cannot both succeed.
    ///
    /// ```
    /// use airisk::journal::{Durability, Journal};
    ///
    /// let path = std::env::temp_dir().join(format!("airisk-doc-create-{}.jsonl", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let (journal, report) = Journal::create(&path, Durability::Never)?;
    /// assert_eq!((report.records, report.session), (0, 1));
    /// drop(journal);
    /// let err = Journal::create(&path, Durability::Never).unwrap_err();
    /// assert!(matches!(err, airisk::Error::Io(ref m) if m.contains("already exists")));
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), airisk::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] naming the path when a file exists there, or when the file cannot be
    /// created or written.
    pub fn create(path: &Path, durability: Durability) -> Result<(Journal, OpenReport)> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(path)
            .map_err(|e| {
                Error::Io(if e.kind() == std::io::ErrorKind::AlreadyExists {
                    format!(
                        "journal {} already exists; a new journal was asked for, so it is neither continued nor overwritten",
                        path.display()
                    )
                } else {
                    format!("{}: {e}", path.display())
                })
            })?;
        Journal::start(file, path, durability)
    }

    /// Verifies what `file` holds (truncating a torn last line), then starts a session.
    fn start(mut file: File, path: &Path, durability: Durability) -> Result<(Journal, OpenReport)> {
        let s = scan(&mut file, |_, _| {}).map_err(|b| {
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
        let mut j = Journal {
            file,
            path: path.to_owned(),
            prev: s.prev,
            records: s.records,
            session: s.sessions + 1,
            durability,
            unsynced: 0,
            body: Vec::with_capacity(512),
            line: Vec::with_capacity(512),
        };
        let mut marker = Map::new();
        marker.insert("kind".into(), "session".into());
        marker.insert("session".into(), j.session.into());
        marker.insert(
            "writer".into(),
            concat!("airisk ", env!("CARGO_PKG_VERSION")).into(),
        );
        j.append(&marker)?;
        Ok((
            j,
            OpenReport {
                records: s.records,
                truncated_bytes: s.torn,
                session: s.sessions + 1,
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

    /// The number of the session this journal handle writes (1 for a new journal).
    pub fn session(&self) -> u64 {
        self.session
    }

    /// Appends one record whose content is the JSON object `body` (keys sorted), with its
    /// `"record"` number added (a `"record"` key in `body` is replaced).
    ///
    /// # Errors
    /// [`Error::Io`]; the chain head does not advance when the write fails.
    pub fn append(&mut self, body: &Map<String, Value>) -> Result<()> {
        let n = self.records + 1;
        // The body with "record" in its sorted place, serialised without copying the map.
        self.body.clear();
        self.body.push(b'{');
        let mut first = true;
        let mut placed = false;
        let io = |e: serde_json::Error| Error::Io(e.to_string());
        let mut member = |buf: &mut Vec<u8>, k: &str, v: &dyn Fn(&mut Vec<u8>) -> Result<()>| {
            if !std::mem::take(&mut first) {
                buf.push(b',');
            }
            serde_json::to_writer(&mut *buf, k).map_err(io)?;
            buf.push(b':');
            v(buf)
        };
        for (k, v) in body {
            if !placed && k.as_str() >= "record" {
                placed = true;
                member(&mut self.body, "record", &|b| {
                    serde_json::to_writer(b, &n).map_err(io)
                })?;
            }
            if k == "record" {
                continue;
            }
            member(&mut self.body, k, &|b| {
                serde_json::to_writer(b, v).map_err(io)
            })?;
        }
        if !placed {
            member(&mut self.body, "record", &|b| {
                serde_json::to_writer(b, &n).map_err(io)
            })?;
        }
        self.body.push(b'}');
        let body = &self.body;
        let hash = chain_hash(&self.prev, body);
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
